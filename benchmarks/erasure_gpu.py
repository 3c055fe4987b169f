"""GPU erasure coding of records (kzg-erasure-archiving.md §7, sector-audit-prove.md §6.3, §14.2)
vs the numba CPU path.

Run: ``python -m farmkit.benchmarks.erasure_gpu [--backend cuda|opencl] [--records N] [--batch B]
[--reps K] [--no-cpu]``.  Prints one JSON object.

What is timed (best of ``--reps``, after a warm-up that compiles the kernels and builds the tables):

* ``extend_device``: ``extend_batch_device(..., interleaved=True)`` of ``--batch`` device-resident
  records (2^15 → 2^16 s-bucket chunks), synchronised; what the plotter pays when a record stays on
  the device between erasure coding, masking and PoS;
* ``mask_fill_device``: ``mask_and_fill_device`` (§6.3 masking + unencoded fill) of the same batch;
* ``extend_host``: ``extend_batch`` for ``--records`` records with the host↔device copies;
* ``fft_2_16``: one natural-order 2^16 FFT (``fft_batch``) with copies.

Baseline in the same run: ``erasure.extend_batch`` (numba, all cores) on the same records.
``sector_seconds`` projects a 1000-record sector from the device-resident figures.  On PoCL (the CPU
OpenCL runtime) the figures show that the path works, not GPU speed.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from farmkit.benchmarks._common import best, source_chunks
from farmkit.protocol.constants import RECORD_NUM_CHUNKS as RECORD_CHUNKS, MAX_PIECES_IN_SECTOR as RECORDS_PER_SECTOR
from farmkit.kernels import erasure, erasure_gpu
from farmkit.kernels.backends import probe
from farmkit.kernels.gpu import gpu_context



def run(backend: str | None, records: int, batch: int, reps: int, cpu: bool) -> dict:
    backend = erasure_gpu._gpu_backend(backend)
    ctx = gpu_context(backend)
    rng = np.random.default_rng(0)
    src = source_chunks(rng, max(records, batch), RECORD_CHUNKS)
    t0 = time.perf_counter()
    erasure_gpu.extend_batch(src[:1], backend)  # compile + tables
    warm_s = time.perf_counter() - t0

    d_src = ctx.to_device(src[:batch])
    d_ext = ctx.empty((batch, 2 * RECORD_CHUNKS, 32), np.uint8)
    d_work = ctx.empty((batch, 4, RECORD_CHUNKS), np.uint64)

    def extend_device():
        erasure_gpu.extend_batch_device(ctx, d_src, batch, RECORD_CHUNKS, interleaved=True, out=d_ext, work=d_work)
        ctx.synchronize()

    sb = np.zeros((batch, RECORD_CHUNKS), np.uint32)
    for r in range(batch):
        sb[r] = np.sort(rng.choice(2 * RECORD_CHUNKS, size=RECORD_CHUNKS, replace=False))
    d_sb = ctx.to_device(sb)
    d_masks = ctx.to_device(rng.integers(0, 256, (batch, RECORD_CHUNKS, 32), dtype=np.uint8))
    d_counts = ctx.to_device(np.full(batch, RECORD_CHUNKS, np.uint32))

    def mask_fill_device():
        erasure_gpu.mask_and_fill_device(ctx, d_ext, d_sb, d_masks, d_counts, batch)
        ctx.synchronize()

    extend_device()
    mask_fill_device()
    t_ext = best(extend_device, reps) / batch
    t_mask = best(mask_fill_device, reps) / batch
    t_host = best(lambda: erasure_gpu.extend_batch(src[:records], backend, max_batch=batch), reps) / records
    x16 = source_chunks(rng, 1, 2 * RECORD_CHUNKS)
    erasure_gpu.fft_batch(x16, backend)
    t_fft = best(lambda: erasure_gpu.fft_batch(x16, backend), reps)
    res = {
        "benchmark": "erasure_gpu",
        "backend": backend,
        "device": probe(backend).device,
        "records": records,
        "batch": batch,
        "warmup_s": round(warm_s, 3),
        "extend_device_s_per_record": round(t_ext, 5),
        "mask_fill_device_s_per_record": round(t_mask, 5),
        "extend_host_s_per_record": round(t_host, 5),
        "fft_2_16_s": round(t_fft, 5),
        "sector_seconds_extend_mask": round((t_ext + t_mask) * RECORDS_PER_SECTOR, 2),
        "load_average": os.getloadavg()[0],
    }
    if cpu:
        erasure.extend_batch(src[:1, :1024])  # numba load
        t_cpu = best(lambda: erasure.extend_batch(src[:records]), reps) / records
        res["cpu_extend_s_per_record"] = round(t_cpu, 5)
        res["speedup_device_vs_cpu"] = round(t_cpu / t_ext, 3)
        res["speedup_host_vs_cpu"] = round(t_cpu / t_host, 3)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, help="cuda or opencl (default: best available GPU backend)")
    ap.add_argument("--records", type=int, default=4, help="records for the host-path timings")
    ap.add_argument("--batch", type=int, default=4, help="records per launch")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--no-cpu", action="store_true", help="skip the numba baseline")
    a = ap.parse_args(argv)
    print(json.dumps(run(a.backend, a.records, a.batch, a.reps, not a.no_cpu), indent=2))


if __name__ == "__main__":
    main()
