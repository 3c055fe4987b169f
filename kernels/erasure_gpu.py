"""Erasure coding of records on the GPU (kzg-erasure-archiving.md §5, §7; sector-audit-prove.md
§6.3, §14.2), byte-identical to :mod:`farmkit.kernels.erasure`.

One kernel source, ``kernels/fr.cl`` + ``kernels/erasure.cl``, compiled for CUDA (cupy) or OpenCL
(pyopencl) through :mod:`farmkit.kernels.gpu`.  A batch of records is extended with three launches
(IFFT stages on columns → IFFT tail + coset twist + FFT head per 1024-element block in local
memory → FFT stages on columns); no permutation pass, twiddles precomputed in device memory
(see the comment at the top of ``erasure.cl``).

Public API::

    extend_batch(sources (b, n, 32) uint8, backend) -> parity (b, n, 32)   = erasure.extend_batch
    extend(source (n, 32), backend) -> parity (n, 32)                      = erasure.extend
    extend_batch_device(ctx, src_dev, b, n, interleaved=False) -> device array
        parity (b, n, 32), or with ``interleaved`` the s-bucket order ext (b, 2n, 32),
        ext[2i] = source[i], ext[2i+1] = parity[i] (§6.3) — stays on the device for masking/PoS
    fft_batch(values (b, n, 32), backend, inverse=False) -> (b, n, 32)   = fft.fft / fft.ifft
    mask_and_fill_device(ctx, ext_dev, s_buckets_dev, masks_dev, counts_dev, b)
        -> (chunks (b, 2^15, 32), present (b, 2^16), bitfield (b, 8192)) on the device (§6.3)
    mask_and_fill(ext, found, backend) -> per record (bitfield, present, chunks) host arrays
    encode_records_device(ctx, src_dev, s_buckets_dev, masks_dev, counts_dev, b)
        -> (chunks, present, bitfield, ext) device arrays: extend + mask + fill, nothing leaves
    encode_records(sources, found, backend) -> per record (bitfield, present, chunks)

``backend`` is ``"cuda"`` or ``"opencl"`` (None: the best available GPU backend).  Device arrays
are cupy / pyopencl arrays of one :func:`farmkit.kernels.gpu.gpu_context`, C-contiguous (pyopencl:
without offset).  Every function raises :class:`FarmkitError` on a non-canonical source scalar (§2),
like the CPU path.
"""

from __future__ import annotations

import threading

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.kernels import erasure as _erasure
from farmkit.kernels import fft as _fft
from farmkit.kernels.gpu import GpuContext, gpu_context, load_source

SCALAR_BYTES = 32
WG = 256  # work items per work-group (erasure.cl ``WG``)
TILE_LOG = 10  # elements per work-group in local memory: 2^10 (erasure.cl ``TILE_LOG``)
RECORD_CHUNKS = 2**15  # source chunks of a record (sector-audit-prove.md §14.2)
RECORD_S_BUCKETS = 2**16  # s-buckets of an extended record
BITFIELD_BYTES = RECORD_S_BUCKETS // 8
DEFAULT_MAX_BATCH = 64  # records per launch (1 MiB of work memory per 2^15-chunk record)

__all__ = [
    "extend_batch",
    "extend",
    "extend_batch_device",
    "fft_batch",
    "mask_and_fill_device",
    "mask_and_fill",
    "encode_records_device",
    "encode_records",
    "ErasurePlan",
]


def program(ctx: GpuContext):
    """The compiled fr.cl + erasure.cl for ``ctx``."""
    return ctx.program(load_source("fr.cl") + load_source("erasure.cl"))


def _limb_major(a: np.ndarray) -> np.ndarray:
    """(m, 4) Fr table → (4, m) contiguous (limb-major, as the kernels read it)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.uint64).reshape(-1, 4).T)


def _gpu_backend(backend: str | None) -> str:
    from farmkit.kernels.backends import resolve_backend

    name = resolve_backend(backend)
    if name not in ("cuda", "opencl"):
        raise FarmkitError(f"GPU erasure coding needs backend cuda or opencl, not {name!r}")
    return name


class ErasurePlan:
    """Device tables for transforms of size n on one context: twiddles ω_n^k and ω_n^−k
    (k < n/2), the bit-reversed extension twist ω_2n^rev(p)/n, and 1/n."""

    def __init__(self, ctx: GpuContext, n: int):
        _fft.check_size(n)
        self.ctx = ctx
        self.n = n
        self.log_n = n.bit_length() - 1
        self.log_b = min(self.log_n, TILE_LOG)
        self.prog = program(ctx)
        self.tw_fwd = ctx.to_device(_limb_major(_fft.twiddles(n)))
        self.tw_inv = ctx.to_device(_limb_major(_fft.twiddles(n, True)))
        self.n_inv = ctx.to_device(_limb_major(_fft._n_inverse(n)[None]))
        self._twist = None

    @property
    def twist_rev(self):
        """[ω_2n^rev(p) / n] for p < n (extension twist in the IFFT's bit-reversed output order)."""
        if self._twist is None:
            rev = _fft.bit_reverse_permutation(self.n)
            self._twist = self.ctx.to_device(_limb_major(_erasure._extension_twist(self.n)[rev]))
        return self._twist

    # launch geometry -------------------------------------------------------------------------
    def _column_groups(self, b: int) -> int:
        big_b = 1 << self.log_b
        m = self.n >> self.log_b
        g = min(big_b, (1 << TILE_LOG) // m)
        return b * (big_b // g)

    def _block_groups(self, b: int) -> int:
        return b * (self.n >> self.log_b)

    def run_extend(self, src, work, bad, out, b: int, interleaved: bool) -> None:
        """Launch the three extension kernels for b records (device arrays, no checks)."""
        n, u32 = self.n, np.uint32
        p = self.prog
        cg, bg = self._column_groups(b), self._block_groups(b)
        p.launch("dif_columns", cg * WG, WG, src, work, self.tw_inv, bad, out, u32(interleaved), u32(n), u32(self.log_b))
        p.launch("fft_block", bg * WG, WG, work, self.tw_inv, self.tw_fwd, self.twist_rev, out, u32(0), u32(0),
                 u32(n), u32(self.log_n), u32(self.log_b))
        rec, step, off = (2 * n, 2, 1) if interleaved else (n, 1, 0)
        p.launch("dit_columns", cg * WG, WG, work, self.tw_fwd, out, u32(rec), u32(step), u32(off), u32(n), u32(self.log_b))

    def run_transform(self, src, work, bad, out, b: int, inverse: bool) -> None:
        """Launch a natural-order FFT (or IFFT with 1/n) of b rows: bytes in, bytes out."""
        n, u32 = self.n, np.uint32
        tw = self.tw_inv if inverse else self.tw_fwd
        cg, bg = self._column_groups(b), self._block_groups(b)
        self.prog.launch("dif_columns", cg * WG, WG, src, work, tw, bad, out, u32(0), u32(n), u32(self.log_b))
        self.prog.launch("fft_block", bg * WG, WG, work, tw, tw, self.n_inv, out, u32(1), u32(inverse),
                         u32(n), u32(self.log_n), u32(self.log_b))


_PLANS: dict[tuple[int, int], ErasurePlan] = {}
_PLANS_LOCK = threading.Lock()
_LAUNCH_LOCK = threading.RLock()  # a kernel object's arguments are set, then it is enqueued: one thread at a time


def plan(ctx: GpuContext, n: int) -> ErasurePlan:
    """The cached :class:`ErasurePlan` for (ctx, n)."""
    key = (id(ctx), n)
    with _PLANS_LOCK:
        p = _PLANS.get(key)
        if p is None:
            p = ErasurePlan(ctx, n)
            _PLANS[key] = p
        return p


def _extend_enqueue(ctx: GpuContext, src_dev, b: int, n: int, interleaved: bool, out, work):
    """Enqueue the extension of b sources; returns (out, bad) with bad[r] = 1 for a non-canonical
    source r (not yet read back)."""
    _erasure._check_source_len(n)
    pl = plan(ctx, n)
    rows = 2 * n if interleaved else n
    if out is None:
        out = ctx.empty((b, rows, SCALAR_BYTES), np.uint8)
    if b == 0:
        return out, None
    if work is None:
        work = ctx.empty((b, 4, n), np.uint64)
    bad = ctx.zeros(b, np.uint32)
    with _LAUNCH_LOCK:
        pl.run_extend(src_dev, work, bad, out, b, interleaved)
    return out, bad


def _raise_if_bad(ctx: GpuContext, bad, first: int = 0) -> None:
    if bad is None:
        return
    flags = ctx.to_host(bad)
    if flags.any():
        raise FarmkitError(f"extend: invalid scalar (>= modulus) in source {first + int(np.argmax(flags))}")


def extend_batch_device(ctx: GpuContext, src_dev, b: int, n: int, *, interleaved: bool = False,
                        out=None, work=None, check: bool = True):
    """§7 ``extend`` of b device-resident sources ``src_dev`` ((b, n, 32) uint8, contiguous).

    Returns a device array: parity (b, n, 32), or with ``interleaved`` the extended records in
    s-bucket order (b, 2n, 32) (§6.3 ``ext``: source at even s, parity at odd s).  ``out`` and
    ``work`` ((b, 4, n) uint64 scratch) may be passed to reuse device memory.  With ``check`` the
    canonical flags are read back (one small copy, synchronises) and a non-canonical source raises
    FarmkitError; without it the call only enqueues work.
    """
    out, bad = _extend_enqueue(ctx, src_dev, b, n, interleaved, out, work)
    if check:
        _raise_if_bad(ctx, bad)
    return out


def _as_batch(values, what: str) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] != SCALAR_BYTES:
        raise FarmkitError(f"{what}: expected uint8 array of shape (b, n, 32), got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def extend_batch(sources, backend: str | None = None, *, max_batch: int = DEFAULT_MAX_BATCH,
                 interleaved: bool = False) -> np.ndarray:
    """Parity of many sources on the GPU: (b, n, 32) → (b, n, 32), identical to
    ``erasure.extend_batch``; with ``interleaved`` the (b, 2n, 32) s-bucket order instead."""
    src = _as_batch(sources, "extend_batch")
    b, n = src.shape[0], src.shape[1]
    _erasure._check_source_len(n)
    ctx = gpu_context(_gpu_backend(backend))
    rows = 2 * n if interleaved else n
    out = np.empty((b, rows, SCALAR_BYTES), np.uint8)
    step = max(1, int(max_batch))
    work = ctx.empty((min(b, step), 4, n), np.uint64) if b else None
    for s in range(0, b, step):
        e = min(b, s + step)
        d_out, bad = _extend_enqueue(ctx, ctx.to_device(src[s:e]), e - s, n, interleaved, None, work)
        _raise_if_bad(ctx, bad, s)
        out[s:e] = ctx.to_host(d_out)
    return out


def extend(source, backend: str | None = None) -> np.ndarray:
    """§7 ``extend`` of one source (n, 32) on the GPU."""
    a = np.asarray(source)
    if a.ndim != 2:
        raise FarmkitError(f"extend: expected shape (n, 32), got {a.shape}")
    return extend_batch(a[None], backend)[0]


def fft_batch(values, backend: str | None = None, inverse: bool = False) -> np.ndarray:
    """Natural-order FFT (IFFT with ``inverse``, including 1/n) of each row of (b, n, 32) ScalarBytes
    on the GPU, identical to ``fft.fft`` / ``fft.ifft`` (§5)."""
    src = _as_batch(values, "fft_batch")
    b, n = src.shape[0], src.shape[1]
    _fft.check_size(n)
    ctx = gpu_context(_gpu_backend(backend))
    if b == 0:
        return src.copy()
    pl = plan(ctx, n)
    d_src = ctx.to_device(src)
    d_out = ctx.empty((b, n, SCALAR_BYTES), np.uint8)
    work = ctx.empty((b, 4, n), np.uint64)
    bad = ctx.zeros(b, np.uint32)
    with _LAUNCH_LOCK:
        pl.run_transform(d_src, work, bad, d_out, b, inverse)
    flags = ctx.to_host(bad)
    if flags.any():
        raise FarmkitError(f"fft: invalid scalar (>= modulus) in row {int(np.argmax(flags))}")
    return ctx.to_host(d_out)


# --- record encoding on the device (sector-audit-prove.md §6.3) -------------------------------------
def mask_and_fill_device(ctx: GpuContext, ext_dev, s_buckets_dev, masks_dev, counts_dev, b: int, *,
                         chunks=None, present=None, bitfield=None):
    """§6.3 masking + fill for b records, all on the device.

    ``ext_dev`` (b, 2^16, 32) uint8 extended records in s-bucket order (``extend_batch_device(...,
    interleaved=True)``); ``s_buckets_dev`` (b, 2^15) uint32, ascending s-buckets with a proof,
    the first ``counts_dev[r]`` (uint32; values above 2^15 count as 2^15, so ``pos_gpu``'s per-record
    totals can be passed as they are) valid; ``masks_dev`` (b, 2^15, 32) uint8 = BLAKE3(proof) for
    them (the layout of ``pos_gpu``'s masks).  Returns device arrays ``(chunks (b, 2^15, 32),
    present (b, 2^16) uint8, bitfield (b, 8192) uint8)``: the stored chunks in ascending s, which
    s-buckets hold one, and the encoded-chunk bits (Lsb0, §6.4).  Encoded = has a proof and the
    masked chunk is not all zero; the lowest s-buckets without an encoded chunk fill up to 2^15.
    Only the proofs handed in are considered (upstream would look past an all-zero masked chunk
    for a 2^15+1-th proof: probability 2^-256).
    """
    prog = program(ctx)
    if chunks is None:
        chunks = ctx.empty((b, RECORD_CHUNKS, SCALAR_BYTES), np.uint8)
    if present is None:
        present = ctx.empty((b, RECORD_S_BUCKETS), np.uint8)
    if bitfield is None:
        bitfield = ctx.empty((b, BITFIELD_BYTES), np.uint8)
    if b == 0:
        return chunks, present, bitfield
    entry = ctx.zeros((b, RECORD_S_BUCKETS), np.uint32)
    block_pre = ctx.empty((b, RECORD_S_BUCKETS // 256), np.uint32)
    n_enc = ctx.empty(b, np.uint32)
    with _LAUNCH_LOCK:
        prog.launch("mark_encoded", b * RECORD_CHUNKS, WG, ext_dev, s_buckets_dev, masks_dev, counts_dev, entry,
                    np.uint32(b))
        prog.launch("count_encoded", b * 256, 256, entry, block_pre, n_enc)
        prog.launch("place_chunks", b * RECORD_S_BUCKETS, 256, ext_dev, masks_dev, entry, block_pre, n_enc,
                    chunks, present, bitfield)
    return chunks, present, bitfield


def _proof_arrays(found, b: int):
    """Per-record (s_buckets, masks) lists → padded (b, 2^15) u32, (b, 2^15, 32) u8, counts (b,)."""
    if len(found) != b:
        raise FarmkitError(f"expected {b} proof lists, got {len(found)}")
    sb = np.zeros((b, RECORD_CHUNKS), np.uint32)
    masks = np.zeros((b, RECORD_CHUNKS, SCALAR_BYTES), np.uint8)
    counts = np.zeros(b, np.uint32)
    for r, (s, m) in enumerate(found):
        s = np.asarray(s, dtype=np.int64)
        k = len(s)
        if k > RECORD_CHUNKS or (k and (np.any(np.diff(s) <= 0) or s[0] < 0 or s[-1] >= RECORD_S_BUCKETS)):
            raise FarmkitError(f"record {r}: s-buckets must be ascending, unique, < 2^16, at most 2^15")
        sb[r, :k] = s
        masks[r, :k] = np.asarray(m, dtype=np.uint8).reshape(k, SCALAR_BYTES)
        counts[r] = k
    return sb, masks, counts


def mask_and_fill(ext, found, backend: str | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Host wrapper of :func:`mask_and_fill_device` (tests, small jobs).

    ``ext`` (b, 2^16, 32) uint8; ``found[r] = (s_buckets, masks)`` per record (ascending s-buckets,
    at most 2^15, masks = BLAKE3(proof) (n, 32), as ``pos_gpu.encoding_masks_batch`` returns).
    Returns per record ``(bitfield uint8[8192], present uint8[65536], chunks uint8[32768, 32])``.
    """
    ext = np.ascontiguousarray(ext, dtype=np.uint8)
    b = ext.shape[0]
    if ext.ndim != 3 or ext.shape[1:] != (RECORD_S_BUCKETS, SCALAR_BYTES):
        raise FarmkitError(f"mask_and_fill: expected ext of shape (b, {RECORD_S_BUCKETS}, 32), got {ext.shape}")
    ctx = gpu_context(_gpu_backend(backend))
    d = [ctx.to_device(ext)] + [ctx.to_device(x) for x in _proof_arrays(found, b)]
    chunks, present, bitfield = mask_and_fill_device(ctx, *d, b)
    chunks, present, bitfield = ctx.to_host(chunks), ctx.to_host(present), ctx.to_host(bitfield)
    return [(bitfield[r], present[r], chunks[r]) for r in range(b)]


def encode_records_device(ctx: GpuContext, src_dev, s_buckets_dev, masks_dev, counts_dev, b: int, *,
                          ext=None, work=None, check: bool = True):
    """§6.3 for b records without leaving the device: ext = interleave(source, extend(source)),
    then :func:`mask_and_fill_device`.  ``src_dev`` (b, 2^15, 32) uint8.  Returns
    ``(chunks, present, bitfield, ext)`` device arrays."""
    ext, bad = _extend_enqueue(ctx, src_dev, b, RECORD_CHUNKS, True, ext, work)
    chunks, present, bitfield = mask_and_fill_device(ctx, ext, s_buckets_dev, masks_dev, counts_dev, b)
    if check:
        _raise_if_bad(ctx, bad)
    return chunks, present, bitfield, ext


def encode_records(sources, found, backend: str | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Host wrapper of :func:`encode_records_device`: sources (b, 2^15, 32) and per record
    ``(s_buckets, masks)`` (``pos_gpu.encoding_masks_batch``) → per record
    ``(bitfield uint8[8192], present uint8[65536], chunks uint8[32768, 32])``."""
    src = _as_batch(sources, "encode_records")
    if src.shape[1] != RECORD_CHUNKS:
        raise FarmkitError(f"encode_records: a record has {RECORD_CHUNKS} chunks, got {src.shape[1]}")
    ctx = gpu_context(_gpu_backend(backend))
    b = src.shape[0]
    d = [ctx.to_device(x) for x in _proof_arrays(found, b)]
    chunks, present, bitfield, _ = encode_records_device(ctx, ctx.to_device(src), *d, b)
    chunks, present, bitfield = ctx.to_host(chunks), ctx.to_host(present), ctx.to_host(bitfield)
    return [(bitfield[r], present[r], chunks[r]) for r in range(b)]
