"""Erasure coding at rate 1/2 over BLS12-381 Fr (kzg-erasure-archiving.md §7, ``subspace-erasure-coding``).

Source values s[0..n) are the evaluations of the unique polynomial p (degree < n) on ⟨ω_n⟩; parity
value i is p(ω_{2n}^(2i+1)).  Interleaved, [s0, p0, s1, p1, …] are the evaluations of p on ⟨ω_{2n}⟩
in natural order (even index = source, odd = parity).  Upstream uses ErasureCoding scale 16, so
2n ≤ 65,536.

Scalars at the boundary are ScalarBytes: numpy uint8 arrays (..., 32), canonical big-endian.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange

from farmkit.errors import FarmkitError
from farmkit.kernels import fft as _fft
from farmkit.kernels import fr
from farmkit.kernels.fft import fft_inplace
from farmkit.kernels.fr import (
    MODULUS,
    fr_from_be32,
    fr_load,
    fr_mul,
    fr_raw_from_be32,
    fr_raw_to_be32,
    fr_store,
)

ERASURE_SCALE = 16  # ErasureCoding::new(scale 16): node, farmer and tests (§1)
MAX_SHARDS = 2**ERASURE_SCALE
RECOVERY_SHIFT_FACTOR = 5  # rust-kzg recover: coefficient k scaled by 5^-k (§7 step 3)


def _check_source_len(n: int) -> None:
    if n < 1 or n & (n - 1) or 2 * n > MAX_SHARDS:
        raise FarmkitError(f"erasure coding: source length must be a power of two with 2n <= {MAX_SHARDS}, got {n}")


def _as_scalar_bytes(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.uint8 or arr.ndim < 2 or arr.shape[-1] != fr.SCALAR_BYTES:
        raise FarmkitError(f"{what}: expected uint8 scalars of shape (..., 32), got {arr.dtype} {arr.shape}")
    return arr


# --- reference path (pure Python ints) ---------------------------------------------------------
def ref_extend(source: list[int]) -> list[int]:
    """§7 extend: parity[i] = p(ω_{2n}^(2i+1)), via c = IFFT_n(s); parity = FFT_n(c_k·ω_{2n}^k)."""
    n = len(source)
    _check_source_len(n)
    c = _fft.ref_ifft(source)
    w = _fft.root_of_unity(2 * n)
    twisted = [ck * pow(w, k, MODULUS) % MODULUS for k, ck in enumerate(c)]
    return _fft.ref_fft(twisted)


def ref_zero_poly(missing: list[int], n: int) -> list[int]:
    """Z(X) = Π_{i missing} (X − ω_n^i), as n coefficients (zero-padded)."""
    w = _fft.root_of_unity(n)
    z = [1]
    for i in missing:
        root = pow(w, i, MODULUS)
        nz = [0] * (len(z) + 1)
        for k, c in enumerate(z):
            nz[k + 1] = (nz[k + 1] + c) % MODULUS
            nz[k] = (nz[k] - c * root) % MODULUS
        z = nz
    return z + [0] * (n - len(z))


def ref_recover_coefficients(shards: list[int | None]) -> list[int]:
    """rust-kzg ``recover_poly_coeffs_from_samples`` math (§7 steps 1-5), Python ints."""
    n = len(shards)
    if n < 1 or n & (n - 1) or n > MAX_SHARDS:
        raise FarmkitError(f"erasure recovery: shard count must be a power of two <= {MAX_SHARDS}, got {n}")
    missing = [i for i, s in enumerate(shards) if s is None]
    if len(missing) > n // 2:
        raise FarmkitError(f"erasure recovery: {n - len(missing)} of {n} shards present, need at least {n // 2}")
    if not missing:
        return _fft.ref_ifft([int(s) for s in shards])
    z = ref_zero_poly(missing, n)
    z_eval = _fft.ref_fft(z)
    ez = [0 if s is None else int(s) * z_eval[i] % MODULUS for i, s in enumerate(shards)]
    pwz = _fft.ref_ifft(ez)
    inv5 = pow(RECOVERY_SHIFT_FACTOR, MODULUS - 2, MODULUS)
    shift = [pow(inv5, k, MODULUS) for k in range(n)]
    a = _fft.ref_fft([c * s % MODULUS for c, s in zip(pwz, shift)])
    b = _fft.ref_fft([c * s % MODULUS for c, s in zip(z, shift)])
    q = [x * pow(y, MODULUS - 2, MODULUS) % MODULUS for x, y in zip(a, b)]
    coeffs = _fft.ref_ifft(q)
    return [c * pow(RECOVERY_SHIFT_FACTOR, k, MODULUS) % MODULUS for k, c in enumerate(coeffs)]


def ref_recover(shards: list[int | None]) -> list[int]:
    """§7 recover: all N values of the recovered polynomial on ⟨ω_N⟩."""
    return _fft.ref_fft(ref_recover_coefficients(shards))


# --- fast path: extension -----------------------------------------------------------------------
@lru_cache(maxsize=None)
def _extension_twist(n: int) -> np.ndarray:
    """[ω_{2n}^k / n] for k < n: folds the IFFT's 1/n into the coset shift (internal form)."""
    w = _fft.root_of_unity(2 * n)
    ninv = pow(n, MODULUS - 2, MODULUS)
    vals = [0] * n
    acc = ninv
    for k in range(n):
        vals[k] = acc
        acc = acc * w % MODULUS
    t = fr.scalars_from_ints(vals)
    t.setflags(write=False)
    return t


@njit(cache=True, nogil=True)
def _extend_one(x, tw, tw_inv, rev, twist):
    """In place: x (n, 4) source values → parity values (IFFT, coset twist, FFT)."""
    fft_inplace(x, tw_inv, rev)
    for k in range(x.shape[0]):
        fr_store(x, k, fr_mul(fr_load(x, k), fr_load(twist, k)))
    fft_inplace(x, tw, rev)


@njit(cache=True, nogil=True, parallel=True)
def _extend_rows_bytes(src, out, bad, tw, tw_inv, rev, twist):
    """src (b, n, 32) bytes → parity (b, n, 32) bytes; bad[b] = 1 if a source scalar is ≥ r. Any
    strides (``extend_records`` passes transposed views: one row per chunk offset)."""
    nb, n = src.shape[0], src.shape[1]
    for b in prange(nb):
        x = np.empty((n, 4), dtype=np.uint64)
        flag = 0
        for k in range(n):
            v, ok = fr_raw_from_be32(src[b, k])  # linear map: no Montgomery conversion needed
            if not ok:
                flag = 1
            fr_store(x, k, v)
        bad[b] = flag
        _extend_one(x, tw, tw_inv, rev, twist)
        for k in range(n):
            fr_raw_to_be32(fr_load(x, k), out[b, k])


def _extend_single_parallel(src: np.ndarray) -> np.ndarray:
    """One large extension (e.g. a record, 2^15 → 2^16) with each FFT spread over the cores."""
    n = src.shape[0]
    tw, tw_inv, rev, twist = _tables(n)
    try:
        x = fr.raw_from_bytes(src)  # linear map: plain limbs in, plain limbs out
    except FarmkitError as e:
        raise FarmkitError(f"extend: {e}") from None
    unit = _fft._n_inverse(n)
    _fft._fft_single_parallel(x, tw_inv, rev, unit, False)
    x = fr.mul(x, twist)
    _fft._fft_single_parallel(x, tw, rev, unit, False)
    return fr.raw_to_bytes(x)


def _tables(n: int):
    return _fft.twiddles(n), _fft.twiddles(n, True), _fft.bit_reverse_permutation(n), _extension_twist(n)


def extend_batch(sources) -> np.ndarray:
    """Parity of many independent sources: (b, n, 32) → (b, n, 32) (§7 ``extend`` per row)."""
    src = np.ascontiguousarray(_as_scalar_bytes(sources, "extend"))
    if src.ndim != 3:
        raise FarmkitError(f"extend_batch: expected shape (b, n, 32), got {src.shape}")
    _check_source_len(src.shape[1])
    if src.shape[0] == 1 and src.shape[1] >= _fft.PARALLEL_SINGLE_MIN:
        return _extend_single_parallel(src[0])[None]
    out = np.empty_like(src)
    bad = np.zeros(src.shape[0], dtype=np.int64)
    if src.shape[0]:
        _extend_rows_bytes(src, out, bad, *_tables(src.shape[1]))
    if bad.any():
        raise FarmkitError(f"extend: invalid scalar (>= modulus) in source {int(np.argmax(bad))}")
    return out


def extend(source) -> np.ndarray:
    """§7 ``ErasureCoding::extend``: source (n, 32) → parity (n, 32), parity i = p(ω_{2n}^(2i+1))."""
    src = _as_scalar_bytes(source, "extend")
    if src.ndim != 2:
        raise FarmkitError(f"extend: expected shape (n, 32), got {src.shape}")
    return extend_batch(src[None])[0]


def extend_records(records) -> np.ndarray:
    """Segment erasure coding (§9.4 step 2): records (n, m, 32) → parity records (n, m, 32).

    Column o (chunk offset o across the n source records) is extended independently; parity record i
    goes to segment position 2i+1, source record r to position 2r.
    """
    src = np.ascontiguousarray(_as_scalar_bytes(records, "extend_records"))
    if src.ndim != 3:
        raise FarmkitError(f"extend_records: expected shape (n_records, chunks, 32), got {src.shape}")
    _check_source_len(src.shape[0])
    out = np.empty_like(src)
    bad = np.zeros(src.shape[1], dtype=np.int64)
    if src.shape[1]:
        # column o across the records is a row of the transposed view (no copy)
        _extend_rows_bytes(src.transpose(1, 0, 2), out.transpose(1, 0, 2), bad, *_tables(src.shape[0]))
    if bad.any():
        raise FarmkitError(f"extend_records: invalid scalar (>= modulus) at chunk offset {int(np.argmax(bad))}")
    return out


def interleave(source, parity) -> np.ndarray:
    """[s0, p0, s1, p1, …]: even positions = source, odd = parity (§7, §12.4). Works on axis −2."""
    s = np.asarray(source)
    p = np.asarray(parity)
    if s.shape != p.shape:
        raise FarmkitError(f"interleave: source {s.shape} and parity {p.shape} differ")
    out = np.empty(s.shape[:-2] + (2 * s.shape[-2], s.shape[-1]), dtype=s.dtype)
    out[..., 0::2, :] = s
    out[..., 1::2, :] = p
    return out


# --- recovery ---------------------------------------------------------------------------------------
ZERO_POLY_LEAF = 64  # linear factors multiplied directly per leaf before FFT products


@njit(cache=True, nogil=True)
def _powers(w, n, out):
    acc = fr.fr_one()
    ww = (w[0], w[1], w[2], w[3])
    for k in range(n):
        fr_store(out, k, acc)
        acc = fr_mul(acc, ww)


@njit(cache=True, nogil=True, parallel=True)
def _linear_products(roots, leaf, out):
    """out[l] = Π (X − roots[j]) over the l-th run of ``leaf`` roots (coefficients, low first)."""
    m = roots.shape[0]
    for l in prange(out.shape[0]):
        p = out[l]
        for k in range(p.shape[0]):
            fr_store(p, k, (fr.U0, fr.U0, fr.U0, fr.U0))
        fr_store(p, 0, fr.fr_one())
        deg = 0
        for j in range(l * leaf, min(m, (l + 1) * leaf)):
            nr = fr.fr_neg(fr_load(roots, j))
            # p ← p·(X − r): p[k] = p[k−1] − r·p[k]
            fr_store(p, deg + 1, fr_load(p, deg))
            for k in range(deg, 0, -1):
                fr_store(p, k, fr.fr_add(fr_load(p, k - 1), fr_mul(nr, fr_load(p, k))))
            fr_store(p, 0, fr_mul(nr, fr_load(p, 0)))
            deg += 1


def zero_poly(missing: np.ndarray, n: int) -> np.ndarray:
    """Z(X) = Π_{i missing}(X − ω_n^i), n coefficients, internal form (§7 step 1).

    Leaves of 64 linear factors are multiplied directly, then pairs by FFT multiplication.
    Z is unique, so the bytes do not depend on how the product is organised.
    """
    m = len(missing)
    pw = np.empty((n, fr.LIMBS), dtype=np.uint64)
    _powers(fr.from_int(_fft.root_of_unity(n)), n, pw)
    roots = np.ascontiguousarray(pw[np.asarray(missing, dtype=np.int64)])
    leaves = 1
    while leaves * ZERO_POLY_LEAF < m:
        leaves *= 2
    polys = np.empty((leaves, ZERO_POLY_LEAF + 1, fr.LIMBS), dtype=np.uint64)
    _linear_products(roots, ZERO_POLY_LEAF, polys)
    degs = np.clip(m - ZERO_POLY_LEAF * np.arange(leaves), 0, ZERO_POLY_LEAF)
    one = fr.from_int(1)
    while polys.shape[0] > 1:
        # All factors are monic of degree ≤ d: a cyclic product of size 2d is exact except that the
        # leading 1 of a degree-2d product wraps onto X^0, which is moved back.
        d = polys.shape[1] - 1
        work = np.zeros((polys.shape[0], 2 * d, fr.LIMBS), dtype=np.uint64)
        work[:, : d + 1] = polys
        _fft.fft_internal_inplace(work)
        prod = fr.mul(work[0::2], work[1::2])
        _fft.fft_internal_inplace(prod, inverse=True)
        new_degs = degs[0::2] + degs[1::2]
        nxt = np.zeros((prod.shape[0], 2 * d + 1, fr.LIMBS), dtype=np.uint64)
        nxt[:, : 2 * d] = prod
        full = new_degs == 2 * d
        if full.any():
            nxt[full, 0] = fr.sub(nxt[full, 0], one)
            nxt[full, 2 * d] = one
        polys, degs = nxt, new_degs
    z = np.zeros((n, fr.LIMBS), dtype=np.uint64)
    z[: m + 1] = polys[0, : m + 1]
    return z


@lru_cache(maxsize=None)
def _shift_tables(n: int):
    """(5^−k / n, 5^k / n) for k < n: the rust-kzg coset shift with the IFFT's 1/n folded in."""
    inv5 = pow(RECOVERY_SHIFT_FACTOR, MODULUS - 2, MODULUS)
    ninv = pow(n, MODULUS - 2, MODULUS)
    down = np.empty((n, fr.LIMBS), dtype=np.uint64)
    up = np.empty((n, fr.LIMBS), dtype=np.uint64)
    _powers(fr.from_int(inv5), n, down)
    _powers(fr.from_int(RECOVERY_SHIFT_FACTOR), n, up)
    nv = fr.from_int(ninv)
    down = fr.mul(down, nv)
    up = fr.mul(up, nv)
    down.setflags(write=False)
    up.setflags(write=False)
    return down, up


class RecoveryPlan:
    """Everything of §7 recovery that depends only on (N, which shards are missing)."""

    def __init__(self, present):
        pres = np.asarray(present, dtype=bool)
        n = len(pres)
        if n < 1 or n & (n - 1) or n > MAX_SHARDS:
            raise FarmkitError(f"erasure recovery: shard count must be a power of two <= {MAX_SHARDS}, got {n}")
        k = int(pres.sum())
        if n - k > n // 2:
            raise FarmkitError(f"erasure recovery: {k} of {n} shards present, need at least {n // 2}")
        self.n = n
        self.present = np.ascontiguousarray(pres.astype(np.uint8))
        missing = np.nonzero(~pres)[0]
        z = zero_poly(missing, n)
        z_eval = _fft.fft_internal_inplace(z.copy()[None])[0]
        down, up = _shift_tables(n)
        # FFT(Z_k·5^−k); the 1/n in ``down`` is undone here by a factor n
        zs = fr.mul(fr.mul(z, down), fr.from_int(n))
        zs_eval = _fft.fft_internal_inplace(zs[None])[0]
        self.z_eval = z_eval
        self.inv_zs_eval = fr.inverse(zs_eval)  # Z(ω^i/5) ≠ 0: 5 is not in ⟨ω⟩
        self.down = down
        self.up = up

    def coefficients(self, shards, raw: bool = False) -> np.ndarray:
        """Recovered coefficients (b, N, 4) for shards (b, N, 32): internal (Montgomery) form, or
        plain limbs with ``raw`` (for byte-to-byte paths, see ``fr.raw_from_bytes``)."""
        arr = np.ascontiguousarray(shards)
        n = self.n
        out = np.empty((arr.shape[0], n, fr.LIMBS), dtype=np.uint64)
        bad = np.zeros(arr.shape[0], dtype=np.int64)
        if arr.shape[0]:
            _recover_kernel(
                arr, self.present, self.z_eval, self.inv_zs_eval, self.down, self.up,
                _fft.twiddles(n), _fft.twiddles(n, True), _fft.bit_reverse_permutation(n), out, bad, raw,
            )
        if bad.any():
            raise FarmkitError(f"recover: invalid scalar (>= modulus) in a present shard of row {int(np.argmax(bad))}")
        return out


@njit(cache=True, nogil=True, parallel=True)
def _recover_kernel(shards, present, z_eval, inv_zs, down, up, tw, tw_inv, rev, out, bad, raw):
    """§7 steps 2-5 for each row: E·Z → IFFT → shift 5^−k → FFT → ÷ → IFFT → unshift 5^k.

    Linear in the shards, so with ``raw`` the plain limbs go in and the plain result comes out.
    """
    n = shards.shape[1]
    for b in prange(shards.shape[0]):
        x = out[b]
        flag = 0
        for i in range(n):
            if present[i]:
                if raw:
                    v, ok = fr_raw_from_be32(shards[b, i])
                else:
                    v, ok = fr_from_be32(shards[b, i])
                if not ok:
                    flag = 1
                fr_store(x, i, fr_mul(v, fr_load(z_eval, i)))
            else:
                fr_store(x, i, (fr.U0, fr.U0, fr.U0, fr.U0))
        bad[b] = flag
        fft_inplace(x, tw_inv, rev)
        for k in range(n):
            fr_store(x, k, fr_mul(fr_load(x, k), fr_load(down, k)))
        fft_inplace(x, tw, rev)
        for k in range(n):
            fr_store(x, k, fr_mul(fr_load(x, k), fr_load(inv_zs, k)))
        fft_inplace(x, tw_inv, rev)
        for k in range(n):
            fr_store(x, k, fr_mul(fr_load(x, k), fr_load(up, k)))


def _check_shards(shards, present, batched: bool):
    arr = _as_scalar_bytes(shards, "recover")
    if arr.ndim != (3 if batched else 2):
        raise FarmkitError(f"recover: expected shape {'(b, N, 32)' if batched else '(N, 32)'}, got {arr.shape}")
    pres = np.asarray(present, dtype=bool)
    if pres.shape != (arr.shape[-2],):
        raise FarmkitError(f"recover: present mask must have shape ({arr.shape[-2]},), got {pres.shape}")
    return arr, pres


def recover_coefficients_batch(shards, present) -> np.ndarray:
    """Coefficients (b, N, 32) of each row's recovered polynomial; one plan for the shared mask."""
    arr, pres = _check_shards(shards, present, True)
    return fr.raw_to_bytes(RecoveryPlan(pres).coefficients(arr, raw=True))


def recover_batch(shards, present) -> np.ndarray:
    """``recover`` of each row of (b, N, 32), all with the same present mask (e.g. a whole segment)."""
    arr, pres = _check_shards(shards, present, True)
    coeffs = RecoveryPlan(pres).coefficients(arr, raw=True)
    return fr.raw_to_bytes(_fft.fft_internal_inplace(coeffs))


def recover_coefficients(shards, present) -> np.ndarray:
    """Coefficients (N, 32) of the recovered polynomial in the N-domain (rust-kzg math, §7)."""
    arr, pres = _check_shards(shards, present, False)
    return recover_coefficients_batch(arr[None], pres)[0]


def recover(shards, present) -> np.ndarray:
    """§7 ``recover``: shards (N, 32) with present[N] (≥ N/2 true) → all N values (N, 32).

    Values at missing positions are ignored.  Upstream panics when nothing is missing; here the
    present values are returned.
    """
    arr, pres = _check_shards(shards, present, False)
    return recover_batch(arr[None], pres)[0]


def recover_poly(shards, present) -> np.ndarray:
    """§7 ``recover_poly``: coefficients with trailing zeros trimmed (at least one kept)."""
    c = recover_coefficients(shards, present)
    nz = np.nonzero(c.any(axis=1))[0]
    keep = int(nz[-1]) + 1 if len(nz) else 1
    return c[:keep].copy()


def recover_source(shards, present) -> np.ndarray:
    """§7 ``recover_source``: the even entries of ``recover``."""
    return recover(shards, present)[0::2].copy()


def extension_matrix(n: int) -> np.ndarray:
    """M (n, n) ScalarBytes with parity_i = Σ_r M[i, r]·source_r: row i is L_r(ω_{2n}^(2i+1)) over r.

    Used by ``extend_commitments`` (linearity of commitments, §7).
    """
    _check_source_len(n)
    eye = fr.ints_to_bytes([1 if i == j else 0 for i in range(n) for j in range(n)]).reshape(n, n, 32)
    # extend of unit vector e_r gives column r of M
    cols = extend_batch(eye)  # cols[r, i] = M[i, r]
    return np.ascontiguousarray(cols.transpose(1, 0, 2))
