"""Proof of space (Chia variant, K = 20) on the GPU: tables and proofs for a batch of records.

Same answers as the CPU version (:mod:`farmkit.kernels.pos`), byte for byte, for both proof-of-space
versions (``version=1``: canonical (y, lpos, rpos) order, pos.md §6-7; ``version=2``: truncated
tables in generation order, pos-v2.md §3).  One kernel source, ``kernels/pos.cl``, compiled for
CUDA (cupy) or OpenCL (pyopencl) through :mod:`farmkit.kernels.gpu`.

Pipeline per launch (all records of the batch in flight, no host round-trip between tables):

1. ``chacha8_keystream`` → ``f1_stage``: y(x) for all x, appended to y-buckets (atomic slots);
2. ``sort_buckets``: one work-group per bucket sorts its slots by a unique key in local memory
   (V1: (y, x) / (y, lpos, rpos); V2: generation index, keeping the first 272);
3. tables 2..6: ``match_fx`` (one work-group per bucket pair: the right bucket sorted by r in local
   memory plus an r-presence bitmap; the 64 targets computed without divisions, looked up in the
   bitmap and binary-searched only on a hit; V2 caps 2 / 288; fx by one BLAKE3 compression)
   then ``sort_buckets``;
4. table 7: ``match_fx`` emits only entries whose y7 prefix is an s-bucket, ``cand_best`` keeps the
   first per s-bucket (V1: min (y7, lpos, rpos); V2: min generation index);
5. ``rank_sbuckets`` + ``write_proofs``: walk back to 64 x values and pack 160-byte proofs.

``version`` is ``"v1"``/``"v2"`` (or 1/2).  Public API (mirrors the CPU one)::

    find_proofs(seed, first, count, version, backend=None) -> (found[count] bool, proofs[count, 160])
    find_proof(seed, challenge_index, version, backend=None) -> 160 bytes or None
    encoding_proofs(seed, version, backend=None) -> (s_buckets int64[n], proofs uint8[n, 160])
    encoding_proofs_batch(seeds, version, backend=None) -> list of (s_buckets, proofs)
    encoding_masks_batch(seeds, version, backend=None) -> list of (s_buckets, BLAKE3(proof) masks)
    encoding_masks_device(seeds, version, backend=None) -> device (s_buckets, masks, counts)

``encoding_proofs`` returns the proofs of the first 2^15 s-buckets that have one, in ascending
s-bucket order (pos.md §11, pos-v2.md §3.6).

Device memory per record in flight (:func:`memory_per_record`, K = 20): 269 MB -- staging slots
73 MB, parent/child y + metadata 73 MB, (l, r) of tables 1..6 109 MB, keystream, candidates and
outputs ~14 MB.  A batch of 64 records is ~17 GB.  Buckets hold at most 512 entries and a V1
bucket pair at most 1024 matches (observed maxima ~306 / ~351); beyond that the build raises
FarmkitError instead of dropping entries (V1 never drops, pos.md §6).
"""

from __future__ import annotations

import numpy as np

from farmkit.errors import BackendUnavailable, FarmkitError
from farmkit.kernels.gpu import gpu_context, load_source

# Sizes named after pos.md §1 / pos-v2.md §2 (kernels may not import farmkit.protocol).
POS_K = 20
PARAM_EXT = 6
PARAM_BC = 15113
NUM_S_BUCKETS = 2**16
NUM_CHUNKS = 2**15
BUCKET_CAP = 512  # slots per y-bucket on the device (= upstream MAX_BUCKET_SIZE)
WORK_GROUP = 256
CAND_CAP = 1 << 18  # table-7 candidates per record
NONE = 0xFFFFFFFF

_ERRORS = {1: "a y-bucket exceeded 512 entries", 2: "a bucket pair exceeded 1024 matches (V1)",
           4: "too many table-7 candidates"}


def proof_size(k: int = POS_K) -> int:
    """Proof bytes: 64 x values of k bits (pos.md §8)."""
    return 8 * k


def num_buckets(k: int = POS_K) -> int:
    """ceil(2^(k+6) / 15113) y-buckets (4441 at K = 20, pos.md §1)."""
    return -(-(1 << (k + PARAM_EXT)) // PARAM_BC)


def memory_per_record(k: int = POS_K) -> int:
    """Device bytes one record in flight needs (tables 1..6 bucketed at 512 slots per bucket)."""
    slots = num_buckets(k) * BUCKET_CAP
    staging = slots * (8 + 4 + 4 + 4 + 4 + 8)  # key, y, l, r, meta hi, meta lo
    pingpong = 2 * slots * (4 + 4 + 8)  # parent + child y, meta
    lr = 6 * slots * 8  # (l, r) of tables 1..6 for the walk back
    keystream = ((k << k) // 32 + 16) * 4
    cand = CAND_CAP * 5 * 4
    per_s = NUM_S_BUCKETS * 4 * 5
    out = NUM_CHUNKS * (proof_size(k) + 4)
    counts = 4 * num_buckets(k) * 4
    return staging + pingpong + lr + keystream + cand + per_s + out + counts


def _gpu_backend(backend: str | None) -> str:
    from farmkit.kernels.backends import probe

    if backend in (None, "", "auto"):
        for name in ("cuda", "opencl"):
            if probe(name).available:
                return name
        raise BackendUnavailable("no GPU backend available here (cuda or opencl)")
    if backend not in ("cuda", "opencl"):
        raise BackendUnavailable(f"{backend!r} is not a GPU backend (use cuda or opencl)")
    info = probe(backend)
    if not info.available:
        raise BackendUnavailable(f"backend {backend!r} is not available here: {info.device}")
    return backend


def _check_version(version) -> int:
    """``"v1"``/``"v2"`` (as the CPU API) or 1/2 -> 1/2."""
    v = str(version).lower().lstrip("v")
    if v not in ("1", "2"):
        raise FarmkitError(f"version: expected one of v1, v2, got {version!r}")
    return int(v)


def _check_k(k: int) -> int:
    # V1 sort keys pack two 22-bit labels (NB * 512 < 2^22 needs K <= 20); s-buckets need K >= 16
    if not 16 <= int(k) <= 20:
        raise FarmkitError(f"k: the GPU path supports 16..20, got {k}")
    return int(k)


def _seed(seed) -> bytes:
    if isinstance(seed, str):
        try:
            seed = bytes.fromhex(seed)
        except ValueError:
            raise FarmkitError(f"seed: not valid hex: {seed!r}") from None
    seed = bytes(seed)
    if len(seed) != 32:
        raise FarmkitError(f"seed: expected 32 bytes, got {len(seed)}")
    return seed


def _seed_words(seeds: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes(s) for s in seeds), dtype="<u4").astype(np.uint32)


class PosGpu:
    """Compiled kernels and device buffers for one (backend, version, k, batch size)."""

    def __init__(self, backend: str, version, nrec: int, k: int = POS_K, all_prefixes: bool = False):
        self.backend = _gpu_backend(backend)
        self.version = _check_version(version)
        if all_prefixes and self.version != 1:
            raise FarmkitError("all challenge prefixes exist only for v1")
        self.k = k = _check_k(k)
        self.nrec = nrec
        self.all_prefixes = all_prefixes
        self.nidx = (1 << k) if all_prefixes else NUM_S_BUCKETS
        self.cand_cap = (2 << k) if all_prefixes else CAND_CAP
        self.ctx = gpu_context(self.backend)
        opts = (f"-DPOS_K={k}", f"-DPOS_VERSION={self.version}", f"-DPOS_ALL_PREFIXES={int(all_prefixes)}")
        self.prog = self.ctx.program(load_source("pos.cl"), opts)
        self.nb = num_buckets(k)
        self.slots = self.nb * BUCKET_CAP
        self.ks_words = (k << k) // 32
        self._alloc()

    def _alloc(self) -> None:
        c, n, s = self.ctx, self.nrec, self.slots
        u32, u64 = np.uint32, np.uint64
        self.seeds = c.empty(n * 8, u32)
        self.ks = c.empty(n * (self.ks_words + 16), u32)
        self.scount = c.empty(n * self.nb, u32)
        self.tcount = [c.empty(n * self.nb, u32) for _ in range(2)]
        self.skey = c.empty(n * s, u64)
        self.sy, self.sl, self.sr, self.smhi = (c.empty(n * s, u32) for _ in range(4))
        self.smlo = c.empty(n * s, u64)
        self.ty = [c.empty(n * s, u32) for _ in range(2)]
        self.tmhi = [c.empty(n * s, u32) for _ in range(2)]
        self.tmlo = [c.empty(n * s, u64) for _ in range(2)]
        self.tl = c.empty(6 * n * s, u32)
        self.tr = c.empty(6 * n * s, u32)
        self.ccount = c.empty(n, u32)
        self.cand = c.empty(n * self.cand_cap * 5, u32)
        self.best = [c.empty(n * self.nidx, u32) for _ in range(4)]  # hi, lo, l, r
        self.rank = c.empty(n * self.nidx, u32)
        self.total = c.empty(n, u32)
        self.sizes = c.empty(n * 8, u32)
        self.err = c.empty(n, u32)

    # -- kernels ---------------------------------------------------------------------------
    def _fill(self, buf, n: int, value: int) -> None:
        self.prog.launch("fill_u32", n, WORK_GROUP, buf, np.uint64(n), np.uint32(value))

    def build(self, seeds: list[bytes], stage_times: dict | None = None) -> None:
        """Tables 1..7 and the best table-7 entry per s-bucket for every seed (<= nrec seeds).

        ``stage_times``: if given, the device is synchronized after each stage and the seconds are
        added under the stage's name (for benchmarks only; it serializes the queue).
        """
        mark = self._stage_timer(stage_times)
        n = len(seeds)
        if not 0 < n <= self.nrec:
            raise FarmkitError(f"batch of {n} seeds does not fit {self.nrec} records")
        words = np.zeros(self.nrec * 8, np.uint32)
        words[: n * 8] = _seed_words(seeds)
        p, u32, wg, nb = self.prog, np.uint32, WORK_GROUP, self.nb
        self.seeds = self.ctx.to_device(words)
        self.nrun = n
        nr = u32(n)
        self._fill(self.err, n, 0)
        self._fill(self.sizes, n * 8, 0)
        self._fill(self.scount, n * nb, 0)
        mark("upload")
        p.launch("chacha8_keystream", n * (self.ks_words // 16), wg, self.seeds, self.ks, nr)
        mark("chacha8")
        staging = (self.scount, self.skey, self.sy, self.sl, self.sr, self.smhi, self.smlo)
        p.launch("f1_stage", n << self.k, wg, self.ks, *staging, self.err, nr)
        mark("f1")
        self._sort(0, 1, nr)
        mark("sort")
        for t in range(2, 8):
            par = (t - 2) % 2
            if t < 7:
                self._fill(self.scount, n * nb, 0)
            else:
                self._fill(self.ccount, n, 0)
            p.launch("match_fx", n * (nb - 1) * wg, wg, u32(t), nr, self.tcount[par], self.ty[par],
                     self.tmhi[par], self.tmlo[par], *staging, self.ccount, self.cand, self.sizes,
                     self.err)
            mark("match_fx")
            if t < 7:
                self._sort(1 - par, t, nr)
                mark("sort")
        hi, lo, bl, br = self.best
        self._fill(hi, n * self.nidx, NONE)
        self._fill(lo, n * self.nidx, NONE)
        for phase in range(3):
            p.launch("cand_best", n * self.cand_cap, wg, self.ccount, self.cand, hi, lo, bl, br, nr, u32(phase))
        if not self.all_prefixes:
            p.launch("rank_sbuckets", n * wg, wg, hi, self.rank, self.total)
        mark("select")

    def _stage_timer(self, times: dict | None):
        if times is None:
            return lambda name: None
        import time

        self.ctx.synchronize()
        last = [time.perf_counter()]

        def mark(name: str) -> None:
            self.ctx.synchronize()
            now = time.perf_counter()
            times[name] = times.get(name, 0.0) + now - last[0]
            last[0] = now

        return mark

    def _sort(self, dst: int, table: int, nr) -> None:
        self.prog.launch("sort_buckets", int(nr) * self.nb * WORK_GROUP, WORK_GROUP, self.scount, self.skey,
                         self.sy, self.sl, self.sr, self.smhi, self.smlo, self.tcount[dst], self.ty[dst],
                         self.tmhi[dst], self.tmlo[dst], self.tl, self.tr, self.err, nr, np.uint32(table))

    def check(self) -> None:
        err = self.ctx.to_host(self.err)[: self.nrun]
        if err.any():
            bits = int(np.bitwise_or.reduce(err))
            msgs = [m for b, m in _ERRORS.items() if bits & b]
            raise FarmkitError("GPU proof-of-space overflow: " + "; ".join(msgs))

    def proofs(self, want: np.ndarray | None = None):
        """Proofs of the last build.

        ``want is None``: ``(proofs[n, 2^15, PB], s_buckets[n, 2^15])``, the first 2^15 s-buckets
        with a proof per record (record encoding).  Otherwise ``want`` holds indices (s-buckets, or
        K-bit challenge prefixes with ``all_prefixes``): ``(proofs[n, len, PB], found[n, len])``.
        """
        n, pb = self.nrun, proof_size(self.k)
        if want is None:
            mode, slots, items, want_dev = 0, NUM_CHUNKS, n * NUM_S_BUCKETS, self.ctx.zeros(1, np.uint32)
        else:
            want = np.ascontiguousarray(want, dtype=np.uint32)
            mode, slots = 1, len(want)
            items, want_dev = n * slots, self.ctx.to_device(want)
        out = self.ctx.zeros(n * slots * pb, np.uint8)
        sb = self.ctx.zeros(n * slots, np.uint32)
        hi, lo, bl, br = self.best
        self.prog.launch("write_proofs", items, WORK_GROUP, self.rank, hi, bl, br, self.tl, self.tr,
                         out, sb, want_dev, np.uint32(n), np.uint32(mode), np.uint32(slots))
        self.check()
        out = self.ctx.to_host(out).reshape(n, slots, pb)
        sb = self.ctx.to_host(sb).reshape(n, slots)
        return out, sb

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Record-encoding masks of the last build: ``(masks[n, 2^15, 32], s_buckets[n, 2^15])``,
        mask = BLAKE3(proof) of the first 2^15 s-buckets with a proof (pos.md §11); only the
        32-byte masks cross to the host."""
        masks, sb, _counts = self.masks_device()
        self.check()
        return self.ctx.to_host(masks), self.ctx.to_host(sb)

    def masks_device(self):
        """Device arrays ``(masks (n, 2^15, 32) u8, s_buckets (n, 2^15) u32, counts (n,) u32)``
        of the last build (fresh allocations; rows past ``counts[r]`` are not meaningful)."""
        n, pb = self.nrun, proof_size(self.k)
        out = self.ctx.zeros(n * NUM_CHUNKS * pb, np.uint8)
        sb = self.ctx.zeros(n * NUM_CHUNKS, np.uint32)
        hi, lo, bl, br = self.best
        self.prog.launch("write_proofs", n * NUM_S_BUCKETS, WORK_GROUP, self.rank, hi, bl, br, self.tl, self.tr,
                         out, sb, self.ctx.zeros(1, np.uint32), np.uint32(n), np.uint32(0), np.uint32(NUM_CHUNKS))
        masks = self.ctx.empty(n * NUM_CHUNKS * 32, np.uint8)
        self.prog.launch("proof_masks", n * NUM_CHUNKS, WORK_GROUP, out, masks, np.uint64(n * NUM_CHUNKS))
        counts = self.ctx.empty(n, np.uint32)
        self.prog.launch("encoding_counts", n, WORK_GROUP, self.total, counts, np.uint32(n))
        return masks.reshape(n, NUM_CHUNKS, 32), sb.reshape(n, NUM_CHUNKS), counts

    def totals(self) -> np.ndarray:
        """s-buckets with a table-7 target, per record (before the 2^15 cut)."""
        return self.ctx.to_host(self.total)[: self.nrun].copy()

    def table_sizes(self) -> np.ndarray:
        """Generated entries of tables 1..7 per record (V2: after the 288 cap, before the 272 cap)."""
        s = self.ctx.to_host(self.sizes).reshape(-1, 8)[: self.nrun, :].copy()
        s[:, 1] = 1 << self.k
        return s[:, 1:8]


_CACHE: dict[tuple, PosGpu] = {}


def _engine(backend: str | None, version, nrec: int, k: int = POS_K, all_prefixes: bool = False) -> PosGpu:
    """The cached engine for these parameters with room for ``nrec`` records (not thread-safe:
    one set of device buffers per backend, reused by every call)."""
    b = _gpu_backend(backend)
    key = (b, _check_version(version), k, all_prefixes)
    eng = _CACHE.get(key)
    if eng is None or eng.nrec < nrec:
        for old in [kk for kk in _CACHE if kk[0] == b]:  # keep one set of buffers per backend
            del _CACHE[old]
        eng = _CACHE[key] = PosGpu(b, version, nrec, k, all_prefixes)
    return eng


def challenge_prefix(ci: np.ndarray, k: int = POS_K) -> np.ndarray:
    """K-bit prefix BE_u32(LE4(ci)) >> (32 - K) of challenge indices (pos.md §2.2)."""
    ci = np.asarray(ci, dtype=np.uint32)
    return (ci.byteswap() >> np.uint32(32 - k)).astype(np.uint32)


def default_batch(backend: str | None = None, k: int = POS_K) -> int:
    """Records per launch: what fits in half the device memory (at most 64; 1 on CPU OpenCL)."""
    b = _gpu_backend(backend)
    ctx = gpu_context(b)
    if b == "cuda":
        free, _total = ctx.cp.cuda.runtime.memGetInfo()
    else:
        import pyopencl as cl  # type: ignore

        if not ctx.cl_device.type & cl.device_type.GPU:
            return 1
        free = ctx.cl_device.global_mem_size
        # the largest buffer (l or r of 6 tables) must fit CL_DEVICE_MAX_MEM_ALLOC_SIZE
        per_alloc = 6 * num_buckets(k) * BUCKET_CAP * 4
        free = min(free, 2 * (ctx.cl_device.max_mem_alloc_size // per_alloc) * memory_per_record(k))
    return max(1, min(64, int(free // 2 // memory_per_record(k))))


def find_proofs(seed: bytes, first: int, count: int, version, backend: str | None = None,
                *, k: int = POS_K) -> tuple[np.ndarray, np.ndarray]:
    """Proofs for challenge indices ``first .. first+count-1`` (pos.md §7; V2: pos-v2.md §3.7).

    Returns ``(found, proofs)``: ``found`` is a bool array of ``count``, ``proofs`` a
    ``(count, 8K)`` uint8 array (zero rows where there is no proof).  V1 answers any u32 challenge
    index (its K-bit prefix); V2 uses ``s_bucket = ci & 0xFFFF`` and has proofs only for the first
    2^15 s-buckets with a target, as upstream's ``for_s_bucket``.
    """
    first, count = int(first), int(count)
    if count < 0 or first < 0 or first + count > 2**32:
        raise FarmkitError(f"challenge index range {first}..{first + count - 1} outside 0..2^32-1")
    v = _check_version(version)
    ci = np.arange(first, first + count, dtype=np.uint64).astype(np.uint32)
    if v == 2:
        eng, want = _engine(backend, v, 1, k), ci & np.uint32(0xFFFF)
    elif first + count <= NUM_S_BUCKETS:  # ci < 2^16: the prefix is the s-bucket's
        eng, want = _engine(backend, v, 1, k), ci
    else:
        eng, want = _engine(backend, v, 1, k, all_prefixes=True), challenge_prefix(ci, k)
    eng.build([_seed(seed)])
    if count == 0:
        return np.zeros(0, bool), np.zeros((0, proof_size(k)), np.uint8)
    out, found = eng.proofs(want)
    return found[0].astype(bool), out[0]


def find_proof(seed: bytes, challenge_index: int, version, backend: str | None = None) -> bytes | None:
    """The proof for one challenge index, or None (builds the tables)."""
    found, out = find_proofs(seed, challenge_index, 1, version, backend)
    return out[0].tobytes() if found[0] else None


def encoding_proofs_batch(seeds: list[bytes], version: int, backend: str | None = None, *,
                          batch: int | None = None, k: int = POS_K) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`encoding_proofs` for many records, ``batch`` records per launch."""
    seeds = [_seed(s) for s in seeds]
    if not seeds:
        return []
    nrec = batch or default_batch(backend, k)
    nrec = max(1, min(nrec, len(seeds)))
    eng = _engine(backend, version, nrec, k)
    result = []
    for i in range(0, len(seeds), nrec):
        chunk = seeds[i : i + nrec]
        eng.build(chunk)
        out, sb = eng.proofs()
        totals = eng.totals()
        for r in range(len(chunk)):
            n = int(min(totals[r], NUM_CHUNKS))
            result.append((sb[r, :n].astype(np.int64), out[r, :n].copy()))
    return result


def encoding_masks_batch(seeds: list[bytes], version, backend: str | None = None, *,
                         batch: int | None = None, k: int = POS_K) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per record ``(s_buckets int64[n], masks uint8[n, 32])`` with ``masks[i] = BLAKE3(proof)``
    of the proof :func:`encoding_proofs` gives for ``s_buckets[i]`` (what record encoding XORs into
    the chunk, pos.md §11); hashed on the device, so only 32 bytes per proof are copied back."""
    seeds = [_seed(s) for s in seeds]
    if not seeds:
        return []
    nrec = max(1, min(batch or default_batch(backend, k), len(seeds)))
    eng = _engine(backend, version, nrec, k)
    result = []
    for i in range(0, len(seeds), nrec):
        chunk = seeds[i : i + nrec]
        eng.build(chunk)
        masks, sb = eng.masks()
        totals = eng.totals()
        for r in range(len(chunk)):
            n = int(min(totals[r], NUM_CHUNKS))
            result.append((sb[r, :n].astype(np.int64), masks[r, :n].copy()))
    return result


def encoding_masks_device(seeds: list[bytes], version, backend: str | None = None, *, k: int = POS_K):
    """All ``seeds`` in one launch, results left on the device for the GPU plotter
    (``erasure_gpu.mask_and_fill_device``): ``(s_buckets (b, 2^15) u32, masks (b, 2^15, 32) u8,
    counts (b,) u32)`` as device arrays of ``gpu_context(backend)``; record r's first
    ``counts[r]`` s-buckets (ascending) and masks BLAKE3(proof) are valid.  Raises FarmkitError on
    a bucket overflow (one 4-byte-per-record read-back)."""
    seeds = [_seed(s) for s in seeds]
    if not seeds:
        raise FarmkitError("encoding_masks_device: no seeds")
    eng = _engine(backend, version, len(seeds), k)
    eng.build(seeds)
    masks, sb, counts = eng.masks_device()
    eng.check()
    return sb, masks, counts


def encoding_proofs(seed: bytes, version: int, backend: str | None = None, *,
                    k: int = POS_K) -> tuple[np.ndarray, np.ndarray]:
    """The s-buckets (ascending) and proofs a record is encoded with: the first 2^15 s-buckets
    that have a proof (pos.md §11; V2: pos-v2.md §3.6)."""
    return encoding_proofs_batch([seed], version, backend, batch=1, k=k)[0]


def table_sizes(seed: bytes, version: int, backend: str | None = None, *, k: int = POS_K) -> list[int]:
    """Entries generated in tables 1..7 (pos.md §17.3, pos-v2.md §7.2 'table sizes')."""
    eng = _engine(backend, version, 1, k)
    eng.build([_seed(seed)])
    eng.check()
    return [int(v) for v in eng.table_sizes()[0]]


__all__ = [
    "find_proofs",
    "find_proof",
    "challenge_prefix",
    "encoding_proofs",
    "encoding_proofs_batch",
    "encoding_masks_batch",
    "encoding_masks_device",
    "table_sizes",
    "memory_per_record",
    "default_batch",
    "proof_size",
    "PosGpu",
]
