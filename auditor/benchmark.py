"""Audit and proving benchmarks (like the reference ``subspace-farmer benchmark audit|prove``,
sector-audit-prove.md §13.2), plus synthetic farms for sizes we cannot plot.

* :func:`benchmark_audit`: each sample audits every plotted sector with a random global challenge and
  ``solution_range = 0`` (pure audit cost); throughput = ``sector_size × sectors`` bytes per second.
* :func:`benchmark_prove`: ``solution_range = u64::MAX`` so every audit has candidates; the time to
  produce one solution.
* :func:`make_synthetic_farm`: a farm directory with P-piece metadata whose ``s_bucket_sizes`` look
  like a real V2 sector (``Binomial(P, 0.6)`` chunks in each s-bucket below ``32768 / 0.6``, none
  above; §9.2) and a *sparse* plot.bin (or random bytes when ``fill``). Not a valid plot: for timing
  the audit only (hash cost does not depend on the bytes).
* :func:`device_random_read_rate`: 4 KiB O_DIRECT random reads/s of a file at a given queue depth.
"""

from __future__ import annotations

import json
import mmap
import os
import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import RECORD_NUM_CHUNKS, RECORD_NUM_S_BUCKETS, RESERVED_PLOT_METADATA
from farmkit.protocol.farm import (
    IDENTITY_FILE,
    METADATA_FILE,
    PLOT_FILE,
    Identity,
    PlotMetadataHeader,
    SingleDiskFarmInfo,
    allocated_space_for_sectors,
    new_ulid,
)
from farmkit.protocol.sector import SECTOR_METADATA_SIZE, SectorMetadata, sector_size

__all__ = [
    "benchmark_audit",
    "benchmark_prove",
    "make_synthetic_farm",
    "synthetic_s_bucket_sizes",
    "device_random_read_rate",
    "drop_file_cache",
]

TIB = 1024**4
_V2_PROOF_RATE = 0.6  # share of s-buckets with a PoS proof (sector-audit-prove.md §9.2)


def synthetic_s_bucket_sizes(pieces_in_sector: int, rng: np.random.Generator) -> np.ndarray:
    """Realistic ``s_bucket_sizes`` of a V2 sector (§9.2): ~0.6·P below s ≈ 54.6k, 0 above."""
    cutoff = int(RECORD_NUM_CHUNKS / _V2_PROOF_RATE)
    sizes = np.zeros(RECORD_NUM_S_BUCKETS, np.int64)
    sizes[:cutoff] = rng.binomial(pieces_in_sector, _V2_PROOF_RATE, cutoff)
    # keep the total at exactly 2^15·P chunks (the s-bucket region's size)
    excess = int(sizes.sum()) - RECORD_NUM_CHUNKS * pieces_in_sector
    i = cutoff - 1
    while excess > 0 and i >= 0:
        take = min(excess, int(sizes[i]))
        sizes[i] -= take
        excess -= take
        i -= 1
    if excess < 0:
        sizes[cutoff] = min(pieces_in_sector, -excess)
    return sizes.astype(np.uint16)


def make_synthetic_farm(directory: str | os.PathLike, sectors: int, pieces_in_sector: int = 1000, *,
                        fill: bool = False, seed: int = 0) -> Path:
    """A farm with ``sectors`` sectors of P-shaped metadata; plot.bin sparse unless ``fill``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    identity = Identity.from_entropy(rng.bytes(32))
    (directory / IDENTITY_FILE).write_bytes(identity.encode())
    ss = sector_size(pieces_in_sector)
    info = SingleDiskFarmInfo(new_ulid(), bytes(32), identity.public_key, pieces_in_sector,
                              allocated_space_for_sectors(sectors, pieces_in_sector, 0))
    info.store_to(directory)
    with open(directory / METADATA_FILE, "wb") as f:
        f.write(PlotMetadataHeader(1, sectors, None).encode())
        f.seek(RESERVED_PLOT_METADATA)
        pool = [synthetic_s_bucket_sizes(pieces_in_sector, rng) for _ in range(min(sectors, 16))]
        for i in range(sectors):
            f.write(SectorMetadata(i, pieces_in_sector, pool[i % len(pool)], 1).encode_checksummed())
        f.truncate(-(-(RESERVED_PLOT_METADATA + SECTOR_METADATA_SIZE * sectors) // 4096) * 4096)
    plot_size = -(-sectors * ss // 4096) * 4096
    with open(directory / PLOT_FILE, "wb") as f:
        if fill:
            block = 64 * 1024 * 1024
            left = plot_size
            while left:
                n = min(block, left)
                f.write(rng.bytes(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
        else:
            f.truncate(plot_size)
    return directory


def drop_file_cache(path: str | os.PathLike) -> None:
    """Evict a file's clean pages from the page cache (``POSIX_FADV_DONTNEED``; no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def device_random_read_rate(path: str | os.PathLike, *, reads: int = 20000, queue_depth: int = 32,
                            seconds: float = 3.0) -> dict:
    """4 KiB random reads/s of ``path`` with O_DIRECT (cache dropped first if O_DIRECT is refused)."""
    size = os.path.getsize(path)
    pages = size // 4096
    if pages < 1:
        raise FarmkitError(f"{path}: too small to measure")
    direct = True
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
        buf = mmap.mmap(-1, 4096)
        os.preadv(fd, [buf], 0)
    except OSError:
        direct = False
        fd = os.open(path, os.O_RDONLY)
        drop_file_cache(path)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    rng = np.random.default_rng()
    offsets = (rng.integers(0, pages, reads) * 4096).tolist()
    per = -(-reads // queue_depth)
    deadline = time.perf_counter() + seconds

    def worker(k: int) -> int:
        b = mmap.mmap(-1, 4096)
        done = 0
        for off in offsets[k * per : (k + 1) * per]:
            os.preadv(fd, [b], off)
            done += 1
            if (done & 63) == 0 and time.perf_counter() > deadline:
                break
        return done

    t0 = time.perf_counter()
    with ThreadPoolExecutor(queue_depth) as pool:
        done = sum(pool.map(worker, range(queue_depth)))
    dt = time.perf_counter() - t0
    os.close(fd)
    return {"reads": done, "seconds": dt, "reads_per_s": done / dt, "queue_depth": queue_depth, "o_direct": direct}


def benchmark_audit(farms: list, *, io_mode: str = "mmap", samples: int = 10, warm: bool = True,
                    cold: bool = False, io_threads: int | None = None) -> dict:
    """Audit every plotted sector of ``farms`` ``samples`` times (solution range 0).

    ``warm``: the same challenge each sample after one untimed pass (page cache hot: pure audit
    cost); otherwise a fresh random challenge each sample. ``cold``: the page cache is dropped
    before each sample (mmap mode; direct I/O never uses it)."""
    from farmkit.auditor.audit import FarmAuditor

    auditors = [FarmAuditor(f, io_mode=io_mode, io_threads=io_threads, farm_index=i) for i, f in enumerate(farms)]
    try:
        sectors = sum(len(a.sectors) for a in auditors)
        plot_bytes = sum(len(a.sectors) * a.farm.sector_size for a in auditors)
        gc = secrets.token_bytes(32)
        for a in auditors:  # compile + fill the cache
            a.audit(gc, 0)
        times, chunks = [], 0
        for _ in range(samples):
            if not warm:
                gc = secrets.token_bytes(32)
            if cold:
                for a in auditors:
                    drop_file_cache(a.farm.directory / PLOT_FILE)
            t0 = time.perf_counter()
            n = 0
            for a in auditors:
                _, counts, _, _ = a.audit_distances(gc)
                n += int(counts.sum())
            times.append(time.perf_counter() - t0)
            chunks += n
        t = statistics.median(times)
        reads = sectors  # one s-bucket read per sector and audit
        return {
            "io": io_mode,
            "mode": "cold" if cold else ("warm" if warm else "random-challenge"),
            "sectors": sectors,
            "samples": samples,
            "audit_time_s": t,
            "audit_time_min_s": min(times),
            "time_per_sector_us": 1e6 * t / max(1, sectors),
            "time_per_tib_s": t * TIB / max(1, plot_bytes),
            "throughput_bytes_per_s": plot_bytes / t if t else float("inf"),
            "throughput_tib_per_s": plot_bytes / t / TIB if t else float("inf"),
            "chunks_per_audit": chunks / samples,
            "reads_per_s": reads / t if t else float("inf"),
        }
    finally:
        for a in auditors:
            a.close()


def benchmark_prove(farm, *, samples: int = 1, mode: str = "concurrent", warmup: bool = True) -> dict:
    """Time to produce one solution (solution range u64::MAX, best encoded candidate); one untimed
    proof first (``warmup``) loads the KZG parameters and compiled kernels."""
    from farmkit.auditor.audit import FarmAuditor
    from farmkit.auditor.prove import ProofTimings, prove_candidate

    auditor = FarmAuditor(farm)
    try:
        times, parts = [], ProofTimings()
        for k in range(samples + (1 if warmup else 0)):
            for _ in range(1000):  # small farms: the audited s-bucket may be empty
                cands = [c for c in auditor.audit(secrets.token_bytes(32), (1 << 64) - 1) if c.encoded]
                if cands:
                    break
            else:
                raise FarmkitError("no encoded candidate (empty farm?)")
            c = cands[0]
            t0 = time.perf_counter()
            if warmup and k == 0:
                prove_candidate(auditor.farm, c.sector_index, c.piece_offset, c.s_bucket, bytes(32), mode=mode)
                continue
            prove_candidate(auditor.farm, c.sector_index, c.piece_offset, c.s_bucket, bytes(32), mode=mode, timings=parts)
            times.append(time.perf_counter() - t0)
        return {
            "mode": mode,
            "samples": samples,
            "prove_time_s": statistics.median(times),
            "prove_time_min_s": min(times),
            "parts_s": {k: v / samples for k, v in vars(parts).items()},
        }
    finally:
        auditor.close()


def to_json(obj) -> str:
    return json.dumps(obj, indent=2)
