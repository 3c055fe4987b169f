"""Benchmark: Fr FFT, erasure coding and KZG (kzg-erasure-archiving.md §5-7, §9.4, §16).

    python -m farmkit.benchmarks.kzg [--quick]

Prints one JSON object.  Baselines are measured in the same run:
* the 2^16 FFT against a pure-Python-integer radix-2 FFT (``fft.ref_fft``);
* segment erasure coding (128 records × 32,768 chunks) against the pure-Python extension of a sample
  of columns, extrapolated to all 32,768 columns;
* record commitments on all cores against one commitment at a time.
Timings are best-of-k wall-clock seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from farmkit.benchmarks._common import best, source_chunks
from farmkit.protocol.constants import RECORD_NUM_CHUNKS as RECORD_CHUNKS, NUM_RAW_RECORDS as SEGMENT_RECORDS
from farmkit.kernels import erasure, fft, fr, kzg



def bench_fft(rng, reps: int) -> dict:
    n = 2**16
    vals = source_chunks(rng, n)
    ints = fr.ints_from_bytes(vals)
    internal = fr.scalars_from_bytes(vals)
    work = internal[None].copy()
    fft.fft_internal_inplace(work)  # compile / warm up
    t_fast = best(lambda: fft.fft_internal_inplace(work), reps)
    t_bytes = best(lambda: fft.fft(vals), reps)
    t_ref = best(lambda: fft.ref_fft(ints), max(1, reps // 3))
    batch = source_chunks(rng, 512, 128)
    bint = fr.scalars_from_bytes(batch)
    fft.fft_internal_inplace(bint.copy())
    t_batch = best(lambda: fft.fft_internal_inplace(bint), reps)
    return {
        "fft_2^16_s": t_fast,
        "fft_2^16_bytes_in_out_s": t_bytes,
        "fft_2^16_pure_python_s": t_ref,
        "fft_2^16_speedup_vs_pure_python": t_ref / t_fast,
        "fft_2^16_bytes_speedup_vs_pure_python": t_ref / t_bytes,
        "fft_512x128_batch_s": t_batch,
    }


def bench_erasure(rng, reps: int, quick: bool) -> dict:
    chunks = RECORD_CHUNKS // 8 if quick else RECORD_CHUNKS
    recs = source_chunks(rng, SEGMENT_RECORDS, chunks)
    erasure.extend_records(recs[:, :16])
    t_seg = best(lambda: erasure.extend_records(recs), max(1, reps // 2))
    sample = 16
    cols = [fr.ints_from_bytes(recs[:, o]) for o in range(sample)]
    t0 = time.perf_counter()
    for c in cols:
        erasure.ref_extend(c)
    t_ref_col = (time.perf_counter() - t0) / sample
    scale = RECORD_CHUNKS / chunks
    out = {
        "segment_erasure_chunks": chunks,
        "segment_erasure_s": t_seg,
        "segment_erasure_full_segment_s": t_seg * scale,
        "segment_erasure_pure_python_extrapolated_s": t_ref_col * RECORD_CHUNKS,
        "segment_erasure_speedup_vs_pure_python": t_ref_col * chunks / t_seg,
    }
    # farmer side: one record 2^15 → 2^16 and recovery of the record polynomial from half the s-buckets
    rec = source_chunks(rng, RECORD_CHUNKS)
    erasure.extend(rec[:8])
    out["record_extend_2^15_s"] = best(lambda: erasure.extend(rec), reps)
    full = erasure.interleave(rec, erasure.extend(rec))
    present = np.zeros(2 * RECORD_CHUNKS, bool)
    present[rng.choice(2 * RECORD_CHUNKS, RECORD_CHUNKS, replace=False)] = True
    shards = np.where(present[:, None], full, 0).astype(np.uint8)
    out["record_recover_poly_2^16_s"] = best(lambda: erasure.recover_poly(shards, present), max(1, reps // 3))
    plan = erasure.RecoveryPlan(present)
    out["record_recover_zero_poly_plan_s"] = best(lambda: erasure.RecoveryPlan(present), 1)
    out["record_recover_with_plan_s"] = best(lambda: plan.coefficients(shards[None]), max(1, reps // 3))
    return out


def bench_kzg(rng, reps: int, quick: bool) -> dict:
    k = kzg.default_kzg()
    t0 = time.perf_counter()
    k.g1_powers()
    out = {"kzg_load_g1_powers_s": time.perf_counter() - t0}
    nrec = 2 if quick else 4
    recs = source_chunks(rng, nrec, RECORD_CHUNKS)
    coeffs = k.polys_from_evaluations(recs)
    out["record_ifft_s"] = best(lambda: k.poly_from_evaluations(recs[0]), reps)
    t_one = best(lambda: k.commit(coeffs[0]), max(1, reps // 3))
    t0 = time.perf_counter()
    k.commit_evaluations_many(recs, use_lagrange=False)
    t_many = (time.perf_counter() - t0) / nrec
    out.update(
        {
            "record_commit_s": t_one,
            "record_commit_all_cores_per_record_s": t_many,
            "record_commit_parallel_speedup": t_one / t_many,
            "segment_128_record_commitments_estimate_s": 128 * t_many,
        }
    )
    c0 = coeffs[0]
    out["record_witness_s"] = best(lambda: k.create_witness(c0, RECORD_CHUNKS, 1), 1)
    w = k.create_witness(c0, 2**16, 3)
    C = k.commit(c0)
    parity = erasure.extend(recs[0])
    out["verify_s"] = best(lambda: k.verify(C, 2**16, 3, parity[1], w), reps)
    seg = source_chunks(rng, 256)
    sc = k.poly_from_evaluations(seg)
    idx = range(16) if quick else range(256)
    t0 = time.perf_counter()
    k.create_witnesses(sc, 256, idx)
    out["segment_256_witnesses_s"] = (time.perf_counter() - t0) * 256 / len(idx)
    src_c = [k.commit(sc[:8])] * 128
    out["extend_commitments_128_s"] = best(lambda: kzg.extend_commitments(src_c), 1)
    return out


def bench_lagrange(rng, reps: int) -> dict:
    k = kzg.default_kzg()
    cached = k.has_lagrange_basis(RECORD_CHUNKS)
    t0 = time.perf_counter()
    k.lagrange_basis(RECORD_CHUNKS)
    t_basis = time.perf_counter() - t0
    rec = source_chunks(rng, RECORD_CHUNKS)
    t_l = best(lambda: k.commit_evaluations(rec, use_lagrange=True), max(1, reps // 3))
    t_c = best(lambda: k.commit_evaluations(rec, use_lagrange=False), max(1, reps // 3))
    return {
        "lagrange_basis_2^15_from_cache": cached,
        "lagrange_basis_2^15_s": t_basis,
        "record_commit_lagrange_s": t_l,
        "record_commit_ifft_then_monomial_s": t_c,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument(
        "--lagrange",
        action="store_true",
        help="also build (or load from the cache) the 2^15 Lagrange basis and time commits over it",
    )
    args = ap.parse_args()
    reps = args.reps or (2 if args.quick else 5)
    rng = np.random.default_rng(0)
    result = {
        "benchmark": "kzg",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "quick": args.quick,
    }
    result.update(bench_fft(rng, reps))
    result.update(bench_erasure(rng, reps, args.quick))
    result.update(bench_kzg(rng, reps, args.quick))
    if args.lagrange:
        result.update(bench_lagrange(rng, reps))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
