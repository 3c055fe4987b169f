"""SSD measurements for farming: 4 KiB random reads and audit-shaped reads (anchors.md §1.3,
sector-audit-prove.md §9.2, §13.3).

Two read paths, as in the spec's guidance for auditors:

* ``mmap``   - through the page cache: the test file is memory-mapped with ``MADV_RANDOM`` and the
  reader copies ``read_size`` bytes at each offset (page faults do the I/O). The file's cached
  pages are dropped with ``POSIX_FADV_DONTNEED`` before every run, and every read of a run goes
  to a slot of the file no other read of that run touches, so no read is served by the guest's
  page cache (a run that uses up the file's slots early stops and is flagged ``exhausted``).
* ``mmap_prefetch`` - as ``mmap``, but each audit read first ``madvise(MADV_WILLNEED)``s its
  4-5 pages so they are fetched together (the prefetch the spec suggests, §13.3).
* ``direct`` - ``O_DIRECT`` ``pread`` into page-aligned buffers (memory from an anonymous mmap),
  offsets and lengths aligned to 4096 B, bypassing the page cache. This is what the reference
  farmer uses by default. Where the filesystem refuses ``O_DIRECT`` (tmpfs), the run falls back
  to ``buffered`` ``pread`` (page cache, evicted before each run) and the profile records why.

Concurrency = threads, each with one synchronous read in flight, so queue depth = threads.
The read loops are numba ``nogil`` functions calling libc ``pread``/``clock_gettime`` directly,
so threads overlap for real and the figures carry no Python interpreter overhead. (They are
compiled per process: numba cannot cache functions that call ctypes pointers.)

Audit-shaped reads model one slot's audit: one random read per sector of one s-bucket,
``MAX_PIECES_IN_SECTOR / 2`` chunks x 32 B = 16,000 B on average, not 4 KiB aligned
(sector-audit-prove.md §9.2). Direct I/O reads the aligned span that covers it (16-20 KiB).

The test file is created in the target directory, sized by the user, and removed on every exit
path, Ctrl-C and SIGTERM included (:class:`TestFile`).
"""

from __future__ import annotations

import ctypes
import errno
import gc
import mmap
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from numba import njit

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR, SCALAR_SIZE

PAGE = 4096  # bytes; O_DIRECT alignment of offsets, lengths and buffers
RANDOM_READ_SIZE = 4096  # the classic 4K random read
AUDIT_READ_SIZE = MAX_PIECES_IN_SECTOR // 2 * SCALAR_SIZE  # mean s-bucket of a 1000-piece sector: 16,000 B
TEMP_PREFIX = ".hwprofile-"
TEMP_SUFFIX = ".tmp"
MAX_SAMPLES_KEPT = 20_000  # raw latency samples stored per run (uniform subsample; percentiles use all)
MAX_READS_PER_THREAD = 1_000_000
MMAP_MODES = ("mmap", "mmap_prefetch")
MODES = ("mmap", "mmap_prefetch", "direct", "buffered")
MIN_FILE_SIZE = 2**20  # room for 50 audit-read slots at least

# --- libc entry points for the nogil read loops ---------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_pread = _libc.pread
_pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64]
_pread.restype = ctypes.c_ssize_t
_clock_gettime = _libc.clock_gettime
_clock_gettime.argtypes = [ctypes.c_int, ctypes.c_void_p]
_clock_gettime.restype = ctypes.c_int
_CLOCK_MONOTONIC = 1
_madvise = _libc.madvise
_madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_madvise.restype = ctypes.c_int
_MADV_WILLNEED = 3


@njit(nogil=True)
def _now_ns(ts):
    _clock_gettime(_CLOCK_MONOTONIC, ts.ctypes.data)
    return ts[0] * 1_000_000_000 + ts[1]


@njit(nogil=True)
def _pread_loop(fd, buf, offsets, lengths, deadline_ns, lat_ns):
    """pread ``lengths[i]`` bytes at ``offsets[i]`` until the list ends or the deadline passes.

    Returns the number of reads done (negative: ``-(i+1)`` where read ``i`` failed)."""
    ts = np.zeros(2, np.int64)
    ptr = buf.ctypes.data
    for i in range(offsets.shape[0]):
        t0 = _now_ns(ts)
        got = _pread(fd, ptr, lengths[i], offsets[i])
        t1 = _now_ns(ts)
        if got != lengths[i]:
            return -(i + 1)
        lat_ns[i] = t1 - t0
        if t1 >= deadline_ns:
            return i + 1
    return offsets.shape[0]


@njit(nogil=True)
def _mmap_loop(data, buf, offsets, lengths, deadline_ns, lat_ns, prefetch):
    """Copy ``lengths[i]`` bytes at ``offsets[i]`` out of a memory-mapped file (page faults = I/O).

    ``prefetch``: first ``madvise(MADV_WILLNEED)`` the read's pages, so the kernel fetches them
    together instead of one fault at a time."""
    ts = np.zeros(2, np.int64)
    base = data.ctypes.data
    for i in range(offsets.shape[0]):
        t0 = _now_ns(ts)
        o = offsets[i]
        n = lengths[i]
        if prefetch:
            a0 = (base + o) // PAGE * PAGE
            _madvise(a0, base + o + n - a0, _MADV_WILLNEED)
        buf[:n] = data[o : o + n]
        t1 = _now_ns(ts)
        lat_ns[i] = t1 - t0
        if t1 >= deadline_ns:
            return i + 1
    return offsets.shape[0]


# --- sizes -----------------------------------------------------------------------------------------
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_size(text: str) -> int:
    """Parse ``256M``, ``4GiB``, ``1.5G``, ``1000000`` (K/M/G/T alone are binary units)."""
    s = str(text).strip().lower().replace("_", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):].strip()
    try:
        value = float(num)
    except ValueError:
        raise FarmkitError(f"--file-size: not a size: {text!r} (use e.g. 256M, 4G)") from None
    if unit not in _UNITS:
        raise FarmkitError(f"--file-size: unknown unit in {text!r} (use K, M, G, T, MB, GiB, ...)")
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise FarmkitError(f"--file-size must be positive, got {text!r}")
    return size


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


# --- the test file ----------------------------------------------------------------------------------
def check_target_dir(path: Path, file_size: int) -> None:
    """One-line errors for a target the profiler cannot use: missing, not a directory, read-only, full."""
    if file_size < MIN_FILE_SIZE:
        raise FarmkitError(f"--file-size must be at least {human_bytes(MIN_FILE_SIZE)}, got {human_bytes(file_size)}")
    if not path.exists():
        raise FarmkitError(f"--path {path}: no such directory")
    if not path.is_dir():
        raise FarmkitError(f"--path {path}: not a directory")
    st = os.statvfs(path)
    if st.f_flag & os.ST_RDONLY:
        raise FarmkitError(f"--path {path}: read-only filesystem")
    free = st.f_bavail * st.f_frsize
    if file_size + 64 * 2**20 > free:
        raise FarmkitError(
            f"--path {path}: not enough free space for a {human_bytes(file_size)} test file "
            f"({human_bytes(free)} free; lower --file-size)"
        )


class TestFile:
    """A test file of ``size`` random bytes in ``directory``, removed on every exit path.

    Use as a context manager. While it is open SIGTERM raises KeyboardInterrupt (like Ctrl-C), so
    the file is unlinked on the way out whatever stops the run; a failed or full write removes it too.
    """

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, size: int, progress: Callable[[int], None] | None = None):
        self.directory = Path(directory)
        self.size = (size // PAGE) * PAGE or PAGE
        self.path = self.directory / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
        self.progress = progress
        self._old_term = None

    def __enter__(self) -> "TestFile":
        if threading.current_thread() is threading.main_thread():
            self._old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self._create()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:  # already gone (or never created)
            pass
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None

    def _create(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise FarmkitError(f"--path {self.directory}: cannot create a test file: {exc.strerror}") from None
        rng = np.random.default_rng()
        chunk = 4 * 2**20
        try:
            written = 0
            while written < self.size:
                n = min(chunk, self.size - written)
                _write_chunk(fd, rng.bytes(n))  # random data: no compression/dedup shortcuts in the drive
                written += n
                if self.progress:
                    self.progress(n)
            os.fsync(fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise FarmkitError(f"--path {self.directory}: disk full while writing the test file") from None
            raise FarmkitError(f"--path {self.directory}: writing the test file failed: {exc.strerror}") from None
        finally:
            os.close(fd)


def _write_chunk(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _raise_interrupt(signum, frame):  # SIGTERM -> the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def leftover_temp_files(directory: Path) -> list[Path]:
    """Test files a profiler left in ``directory`` (should always be empty)."""
    return sorted(Path(directory).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))


# --- O_DIRECT ---------------------------------------------------------------------------------------
def probe_direct_io(path: Path) -> tuple[bool, str]:
    """Can ``path`` be read with O_DIRECT? Returns (supported, reason-or-'ok')."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False, "O_DIRECT is not available on this OS"
    try:
        fd = os.open(path, os.O_RDONLY | flag)
    except OSError as exc:
        return False, f"O_DIRECT refused by the filesystem ({exc.strerror})"
    try:
        buf = mmap.mmap(-1, PAGE)
        try:
            os.preadv(fd, [buf], 0)
        except OSError as exc:
            return False, f"O_DIRECT read failed ({exc.strerror})"
        finally:
            buf.close()
    finally:
        os.close(fd)
    return True, "ok"


def drop_cached_pages(fd: int) -> bool:
    """Ask the kernel to drop the file's clean cached pages (POSIX_FADV_DONTNEED)."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except (OSError, AttributeError):
        return False


# --- one measurement run ----------------------------------------------------------------------------
@dataclass
class ReadRun:
    """One (mode, threads, read shape) cell: throughput, latency percentiles, raw samples."""

    mode: str  # mmap | direct | buffered
    shape: str  # 4k | audit
    threads: int
    read_size: int  # logical bytes wanted per read
    bytes_per_read: float  # bytes actually transferred per read (aligned span for direct I/O)
    reads: int
    seconds: float
    iops: float
    mib_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    mean_us: float
    max_us: float
    exhausted: bool  # ran out of fresh (never-read) slots before the time was up: raise --file-size
    samples_ns: np.ndarray = field(repr=False)  # raw per-read latencies (subsampled)

    def attrs(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "samples_ns"}


AUDIT_SLOT = 5 * PAGE  # an audit read (16,000 B, unaligned) always fits in 5 aligned pages


def read_slot_size(shape: str) -> int:
    """Bytes of file one read may touch: reads use disjoint slots so no page is read twice."""
    return PAGE if shape == "4k" else AUDIT_SLOT


def fresh_offsets(rng: np.random.Generator, file_size: int, n: int, shape: str, aligned: bool):
    """``n`` random reads in distinct slots of the file (no page read twice, so no page-cache hits).

    ``4k``: page-aligned 4096 B reads. ``audit``: 16,000 B at an unaligned offset inside a 5-page
    slot; with ``aligned`` (O_DIRECT) the read is widened to the covering 4 KiB-aligned span.
    Returns (offsets, lengths) as int64 arrays; ``n`` is capped at the number of slots.
    """
    slot = read_slot_size(shape)
    slots = file_size // slot
    n = min(n, slots)
    base = rng.choice(slots, n, replace=False).astype(np.int64) * slot
    if shape == "4k":
        return base, np.full(n, RANDOM_READ_SIZE, np.int64)
    want = AUDIT_READ_SIZE
    starts = base + rng.integers(0, slot - want, n, dtype=np.int64)
    if not aligned:
        return starts, np.full(n, want, np.int64)
    a0 = starts // PAGE * PAGE
    a1 = (starts + want + PAGE - 1) // PAGE * PAGE
    return a0, a1 - a0


def _read_worker(mode, fd, data, job, barrier, deadline, out, t):
    """One thread: wait for the start, run the nogil read loop, store how many reads it did."""
    offs, lens, buf, lat = job
    barrier.wait()
    if mode in MMAP_MODES:
        out[t] = _mmap_loop(data, buf, offs, lens, deadline[0], lat, mode == "mmap_prefetch")
    else:
        out[t] = _pread_loop(fd, buf, offs, lens, deadline[0], lat)


def run_reads(tf_path: Path, file_size: int, mode: str, shape: str, threads: int, seconds: float,
              max_reads: int | None = None, seed: int | None = None) -> ReadRun:
    """Random reads on the test file with ``threads`` threads for ``seconds`` (or ``max_reads``).

    Each thread keeps one read in flight (queue depth = threads). Every read goes to a slot of the
    file no other read of this run touches (:func:`fresh_offsets`)."""
    rng = np.random.default_rng(seed)
    per_thread = MAX_READS_PER_THREAD if max_reads is None else max(1, max_reads // threads)
    aligned = mode == "direct"
    fd = os.open(tf_path, os.O_RDONLY | (os.O_DIRECT if mode == "direct" else 0))
    mm = None
    bufs: list[mmap.mmap] = []
    try:
        data = np.zeros(1, np.uint8)
        if mode != "direct":
            drop_cached_pages(fd)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            except (OSError, AttributeError):
                pass
        if mode in MMAP_MODES:
            mm = mmap.mmap(fd, file_size, prot=mmap.PROT_READ)
            try:
                mm.madvise(mmap.MADV_RANDOM)  # no readahead: one read = the pages it asks for
            except (AttributeError, OSError):
                pass
            data = np.frombuffer(mm, np.uint8)
        all_offs, all_lens = fresh_offsets(rng, file_size, per_thread * threads, shape, aligned)
        per_thread = max(1, all_offs.size // threads)
        jobs = []
        for t in range(threads):
            buf_mm = mmap.mmap(-1, 1 << 20)  # page-aligned memory, as O_DIRECT needs
            bufs.append(buf_mm)
            jobs.append((all_offs[t * per_thread : (t + 1) * per_thread],
                         all_lens[t * per_thread : (t + 1) * per_thread],
                         np.frombuffer(buf_mm, np.uint8), np.zeros(per_thread, np.int64)))
        # compile the loop before the clock starts (reads slot 0 of thread 0 once, then re-evicts)
        probe = np.zeros(1, np.int64)
        if mode in MMAP_MODES:
            _mmap_loop(data, jobs[0][2], jobs[0][0][:1], jobs[0][1][:1], 0, probe, mode == "mmap_prefetch")
        else:
            _pread_loop(fd, jobs[0][2], jobs[0][0][:1], jobs[0][1][:1], 0, probe)
        if mode != "direct":
            drop_cached_pages(fd)
        done = [0] * threads
        deadline = [0]
        barrier = threading.Barrier(threads + 1)
        workers = [threading.Thread(target=_read_worker, daemon=True,
                                    args=(mode, fd, data, jobs[t], barrier, deadline, done, t))
                   for t in range(threads)]
        for w in workers:
            w.start()
        t0 = time.monotonic_ns()
        deadline[0] = t0 + int(seconds * 1e9)
        barrier.wait()
        for w in workers:
            w.join()
        elapsed = (time.monotonic_ns() - t0) / 1e9
        failed = [-n - 1 for n in done if n < 0]
        if failed:
            raise FarmkitError(f"reading the test file failed ({mode} read #{failed[0]})")
        sizes = [j[0].size for j in jobs]
        lat = np.concatenate([jobs[t][3][: done[t]] for t in range(threads)])
        transferred = np.concatenate([jobs[t][1][: done[t]] for t in range(threads)])
    finally:
        # drop every numpy view of the mmaps before closing them (a mapped page cannot be evicted)
        data = jobs = workers = None
        gc.collect()
        for m in ([mm] if mm is not None else []) + bufs:
            try:
                m.close()
            except BufferError:
                pass
        os.close(fd)
    exhausted = any(done[t] == sizes[t] for t in range(threads)) and elapsed < seconds * 0.98
    reads = int(lat.size)
    if reads == 0:
        raise FarmkitError(f"no reads completed ({mode}, {threads} threads)")
    us = lat / 1e3
    p50, p90, p99, p999 = np.percentile(us, [50, 90, 99, 99.9])
    keep = lat if reads <= MAX_SAMPLES_KEPT else rng.choice(lat, MAX_SAMPLES_KEPT, replace=False)
    return ReadRun(
        mode=mode, shape=shape, threads=threads,
        read_size=RANDOM_READ_SIZE if shape == "4k" else AUDIT_READ_SIZE,
        bytes_per_read=float(transferred.mean()), reads=reads, seconds=elapsed,
        iops=reads / elapsed, mib_s=float(transferred.sum()) / elapsed / 2**20,
        p50_us=float(p50), p90_us=float(p90), p99_us=float(p99), p999_us=float(p999),
        mean_us=float(us.mean()), max_us=float(us.max()), exhausted=bool(exhausted),
        samples_ns=np.minimum(keep, 2**32 - 1).astype(np.uint32),
    )


# --- the whole SSD section -------------------------------------------------------------------------
@dataclass
class SsdResult:
    path: str
    file_size: int
    direct_io: bool
    direct_io_reason: str
    modes: list[str]
    threads: list[int]
    runs: list[ReadRun]
    create_seconds: float
    notes: list[str]


def ssd_cells(shapes, modes) -> list[tuple[str, str]]:
    """(shape, mode) pairs to measure: prefetching only matters for multi-page (audit) reads."""
    return [(s, m) for s in shapes for m in modes if not (m == "mmap_prefetch" and s == "4k")]


def measure_ssd(directory: Path, file_size: int, threads: list[int], seconds_per_run: float,
                modes: tuple[str, ...] = ("mmap", "direct"), shapes: tuple[str, ...] = ("4k", "audit"),
                on_create: Callable[[int], None] | None = None,
                on_run: Callable[[str], None] | None = None) -> SsdResult:
    """Create the test file, run every (shape, mode, threads) cell, remove the file."""
    check_target_dir(directory, file_size)
    notes: list[str] = []
    t0 = time.perf_counter()
    with TestFile(directory, file_size, progress=on_create) as tf:
        create_s = time.perf_counter() - t0
        size = tf.size
        direct_ok, reason = probe_direct_io(tf.path)
        use_modes = []
        for m in modes:
            if m == "direct" and not direct_ok:
                notes.append(f"direct I/O unavailable: {reason}; measured buffered pread (page cache) instead")
                m = "buffered"
            if m not in use_modes:
                use_modes.append(m)
        runs = []
        failed: set[str] = set()
        for shape, m in ssd_cells(shapes, use_modes):
            for th in threads:
                if on_run:
                    on_run(f"{shape} {m} x{th}")
                if m in failed:
                    continue
                try:
                    runs.append(run_reads(tf.path, size, m, shape, th, seconds_per_run))
                except OSError as exc:  # e.g. a filesystem that cannot mmap: record it, go on
                    failed.add(m)
                    notes.append(f"{m} reads failed on this filesystem ({exc.strerror or exc}); not measured")
    if size <= _mem_total():
        notes.append(
            "the test file fits in RAM: mmap/buffered runs start with its pages evicted "
            "(POSIX_FADV_DONTNEED) and never read a page twice, so the guest page cache serves no read; "
            "on a VM the host may still cache the virtual disk, so any mode can beat the real drive"
        )
    return SsdResult(str(directory), size, direct_ok, reason, use_modes, list(threads), runs, create_s, notes)


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
