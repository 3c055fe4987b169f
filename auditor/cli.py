"""`auditor` command line. Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms.

sector-audit-prove.md §9-§13; JSON shapes from pot-rpc.md part C (``{"slotNumber", "solution"}``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from farmkit.cli import new_app, parse_hex, run
from farmkit.errors import FarmkitError

app = new_app("auditor", "Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms.")
bench_app = new_app("benchmark", "Benchmark auditing and proving like `subspace-farmer benchmark audit|prove`.")
app.add_typer(bench_app, name="benchmark")

_U64 = (1 << 64) - 1


@app.callback()
def _root() -> None:
    """Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms."""


@bench_app.callback()
def _bench_root() -> None:
    """Benchmark auditing and proving like `subspace-farmer benchmark audit|prove`."""


# --- input parsing ------------------------------------------------------------------------------
def _u64(text: str, what: str) -> int:
    try:
        value = int(str(text).replace("_", ""), 0)
    except ValueError:
        raise FarmkitError(f"{what}: not an integer: {text!r}") from None
    if not 0 <= value <= _U64:
        raise FarmkitError(f"{what}: must be a u64 (0..2^64-1)")
    return value


def _global_challenge(text: str) -> bytes:
    return parse_hex(text, 32, "--global-challenge")


def _emit(obj) -> None:
    print(json.dumps(obj, indent=2))


def _auditors(farms: List[Path], io: str):
    from farmkit.auditor.audit import FarmAuditor, IO_MODES

    if io not in IO_MODES:
        raise FarmkitError(f"--io must be one of {', '.join(IO_MODES)}")
    out = []
    try:
        for i, f in enumerate(farms):
            out.append(FarmAuditor(f, io_mode=io, farm_index=i))
    except BaseException:
        for a in out:
            a.close()
        raise
    return out


def _audit_all(auditors, gc: bytes, solution_range: int):
    from farmkit.auditor.audit import audit_farms

    return audit_farms(auditors, gc, solution_range)


# --- audit ----------------------------------------------------------------------------------------
@app.command("audit")
def audit_command(
    farm: List[Path] = typer.Option(..., "--farm", help="Farm directory (repeat for several farms)."),
    global_challenge: str = typer.Option(..., "--global-challenge", help="32-byte global challenge, 64 hex characters."),
    solution_range: str = typer.Option(..., "--solution-range", help="Solution range (u64); a chunk wins when its distance <= range // 2."),
    io: str = typer.Option("mmap", "--io", help="Plot reads: mmap (page cache) or direct (O_DIRECT, like the reference farmer: faster once plots outgrow the page cache)."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Audit every plotted sector for one slot; winners best first (unencoded ones cannot be proven)."""
    gc = _global_challenge(global_challenge)
    sr = _u64(solution_range, "--solution-range")
    auditors = _auditors(farm, io)
    try:
        cands = _audit_all(auditors, gc, sr)
        sectors = sum(len(a.sectors) for a in auditors)
    finally:
        for a in auditors:
            a.close()
    if as_json:
        rows = []
        for c in cands:
            row = c.to_json()
            if len(farm) > 1:
                row["farm"] = str(farm[c.farm_index])
            rows.append(row)
        _emit({"candidates": rows})
        return
    print(f"audited {sectors} sectors: {len(cands)} winning chunks ({sum(c.encoded for c in cands)} provable)")
    for c in cands:
        tag = "" if c.encoded else "  (unencoded, not provable)"
        where = f"farm {c.farm_index} " if len(farm) > 1 else ""
        print(f"  {where}sector {c.sector_index} piece {c.piece_offset} s-bucket {c.s_bucket} distance {c.distance}{tag}")


# --- prove ----------------------------------------------------------------------------------------
@app.command("prove")
def prove_command(
    farm: Path = typer.Option(..., "--farm", help="Farm directory."),
    global_challenge: str = typer.Option(..., "--global-challenge", help="32-byte global challenge, 64 hex characters."),
    solution_range: str = typer.Option(..., "--solution-range", help="Solution range (u64)."),
    slot: str = typer.Option(..., "--slot", help="Slot number (goes into the output's slotNumber)."),
    reward_address: str = typer.Option(..., "--reward-address", help="Reward address (SS58, any network prefix with a valid checksum)."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Also verify each solution against this piece store's segment commitments."),
    limit: int = typer.Option(1, "--limit", help="Prove at most this many candidates (best first)."),
    mode: str = typer.Option("concurrent", "--read-mode", help="Record reads: concurrent (32768 chunk reads) or whole (whole sector)."),
    as_json: bool = typer.Option(False, "--json", help="JSON output (default: JSON too, this flag is accepted for symmetry)."),
) -> None:
    """Prove the best encoded candidates: JSON list of {"slotNumber", "solution"} (RPC shape)."""
    from farmkit.auditor.prove import prove_candidate
    from farmkit.protocol.ss58 import ss58_decode

    gc = _global_challenge(global_challenge)
    sr = _u64(solution_range, "--solution-range")
    slot_n = _u64(slot, "--slot")
    reward, _ = ss58_decode(reward_address)
    if limit < 1:
        raise FarmkitError("--limit must be at least 1")
    segments = None
    if piece_store is not None:
        from farmkit.auditor.verify import segment_commitments_from_store

        segments = segment_commitments_from_store(piece_store)
    (auditor,) = _auditors([farm], "mmap")
    out = []
    try:
        cands = [c for c in auditor.audit(gc, sr) if c.encoded][:limit]
        for c in cands:
            sol = prove_candidate(auditor.farm, c.sector_index, c.piece_offset, c.s_bucket, reward, mode=mode)
            if segments is not None:
                from farmkit.auditor.verify import check_solution, piece_check_params_for

                _, reason = check_solution(sol, slot_n, gc, sr, piece_check_params_for(sol, segments))
                if reason:
                    raise FarmkitError(f"sector {c.sector_index} piece {c.piece_offset}: the built solution fails verification ({reason})")
            out.append({"slotNumber": slot_n, "solution": sol.to_json()})
    finally:
        auditor.close()
    if not out:
        print("no provable candidate in range", file=sys.stderr)
    _emit(out)


# --- verify ---------------------------------------------------------------------------------------
def _load_solutions(path: Path):
    from farmkit.protocol.solution import Solution

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FarmkitError(f"{path}: not found") from None
    except (OSError, ValueError) as exc:
        raise FarmkitError(f"{path}: not JSON ({exc})") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise FarmkitError(f"{path}: no solution in the file")
    out = []
    for item in items:
        if isinstance(item, dict) and "solution" in item:
            slot = item.get("slotNumber")
            out.append((Solution.from_json(item["solution"], f"{path}: solution"), slot))
        else:
            out.append((Solution.from_json(item, f"{path}: solution"), None))
    return out


@app.command("verify")
def verify_command(
    solution: Path = typer.Option(..., "--solution", help="JSON file: a solution, {slotNumber, solution}, or a list of them (prove's output)."),
    global_challenge: Optional[str] = typer.Option(None, "--global-challenge", help="32-byte global challenge (64 hex); skips deriving it from PoT."),
    pot_output: Optional[str] = typer.Option(None, "--pot-output", help="16-byte PoT output of the slot (32 hex), as the node verifies."),
    slot: Optional[str] = typer.Option(None, "--slot", help="Slot number (with --pot-output; default: the file's slotNumber)."),
    solution_range: str = typer.Option(..., "--solution-range", help="Solution range (u64)."),
    piece_store: Path = typer.Option(..., "--piece-store", help="Piece store (index.json) with the segment commitments."),
    history_size: Optional[int] = typer.Option(None, "--history-size", help="Current history size (default: segments in the piece store)."),
) -> None:
    """Verify solutions like the node (exit 0 valid, 1 invalid with the reference's reason name, 2 bad input).

    With only --global-challenge the PoT output → global challenge derivation is skipped (the
    challenge is trusted as given); with --pot-output and --slot it is derived as the node does."""
    from farmkit.auditor.verify import (
        SolutionVerificationError,
        piece_check_params_for,
        segment_commitments_from_store,
        verify_solution,
    )

    if (global_challenge is None) == (pot_output is None):
        raise FarmkitError("give exactly one of --global-challenge or --pot-output")
    challenge = _global_challenge(global_challenge) if global_challenge is not None else parse_hex(pot_output, 16, "--pot-output")
    sr = _u64(solution_range, "--solution-range")
    solutions = _load_solutions(solution)
    segments = segment_commitments_from_store(piece_store)
    if history_size is not None and history_size < 1:
        raise FarmkitError("--history-size must be at least 1")
    invalid = 0
    for sol, file_slot in solutions:
        if slot is not None:
            slot_n = _u64(slot, "--slot")
        elif file_slot is not None:
            slot_n = _u64(str(file_slot), "slotNumber")
        elif pot_output is not None:
            raise FarmkitError("--slot is required with --pot-output (the file has no slotNumber)")
        else:
            slot_n = 0
        params = piece_check_params_for(sol, segments, current_history_size=history_size)
        try:
            d = verify_solution(sol, slot_n, challenge, sr, params)
            print(f"valid: sector {sol.sector_index} piece {sol.piece_offset} distance {d}")
        except SolutionVerificationError as exc:
            invalid += 1
            print(f"invalid: {exc.reason}" + (f" ({exc.detail})" if exc.detail else ""))
    if invalid:
        raise typer.Exit(1)


# --- scrub / info ---------------------------------------------------------------------------------
@app.command("scrub")
def scrub_command(
    farm: List[Path] = typer.Option(..., "--farm", help="Farm directory (repeat for several)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report; change nothing."),
    pieces: bool = typer.Option(False, "--pieces", help="Also read back every piece and check its checksum (one PoS table per record: slow)."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Check sector and metadata checksums; mark corrupt sectors for replotting (dummy expired metadata)."""
    from rich.progress import Progress

    from farmkit.auditor.scrub import scrub_farm

    reports = []
    with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
        for f in farm:
            task = progress.add_task(f"scrubbing {f}", total=None)
            reports.append(scrub_farm(f, dry_run=dry_run, check_pieces=pieces,
                                      progress=lambda i, n, t=task: progress.update(t, completed=i, total=n)))
    if as_json:
        _emit([r.to_json() for r in reports])
    else:
        for r in reports:
            for p in r.farm_problems:
                print(f"{r.farm}: {p}")
            for s in r.sectors:
                if not s.ok:
                    action = " -> marked for replotting" if s.marked else (" (dry run: not changed)" if r.dry_run else "")
                    print(f"{r.farm}: sector {s.sector_index}: {'; '.join(s.problems)}{action}")
            print(f"{r.farm}: {r.plotted_sectors} sectors checked, {len(r.corrupt)} corrupt")


@app.command("info")
def info_command(farm: Path = typer.Option(..., "--farm", help="Farm directory.")) -> None:
    """Farm summary: identity, sectors, history sizes, PoS versions."""
    from farmkit.protocol.farm import SingleDiskFarm
    from farmkit.protocol.ss58 import ss58_encode

    f = SingleDiskFarm.open(farm)
    try:
        sectors = f.plotted_sectors()
        _emit({
            "farm": str(farm),
            "id": f.info.id,
            "public_key": f.info.public_key.hex(),
            "reward_address_ss58": ss58_encode(f.info.public_key),
            "pieces_in_sector": f.pieces_in_sector,
            "sector_size": f.sector_size,
            "target_sector_count": f.target_sector_count,
            "plotted_sectors": len(sectors),
            "cutover": f.cutover,
            "sectors": [
                {"sector_index": s.sector_index, "history_size": s.history_size, "pos_version": s.pos_version,
                 "sector_id": bytes(s.sector_id).hex(), "expired_dummy": not s.metadata.s_bucket_sizes.any()}
                for s in sectors
            ],
        })
    finally:
        f.close()


# --- benchmark ------------------------------------------------------------------------------------
@bench_app.command("audit")
def bench_audit_command(
    farm: List[Path] = typer.Option(..., "--farm", help="Farm directory (repeat for several)."),
    io: str = typer.Option("mmap", "--io", help="Plot reads: mmap (page cache) or direct (O_DIRECT)."),
    samples: int = typer.Option(10, "--samples", help="Timed audits."),
    random_challenges: bool = typer.Option(False, "--random-challenges", help="A new challenge each sample (default: same one, warm cache)."),
    cold: bool = typer.Option(False, "--cold", help="Drop the plot's page cache before each sample."),
) -> None:
    """Audit all sectors with solution range 0; time and throughput (plot bytes audited per second)."""
    from farmkit.auditor.benchmark import benchmark_audit

    _emit(benchmark_audit(list(farm), io_mode=io, samples=samples, warm=not random_challenges, cold=cold))


@bench_app.command("prove")
def bench_prove_command(
    farm: Path = typer.Option(..., "--farm", help="Farm directory."),
    samples: int = typer.Option(1, "--samples", help="Solutions to produce."),
    mode: str = typer.Option("concurrent", "--read-mode", help="concurrent or whole."),
) -> None:
    """Time to produce one solution (solution range u64::MAX)."""
    from farmkit.auditor.benchmark import benchmark_prove

    _emit(benchmark_prove(farm, samples=samples, mode=mode))


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
