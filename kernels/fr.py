"""BLS12-381 scalar field Fr (kzg-erasure-archiving.md §1-2).

Wire form ("ScalarBytes", §2): 32 bytes, big-endian, canonical (value < r, never reduced).
At the public boundary scalars are numpy ``uint8`` arrays of shape ``(..., 32)``.

Internal form (fast paths): numpy ``uint64`` arrays of shape ``(..., 4)``: the Montgomery form
``x·2^256 mod r`` as four little-endian 64-bit limbs.  Kernels multiply with the CIOS Montgomery
product; the 64x64->128-bit limb product is a numba intrinsic emitting LLVM ``mul i128``.

A readable reference path on Python ints (``ref_*``) sits beside the fast path; tests compare them.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from farmkit.errors import FarmkitError

# --- constants (§1) -------------------------------------------------------------------------------
MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
SCALAR_BYTES = 32  # ScalarBytes::FULL_BYTES
SAFE_BYTES = 31  # ScalarBytes::SAFE_BYTES
LIMBS = 4

_MASK64 = (1 << 64) - 1
_R = (1 << 256) % MODULUS  # Montgomery radix mod r (= Montgomery form of 1)
_R2 = (1 << 512) % MODULUS
_INV = (-pow(MODULUS, -1, 1 << 64)) % (1 << 64)  # -r^-1 mod 2^64


def _limbs(x: int) -> tuple[int, int, int, int]:
    return tuple((x >> (64 * k)) & _MASK64 for k in range(LIMBS))  # type: ignore[return-value]


P0, P1, P2, P3 = (np.uint64(v) for v in _limbs(MODULUS))
R2_0, R2_1, R2_2, R2_3 = (np.uint64(v) for v in _limbs(_R2))
ONE_0, ONE_1, ONE_2, ONE_3 = (np.uint64(v) for v in _limbs(_R))
INV = np.uint64(_INV)
U0 = np.uint64(0)
U1 = np.uint64(1)


# --- pure-Python reference path ------------------------------------------------------------------
def ref_add(a: int, b: int) -> int:
    return (a + b) % MODULUS


def ref_sub(a: int, b: int) -> int:
    return (a - b) % MODULUS


def ref_mul(a: int, b: int) -> int:
    return (a * b) % MODULUS


def ref_inverse(a: int) -> int:
    if a % MODULUS == 0:
        raise FarmkitError("Fr: inverse of zero")
    return pow(a, MODULUS - 2, MODULUS)


def ints_from_bytes(arr) -> list[int]:
    """ScalarBytes → ints (§2: big-endian, rejects values ≥ r, no reduction)."""
    a = np.ascontiguousarray(arr, dtype=np.uint8).reshape(-1, SCALAR_BYTES)
    out = [int.from_bytes(row.tobytes(), "big") for row in a]
    for i, v in enumerate(out):
        if v >= MODULUS:
            raise FarmkitError(f"invalid scalar at index {i}: value >= BLS12-381 modulus")
    return out


def ints_to_bytes(values) -> np.ndarray:
    """ints → ScalarBytes, shape (n, 32)."""
    buf = b"".join((int(v) % MODULUS).to_bytes(SCALAR_BYTES, "big") for v in values)
    return np.frombuffer(buf, dtype=np.uint8).reshape(-1, SCALAR_BYTES).copy()


# --- 128-bit limb arithmetic (LLVM i128 intrinsics) --------------------------------------------
_U64x2 = types.UniTuple(types.uint64, 2)


def _i128_op(n_args: int, op, hi_shift: int = 64):
    """An intrinsic over ``n_args`` u64 values: zero-extend to i128, ``op(builder, *xs)``, return
    ``(s >> hi_shift, s mod 2^64)`` as two u64."""

    def typer(typingctx, *args):
        sig = _U64x2(*([types.uint64] * n_args))

        def codegen(context, builder, signature, values):
            i128 = ir.IntType(128)
            s = op(builder, *(builder.zext(v, i128) for v in values))
            lo = builder.trunc(s, ir.IntType(64))
            hi = builder.trunc(builder.lshr(s, ir.Constant(i128, hi_shift)), ir.IntType(64))
            return context.make_tuple(builder, signature.return_type, (hi, lo))

        return sig, codegen

    return typer


@intrinsic
def mac(typingctx, a, b, c, d):
    """(hi, lo) of a + b·c + d computed in 128 bits (never overflows)."""
    return _i128_op(4, lambda bd, x, y, z, w: bd.add(bd.add(bd.mul(y, z), x), w))(typingctx, a, b, c, d)


@intrinsic
def adc(typingctx, a, b, carry):
    """(carry_out, sum) of a + b + carry."""
    return _i128_op(3, lambda bd, x, y, c: bd.add(bd.add(x, y), c))(typingctx, a, b, carry)


@intrinsic
def sbb(typingctx, a, b, borrow):
    """(borrow_out ∈ {0,1}, difference) of a − b − borrow (the borrow is bit 127 of the i128)."""
    return _i128_op(3, lambda bd, x, y, c: bd.sub(bd.sub(x, y), c), hi_shift=127)(typingctx, a, b, borrow)


# --- element kernels on 4-tuples (Montgomery form) --------------------------------------------
@njit(inline="always", cache=True)
def _select(mask, x, y):
    """x where mask is all ones, y where it is zero (branch-free)."""
    return y ^ ((x ^ y) & mask)


@njit(inline="always", cache=True)
def _reduce_once(t0, t1, t2, t3):
    """t − r if t ≥ r (t < 2r), branch-free."""
    b, d0 = sbb(t0, P0, U0)
    b, d1 = sbb(t1, P1, b)
    b, d2 = sbb(t2, P2, b)
    b, d3 = sbb(t3, P3, b)
    keep = U0 - b  # all ones when t < r
    return (_select(keep, t0, d0), _select(keep, t1, d1), _select(keep, t2, d2), _select(keep, t3, d3))


@njit(inline="always", cache=True)
def fr_add(a, b):
    c, s0 = adc(a[0], b[0], U0)
    c, s1 = adc(a[1], b[1], c)
    c, s2 = adc(a[2], b[2], c)
    c, s3 = adc(a[3], b[3], c)  # no carry out: a, b < r < 2^255
    return _reduce_once(s0, s1, s2, s3)


@njit(inline="always", cache=True)
def fr_sub(a, b):
    br, d0 = sbb(a[0], b[0], U0)
    br, d1 = sbb(a[1], b[1], br)
    br, d2 = sbb(a[2], b[2], br)
    br, d3 = sbb(a[3], b[3], br)
    mask = U0 - br  # add r back when the subtraction borrowed
    c, d0 = adc(d0, P0 & mask, U0)
    c, d1 = adc(d1, P1 & mask, c)
    c, d2 = adc(d2, P2 & mask, c)
    c, d3 = adc(d3, P3 & mask, c)
    return (d0, d1, d2, d3)


@njit(inline="always", cache=True)
def fr_neg(a):
    return fr_sub((U0, U0, U0, U0), a)


@njit(inline="always", cache=True)
def _mont_round(t0, t1, t2, t3, a0, a1, a2, a3, bi):
    """One CIOS round: t = (t + a·bi + m·r) / 2^64 with m = −(t + a·bi)·r⁻¹ mod 2^64."""
    A, t0 = mac(t0, a0, bi, U0)
    m = t0 * INV
    C, _ = mac(t0, m, P0, U0)
    A, t1 = mac(t1, a1, bi, A)
    C, t0 = mac(t1, m, P1, C)
    A, t2 = mac(t2, a2, bi, A)
    C, t1 = mac(t2, m, P2, C)
    A, t3 = mac(t3, a3, bi, A)
    C, t2 = mac(t3, m, P3, C)
    return t0, t1, t2, C + A


@njit(inline="always", cache=True)
def fr_mul(a, b):
    """Montgomery product a·b·2^-256 mod r (CIOS; r's top limb < 2^62 so no extra carry word)."""
    a0, a1, a2, a3 = a
    t0, t1, t2, t3 = _mont_round(U0, U0, U0, U0, a0, a1, a2, a3, b[0])
    t0, t1, t2, t3 = _mont_round(t0, t1, t2, t3, a0, a1, a2, a3, b[1])
    t0, t1, t2, t3 = _mont_round(t0, t1, t2, t3, a0, a1, a2, a3, b[2])
    t0, t1, t2, t3 = _mont_round(t0, t1, t2, t3, a0, a1, a2, a3, b[3])
    return _reduce_once(t0, t1, t2, t3)


@njit(inline="always", cache=True)
def fr_sqr(a):
    return fr_mul(a, a)


@njit(inline="always", cache=True)
def fr_one():
    return (ONE_0, ONE_1, ONE_2, ONE_3)


@njit(inline="always", cache=True)
def fr_is_zero(a):
    return (a[0] | a[1] | a[2] | a[3]) == U0


@njit(inline="always", cache=True)
def fr_load(arr, i):
    return (arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3])


@njit(inline="always", cache=True)
def fr_store(arr, i, v):
    arr[i, 0] = v[0]
    arr[i, 1] = v[1]
    arr[i, 2] = v[2]
    arr[i, 3] = v[3]


@njit(cache=True)
def fr_pow(a, e0, e1, e2, e3):
    """a^e for a 256-bit exponent given as 4 little-endian u64 limbs (square-and-multiply)."""
    acc = fr_one()
    e = (e0, e1, e2, e3)
    for k in range(3, -1, -1):
        w = e[k]
        for bit in range(63, -1, -1):
            acc = fr_mul(acc, acc)
            if (w >> np.uint64(bit)) & U1:
                acc = fr_mul(acc, a)
    return acc


_RM2 = _limbs(MODULUS - 2)
E0, E1, E2, E3 = (np.uint64(v) for v in _RM2)


@njit(cache=True)
def fr_inv(a):
    """a^(r−2) (Fermat); the inverse of 0 is 0 here (callers check)."""
    return fr_pow(a, E0, E1, E2, E3)


# --- byte conversion kernels ------------------------------------------------------------------
@njit(cache=True)
def _load_be_word(row, base):
    v = U0
    for j in range(8):
        v = (v << np.uint64(8)) | np.uint64(row[base + j])
    return v


@njit(cache=True)
def fr_from_be32(row):
    """One ScalarBytes (1-D, 32 bytes) → (Montgomery 4-tuple, canonical flag)."""
    x = (_load_be_word(row, 24), _load_be_word(row, 16), _load_be_word(row, 8), _load_be_word(row, 0))
    br, _ = sbb(x[0], P0, U0)
    br, _ = sbb(x[1], P1, br)
    br, _ = sbb(x[2], P2, br)
    br, _ = sbb(x[3], P3, br)
    return fr_mul(x, (R2_0, R2_1, R2_2, R2_3)), br != U0


@njit(cache=True)
def fr_raw_from_be32(row):
    """One ScalarBytes → (its plain limbs, canonical flag), no Montgomery conversion.

    For a linear map L with Montgomery-form constants, feeding plain limbs (read as the Montgomery
    form of x·2^-256) and storing the result's limbs as plain gives exactly L(x): the factor 2^-256
    cancels.  Byte-to-byte linear kernels (erasure extension) use this to skip two conversions.
    """
    x = (_load_be_word(row, 24), _load_be_word(row, 16), _load_be_word(row, 8), _load_be_word(row, 0))
    br, _ = sbb(x[0], P0, U0)
    br, _ = sbb(x[1], P1, br)
    br, _ = sbb(x[2], P2, br)
    br, _ = sbb(x[3], P3, br)
    return x, br != U0


@njit(cache=True)
def fr_raw_to_be32(y, row):
    """Plain limbs → big-endian bytes (the inverse of ``fr_raw_from_be32``)."""
    for k in range(4):
        v = y[k]
        base = 32 - 8 * (k + 1)
        for j in range(7, -1, -1):
            row[base + j] = np.uint8(v & np.uint64(0xFF))
            v = v >> np.uint64(8)


@njit(cache=True)
def fr_to_be32(x, row):
    """Montgomery 4-tuple → canonical big-endian bytes written into row (1-D, 32 bytes)."""
    y = fr_mul(x, (U1, U0, U0, U0))
    for k in range(4):
        v = y[k]
        base = 32 - 8 * (k + 1)
        for j in range(7, -1, -1):
            row[base + j] = np.uint8(v & np.uint64(0xFF))
            v = v >> np.uint64(8)


@njit(cache=True, nogil=True, parallel=True)
def _from_bytes_kernel(b, out, bad):
    """ScalarBytes (m, 32) → Montgomery (m, 4); bad[i] = 1 where the value is ≥ r."""
    for i in prange(b.shape[0]):
        x, ok = fr_from_be32(b[i])
        bad[i] = np.uint8(0) if ok else np.uint8(1)
        fr_store(out, i, x)


@njit(cache=True, nogil=True, parallel=True)
def _to_bytes_kernel(a, out):
    for i in prange(a.shape[0]):
        fr_to_be32(fr_load(a, i), out[i])


@njit(cache=True, nogil=True, parallel=True)
def _raw_from_bytes_kernel(b, out, bad):
    for i in prange(b.shape[0]):
        x, ok = fr_raw_from_be32(b[i])
        bad[i] = np.uint8(0) if ok else np.uint8(1)
        fr_store(out, i, x)


@njit(cache=True, nogil=True, parallel=True)
def _raw_to_bytes_kernel(a, out):
    for i in prange(a.shape[0]):
        fr_raw_to_be32(fr_load(a, i), out[i])


def raw_from_bytes(arr) -> np.ndarray:
    """ScalarBytes (..., 32) → plain limbs (..., 4), canonical check, no Montgomery conversion.

    Only for linear maps (FFT, extension, recovery): see ``fr_raw_from_be32``.
    """
    a = np.asarray(arr, dtype=np.uint8)
    if a.shape[-1:] != (SCALAR_BYTES,):
        raise FarmkitError(f"scalars must have a trailing dimension of 32 bytes, got shape {a.shape}")
    flat = np.ascontiguousarray(a.reshape(-1, SCALAR_BYTES))
    out = np.empty((flat.shape[0], LIMBS), dtype=np.uint64)
    if flat.shape[0]:
        bad = np.empty(flat.shape[0], dtype=np.uint8)
        _raw_from_bytes_kernel(flat, out, bad)
        if bad.any():
            i = int(np.argmax(bad))
            raise FarmkitError(f"invalid scalar at index {i}: value >= BLS12-381 modulus")
    return out.reshape(a.shape[:-1] + (LIMBS,))


def raw_to_bytes(x) -> np.ndarray:
    """Plain limbs (..., 4) → ScalarBytes (..., 32) (inverse of ``raw_from_bytes``)."""
    a = np.asarray(x, dtype=np.uint64)
    flat = np.ascontiguousarray(a.reshape(-1, LIMBS))
    out = np.empty((flat.shape[0], SCALAR_BYTES), dtype=np.uint8)
    if flat.shape[0]:
        _raw_to_bytes_kernel(flat, out)
    return out.reshape(a.shape[:-1] + (SCALAR_BYTES,))


def scalars_from_bytes(arr) -> np.ndarray:
    """ScalarBytes (..., 32) uint8 → internal Montgomery (..., 4) uint64 (§2 `Scalar::try_from`).

    Raises FarmkitError on a non-canonical value (≥ r): upstream rejects, never reduces.
    """
    a = np.asarray(arr, dtype=np.uint8)
    if a.shape[-1:] != (SCALAR_BYTES,):
        raise FarmkitError(f"scalars must have a trailing dimension of 32 bytes, got shape {a.shape}")
    lead = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, SCALAR_BYTES))
    out = np.empty((flat.shape[0], LIMBS), dtype=np.uint64)
    if flat.shape[0]:
        bad = np.empty(flat.shape[0], dtype=np.uint8)
        _from_bytes_kernel(flat, out, bad)
        if bad.any():
            i = int(np.argmax(bad))
            raise FarmkitError(f"invalid scalar at index {i}: value >= BLS12-381 modulus")
    return out.reshape(lead + (LIMBS,))


def scalars_to_bytes(x) -> np.ndarray:
    """Internal Montgomery (..., 4) → ScalarBytes (..., 32) uint8, canonical big-endian."""
    a = np.asarray(x, dtype=np.uint64)
    lead = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, LIMBS))
    out = np.empty((flat.shape[0], SCALAR_BYTES), dtype=np.uint8)
    if flat.shape[0]:
        _to_bytes_kernel(flat, out)
    return out.reshape(lead + (SCALAR_BYTES,))


def scalars_from_ints(values) -> np.ndarray:
    """Python ints (reduced mod r) → internal form (m, 4)."""
    return scalars_from_bytes(ints_to_bytes(values))


def scalars_to_ints(x) -> list[int]:
    return ints_from_bytes(scalars_to_bytes(x))


def is_canonical(arr) -> np.ndarray:
    """bool per scalar: value < r (§2)."""
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.uint8).reshape(-1, SCALAR_BYTES))
    words = a.view(">u8").astype(np.uint64)  # (m, 4) most significant first
    p = np.array([P3, P2, P1, P0], dtype=np.uint64)
    lt = np.zeros(len(a), dtype=bool)
    eq = np.ones(len(a), dtype=bool)
    for k in range(4):
        lt |= eq & (words[:, k] < p[k])
        eq &= words[:, k] == p[k]
    return lt


# --- vectorized operations (internal form) -------------------------------------------------------
@njit(cache=True, nogil=True)
def _binop_serial(a, b, out, op, lo, hi):
    for i in range(lo, hi):
        x = fr_load(a, i)
        y = fr_load(b, i)
        if op == 0:
            fr_store(out, i, fr_add(x, y))
        elif op == 1:
            fr_store(out, i, fr_sub(x, y))
        else:
            fr_store(out, i, fr_mul(x, y))


PARALLEL_MIN = 4096  # below this many elements a parallel launch costs more than it saves
_CHUNK = 1024


@njit(cache=True, nogil=True, parallel=True)
def _binop_parallel(a, b, out, op):
    m = a.shape[0]
    for c in prange((m + _CHUNK - 1) // _CHUNK):
        _binop_serial(a, b, out, op, c * _CHUNK, min(m, (c + 1) * _CHUNK))


@njit(cache=True, nogil=True)
def _batch_inverse_kernel(a, out):
    """Montgomery's trick: one inversion for the whole batch. Zero maps to zero."""
    n = a.shape[0]
    acc = fr_one()
    for i in range(n):
        x = fr_load(a, i)
        fr_store(out, i, acc)  # prefix product of non-zero elements before i
        if not fr_is_zero(x):
            acc = fr_mul(acc, x)
    inv = fr_inv(acc)
    for i in range(n - 1, -1, -1):
        x = fr_load(a, i)
        if fr_is_zero(x):
            fr_store(out, i, (U0, U0, U0, U0))
            continue
        fr_store(out, i, fr_mul(inv, fr_load(out, i)))
        inv = fr_mul(inv, x)


def _binop(a, b, op: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    a, b = np.broadcast_arrays(a, b)
    shape = a.shape
    fa = np.ascontiguousarray(a.reshape(-1, LIMBS))
    fb = np.ascontiguousarray(b.reshape(-1, LIMBS))
    out = np.empty_like(fa)
    if len(fa) < PARALLEL_MIN:
        _binop_serial(fa, fb, out, op, 0, len(fa))
    else:
        _binop_parallel(fa, fb, out, op)
    return out.reshape(shape)


def add(a, b) -> np.ndarray:
    """Element-wise a + b (internal form)."""
    return _binop(a, b, 0)


def sub(a, b) -> np.ndarray:
    """Element-wise a − b (internal form)."""
    return _binop(a, b, 1)


def mul(a, b) -> np.ndarray:
    """Element-wise a · b (internal form)."""
    return _binop(a, b, 2)


def inverse(a) -> np.ndarray:
    """Element-wise inverse (internal form); raises FarmkitError if any element is zero."""
    a = np.asarray(a, dtype=np.uint64)
    flat = np.ascontiguousarray(a.reshape(-1, LIMBS))
    if np.any(~flat.any(axis=1)):
        raise FarmkitError("Fr: inverse of zero")
    out = np.empty_like(flat)
    _batch_inverse_kernel(flat, out)
    return out.reshape(a.shape)


def from_int(v: int) -> np.ndarray:
    """One Python int → internal form, shape (4,)."""
    return scalars_from_ints([v % MODULUS])[0]


def to_int(x) -> int:
    return scalars_to_ints(np.asarray(x).reshape(1, LIMBS))[0]
