"""FFT over the BLS12-381 scalar field, natural order (kzg-erasure-archiving.md §5).

Domain of size n = 2^k: ⟨ω_n⟩ with ω_n = 7^((r−1)/n) mod r (rust-kzg ``SCALE2_ROOT_OF_UNITY[k]``).
Forward: out[i] = Σ_j in[j]·ω_n^(i·j).  Inverse: out[i] = n⁻¹·Σ_j in[j]·ω_n^(−i·j).
Input and output are both in natural order: there is no bit-reversal anywhere in Subspace (§12.1).

Public functions take either ScalarBytes (uint8, shape (..., n, 32)) and return ScalarBytes, or the
internal Montgomery form of :mod:`farmkit.kernels.fr` (uint64, shape (..., n, 4)) and return the same.
Leading dimensions are a batch; batches run in parallel (numba prange over polynomials), a single
large transform runs its butterflies in parallel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange

from farmkit.errors import FarmkitError
from farmkit.kernels import fr
from farmkit.kernels.fr import MODULUS, fr_add, fr_load, fr_mul, fr_store, fr_sub

GENERATOR = 7  # multiplicative generator used by rust-kzg for SCALE2_ROOT_OF_UNITY (§5)
TWO_ADICITY = 32
MAX_FFT_SIZE = 2**16  # ErasureCoding scale 16 (§7): the largest domain Subspace uses


def root_of_unity(n: int) -> int:
    """ω_n = 7^((r−1)/n) mod r, a primitive n-th root of unity for n = 2^k, k ≤ 32 (§5)."""
    n = int(n)
    check_size(n, limit=1 << TWO_ADICITY)
    return pow(GENERATOR, (MODULUS - 1) // n, MODULUS)


def check_size(n: int, limit: int = MAX_FFT_SIZE) -> None:
    if n < 1 or n & (n - 1) or n > limit:
        raise FarmkitError(f"FFT size must be a power of two in [1, {limit}], got {n}")


# --- reference path (pure Python ints) ---------------------------------------------------------
def ref_fft(values: list[int], n: int | None = None, inverse: bool = False) -> list[int]:
    """Readable radix-2 FFT on Python ints, natural order in and out (§5)."""
    n = len(values) if n is None else n
    check_size(n)
    vals = [v % MODULUS for v in values] + [0] * (n - len(values))
    if len(vals) != n:
        raise FarmkitError(f"FFT input has {len(values)} values, more than n = {n}")
    w = root_of_unity(n)
    if inverse:
        w = pow(w, MODULUS - 2, MODULUS)
    # bit-reverse copy, then iterative Cooley-Tukey; the result is in natural order
    bits = n.bit_length() - 1
    a = [vals[int(format(i, f"0{bits}b")[::-1], 2) if bits else 0] for i in range(n)]
    length = 2
    while length <= n:
        wl = pow(w, n // length, MODULUS)
        half = length // 2
        tw = [1] * half
        for k in range(1, half):
            tw[k] = tw[k - 1] * wl % MODULUS
        for start in range(0, n, length):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * tw[k] % MODULUS
                a[start + k] = (u + v) % MODULUS
                a[start + k + half] = (u - v) % MODULUS
        length *= 2
    if inverse:
        ninv = pow(n, MODULUS - 2, MODULUS)
        a = [x * ninv % MODULUS for x in a]
    return a


def ref_ifft(values: list[int], n: int | None = None) -> list[int]:
    return ref_fft(values, n, inverse=True)


# --- twiddle tables ----------------------------------------------------------------------------
@lru_cache(maxsize=None)
def twiddles(n: int, inverse: bool = False) -> np.ndarray:
    """Internal-form table [ω^0, ω^1, …, ω^(n/2−1)] (ω^−1 for the inverse), shape (max(n/2,1), 4)."""
    w = root_of_unity(n)
    if inverse:
        w = pow(w, MODULUS - 2, MODULUS)
    tw = [1] * max(n // 2, 1)
    for k in range(1, n // 2):
        tw[k] = tw[k - 1] * w % MODULUS
    t = fr.scalars_from_ints(tw)
    t.setflags(write=False)
    return t


@lru_cache(maxsize=None)
def _n_inverse(n: int) -> np.ndarray:
    return fr.from_int(pow(n, MODULUS - 2, MODULUS))


@lru_cache(maxsize=None)
def bit_reverse_permutation(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n, dtype=np.int64)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


# --- numba kernels -------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _dit_stages(a, tw, lo, hi, first_len, last_len, n):
    """Radix-2 DIT stages of lengths first_len … last_len on a[lo:hi] (tw is the size-n table)."""
    length = first_len
    while length <= last_len:
        half = length // 2
        step = n // length
        for start in range(lo, hi, length):
            for k in range(half):
                u = fr_load(a, start + k)
                v = fr_load(a, start + k + half)
                if k != 0:
                    v = fr_mul(v, fr_load(tw, k * step))
                fr_store(a, start + k, fr_add(u, v))
                fr_store(a, start + k + half, fr_sub(u, v))
        length *= 2


@njit(cache=True, nogil=True)
def fft_inplace(a, tw, rev):
    """In-place radix-2 DIT FFT of one polynomial a (n, 4), natural order in and out.

    tw = [ω^0 … ω^(n/2−1)] (ω^−1 powers for an unscaled inverse); rev = bit-reversal permutation.
    """
    n = a.shape[0]
    for i in range(n):
        j = rev[i]
        if i < j:
            for k in range(4):
                t = a[i, k]
                a[i, k] = a[j, k]
                a[j, k] = t
    _dit_stages(a, tw, 0, n, 2, n, n)


@njit(cache=True, nogil=True)
def scale_inplace(a, s):
    for i in range(a.shape[0]):
        fr_store(a, i, fr_mul(fr_load(a, i), s))


@njit(cache=True, nogil=True, parallel=True)
def _fft_batch(a, tw, rev, scale, do_scale):
    for b in prange(a.shape[0]):
        fft_inplace(a[b], tw, rev)
        if do_scale:
            scale_inplace(a[b], (scale[0], scale[1], scale[2], scale[3]))


SINGLE_BLOCKS = 16  # a lone large FFT: stages up to n/16 run per block, the last 4 per column


@njit(cache=True, nogil=True, parallel=True)
def _fft_single_parallel(a, tw, rev, scale, do_scale):
    """One large FFT on all cores with two parallel regions (no barrier per stage).

    Region 1: each of 16 blocks gathers its bit-reversed inputs and runs the stages up to the block
    size.  Region 2: the last 4 stages only mix elements congruent mod n/16, so each such column
    (16 elements) finishes independently; the 1/n of an inverse is applied there too.
    """
    n = a.shape[0]
    src = a.copy()
    blk = n // SINGLE_BLOCKS
    for bi in prange(SINGLE_BLOCKS):
        lo = bi * blk
        for i in range(lo, lo + blk):
            j = rev[i]
            for k in range(4):
                a[i, k] = src[j, k]
        _dit_stages(a, tw, lo, lo + blk, 2, blk, n)
    s = (scale[0], scale[1], scale[2], scale[3])
    for col in prange(blk):
        length = 2 * blk
        while length <= n:
            half = length // 2
            step = n // length
            for g in range(n // length):
                for jj in range(half // blk):
                    kk = col + jj * blk
                    i0 = g * length + kk
                    u = fr_load(a, i0)
                    v = fr_load(a, i0 + half)
                    if kk != 0:
                        v = fr_mul(v, fr_load(tw, kk * step))
                    fr_store(a, i0, fr_add(u, v))
                    fr_store(a, i0 + half, fr_sub(u, v))
            length *= 2
        if do_scale:
            for j in range(SINGLE_BLOCKS):
                i = col + j * blk
                fr_store(a, i, fr_mul(fr_load(a, i), s))


PARALLEL_SINGLE_MIN = 2**12  # below this a lone transform runs on one core


def fft_internal_inplace(a: np.ndarray, inverse: bool = False) -> np.ndarray:
    """FFT of a contiguous internal-form array (b, n, 4) in place; returns a."""
    n = a.shape[1]
    check_size(n)
    tw = twiddles(n, inverse)
    rev = bit_reverse_permutation(n)
    scale = _n_inverse(n)
    if a.shape[0] == 1 and n >= PARALLEL_SINGLE_MIN:
        _fft_single_parallel(a[0], tw, rev, scale, inverse)
    elif a.shape[0]:
        _fft_batch(a, tw, rev, scale, inverse)
    return a


def _transform(values, n: int | None, inverse: bool) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim < 2:
        raise FarmkitError(f"FFT input must have shape (..., n, 32) or (..., n, 4), got {arr.shape}")
    as_bytes = arr.dtype == np.uint8
    if as_bytes:
        if arr.shape[-1] != fr.SCALAR_BYTES:
            raise FarmkitError(f"scalar bytes must be 32 wide, got shape {arr.shape}")
        internal = fr.raw_from_bytes(arr)  # the FFT is linear: plain limbs in, plain limbs out
    elif arr.dtype == np.uint64 and arr.shape[-1] == fr.LIMBS:
        internal = arr
    else:
        raise FarmkitError(f"FFT input must be uint8 (..., n, 32) or uint64 (..., n, 4), got {arr.dtype} {arr.shape}")
    m = internal.shape[-2]
    n = m if n is None else int(n)
    check_size(n)
    if m > n:
        raise FarmkitError(f"FFT input has {m} values, more than n = {n}")
    lead = internal.shape[:-2]
    if m == n and as_bytes:  # freshly parsed: transform it in place
        work = internal.reshape(-1, n, fr.LIMBS)
    else:
        work = np.zeros((int(np.prod(lead, dtype=np.int64)), n, fr.LIMBS), dtype=np.uint64)
        work[:, :m] = internal.reshape(-1, m, fr.LIMBS)
    fft_internal_inplace(work, inverse)
    work = work.reshape(lead + (n, fr.LIMBS))
    return fr.raw_to_bytes(work) if as_bytes else work


def fft(values, n: int | None = None) -> np.ndarray:
    """Forward FFT over ⟨ω_n⟩, natural order (§5); values shorter than n are zero-padded."""
    return _transform(values, n, inverse=False)


def ifft(values, n: int | None = None) -> np.ndarray:
    """Inverse FFT over ⟨ω_n⟩ (includes the 1/n factor), natural order (§5)."""
    return _transform(values, n, inverse=True)
