"""GPU proof of space: record-encoding proofs per second on a GPU backend vs the CPU version.

Run: ``python -m farmkit.benchmarks.pos_gpu [--backend cuda|opencl] [--version v2|v1] [--batch R]
[--records N] [--k 20] [--stages] [--no-cpu]``.  Prints one JSON object.

What is timed: ``encoding_proofs_batch`` (tables 1..7, best table-7 entry per s-bucket, the first
2^15 proofs walked back and copied to the host) for ``--records`` records, ``--batch`` per launch,
after one warm-up launch (compilation and buffer allocation are excluded).  The baseline is the
CPU version (``farmkit.kernels.pos.encoding_proofs``, numba) on the same seeds in the same run.
``--stages`` adds a per-kernel breakdown (synchronizing after each stage, so slightly slower).
``sector_seconds`` projects a 1000-record sector (issue target: <= 3 s on an H100).
On PoCL (CPU OpenCL) the figures show that the path works, not GPU speed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR as RECORDS_PER_SECTOR
from farmkit.kernels import pos_gpu
from farmkit.kernels.backends import probe

TARGET_SECTOR_SECONDS = 3.0


def run(backend: str | None, version: str, batch: int | None, records: int, k: int, stages: bool,
        cpu: bool) -> dict:
    backend = pos_gpu._gpu_backend(backend)
    batch = batch or pos_gpu.default_batch(backend, k)
    seeds = [hashlib.sha256(b"pos gpu bench %d" % i).digest() for i in range(records)]
    t0 = time.perf_counter()
    pos_gpu.encoding_proofs_batch(seeds[:batch], version, backend, batch=batch, k=k)  # compile + warm
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = pos_gpu.encoding_proofs_batch(seeds, version, backend, batch=batch, k=k)
    gpu_s = time.perf_counter() - t0
    per_record = gpu_s / records
    res = {
        "benchmark": "pos_gpu",
        "backend": backend,
        "device": probe(backend).device,
        "version": version,
        "k": k,
        "records": records,
        "batch": batch,
        "warmup_s": round(warm_s, 3),
        "gpu_seconds_per_record": round(per_record, 4),
        "gpu_records_per_s": round(1 / per_record, 3),
        "sector_seconds": round(per_record * RECORDS_PER_SECTOR, 2),
        "target_sector_seconds": TARGET_SECTOR_SECONDS,
        "device_bytes_per_record": pos_gpu.memory_per_record(k),
        "proofs_per_record": [len(s) for s, _ in out][:4],
        "load_average": os.getloadavg()[0],
    }
    if stages:
        eng = pos_gpu._engine(backend, version, batch, k)
        times: dict = {}
        eng.build(seeds[:batch], stage_times=times)
        t0 = time.perf_counter()
        eng.proofs()
        times["proofs+copy"] = time.perf_counter() - t0
        res["stage_seconds_per_record"] = {n: round(v / batch, 4) for n, v in times.items()}
    if cpu:
        from farmkit.kernels import pos

        pos.encoding_proofs(seeds[0], version) if k == pos.K else None  # numba compile / load
        t0 = time.perf_counter()
        for s in seeds[: min(records, 2)]:
            pos.build_tables(s, version, k=k).encoding_proofs()
        cpu_s = (time.perf_counter() - t0) / min(records, 2)
        res["cpu_seconds_per_record"] = round(cpu_s, 4)
        res["speedup_vs_cpu"] = round(cpu_s / per_record, 3)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, help="cuda or opencl (default: best available)")
    ap.add_argument("--version", default="v2", choices=["v1", "v2"])
    ap.add_argument("--batch", type=int, default=None, help="records per launch (default: fits memory)")
    ap.add_argument("--records", type=int, default=2)
    ap.add_argument("--k", type=int, default=pos_gpu.POS_K, help="K (20 = protocol; 17/18 for quick runs)")
    ap.add_argument("--stages", action="store_true", help="per-stage breakdown")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU baseline")
    a = ap.parse_args(argv)
    print(json.dumps(run(a.backend, a.version, a.batch, a.records, a.k, a.stages, not a.no_cpu), indent=1))


if __name__ == "__main__":
    main()
