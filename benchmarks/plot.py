"""Sector plotting speed: seconds per record by stage (PoS, erasure coding, hashing, masking,
assembly, I/O), core-seconds per record, projection to a 1000-piece sector and hours per TiB.

    python -m farmkit.benchmarks.plot [--pieces 4] [--sectors 1] [--backend cpu] [--version v2]

Baseline measured in the same run: the same records encoded one at a time (one record in flight)
with the readable reference masking (``encode_record_reference``). Prints JSON.
Target (issue 5): CPU <= 0.7 core-seconds per record.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR
from farmkit.protocol.sector import sector_size


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_fast(pieces: int, sectors: int, backend: str, version: str, workers: int | None) -> dict:
    from farmkit.plotter.encoding import SectorEncoder
    from farmkit.plotter.plot import FarmPlotter, SyntheticSource
    from farmkit.protocol.farm import SingleDiskFarm, allocated_space_for_sectors

    encoder = SectorEncoder(backend, workers=workers)
    source = SyntheticSource(history_size=60)
    with tempfile.TemporaryDirectory() as tmp:
        farm, ident = SingleDiskFarm.create_or_open(
            Path(tmp) / "farm", genesis_hash=bytes(32),
            allocated_space=allocated_space_for_sectors(sectors, pieces, 0),
            pieces_in_sector=pieces, cache_percentage=0,
        )
        # warm-up outside the timing: numba compilation / GPU program build
        SectorEncoder(backend, workers=1).encode_sector(ident.public_key_hash, 0, 60, [source.piece(1)], [1], version)
        plotter = FarmPlotter(farm, ident, source, encoder, version, "none")
        c0, t0 = time.process_time(), time.perf_counter()
        for i in range(sectors):
            plotter.plot_sector(i)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        farm.close()
    n = pieces * sectors
    return {
        "backend": backend,
        "device": encoder.device_name(),
        "workers": encoder.workers,
        "records": n,
        "wall_seconds_per_record": wall / n,
        "core_seconds_per_record": cpu / n,
        # stage times are summed over threads, i.e. busy seconds per record
        "stage_seconds_per_record": {k: v / n for k, v in sorted(encoder.timings.items())},
    }


def run_baseline(pieces: int, version: str) -> dict:
    """One record at a time, reference masking (readable §6.3 loop)."""
    from farmkit.plotter import encoding as E
    from farmkit.plotter.plot import SyntheticSource
    from farmkit.protocol.sector import SectorId

    source = SyntheticSource(history_size=60)
    sid = SectorId.from_public_key(bytes(32), 1, 60)
    stages = {"pos": 0.0, "erasure": 0.0, "masking_reference": 0.0}
    c0, t0 = time.process_time(), time.perf_counter()
    for p in range(pieces):
        import numpy as np

        src = np.frombuffer(source.piece(p), np.uint8, count=2**20).reshape(-1, 32)
        a = time.perf_counter()
        s, proofs = E.record_proofs(sid.derive_evaluation_seed(p), version)
        b = time.perf_counter()
        ext = E.extend_record(src)
        c = time.perf_counter()
        E.encode_record_reference(ext, s, proofs)
        d = time.perf_counter()
        stages["pos"] += b - a
        stages["erasure"] += c - b
        stages["masking_reference"] += d - c
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "records": pieces,
        "wall_seconds_per_record": wall / pieces,
        "core_seconds_per_record": cpu / pieces,
        "stage_seconds_per_record": {k: v / pieces for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=4, help="pieces per sector (records)")
    ap.add_argument("--sectors", type=int, default=1)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--version", default="v2", choices=("v1", "v2"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--baseline-records", type=int, default=1)
    args = ap.parse_args(argv)

    from farmkit.kernels.backends import describe, resolve_backend

    backend = resolve_backend(args.backend)
    fast = run_fast(args.pieces, args.sectors, backend, args.version, args.workers)
    base = run_baseline(args.baseline_records, args.version)
    per_record = fast["wall_seconds_per_record"]
    sectors_per_tib = (1 << 40) / sector_size(MAX_PIECES_IN_SECTOR)
    out = {
        "benchmark": "plot",
        "machine": {"cores": _cores(), "backends": [f"{b.name}: {b.device}" for b in describe() if b.available]},
        "pos_version": args.version,
        "fast": fast,
        "baseline_one_in_flight_reference_masking": base,
        "speedup_wall_vs_baseline": base["wall_seconds_per_record"] / per_record,
        "projection": {
            "seconds_per_1000_piece_sector": per_record * MAX_PIECES_IN_SECTOR,
            "hours_per_tib": per_record * MAX_PIECES_IN_SECTOR * sectors_per_tib / 3600,
            "target_core_seconds_per_record": 0.7,
            "meets_target": fast["core_seconds_per_record"] <= 0.7,
        },
        "note": "timings on a shared machine are noisy; re-measure on a quiet one",
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
