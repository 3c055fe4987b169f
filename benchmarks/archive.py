"""Archiving speed: one 128 MiB recorded-history segment → 256 pieces (kzg-erasure-archiving.md §9.4).

Run: ``python -m farmkit.benchmarks.archive [--workers N] [--skip-cli] [--skip-baseline]``.
Prints one JSON object:

* ``cli``: wall time of the whole ``plotter archive --synthetic SEED --segments 1 --out TMP``
  command in a fresh process (start-up, numba cache load/compilation, KZG parameter load
  included). Target on the 2-core box: <= 90 s.
* ``breakdown``: the same segment encoded in-process, per step: SCALE segment encoding,
  erasure coding (numba FFTs across the 128 records), record commitments (IFFT + 128 MSMs of 2^15
  points, ``workers`` processes), commitment extension + hashing, segment commitment + 256
  witnesses, piece assembly.
* ``baseline`` (measured in the same run): the readable reference paths, extrapolated from a
  sample: Python-int erasure coding (``erasure.ref_extend``) per chunk offset, and one-process
  record commitments; ``speedup`` = baseline / measured for each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_CLI_S = 90.0
SEED_HEX = "be" * 32


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (forked MSM workers)."""
    import resource

    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def run_cli(workers: int | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="farmkit-bench-archive-"))
    try:
        exe = shutil.which("plotter")
        cmd = [exe] if exe else [sys.executable, "-m", "farmkit.plotter.cli"]
        cmd += ["archive", "--synthetic", SEED_HEX, "--segments", "1", "--out", str(tmp / "a")]
        if workers:
            cmd += ["--workers", str(workers)]
        t0 = time.perf_counter()
        c0 = _cpu()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu = _cpu() - c0
        if r.returncode != 0:
            return {"error": r.stderr.strip()[-500:]}
        return {
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "target_s": TARGET_CLI_S,
            "meets_target": wall <= TARGET_CLI_S,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def breakdown(workers: int | None) -> tuple[dict, object, np.ndarray]:
    from farmkit.plotter.archive import synthetic_block
    from farmkit.protocol.archiver import Archiver, KzgSegmentEncoder

    t0 = time.perf_counter()
    encoder = KzgSegmentEncoder(workers=workers)
    encoder.kzg.g1_powers()
    t_setup = time.perf_counter() - t0
    archiver = Archiver(encoder=encoder)
    block = synthetic_block(bytes.fromhex(SEED_HEX), 0)
    archiver.buffer.append(__import__("farmkit.protocol.segments", fromlist=["Block"]).Block(block))
    t1 = time.perf_counter()
    segment = archiver.produce_segment()
    raw = segment.encode_padded(archiver.segment_size)
    t_scale = time.perf_counter() - t1
    t2 = time.perf_counter()
    c2 = _cpu()
    pieces, _ = encoder.encode(raw)
    t_encode = time.perf_counter() - t2
    cpu_encode = _cpu() - c2
    tm = dict(encoder.timings)
    out = {
        "workers": encoder.workers,
        "kzg_parameters_load_s": round(t_setup, 3),
        "segment_scale_encoding_s": round(t_scale, 3),
        "erasure_coding_s": round(tm.get("erasure_s", 0.0), 3),
        "record_commitments_ifft_msm_s": round(tm.get("record_commitments_s", 0.0), 3),
        "extend_commitments_and_hashing_s": round(tm.get("extend_commitments_and_hashing_s", 0.0), 3),
        "segment_commitment_and_witnesses_s": round(tm.get("segment_commitment_and_witnesses_s", 0.0), 3),
        "piece_assembly_s": round(tm.get("assembly_s", 0.0), 3),
        "segment_total_s": round(t_scale + t_encode, 3),
        "segment_encode_cpu_s": round(cpu_encode, 2),
    }
    return out, encoder, raw


def baseline(encoder, raw, sample_columns: int = 32, sample_records: int = 4) -> dict:
    """Reference paths on a sample, extrapolated to a whole segment."""
    from farmkit.kernels import erasure, fr
    from farmkit.protocol.archiver import KzgSegmentEncoder

    source = encoder.source_records(raw)  # (128, 32768, 32)
    n_cols = source.shape[1]
    t0 = time.perf_counter()
    for o in range(sample_columns):
        erasure.ref_extend(fr.ints_from_bytes(source[:, o]))
    ref_erasure = (time.perf_counter() - t0) / sample_columns * n_cols
    one = KzgSegmentEncoder(workers=1)
    t1 = time.perf_counter()
    one.commit_records(source[:sample_records])
    ref_commit = (time.perf_counter() - t1) / sample_records * source.shape[0]
    return {
        "reference_erasure_coding_s_extrapolated": round(ref_erasure, 2),
        "one_process_record_commitments_s_extrapolated": round(ref_commit, 2),
        "sample_columns": sample_columns,
        "sample_records": sample_records,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=None, help="processes for record commitments (default: all cores)")
    ap.add_argument("--skip-cli", action="store_true", help="skip the fresh-process `plotter archive` timing")
    ap.add_argument("--skip-baseline", action="store_true", help="skip the reference-path baseline")
    args = ap.parse_args(argv)
    result: dict = {"benchmark": "archive", "cpu_count": os.cpu_count(), "load_before": _load()}
    if not args.skip_cli:
        result["cli"] = run_cli(args.workers)
    bd, encoder, raw = breakdown(args.workers)
    result["breakdown"] = bd
    if not args.skip_baseline:
        base = baseline(encoder, raw)
        result["baseline"] = base
        result["speedup"] = {
            "erasure_coding_vs_reference": round(base["reference_erasure_coding_s_extrapolated"] / max(bd["erasure_coding_s"], 1e-9), 1),
            "record_commitments_vs_one_process": round(
                base["one_process_record_commitments_s_extrapolated"] / max(bd["record_commitments_ifft_msm_s"], 1e-9), 2
            ),
        }
    result["load_after"] = _load()
    result["note"] = "CPU timings on a shared machine are noisy; compare load_before/load_after."
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
