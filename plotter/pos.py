"""``plotter pos``: build one PoS table set and print the selected proofs, or verify a proof.

Spec: pos.md §7 (V1 first proof), pos-v2.md §3.6 (V2), pos.md §9 (verify_only). The tables are
built once (kernels/pos.py, numba; or kernels/pos_gpu.py with ``--backend opencl|cuda``) and
queried for challenge indices N .. N+M-1.

    plotter pos --seed HEX --challenge-index N [--count M] [--version v1|v2] [--backend B] [--json]
    plotter pos --verify --seed HEX --challenge-index N --proof HEX      # exit 0 valid, 1 invalid
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from farmkit.cli import parse_hex
from farmkit.errors import FarmkitError
from farmkit.protocol.constants import POS_PROOF_SIZE, POS_SEED_SIZE, RECORD_NUM_S_BUCKETS

BACKENDS = ("cpu", "opencl", "cuda")


def _proofs(seed: bytes, first: int, count: int, version: str, backend: str):
    if backend == "cpu":
        from farmkit.kernels.pos import find_proofs

        return find_proofs(seed, first, count, version)
    from farmkit.kernels.backends import resolve_backend

    resolve_backend(backend)
    try:
        from farmkit.kernels import pos_gpu
    except ImportError as exc:
        raise FarmkitError(f"--backend {backend}: the GPU proof of space is not available ({exc})") from None
    return pos_gpu.find_proofs(seed, first, count, version, backend)


def pos_command(
    seed: str = typer.Option(..., "--seed", help="PoS seed: 32 bytes as 64 hex characters."),
    challenge_index: int = typer.Option(..., "--challenge-index", help="First challenge index N (s-bucket)."),
    count: int = typer.Option(1, "--count", help="Number of challenge indices M (N+M <= 65536)."),
    version: str = typer.Option("v1", "--version", help="Proof selection: v1 (canonical order) or v2."),
    backend: Optional[str] = typer.Option("cpu", "--backend", help="cpu (numba), opencl or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    verify: bool = typer.Option(False, "--verify", help="Verify --proof for --challenge-index (exit 0 valid, 1 invalid)."),
    proof: Optional[str] = typer.Option(None, "--proof", help="Proof to verify: 160 bytes as hex."),
) -> None:
    """Build a k=20 table set and print the proof for each challenge index (or verify one proof)."""
    seed_b = parse_hex(seed, POS_SEED_SIZE, "--seed")
    version = str(version).lower()
    if version not in ("v1", "v2"):
        raise FarmkitError(f"--version: expected v1 or v2, got {version!r}")
    backend = (backend or "cpu").lower()
    if backend not in BACKENDS:
        raise FarmkitError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if verify:
        if proof is None:
            raise FarmkitError("--verify needs --proof HEX")
        proof_b = parse_hex(proof, POS_PROOF_SIZE, "--proof")
        if not 0 <= challenge_index < 2**32:
            raise FarmkitError(f"--challenge-index {challenge_index} outside 0..{2**32 - 1}")
        from farmkit.kernels.pos import is_proof_valid

        ok = is_proof_valid(seed_b, challenge_index, proof_b)
        if as_json:
            print(json.dumps({"seed": seed_b.hex(), "challenge_index": challenge_index, "valid": ok}))
        else:
            print("valid" if ok else "invalid")
        raise typer.Exit(0 if ok else 1)
    if proof is not None:
        raise FarmkitError("--proof is only used with --verify")
    if count < 1:
        raise FarmkitError(f"--count must be >= 1, got {count}")
    if challenge_index < 0 or challenge_index + count > RECORD_NUM_S_BUCKETS:
        raise FarmkitError(
            f"challenge indices {challenge_index}..{challenge_index + count - 1} outside 0..{RECORD_NUM_S_BUCKETS - 1}"
        )
    found, proofs = _proofs(seed_b, challenge_index, count, version, backend)
    rows = [
        {"challenge_index": challenge_index + i, "proof": proofs[i].tobytes().hex() if found[i] else None}
        for i in range(count)
    ]
    if as_json:
        print(json.dumps({"seed": seed_b.hex(), "version": version, "proofs": rows}))
    else:
        for row in rows:
            print(f"{row['challenge_index']} {row['proof'] if row['proof'] is not None else 'null'}")


def register(app: typer.Typer) -> None:
    """Add ``pos`` to the plotter app."""
    app.command("pos")(pos_command)
