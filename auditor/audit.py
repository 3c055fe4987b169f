"""Auditing a farm for one slot (sector-audit-prove.md §9, reference ``auditing.rs``).

Per sector: ``chal = sector_id XOR global_challenge``; the audited s-bucket is
``s = u16le(chal[0:2])``; read that s-bucket's chunks (one contiguous read); for every stored chunk
``a = u64le(HK(chal, chunk)[0:8])`` (keyed BLAKE3, one compression), ``d = min(g - a, a - g)``
(mod 2^64) with ``g = u64le(global_challenge[0:8])``; the chunk wins when ``d <= range // 2``.

Two paths, compared by the tests:

* :func:`audit_sector_reference` — readable, per chunk, with the ``blake3`` package;
* :class:`FarmAuditor` — the fast path. Sector ids, s-bucket sizes and coarse prefix sums are
  prepared once per farm; a slot's audit is ``plan`` (locate every sector's s-bucket, compiled),
  ``read`` and ``hash`` (compiled, all cores: one keyed BLAKE3 compression per chunk, 64 chunks
  per pass transposed into lanes so that the compression vectorises, ~16 ns per chunk per core).

Reads (§13.3: one s-bucket of ~16–19 KB per sector, widened to whole 4 KiB pages) come either
from the page cache through ``mmap`` (default; ``MADV_RANDOM``; ``MADV_WILLNEED`` on every audited
range, issued in order by a pool of threads each running a compiled loop, so cold reads have the
device's queue depth) or through ``O_DIRECT`` (the reference farmer's mode, the one for cold
audits): Linux native AIO keeps ``queue_depth`` (128) page-aligned reads in flight from one
thread, straight into page-aligned slots of one reused buffer (no copy); where the kernel refuses
native AIO, ``io_threads`` compiled ``pread`` loops claim the ranges in order from an atomic
counter. Big audits are pipelined: while later sectors are still being read, hashing threads
hash the ones already in (each runs the compiled kernel single-threaded: the parallel runtime's
idle workers would spin and starve the I/O; one core is left to the I/O thread until the last
read is in). With native AIO the reads go into a ring of ``RING_BATCHES`` x ``HASH_CHUNK`` slots
(256 s-buckets, ~7 MB) that are read into again once hashed: the buffer does not grow with the
farm and stays in cache. :func:`audit_farms` audits every farm at once, one thread per farm.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import platform
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange, types, uint32
from numba.core import cgutils
from numba.extending import intrinsic

from farmkit.errors import FarmkitError
from farmkit.kernels.blake3 import compress32
from farmkit.protocol.constants import RECORD_NUM_CHUNKS, RECORD_NUM_S_BUCKETS, SCALAR_SIZE
from farmkit.protocol.farm import SingleDiskFarm
from farmkit.protocol.sector import SectorContentsMap

__all__ = [
    "AuditCandidate",
    "FarmAuditor",
    "audit_sector_reference",
    "solution_distance",
    "solution_distances",
    "IO_MODES",
    "audit_farms",
]

IO_MODES = ("mmap", "direct")
PAGE = 4096
DEFAULT_IO_THREADS = 32  # I/O threads: mmap prefetch, and O_DIRECT reads where native AIO is missing
DEFAULT_QUEUE_DEPTH = 128  # O_DIRECT reads in flight through native AIO (the device needs queue depth)
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


_LANES = 64  # chunks per vectorised pass of the audit hash


@njit(cache=True, nogil=True)
def _audit_sector(data, base, count, o, keys, i, g, out):
    """§9.3 for the ``count`` chunks of sector i at 32-bit word ``base`` of ``data``: distances to
    ``out[o:]``. One keyed compression per chunk (§2: flags 27, len 32, key = ``keys[i]``), run
    ``_LANES`` chunks at a time: their words are transposed into columns so that the loop over
    lanes vectorises (AVX2 / AVX-512), then only output words 0 and 1 (the u64) are kept."""
    h = (uint32(keys[i, 0]), uint32(keys[i, 1]), uint32(keys[i, 2]), uint32(keys[i, 3]),
         uint32(keys[i, 4]), uint32(keys[i, 5]), uint32(keys[i, 6]), uint32(keys[i, 7]))
    z = uint32(0)
    msg = np.zeros((8, _LANES), np.uint32)
    res = np.empty((2, _LANES), np.uint32)
    for b0 in range(0, count, _LANES):
        nb = min(_LANES, count - b0)
        for j in range(nb):
            q = base + 8 * (b0 + j)
            for k in range(8):
                msg[k, j] = data[q + k]
        for j in range(_LANES):
            v = compress32(h, (msg[0, j], msg[1, j], msg[2, j], msg[3, j], msg[4, j], msg[5, j], msg[6, j],
                               msg[7, j], z, z, z, z, z, z, z, z), 0, 32, _AUDIT_FLAGS)
            res[0, j] = v[0] ^ v[8]
            res[1, j] = v[1] ^ v[9]
        for j in range(nb):
            a = np.uint64(res[0, j]) | (np.uint64(res[1, j]) << np.uint64(32))
            d1 = g - a
            d2 = a - g
            out[o + b0 + j] = d1 if d1 < d2 else d2


@njit(cache=True, nogil=True, parallel=True)
def _audit_distances(data, starts, counts, first, keys, g, out):
    """§9.3 for every audited chunk, all cores. Sector i: ``counts[i]`` chunks at 32-bit word
    ``starts[i]`` of ``data`` (uint32 view of the plot or of the gathered s-buckets); distances go
    to ``out[first[i]:]``. ``keys``: (n, 8) int64 words of the sector slot challenge (the BLAKE3
    key); ``g``: u64le(global_challenge[0:8])."""
    for i in prange(starts.shape[0]):
        _audit_sector(data, starts[i], counts[i], first[i], keys, i, g, out)


@njit(cache=True, nogil=True)
def _audit_distances_serial(data, starts, counts, first, keys, g, out):
    """:func:`_audit_distances` on the calling thread only: for the auditor's own hashing threads
    (no parallel runtime involved, so any number of threads may run it at once)."""
    for i in range(starts.shape[0]):
        _audit_sector(data, starts[i], counts[i], first[i], keys, i, g, out)


def _first_chunks(counts: np.ndarray) -> np.ndarray:
    """Index of each sector's first chunk in the flat distance array (exclusive prefix sum)."""
    first = np.zeros(len(counts), np.int64)
    if len(counts):
        first[1:] = np.cumsum(counts)[:-1]
    return first


def _key_words(sector_slot_challenges: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 sector slot challenges → (n, 8) int64 LE words (the kernels' BLAKE3 keys)."""
    return np.ascontiguousarray(sector_slot_challenges, np.uint8).view("<u4").astype(np.int64)


def _challenge_u64(global_challenge: bytes) -> np.uint64:
    """§9.3 ``g``: the first 8 bytes of the global challenge, little-endian."""
    return np.uint64(int.from_bytes(bytes(global_challenge)[:8], "little"))


def solution_distances(words: np.ndarray, starts: np.ndarray, counts: np.ndarray, keys: np.ndarray,
                       global_challenge: bytes) -> np.ndarray:
    """§9.3 for many sectors on the calling thread (the compiled kernel the auditor's hashing
    threads run; it releases the GIL): sector i's ``counts[i]`` chunks start at 32-bit word
    ``starts[i]`` of ``words`` (uint32), its key (sector slot challenge) is ``keys[i]`` (32 bytes,
    as an (n, 32) uint8 array). Returns every chunk's distance, sector after sector."""
    counts = np.asarray(counts, np.int64)
    out = np.empty(int(counts.sum()), np.uint64)
    _audit_distances_serial(words, np.asarray(starts, np.int64), counts, _first_chunks(counts), _key_words(keys),
                            _challenge_u64(global_challenge), out)
    return out


# numba's parallel kernels are called by one thread at a time (its "workqueue" threading layer,
# the fallback where neither TBB nor OpenMP is installed, aborts on concurrent launches)
_PARALLEL_KERNEL_LOCK = threading.Lock()


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


# --- reads without the GIL: libc pread / madvise called from compiled code ----------------------
_libc = ctypes.CDLL(None, use_errno=True)
_pread = _libc.pread
_pread.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int64]  # buffer address as size_t
_pread.restype = ctypes.c_ssize_t
_madvise = _libc.madvise
_madvise.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]
_madvise.restype = ctypes.c_int
_MADV_WILLNEED = getattr(mmap, "MADV_WILLNEED", 3)


@intrinsic
def _fetch_add(typingctx, arr, idx, val):
    """Atomic ``old = arr[idx]; arr[idx] += val; return old`` (int64 array), for I/O threads that
    claim work in order from compiled code."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@njit(nogil=True)  # not cached: it calls a ctypes function pointer
def _pread_slots(fd, base, lo, span, slot, need, first, stop, step):
    """O_DIRECT reads of ranges ``first, first+step, … < stop``: ``span[i]`` bytes (whole 4 KiB
    pages) at file offset ``lo[i]`` straight into ``base + slot[i]`` (page-aligned), no copy.
    Returns the first range that failed (error, or fewer than ``need[i]`` bytes), else -1."""
    for i in range(first, stop, step):
        if span[i] == 0:
            continue
        got = _pread(fd, base + slot[i], span[i], lo[i])
        if got < need[i]:
            return i
    return -1


@njit(cache=True, nogil=True)
def _finish_read(done, batch_size, n, i):
    """Count range i as read; returns its batch if that completed the batch, else -1."""
    b = i // batch_size
    size = min(batch_size, n - b * batch_size)
    return b if _fetch_add(done, b, 1) + 1 == size else -1


@njit(nogil=True)  # not cached: it calls a ctypes function pointer
def _pread_claimed(fd, base, lo, span, slot, need, claim, done, batch_size):
    """One I/O thread: claim the next range (atomic counter ``claim[0]``, so all threads read the
    ranges in order and none idles while reads are left) and read it into its slot. Returns
    (0, -1) when no range is left, (1, b) when this thread completed batch b (every range of it
    read), (2, i) when range i failed (error or short read)."""
    n = lo.shape[0]
    while True:
        i = _fetch_add(claim, 0, 1)
        if i >= n:
            return 0, -1
        if span[i]:
            got = _pread(fd, base + slot[i], span[i], lo[i])
            if got < need[i]:
                return 2, i
        b = _finish_read(done, batch_size, n, i)
        if b >= 0:
            return 1, b


@njit(nogil=True)  # not cached: it calls a ctypes function pointer
def _willneed_claimed(base, lo, span, claim, done, batch_size):
    """mmap: like :func:`_pread_claimed`, but ``MADV_WILLNEED`` on each claimed range (the kernel
    reads it into the page cache). Returns (0, -1) when no range is left, (1, b) when this thread
    issued the last range of batch b."""
    n = lo.shape[0]
    while True:
        i = _fetch_add(claim, 0, 1)
        if i >= n:
            return 0, -1
        if span[i]:
            _madvise(base + lo[i], span[i], _MADV_WILLNEED)
        b = _finish_read(done, batch_size, n, i)
        if b >= 0:
            return 1, b


def _aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + PAGE, np.uint8)
    pad = (-raw.ctypes.data) % PAGE
    return raw[pad : pad + nbytes]


@dataclass
class _ReadLayout:
    """Each audited byte range widened to whole 4 KiB pages (O_DIRECT rule, §13.3) and given a
    page-aligned slot of the gather buffer: range i is read into ``[slot[i], slot[i] + span[i])``
    and its bytes start at ``data_at[i]``."""

    lo: np.ndarray
    span: np.ndarray
    slot: np.ndarray
    need: np.ndarray
    data_at: np.ndarray
    total: int

    @classmethod
    def of(cls, offsets: np.ndarray, lengths: np.ndarray) -> "_ReadLayout":
        offsets = np.asarray(offsets, np.int64)
        lengths = np.asarray(lengths, np.int64)
        lo = offsets - offsets % PAGE
        span = np.where(lengths > 0, -(-(offsets + lengths) // PAGE) * PAGE - lo, 0)
        slot = np.zeros(len(span), np.int64)
        if len(span):
            slot[1:] = np.cumsum(span)[:-1]
        total = int(span.sum())
        need = offsets - lo + lengths
        return cls(lo, span, slot, need, slot + (offsets - lo), total)

    def in_ring(self, batch_size: int, ring: int) -> "_ReadLayout":
        """The same reads in a ring of ``ring`` batches of ``batch_size`` equal slots (as wide as
        the widest read): range i goes to slot ``i mod (ring * batch_size)``, so the buffer stays
        small (the audit of any farm size, cache-resident) and is reused as batches are hashed."""
        width = int(self.span.max()) if len(self.span) else PAGE
        slot = (np.arange(len(self.lo), dtype=np.int64) % (ring * batch_size)) * width
        return _ReadLayout(self.lo, self.span, slot, self.need, slot + (self.data_at - self.slot), ring * batch_size * width)


class _Batches:
    """Completion of the read batches: the I/O thread whose read completes batch b says so; and,
    for a ring of slots, how many batches (in order) the hashing threads are done with."""

    def __init__(self, batches: int, batch_size: int = 1, n: int = 0):
        self.complete = [False] * batches
        self.cv = threading.Condition()
        self.error: BaseException | None = None
        self.batch_size = batch_size
        self.sizes = [min(n, (b + 1) * batch_size) - b * batch_size for b in range(batches)] if n else []
        self.hashed = [0] * batches
        self.released = 0  # batches 0..released-1 are hashed: their slots may be read into again

    def hashed_range(self, a: int, z: int) -> None:
        """Items [a, z) are hashed (their slots are free once their whole batch is)."""
        if not self.sizes:
            return
        bs = self.batch_size
        with self.cv:
            for b in range(a // bs, (z - 1) // bs + 1):
                self.hashed[b] += min(z, (b + 1) * bs) - max(a, b * bs)
            moved = False
            while self.released < len(self.sizes) and self.hashed[self.released] == self.sizes[self.released]:
                self.released += 1
                moved = True
            if moved:
                self.cv.notify_all()

    def wait_released(self, count: int) -> None:
        """Block until at least ``count`` batches are hashed (or something failed)."""
        with self.cv:
            self.cv.wait_for(lambda: self.released >= count or self.error is not None)
            if self.error is not None:
                raise self.error

    def done(self, b: int) -> None:
        with self.cv:
            self.complete[b] = True
            self.cv.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cv:
            self.error = self.error or exc
            self.cv.notify_all()

    def wait(self, b: int) -> None:
        with self.cv:
            self.cv.wait_for(lambda: self.complete[b] or self.error is not None)
            if self.error is not None:
                raise self.error


# --- Linux native AIO: one thread keeps a deep queue of O_DIRECT reads in flight ------------------
_AIO_SYSCALLS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2)}  # setup, destroy, getevents, submit
_IOCB = np.dtype([("data", "<u8"), ("key", "<u4"), ("rw_flags", "<u4"), ("opcode", "<u2"), ("reqprio", "<i2"),
                  ("fildes", "<u4"), ("buf", "<u8"), ("nbytes", "<u8"), ("offset", "<i8"), ("reserved2", "<u8"),
                  ("flags", "<u4"), ("resfd", "<u4")])  # struct iocb (linux/aio_abi.h), 64 bytes
_IO_EVENT = np.dtype([("data", "<u8"), ("obj", "<u8"), ("res", "<i8"), ("res2", "<i8")])  # struct io_event
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _LinuxAio:
    """``io_submit`` / ``io_getevents`` of O_DIRECT preads (IOCB_CMD_PREAD): ``depth`` reads in
    flight from one thread, no thread per read; ``OSError`` where the kernel or arch lacks it."""

    def __init__(self, depth: int):
        nrs = _AIO_SYSCALLS.get(platform.machine())
        if nrs is None:
            raise OSError(38, "no native AIO syscall numbers for this architecture")
        self._setup, self._destroy, self._getevents, self._submit = nrs
        self.depth = depth
        self.ctx = ctypes.c_ulong(0)
        if _syscall(ctypes.c_long(self._setup), ctypes.c_long(depth), ctypes.byref(self.ctx)) != 0:
            raise OSError(ctypes.get_errno(), "io_setup")
        self.lock = threading.Lock()

    def read(self, fd: int, layout: "_ReadLayout", buf: np.ndarray, batch_size: int, batches: "_Batches",
             slow, ring: int = 0) -> None:
        """Read every range of ``layout`` into its slot of ``buf``, ``depth`` in flight, in order;
        ``batches.done(b)`` as each batch of ``batch_size`` ranges completes (in order). Ranges the
        kernel refused or read short go to ``slow(i)``. ``ring``: the slots form a ring of that
        many batches; a range of batch b is read only once batch ``b - ring`` is hashed
        (``batches.released``)."""
        n = len(layout.lo)
        nb = len(batches.complete)
        batch_of = np.arange(n, dtype=np.int64) // batch_size
        size = np.bincount(batch_of, minlength=nb)
        done = np.bincount(batch_of[layout.span == 0], minlength=nb)
        todo = np.flatnonzero(layout.span > 0)
        m = len(todo)
        cbs = np.zeros(m, _IOCB)
        cbs["data"] = todo
        cbs["fildes"] = fd
        cbs["buf"] = buf.ctypes.data + layout.slot[todo]
        cbs["nbytes"] = layout.span[todo]
        cbs["offset"] = layout.lo[todo]
        ptrs = (cbs.ctypes.data + _IOCB.itemsize * np.arange(m, dtype=np.uint64)).astype(np.uint64)
        events = np.zeros(self.depth, _IO_EVENT)
        with self.lock:
            try:
                got, sub, next_b = self._run(layout, batch_of, size, done, ptrs, events, batches, slow, todo,
                                             batch_size, ring)
            except BaseException:
                self.close()  # io_destroy waits for the reads still in flight: buf is free after it
                raise
        for i in todo[sub:].tolist():  # submission refused: the rest the slow way, in order
            if ring:
                batches.wait_released(int(batch_of[i]) - ring + 1)
            slow(i)
            done[batch_of[i]] += 1
            while next_b < nb and done[next_b] == size[next_b]:
                batches.done(next_b)
                next_b += 1

    def _run(self, layout, batch_of, size, done, ptrs, events, batches, slow, todo, batch_size, ring):
        """The submit / reap loop of :meth:`read`; returns (reaped, submitted, next batch to report)."""
        m, nb = len(ptrs), len(size)
        next_b = sub = got = 0
        stopped = False
        while next_b < nb and done[next_b] == size[next_b]:
            batches.done(next_b)
            next_b += 1
        while got < sub or (not stopped and sub < m):
            cap = m
            if ring:  # ranges whose ring slot is free: batches < released + ring
                cap = int(np.searchsorted(todo, (batches.released + ring) * batch_size))
                if cap <= sub and got == sub and not stopped:
                    batches.wait_released(int(batch_of[todo[sub]]) - ring + 1)
                    continue
            want = min(cap - sub, self.depth - (sub - got))
            if want > 0 and not stopped:
                r = _syscall(ctypes.c_long(self._submit), self.ctx, ctypes.c_long(want),
                             ctypes.c_void_p(ptrs.ctypes.data + 8 * sub))
                if r > 0:
                    sub += r
                elif got == sub or ctypes.get_errno() not in (4, 11):
                    stopped = True  # refused (e.g. EINVAL) with nothing to wait for: the rest goes the slow way
            if got == sub:
                continue
            # wake for a handful of completions at a time (Python per wake-up, not per read);
            # the queue stays >= 7/8 full
            in_flight = sub - got
            r = _syscall(ctypes.c_long(self._getevents), self.ctx,
                         ctypes.c_long(max(1, min(in_flight, self.depth // 8))),
                         ctypes.c_long(min(self.depth, in_flight)), ctypes.c_void_p(events.ctypes.data), None)
            if r < 0:
                if ctypes.get_errno() == 4:
                    continue
                raise OSError(ctypes.get_errno(), "io_getevents")
            ev = events[:r]
            ids = ev["data"].astype(np.int64)
            ok = ev["res"] >= layout.need[ids]
            for i in ids[~ok].tolist():  # refused or short: the slow way now (its slot is still ours)
                slow(i)
            done += np.bincount(batch_of[ids], minlength=nb)
            got += r
            while next_b < nb and done[next_b] == size[next_b]:
                batches.done(next_b)
                next_b += 1
        return got, sub, next_b

    def close(self) -> None:
        if self.ctx.value:
            _syscall(ctypes.c_long(self._destroy), self.ctx)
            self.ctx = ctypes.c_ulong(0)


class _PlotIO:
    """Reads of plot.bin: ``mmap`` (page cache, MADV_RANDOM) or ``direct`` (O_DIRECT, aligned).

    Both keep ``threads`` reads in flight from a pool of threads, each running one compiled loop
    (no GIL, no Python per read): direct → ``pread`` of whole pages into page-aligned slots of one
    buffer; mmap → ``MADV_WILLNEED`` of each range (the kernel reads them asynchronously)."""

    def __init__(self, path: os.PathLike, mode: str, threads: int, depth: int = DEFAULT_QUEUE_DEPTH):
        if mode not in IO_MODES:
            raise FarmkitError(f"unknown I/O mode {mode!r}; choose one of: {', '.join(IO_MODES)}")
        self.mode = mode
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        self.threads = max(1, int(threads))
        self.depth = max(1, int(depth))
        # direct: "aio" (native AIO, `depth` in flight from one thread) or "threads" (`threads`
        # compiled pread loops); "aio" falls back to "threads" where the kernel refuses it
        self.engine = "aio" if mode == "direct" else "threads"
        self._aio: _LinuxAio | None = None
        self._aio_fd = -1
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._buf = np.zeros(0, np.uint8)  # reused gather buffer of the pipelined audit
        self._buf_lock = threading.Lock()
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
            if self._mm is not None:  # compile the prefetch loop now (not cacheable), not at the first slot
                z = np.zeros(0, np.int64)
                self._pool_().submit(_willneed_claimed, 0, z, z, np.zeros(1, np.int64), np.zeros(1, np.int64), 1)
        else:
            self._fds: list[int] = []
            self._lock = threading.Lock()

    def _pool_(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="farmkit-audit-io")
        return self._pool

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

    def _read_direct(self, offset: int, length: int, buf: np.ndarray, at: int) -> None:
        """One range the slow way (Python): O_DIRECT refused at read time (EINVAL) or a short read."""
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
                with self._lock:
                    self._fds.append(self._local.fd)
                n = os.preadv(self._local.fd, [view], lo)
            else:
                raise
        if n < offset - lo + length:
            raise FarmkitError(f"{self.path}: short read at byte {offset} (truncated plot?)")
        buf[at : at + length] = np.frombuffer(view, np.uint8, count=length, offset=offset - lo)
        view.release()

    # --- mmap ---------------------------------------------------------------------------------
    def _willneed_worker(self, layout: _ReadLayout, claim, done, batch_size: int, batches: _Batches) -> None:
        try:
            base = self.array.ctypes.data
            while batches.error is None:
                status, b = _willneed_claimed(base, layout.lo, layout.span, claim, done, batch_size)
                if status == 0:
                    return
                batches.done(b)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            batches.fail(exc)

    def start_prefetch(self, offsets: np.ndarray, lengths: np.ndarray, batch_size: int):
        """mmap: ``MADV_WILLNEED`` on every range, in order, from ``threads`` compiled loops at once
        (the kernel starts each read; a thread blocks only while the device queue is full), so cold
        reads run at the device's queue depth instead of one page fault at a time per hashing
        thread. Returns (batches, futures) like :meth:`start_reads`."""
        layout = _ReadLayout.of(offsets, lengths)
        n = len(layout.lo)
        batch_size = max(1, int(batch_size))
        batches = _Batches(-(-n // batch_size))
        if self.mode != "mmap" or self._mm is None or not n:
            for b in range(len(batches.complete)):
                batches.done(b)
            return batches, []
        claim = np.zeros(1, np.int64)
        done = np.zeros(len(batches.complete), np.int64)
        pool = self._pool_()
        k = min(self.threads, n)
        return batches, [pool.submit(self._willneed_worker, layout, claim, done, batch_size, batches)
                         for _ in range(k)]

    def prefetch(self, offsets: np.ndarray, lengths: np.ndarray) -> None:
        """mmap: :meth:`start_prefetch` of every range; returns once every request is issued."""
        batches, futures = self.start_prefetch(offsets, lengths, max(1, len(offsets)))
        for f in futures:
            f.result()
        if batches.complete:
            batches.wait(0)

    # --- O_DIRECT -------------------------------------------------------------------------------
    def _read_worker(self, layout: _ReadLayout, buf: np.ndarray, claim: np.ndarray, done: np.ndarray,
                     batch_size: int, batches: _Batches) -> None:
        """One I/O thread: claims and reads ranges in order until none is left (compiled, no GIL)."""
        try:
            fd = self._fd()
            base = buf.ctypes.data
            n = len(layout.lo)
            while batches.error is None:
                status, x = _pread_claimed(fd, base, layout.lo, layout.span, layout.slot, layout.need, claim,
                                           done, batch_size)
                if status == 0:
                    return
                if status == 2:  # that one range the slow way (O_DIRECT refused, or a short read)
                    off = int(layout.data_at[x] - layout.slot[x] + layout.lo[x])
                    length = int(layout.need[x] - (off - layout.lo[x]))
                    self._read_direct(off, length, buf, int(layout.data_at[x]))
                    x = _finish_read(done, batch_size, n, x)
                if x >= 0:
                    batches.done(x)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            batches.fail(exc)

    def _aio_engine(self) -> _LinuxAio | None:
        """The native AIO context and its O_DIRECT handle, made on first use; None → threads."""
        if self.engine != "aio":
            return None
        if self._aio is None:
            try:
                self._aio_fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
                self._aio = _LinuxAio(self.depth)
            except (OSError, AttributeError):
                if self._aio_fd >= 0:
                    os.close(self._aio_fd)
                    self._aio_fd = -1
                self.engine = "threads"
                return None
        return self._aio

    def _read_slow(self, layout: _ReadLayout, buf: np.ndarray, i: int) -> None:
        off = int(layout.data_at[i] - layout.slot[i] + layout.lo[i])
        self._read_direct(off, int(layout.need[i] - (off - layout.lo[i])), buf, int(layout.data_at[i]))

    def _aio_worker(self, aio: _LinuxAio, layout: _ReadLayout, buf: np.ndarray, batch_size: int,
                    batches: _Batches, ring: int = 0) -> None:
        try:
            aio.read(self._aio_fd, layout, buf, batch_size, batches, lambda i: self._read_slow(layout, buf, i), ring)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            if not aio.ctx.value:  # the context was torn down: a fresh one next time
                self._aio = None
            batches.fail(exc)

    def start_reads(self, layout: _ReadLayout, buf: np.ndarray, batch_size: int, ring: int = 0):
        """Start the O_DIRECT reads of ``layout`` into ``buf``, in order: native AIO with ``depth``
        in flight, else ``threads`` compiled pread loops. Returns (batches, futures):
        ``batches.wait(b)`` blocks until ranges ``[b * batch_size, (b + 1) * batch_size)`` are all
        in ``buf``; every future is done once no read is in flight any more. ``ring`` (native AIO
        only): the slots are a ring of that many batches, reused as ``batches.hashed_range`` frees
        them (:meth:`_ReadLayout.in_ring`)."""
        n = len(layout.lo)
        batch_size = max(1, int(batch_size))
        batches = _Batches(-(-n // batch_size), batch_size, n)
        aio = self._aio_engine()
        if aio is not None:
            return batches, [self._pool_().submit(self._aio_worker, aio, layout, buf, batch_size, batches, ring)]
        if ring:
            raise ValueError("a ring of slots needs the native AIO engine")
        claim = np.zeros(1, np.int64)
        done = np.zeros(len(batches.complete), np.int64)
        k = max(1, min(self.threads, n))
        pool = self._pool_()
        futures = [pool.submit(self._read_worker, layout, buf, claim, done, batch_size, batches) for _ in range(k)]
        return batches, futures

    def reusable_buffer(self, nbytes: int) -> np.ndarray | None:
        """The gather buffer kept between audits (fresh memory costs a page fault per 4 KiB while
        the reads are in flight), taken for the caller; None while another audit holds it. Give
        it back with :meth:`release_buffer`."""
        if not self._buf_lock.acquire(blocking=False):
            return None
        if len(self._buf) < nbytes:
            self.reserve_buffer(nbytes + nbytes // 8)  # headroom: the next slot's total differs
        return self._buf

    def reserve_buffer(self, nbytes: int) -> None:
        """Make the reused gather buffer at least ``nbytes`` long and fault its pages in now (not
        while the first audit's reads are in flight). Call with the buffer free."""
        if len(self._buf) < nbytes:
            self._buf = _aligned(max(int(nbytes), PAGE))
            self._buf[::PAGE] = 0

    def release_buffer(self) -> None:
        self._buf_lock.release()

    def gather(self, offsets: np.ndarray, lengths: np.ndarray, buf: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Read [offset, offset+length) ranges (into ``buf``, page-aligned and big enough, if given);
        returns (buffer, start of each range in it)."""
        layout = _ReadLayout.of(offsets, lengths)
        if buf is None:
            buf = _aligned(max(layout.total, PAGE))
        if len(layout.lo):
            batches, futures = self.start_reads(layout, buf, len(layout.lo))
            for f in futures:
                f.result()
            batches.wait(0)
        return buf, layout.data_at

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._buf = np.zeros(0, np.uint8)
        if self._aio is not None:
            self._aio.close()
            self._aio = None
        if self._aio_fd >= 0:
            os.close(self._aio_fd)
            self._aio_fd = -1
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
    holds_buffer: bool = False  # data lies in the auditor's reused gather buffer until hash()


class FarmAuditor:
    """Audits all plotted sectors of one farm (§9.2), prepared once, reused every slot."""

    def __init__(self, farm: SingleDiskFarm | str | os.PathLike, *, io_mode: str = "mmap",
                 io_threads: int | None = None, farm_index: int = 0, prefetch: bool = True,
                 queue_depth: int | None = None):
        self.farm = farm if isinstance(farm, SingleDiskFarm) else SingleDiskFarm.open(farm)
        self.farm_index = farm_index
        self.io_mode = io_mode
        self.prefetch = prefetch
        self._hash_pool: ThreadPoolExecutor | None = None
        self._io = _PlotIO(self.farm.directory / "plot.bin", io_mode, io_threads or DEFAULT_IO_THREADS,
                           queue_depth or DEFAULT_QUEUE_DEPTH)
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
        if self.io_mode == "direct" and n:  # the most any slot's page-widened s-bucket reads can take
            widest = -(-SCALAR_SIZE * sizes.max(axis=1).astype(np.int64) // PAGE) * PAGE + PAGE
            ring = self._ring_slots(n)
            need = ring * int(widest.max()) if ring else int(widest.sum())
            with self._io._buf_lock:
                self._io.reserve_buffer(need)
        plot_size = self._io.size
        too_far = self.sector_indexes * self.farm.sector_size + self.farm.sector_size > plot_size
        if too_far.any():
            bad = int(self.sector_indexes[too_far][0])
            raise FarmkitError(f"{self.farm.directory / 'plot.bin'}: truncated, sector {bad} lies beyond its end")

    def close(self) -> None:
        if self._hash_pool is not None:
            self._hash_pool.shutdown(wait=True)
            self._hash_pool = None
        self._io.close()
        self.farm.close()

    def __enter__(self) -> "FarmAuditor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # a slot's audit in three phases (plan, read, hash); audit_distances pipelines them
    def plan(self, global_challenge: bytes) -> "_AuditPlan":
        """§9.2: sector slot challenges, audited s-buckets and their byte ranges in plot.bin."""
        gc = bytes(global_challenge)
        if len(gc) != 32:
            raise FarmkitError(f"global challenge: expected 32 bytes, got {len(gc)}")
        n = len(self.sectors)
        chal = self.sector_ids ^ np.frombuffer(gc, np.uint8)[None, :]
        s_idx = chal[:, 0].astype(np.int64) | (chal[:, 1].astype(np.int64) << 8)
        chunk_start = np.empty(n, np.int64)
        counts = np.empty(n, np.int64)
        _locate_buckets(self.sizes, self.coarse, s_idx, chunk_start, counts)
        return _AuditPlan(s_idx, _key_words(chal), counts, _first_chunks(counts),
                          self.region_base + SCALAR_SIZE * chunk_start, _challenge_u64(gc))

    def read(self, plan: "_AuditPlan") -> None:
        """Issue the reads: mmap → ``MADV_WILLNEED`` prefetch; direct → O_DIRECT gather (blocking)."""
        if self.io_mode == "mmap":
            if self.prefetch:
                self._io.prefetch(plan.byte_off, SCALAR_SIZE * plan.counts)
            plan.data, plan.starts = self._io.words, plan.byte_off // 4
        else:  # into the reused buffer, held until hash() (a fresh one if another audit holds it)
            lengths = SCALAR_SIZE * plan.counts
            buf = self._io.reusable_buffer(_ReadLayout.of(plan.byte_off, lengths).total)
            plan.holds_buffer = buf is not None
            try:
                buf, data_at = self._io.gather(plan.byte_off, lengths, buf)
            except BaseException:
                self._release(plan)
                raise
            plan.data, plan.starts = buf.view("<u4"), data_at // 4

    def _release(self, plan: "_AuditPlan") -> None:
        if plan.holds_buffer:
            plan.holds_buffer = False
            self._io.release_buffer()

    def hash(self, plan: "_AuditPlan") -> np.ndarray:
        """§9.3 over every audited chunk (compiled, all cores): the distances."""
        out = np.empty(int(plan.counts.sum()), np.uint64)
        try:
            with _PARALLEL_KERNEL_LOCK:
                _audit_distances(plan.data, plan.starts, plan.counts, plan.first, plan.keys, plan.g, out)
        finally:
            self._release(plan)
        return out

    def audit_distances(self, global_challenge: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The hot path: (s-bucket per sector, chunk count per sector, first index per sector into
        the distance array, distances of every audited chunk)."""
        plan = self.plan(global_challenge)
        if len(plan.counts) > self.PIPELINE_BATCH and (
                self.io_mode == "direct" or (self.PIPELINE_MMAP and self.prefetch)):
            return plan.s_idx, plan.counts, plan.first, self._read_and_hash_pipelined(plan)
        self.read(plan)
        return plan.s_idx, plan.counts, plan.first, self.hash(plan)

    PIPELINE_BATCH = 128  # sectors per read batch: batch b is hashed while later batches are read
    RING_BATCHES = 16  # direct + native AIO: a ring of 16 batches of HASH_CHUNK slots (256 reads)
    PIPELINE_MMAP = True  # mmap: hash batch b while later batches' MADV_WILLNEED are issued

    def _ring_slots(self, n: int) -> int:
        """Slots of the direct audit's ring for ``n`` sectors, 0 when it reads into one slot per
        sector (mmap, no native AIO, or a farm no bigger than the ring)."""
        slots = self.RING_BATCHES * self.HASH_CHUNK
        if self.io_mode != "direct" or not slots or n <= slots or self._io._aio_engine() is None:
            return 0
        return slots

    def _read_and_hash_pipelined(self, plan: "_AuditPlan") -> np.ndarray:
        """Every batch of sectors is read in turn (direct: native AIO or I/O threads, straight into
        page-aligned slots of one reused buffer; mmap: ``MADV_WILLNEED`` from the I/O threads)
        while one hashing thread per core hashes its share of each batch as soon as the batch is
        in (direct) or requested (mmap; a page still in flight is waited for) (:meth:`_hash_chunks`)."""
        io = self._io
        out = np.empty(int(plan.counts.sum()), np.uint64)
        layout = _ReadLayout.of(plan.byte_off, SCALAR_SIZE * plan.counts)
        n = len(plan.counts)
        bounds = list(range(0, n, self.PIPELINE_BATCH)) + [n]
        if self.io_mode == "mmap":
            batches, futures = io.start_prefetch(plan.byte_off, SCALAR_SIZE * plan.counts, self.PIPELINE_BATCH)
            try:
                self._hash_batches(plan, io.words, plan.byte_off // 4, bounds, batches, out)
            finally:
                for f in futures:
                    f.exception()
            return out
        ring = 0
        batch_size = self.PIPELINE_BATCH
        if self._ring_slots(n):
            ring, batch_size = self.RING_BATCHES, self.HASH_CHUNK
            layout = layout.in_ring(batch_size, ring)
            bounds = list(range(0, n, batch_size)) + [n]
        buf = io.reusable_buffer(layout.total)
        owned = buf is not None
        try:
            if buf is None:  # another thread is auditing this farm: a buffer of our own
                buf = _aligned(max(layout.total, PAGE))
            words = buf.view("<u4")
            starts = layout.data_at // 4
            batches, futures = io.start_reads(layout, buf, batch_size, ring)
            try:
                self._hash_batches(plan, words, starts, bounds, batches, out)
            finally:
                for f in futures:  # the buffer stays ours until every read has returned
                    f.exception()
        finally:
            if owned:
                io.release_buffer()
        return out

    HASH_CHUNK = 16  # sectors per claim of a hashing thread (small: a preempted thread holds up little)

    def _hash_batches(self, plan: "_AuditPlan", words, starts, bounds, batches: "_Batches", out) -> None:
        """Hash every batch as soon as it is read: one thread per core, each claiming the next
        ``HASH_CHUNK`` sectors in order (so a thread the OS preempts delays only its own chunk)."""
        parts = max(1, numba.get_num_threads())
        if self._hash_pool is None:
            self._hash_pool = ThreadPoolExecutor(parts, thread_name_prefix="farmkit-audit-hash")
        claims = itertools.count()  # next() is atomic under the GIL
        batch = bounds[1] - bounds[0] if len(bounds) > 1 else 1
        # while reads are in flight one core is left to the I/O thread and the device's completions
        # (a starved I/O thread empties the queue); the last hashing thread joins once all are in
        last = len(batches.complete) - 1
        hashing = [self._hash_pool.submit(self._hash_chunks, claims, self.HASH_CHUNK, batch, plan, words, starts,
                                          batches, out, last if k == parts - 1 > 0 else -1) for k in range(parts)]
        errors = [e for e in (h.exception() for h in hashing) if e is not None]
        if errors:
            raise errors[0]

    @staticmethod
    def _hash_chunks(claims, chunk: int, batch: int, plan: "_AuditPlan", words, starts, batches: "_Batches",
                     out, start_after: int = -1) -> None:
        """One hashing thread: claims chunks of sectors in order; hashes each once its batch is in.
        The kernel runs on this thread only (:func:`_audit_distances_serial`): no parallel-runtime
        worker spins between chunks, starving the I/O thread."""
        n = len(plan.counts)
        try:
            if start_after >= 0:  # join once every batch has been read
                batches.wait(start_after)
            while True:
                a = next(claims) * chunk
                if a >= n:
                    return
                z = min(n, a + chunk)
                for b in range(a // batch, (z - 1) // batch + 1):
                    batches.wait(b)
                _audit_distances_serial(words, starts[a:z], plan.counts[a:z], plan.first[a:z], plan.keys[a:z], plan.g,
                                        out)
                batches.hashed_range(a, z)  # their slots may be read into again (ring)
        except BaseException as exc:
            batches.fail(exc)  # the I/O thread may be waiting for a ring slot
            raise

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
    """All sectors of all farms (§9.2, §9.5): every farm's audit (reads and hashing pipelined, see
    :meth:`FarmAuditor.audit_distances`) runs at the same time, one thread per farm (a farm is
    usually a disk of its own: their reads overlap). Candidates of all farms, best first."""
    if not 0 <= solution_range <= _U64:
        raise FarmkitError("solution range must be a u64")
    if len(auditors) <= 1:
        return auditors[0].audit(global_challenge, solution_range) if auditors else []
    with ThreadPoolExecutor(len(auditors), thread_name_prefix="farmkit-audit-farm") as pool:
        found = list(pool.map(lambda a: a.audit(global_challenge, solution_range), auditors))
    out = [c for cands in found for c in cands]
    out.sort(key=lambda c: (c.distance, c.farm_index, c.sector_index, c.chunk_offset))
    return out
