"""Auditing a farm for one slot (sector-audit-prove.md §9, reference ``auditing.rs``).

Per sector: ``chal = sector_id XOR global_challenge``; the audited s-bucket is
``s = u16le(chal[0:2])``; read that s-bucket's chunks (one contiguous read); for every stored chunk
``a = u64le(HK(chal, chunk)[0:8])`` (keyed BLAKE3, one compression), ``d = min(g - a, a - g)``
(mod 2^64) with ``g = u64le(global_challenge[0:8])``; the chunk wins when ``d <= range // 2``.

Two paths, compared by the tests:

* :func:`audit_sector_reference` — readable, per chunk, with the ``blake3`` package;
* :class:`FarmAuditor` — the fast path. Sector ids, s-bucket sizes and coarse prefix sums are
  prepared once per farm; a slot's audit is ``plan`` (locate every sector's s-bucket, compiled),
  ``read`` and ``hash`` (one compiled pass over all sectors on all cores, one keyed BLAKE3
  compression per chunk read as 8 little-endian u32 words straight from the mapping). Reads come
  from the page cache through ``mmap`` (default; ``MADV_RANDOM``, plus ``MADV_WILLNEED`` on every
  audited range first so cold reads run at the device's queue depth) or through ``O_DIRECT``
  page-aligned reads issued by a thread pool (the reference farmer's I/O mode), gathered into one
  buffer and hashed by the same kernel. :func:`audit_farms` issues every farm's reads before
  hashing any.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from farmkit.errors import FarmkitError
from farmkit.kernels.blake3 import compress
from farmkit.protocol.constants import RECORD_NUM_CHUNKS, RECORD_NUM_S_BUCKETS, SCALAR_SIZE
from farmkit.protocol.farm import SingleDiskFarm
from farmkit.protocol.sector import SectorContentsMap

__all__ = [
    "AuditCandidate",
    "FarmAuditor",
    "audit_sector_reference",
    "solution_distance",
    "IO_MODES",
    "audit_farms",
]

IO_MODES = ("mmap", "direct")
PAGE = 4096
DEFAULT_IO_THREADS = 32  # O_DIRECT reads in flight (SSD queue depth); the reference uses one per core
_COARSE = 256  # s-buckets per coarse prefix-sum step
_AUDIT_FLAGS = 1 | 2 | 8 | 16  # CHUNK_START | CHUNK_END | ROOT | KEYED_HASH (sector-audit-prove.md §2)
_U64 = (1 << 64) - 1


# --- reference path (readable) -------------------------------------------------------------------
def solution_distance(global_challenge: bytes, chunk: bytes, sector_slot_challenge: bytes) -> int:
    """§9.3 ``calculate_solution_distance``: bidirectional distance of the chunk's audit hash."""
    import blake3

    a = int.from_bytes(blake3.blake3(bytes(chunk), key=bytes(sector_slot_challenge)).digest()[:8], "little")
    g = int.from_bytes(bytes(global_challenge)[:8], "little")
    return min((g - a) & _U64, (a - g) & _U64)


def audit_sector_reference(
    sector: np.ndarray, s_bucket_sizes: np.ndarray, pieces_in_sector: int, sector_id: bytes,
    global_challenge: bytes, solution_range: int,
) -> tuple[int, list[tuple[int, int]]]:
    """§9.2–9.3 for one sector: (audited s-bucket, [(chunk offset in the s-bucket, distance)] winners
    sorted by distance (stable)). ``sector`` is the sector's bytes."""
    chal = bytes(a ^ b for a, b in zip(sector_id, global_challenge))
    s = chal[0] | (chal[1] << 8)
    sizes = np.asarray(s_bucket_sizes, dtype=np.int64)
    start = 8192 * pieces_in_sector + 32 + SCALAR_SIZE * int(sizes[:s].sum())
    winners = []
    for j in range(int(sizes[s])):
        chunk = bytes(sector[start + SCALAR_SIZE * j : start + SCALAR_SIZE * (j + 1)])
        d = solution_distance(global_challenge, chunk, chal)
        if d <= solution_range // 2:
            winners.append((j, d))
    winners.sort(key=lambda w: w[1])
    return s, winners


# --- fast path -----------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _locate_buckets(sizes, coarse, s_idx, out_start, out_count):
    """Chunk offset (within the s-bucket region) and size of the audited s-bucket of each sector."""
    for i in range(sizes.shape[0]):
        s = s_idx[i]
        base = s - (s % 256)
        off = coarse[i, s // 256]
        for t in range(base, s):
            off += sizes[i, t]
        out_start[i] = off
        out_count[i] = sizes[i, s]


@njit(cache=True, nogil=True, parallel=True)
def _audit_distances(data, starts, counts, first, keys, g, out):
    """§9.3 for every audited chunk. Sector i: ``counts[i]`` chunks at 32-bit word ``starts[i]`` of
    ``data`` (uint32 view of the plot or of the gathered s-buckets); distances go to
    ``out[first[i]:]``. ``keys``: (n, 8) int64 words of the sector slot challenge (the BLAKE3 key);
    ``g``: u64le(global_challenge[0:8]). One keyed compression per chunk (§2: flags 27, len 32)."""
    for i in prange(starts.shape[0]):
        k0 = keys[i, 0]
        k1 = keys[i, 1]
        k2 = keys[i, 2]
        k3 = keys[i, 3]
        k4 = keys[i, 4]
        k5 = keys[i, 5]
        k6 = keys[i, 6]
        k7 = keys[i, 7]
        base = starts[i]
        o = first[i]
        for j in range(counts[i]):
            q = base + 8 * j
            r = compress(
                k0, k1, k2, k3, k4, k5, k6, k7,
                np.int64(data[q]), np.int64(data[q + 1]), np.int64(data[q + 2]), np.int64(data[q + 3]),
                np.int64(data[q + 4]), np.int64(data[q + 5]), np.int64(data[q + 6]), np.int64(data[q + 7]),
                0, 0, 0, 0, 0, 0, 0, 0,
                0, 32, _AUDIT_FLAGS,
            )
            a = np.uint64(r[0]) | (np.uint64(r[1]) << np.uint64(32))
            d1 = g - a
            d2 = a - g
            out[o + j] = d1 if d1 < d2 else d2


@dataclass(frozen=True)
class AuditCandidate:
    """A winning chunk (§9.3–9.4). ``encoded`` False means it cannot be proven (no PoS proof)."""

    farm_index: int
    sector_index: int
    s_bucket: int
    chunk_offset: int  # index within the audited s-bucket
    piece_offset: int
    distance: int
    encoded: bool

    def to_json(self) -> dict:
        return {
            "sector_index": self.sector_index,
            "piece_offset": self.piece_offset,
            "s_bucket": self.s_bucket,
            "distance": self.distance,
            "encoded": self.encoded,
        }


def _pieces_for_chunks(contents_map: SectorContentsMap, s: int, chunk_offsets: list[int]):
    """§9.4: records with a chunk in s-bucket s, in ascending piece offset → (piece_offset, encoded)."""
    bf = contents_map.bitfields
    byte, bit = s >> 3, s & 7
    encoded = ((bf[:, byte] >> bit) & 1).astype(bool)
    num_encoded = contents_map.num_encoded
    # unencoded chunks before s: s - popcount(bits < s)
    below = np.unpackbits(bf[:, :byte], axis=1, bitorder="little").sum(axis=1, dtype=np.int64)
    if bit:
        below += np.unpackbits(bf[:, byte : byte + 1], axis=1, bitorder="little")[:, :bit].sum(axis=1, dtype=np.int64)
    unencoded_before = s - below
    present = encoded | ((num_encoded < RECORD_NUM_CHUNKS) & (unencoded_before < RECORD_NUM_CHUNKS - num_encoded))
    records = np.flatnonzero(present)
    out = []
    for j in chunk_offsets:
        if j >= len(records):
            raise FarmkitError(f"s-bucket {s}: chunk {j} beyond the contents map (corrupt sector)")
        p = int(records[j])
        out.append((p, bool(encoded[p])))
    return out


# --- O_DIRECT reads without the GIL: libc pread called from compiled code ----------------------
_libc = ctypes.CDLL(None, use_errno=True)
_pread = _libc.pread
_pread.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int64]  # buffer address as size_t
_pread.restype = ctypes.c_ssize_t


@njit(nogil=True)  # not cached: it calls a ctypes function pointer
def _pread_gather(fd, scratch, offsets, lengths, out, at, first, step):
    """Reads ranges first, first+step, ... : each widened to 4 KiB pages into the aligned
    ``scratch`` with one ``pread`` (O_DIRECT rules), then copied to ``out[at[i]:]``. Returns the
    index of the first range that failed (error or short read), else -1."""
    base = scratch.ctypes.data
    for i in range(first, offsets.shape[0], step):
        off = offsets[i]
        n = lengths[i]
        lo = off - off % 4096
        hi = (off + n + 4095) // 4096 * 4096
        got = _pread(fd, base, hi - lo, lo)
        if got < off - lo + n:
            return i
        shift = off - lo
        dst = at[i]
        for b in range(n):
            out[dst + b] = scratch[shift + b]
    return -1


def _aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + PAGE, np.uint8)
    pad = (-raw.ctypes.data) % PAGE
    return raw[pad : pad + nbytes]


class _PlotIO:
    """Reads of plot.bin: ``mmap`` (page cache, MADV_RANDOM) or ``direct`` (O_DIRECT, aligned)."""

    def __init__(self, path: os.PathLike, mode: str, threads: int):
        if mode not in IO_MODES:
            raise FarmkitError(f"unknown I/O mode {mode!r}; choose one of: {', '.join(IO_MODES)}")
        self.mode = mode
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self.direct_supported = True
        if mode == "mmap":
            fd = os.open(self.path, os.O_RDONLY)
            try:
                self._mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if self.size else None
            finally:
                os.close(fd)
            if self._mm is not None and hasattr(self._mm, "madvise"):
                self._mm.madvise(mmap.MADV_RANDOM)
            self.array = np.frombuffer(self._mm, np.uint8) if self._mm is not None else np.zeros(0, np.uint8)
            # chunks are 32-byte aligned in plot.bin (sector_size and region offsets are multiples of 32)
            self.words = self.array[: len(self.array) // 4 * 4].view("<u4")
        else:
            self._fds: list[int] = []
            self._lock = threading.Lock()

    def _fd(self) -> int:
        """One O_DIRECT handle per thread (like the reference's per-thread RayonFiles)."""
        fd = getattr(self._local, "fd", None)
        if fd is None:
            flags = os.O_RDONLY | getattr(os, "O_DIRECT", 0)
            try:
                fd = os.open(self.path, flags)
            except OSError:  # e.g. tmpfs: no O_DIRECT; fall back to buffered random reads
                self.direct_supported = False
                fd = os.open(self.path, os.O_RDONLY)
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            self._local.fd = fd
            with self._lock:
                self._fds.append(fd)
        return fd

    def _read_direct(self, job):
        offset, length, buf, at = job
        lo = offset - offset % PAGE
        hi = -(-(offset + length) // PAGE) * PAGE
        scratch = getattr(self._local, "scratch", None)
        if scratch is None or len(scratch) < hi - lo:
            scratch = mmap.mmap(-1, max(hi - lo, 64 * 1024))  # page-aligned anonymous memory
            self._local.scratch = scratch
        view = memoryview(scratch)[: hi - lo]
        try:
            n = os.preadv(self._fd(), [view], lo)
        except OSError as exc:
            if exc.errno == 22 and self.direct_supported:  # EINVAL: O_DIRECT refused at read time
                self.direct_supported = False
                self._local.fd = os.open(self.path, os.O_RDONLY)
                n = os.preadv(self._local.fd, [view], lo)
            else:
                raise
        if n < offset - lo + length:
            raise FarmkitError(f"{self.path}: short read at byte {offset} (truncated plot?)")
        buf[at : at + length] = np.frombuffer(view, np.uint8, count=length, offset=offset - lo)
        view.release()

    def prefetch(self, offsets: np.ndarray, lengths: np.ndarray) -> None:
        """mmap: ask the kernel to start reading every s-bucket now (``MADV_WILLNEED``), so cold
        reads run at the device's queue depth instead of one page fault at a time per thread."""
        if self.mode != "mmap" or self._mm is None or not hasattr(mmap, "MADV_WILLNEED"):
            return
        madvise = self._mm.madvise
        for o, n in zip(offsets.tolist(), lengths.tolist()):
            if n:
                lo = o - o % PAGE
                madvise(mmap.MADV_WILLNEED, lo, o + n - lo)

    def gather(self, offsets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read [offset, offset+length) ranges; returns (buffer, start of each range in it)."""
        starts = np.zeros(len(offsets), np.int64)
        if len(lengths):
            starts[1:] = np.cumsum(lengths)[:-1]
        total = int(lengths.sum()) if len(lengths) else 0
        buf = np.empty(total, np.uint8)
        keep = np.flatnonzero(lengths > 0)
        if not len(keep):
            return buf, starts
        offs = np.ascontiguousarray(offsets[keep], np.int64)
        lens = np.ascontiguousarray(lengths[keep], np.int64)
        at = np.ascontiguousarray(starts[keep], np.int64)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="farmkit-audit-io")
        # one task per I/O thread (interleaved slices), each one compiled call that releases the
        # GIL for all its reads: `threads` reads in flight, no Python per read
        k = min(self.threads, len(offs))
        width = int(lens.max()) + 2 * PAGE
        for f in [self._pool.submit(self._read_slice, offs, lens, buf, at, i, k, width) for i in range(k)]:
            f.result()
        return buf, starts

    def _read_slice(self, offs, lens, buf, at, first, step, width) -> None:
        scratch = getattr(self._local, "scratch_arr", None)
        if scratch is None or len(scratch) < width:
            scratch = _aligned(max(width, 64 * 1024))
            self._local.scratch_arr = scratch
        while first < len(offs):
            failed = _pread_gather(self._fd(), scratch, offs, lens, buf, at, first, step)
            if failed < 0:
                return
            # slow path for that one range: O_DIRECT refused (EINVAL) or a short read
            self._read_direct((int(offs[failed]), int(lens[failed]), buf, int(at[failed])))
            first = failed + step

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.mode == "mmap":
            self.array = np.zeros(0, np.uint8)
            self.words = np.zeros(0, np.uint32)
            if self._mm is not None:
                try:
                    self._mm.close()
                except BufferError:  # a view is still alive somewhere; the GC closes it
                    pass
        else:
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds = []


@dataclass
class _AuditPlan:
    s_idx: np.ndarray
    keys: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    byte_off: np.ndarray
    g: np.uint64
    data: np.ndarray | None = None
    starts: np.ndarray | None = None


class FarmAuditor:
    """Audits all plotted sectors of one farm (§9.2), prepared once, reused every slot."""

    def __init__(self, farm: SingleDiskFarm | str | os.PathLike, *, io_mode: str = "mmap",
                 io_threads: int | None = None, farm_index: int = 0, prefetch: bool = True):
        self.farm = farm if isinstance(farm, SingleDiskFarm) else SingleDiskFarm.open(farm)
        self.farm_index = farm_index
        self.io_mode = io_mode
        self.prefetch = prefetch
        self._pipeline: ThreadPoolExecutor | None = None
        self._io = _PlotIO(self.farm.directory / "plot.bin", io_mode, io_threads or DEFAULT_IO_THREADS)
        self.refresh()

    def refresh(self) -> None:
        """(Re)load sector metadata: after plotting or replotting sectors."""
        sectors = [s for s in self.farm.plotted_sectors() if int(s.metadata.history_size) >= 1]
        n = len(sectors)
        self.sectors = sectors
        self.sector_indexes = np.array([s.sector_index for s in sectors], np.int64)
        self.sector_ids = np.frombuffer(b"".join(bytes(s.sector_id) for s in sectors), np.uint8).reshape(n, 32)
        sizes = np.zeros((n, RECORD_NUM_S_BUCKETS), np.uint16)
        for i, s in enumerate(sectors):
            sizes[i] = s.metadata.s_bucket_sizes
        self.sizes = sizes
        coarse = np.zeros((n, RECORD_NUM_S_BUCKETS // _COARSE + 1), np.int64)
        if n:
            coarse[:, 1:] = np.cumsum(sizes.reshape(n, -1, _COARSE).sum(axis=2, dtype=np.int64), axis=1)
        self.coarse = coarse
        layout = self.farm.layout
        self.region_base = self.sector_indexes * self.farm.sector_size + layout.s_buckets_offset
        plot_size = self._io.size
        too_far = self.sector_indexes * self.farm.sector_size + self.farm.sector_size > plot_size
        if too_far.any():
            bad = int(self.sector_indexes[too_far][0])
            raise FarmkitError(f"{self.farm.directory / 'plot.bin'}: truncated, sector {bad} lies beyond its end")

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.shutdown(wait=True)
            self._pipeline = None
        self._io.close()
        self.farm.close()

    def __enter__(self) -> "FarmAuditor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # a slot's audit in three phases, so that several farms can overlap their I/O (audit_farms)
    def plan(self, global_challenge: bytes) -> "_AuditPlan":
        """§9.2: sector slot challenges, audited s-buckets and their byte ranges in plot.bin."""
        gc = bytes(global_challenge)
        if len(gc) != 32:
            raise FarmkitError(f"global challenge: expected 32 bytes, got {len(gc)}")
        n = len(self.sectors)
        chal = self.sector_ids ^ np.frombuffer(gc, np.uint8)[None, :]
        s_idx = chal[:, 0].astype(np.int64) | (chal[:, 1].astype(np.int64) << 8)
        keys = np.ascontiguousarray(chal).view("<u4").astype(np.int64)
        chunk_start = np.empty(n, np.int64)
        counts = np.empty(n, np.int64)
        _locate_buckets(self.sizes, self.coarse, s_idx, chunk_start, counts)
        first = np.zeros(n, np.int64)
        if n:
            first[1:] = np.cumsum(counts)[:-1]
        g = np.uint64(int.from_bytes(gc[:8], "little"))
        return _AuditPlan(s_idx, keys, counts, first, self.region_base + SCALAR_SIZE * chunk_start, g)

    def read(self, plan: "_AuditPlan") -> None:
        """Issue the reads: mmap → ``MADV_WILLNEED`` prefetch; direct → O_DIRECT gather (blocking)."""
        if self.io_mode == "mmap":
            if self.prefetch:
                self._io.prefetch(plan.byte_off, SCALAR_SIZE * plan.counts)
            plan.data, plan.starts = self._io.words, plan.byte_off // 4
        else:
            buf, starts = self._io.gather(plan.byte_off, SCALAR_SIZE * plan.counts)
            plan.data, plan.starts = buf.view("<u4"), starts // 4

    def hash(self, plan: "_AuditPlan") -> np.ndarray:
        """§9.3 over every audited chunk (compiled, all cores): the distances."""
        out = np.empty(int(plan.counts.sum()), np.uint64)
        _audit_distances(plan.data, plan.starts, plan.counts, plan.first, plan.keys, plan.g, out)
        return out

    def audit_distances(self, global_challenge: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The hot path: (s-bucket per sector, chunk count per sector, first index per sector into
        the distance array, distances of every audited chunk)."""
        plan = self.plan(global_challenge)
        if self.io_mode == "direct" and len(plan.counts) > 2 * self.PIPELINE_BATCH:
            return plan.s_idx, plan.counts, plan.first, self._read_and_hash_pipelined(plan)
        self.read(plan)
        return plan.s_idx, plan.counts, plan.first, self.hash(plan)

    PIPELINE_BATCH = 1024  # sectors (~1 TiB) per O_DIRECT batch on big farms: batch b+1 is read while b is hashed

    def _read_and_hash_pipelined(self, plan: "_AuditPlan") -> np.ndarray:
        """Direct I/O: overlap the reads of the next batch of sectors with hashing this one."""
        out = np.empty(int(plan.counts.sum()), np.uint64)
        n = len(plan.counts)
        bounds = list(range(0, n, self.PIPELINE_BATCH)) + [n]
        if self._pipeline is None:
            self._pipeline = ThreadPoolExecutor(1, thread_name_prefix="farmkit-audit-pipeline")

        def read(b):
            lo, hi = bounds[b], bounds[b + 1]
            return self._io.gather(plan.byte_off[lo:hi], SCALAR_SIZE * plan.counts[lo:hi])

        pending = self._pipeline.submit(read, 0)
        for b in range(len(bounds) - 1):
            buf, starts = pending.result()
            if b + 2 < len(bounds):
                pending = self._pipeline.submit(read, b + 1)
            lo, hi = bounds[b], bounds[b + 1]
            _audit_distances(buf.view("<u4"), starts // 4, plan.counts[lo:hi], plan.first[lo:hi],
                             plan.keys[lo:hi], plan.g, out)
        return out

    def audit(self, global_challenge: bytes, solution_range: int) -> list[AuditCandidate]:
        """§9.2–9.4: every winning chunk of the farm, best (smallest distance) first."""
        if not 0 <= solution_range <= _U64:
            raise FarmkitError("solution range must be a u64")
        return self.candidates(*self.audit_distances(global_challenge), solution_range)

    def candidates(self, s_idx, counts, first, dist, solution_range: int) -> list[AuditCandidate]:
        """§9.3-9.4: winners within ``solution_range // 2``, mapped to records, best first."""
        win = np.flatnonzero(dist <= np.uint64(solution_range // 2))
        if not len(win):
            return []
        sector_of = np.searchsorted(first, win, side="right") - 1
        candidates: list[AuditCandidate] = []
        for i in np.unique(sector_of):
            rows = win[sector_of == i]
            j = (rows - first[i]).tolist()
            sector = self.sectors[int(i)]
            try:
                cmap = self.farm.read_contents_map(sector.sector_index)
            except FarmkitError as exc:
                raise FarmkitError(f"sector {sector.sector_index}: {exc}") from None
            pieces = _pieces_for_chunks(cmap, int(s_idx[i]), j)
            for jj, row, (p, enc) in zip(j, rows, pieces):
                candidates.append(
                    AuditCandidate(self.farm_index, sector.sector_index, int(s_idx[i]), int(jj), p, int(dist[row]), enc)
                )
        candidates.sort(key=lambda c: (c.distance, c.farm_index, c.sector_index, c.chunk_offset))
        return candidates


def audit_farms(auditors: list[FarmAuditor], global_challenge: bytes, solution_range: int) -> list[AuditCandidate]:
    """All sectors of all farms (§9.2, §9.5): every farm's reads are issued before any hashing
    (mmap prefetch for all farms; O_DIRECT gathers of all farms concurrently), then each farm is
    hashed on all cores. Candidates of all farms, best first."""
    if not 0 <= solution_range <= _U64:
        raise FarmkitError("solution range must be a u64")
    plans = [a.plan(global_challenge) for a in auditors]
    direct = [(a, p) for a, p in zip(auditors, plans) if a.io_mode == "direct"]
    for a, p in zip(auditors, plans):
        if a.io_mode != "direct":
            a.read(p)
    if len(direct) > 1:
        with ThreadPoolExecutor(len(direct)) as pool:
            for f in [pool.submit(a.read, p) for a, p in direct]:
                f.result()
    elif direct:
        direct[0][0].read(direct[0][1])
    out: list[AuditCandidate] = []
    for a, p in zip(auditors, plans):
        out += a.candidates(p.s_idx, p.counts, p.first, a.hash(p), solution_range)
    out.sort(key=lambda c: (c.distance, c.farm_index, c.sector_index, c.chunk_offset))
    return out
