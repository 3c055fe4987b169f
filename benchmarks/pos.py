"""Proof-of-space speed: K = 20 table sets with proof search (V1 and V2), single core and all
cores, peak memory, against PyPI ``chiapos`` creating a k = 20 plot in the same run.

Run: ``python -m farmkit.benchmarks.pos [--seeds N] [--threads T] [--no-chiapos]``. Prints one
JSON object. A "table set" is what one record needs: all tables built once, then the proofs of
every s-bucket found (V1: ``find_proofs(0, 65536)``; V2: ``encoding_proofs()``). Kernels are
compiled/loaded before any clock starts. Peak memory is measured in a fresh subprocess
(RSS sampled during one build, above the baseline). Shared machines make these figures noisy: the load average
is recorded.

Wall and CPU seconds are both reported (CPU time is less sensitive to other load; chiapos' CPU
time counts its helper threads too).

Targets (issue 4): one V1 table set in <= 0.5x chiapos' k = 20 plot time, V2 faster still, and
scaling with cores (1000 table sets per sector).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from farmkit.kernels import pos

TARGET_V1_VS_CHIAPOS = 0.5


def _seeds(n: int, tag: str) -> list[bytes]:
    return [hashlib.sha256(f"farmkit pos bench {tag} {i}".encode()).digest() for i in range(n)]


def _table_set(seed: bytes, version: str) -> int:
    t = pos.build_tables(seed, version)
    if version == "v1":
        found, _ = t.find_proofs(0, pos.NUM_S_BUCKETS)
        return int(found.sum())
    s, _ = t.encoding_proofs()
    return len(s)


def _single(version: str, seeds: list[bytes]) -> dict:
    times, cpu = [], []
    for s in seeds:
        t0, c0 = time.perf_counter(), time.thread_time()
        _table_set(s, version)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {
        "seconds_per_table_set_best": min(times),
        "seconds_per_table_set_mean": float(np.mean(times)),
        "cpu_seconds_per_table_set_best": min(cpu),
        "n": len(times),
    }


def _parallel(version: str, seeds: list[bytes], threads: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    with cf.ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda s: _table_set(s, version), seeds))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "threads": threads,
        "table_sets": len(seeds),
        "wall_seconds": wall,
        "table_sets_per_second": len(seeds) / wall,
        "cpu_seconds_per_table_set": cpu / len(seeds),
    }


_MEM_SCRIPT = r"""
import json, sys, threading, time
from farmkit.kernels import pos
pos.build_tables(bytes(32), sys.argv[1], k=16)  # load (or compile) the kernels first
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
peak = [before]
done = threading.Event()
def sample():  # the build releases the GIL, so this samples RSS during it
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
th = threading.Thread(target=sample)
th.start()
t = pos.build_tables(bytes.fromhex(sys.argv[2]), sys.argv[1])
t.encoding_proofs()
done.set()
th.join()
print(json.dumps({"peak_bytes": peak[0] - before, "held_bytes": t.nbytes}))
"""


def _memory(version: str) -> dict:
    seed = _seeds(1, "mem")[0].hex()
    out = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, version, seed], capture_output=True, text=True, check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return {"peak_build_MiB": round(d["peak_bytes"] / 2**20, 1), "held_by_PosTables_MiB": round(d["held_bytes"] / 2**20, 1)}


def _chiapos_k20(threads: int) -> tuple[float, float] | None:
    try:
        from chiapos import DiskPlotter
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as d:
        plot_id = _seeds(1, "chia")[0]
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(1)
        os.dup2(devnull, 1)  # chiapos prints its phases on stdout
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            DiskPlotter().create_plot_disk(d, d, d, "k20.plot", 20, b"", plot_id, 1000, 16, 8192, threads, False)
            return time.perf_counter() - t0, time.process_time() - c0
        finally:
            os.dup2(saved, 1)
            os.close(devnull)
            os.close(saved)


def run(nseeds: int, threads: int, with_chiapos: bool) -> dict:
    t0 = time.perf_counter()
    for v in pos.VERSIONS:  # compile / load the kernels
        _table_set(bytes(32), v)
    warm = time.perf_counter() - t0
    res: dict = {
        "benchmark": "pos",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "warm_up_seconds": round(warm, 2),
    }
    chia_t = _chiapos_k20(1) if with_chiapos else None
    chia = chia_t[0] if chia_t else None
    res["chiapos_k20_plot_seconds_1_thread"] = chia
    res["chiapos_k20_plot_cpu_seconds"] = chia_t[1] if chia_t else None
    for v in pos.VERSIONS:
        single = _single(v, _seeds(nseeds, v))
        par = _parallel(v, _seeds(max(threads, 1) * nseeds, v + "p"), threads)
        entry = {"single_core": single, "all_cores": par, "memory": _memory(v)}
        entry["table_sets_per_second_per_core"] = 1.0 / single["seconds_per_table_set_best"]
        entry["parallel_speedup"] = par["table_sets_per_second"] * single["seconds_per_table_set_best"]
        if chia:
            entry["ratio_vs_chiapos_k20_plot"] = single["seconds_per_table_set_best"] / chia
            entry["cpu_ratio_vs_chiapos_k20_plot"] = single["cpu_seconds_per_table_set_best"] / chia_t[1]
        res[v] = entry
    if chia:
        res["target_v1_vs_chiapos"] = TARGET_V1_VS_CHIAPOS
        res["v1_meets_target"] = res["v1"]["ratio_vs_chiapos_k20_plot"] <= TARGET_V1_VS_CHIAPOS
        res["v2_faster_than_v1"] = res["v2"]["single_core"]["seconds_per_table_set_best"] < res["v1"]["single_core"]["seconds_per_table_set_best"]
    res["loadavg_end"] = os.getloadavg()
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="table sets per measurement (single core)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for the all-cores run")
    ap.add_argument("--no-chiapos", action="store_true", help="skip the chiapos baseline")
    a = ap.parse_args(argv)
    print(json.dumps(run(a.seeds, a.threads, not a.no_chiapos), indent=1))


if __name__ == "__main__":
    main()
