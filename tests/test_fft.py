"""FFT over Fr, natural order, rust-kzg roots (kzg-erasure-archiving.md §5)."""

import random

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import fft, fr

R = fr.MODULUS

# §5 table (32-byte big-endian), = rust-kzg SCALE2_ROOT_OF_UNITY entries
SPEC_ROOTS = {
    2: "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000000",
    128: "6898111413588742b7c68b4d7fdd60d098d0caac87f5713c5130c2c1660125be",
    256: "4f9b4098e2e9f12e6b368121ac0cf4ad0a0865a899e8deff4935bd2f817f694b",
    32768: "3291357ee558b50d483405417a0cbe39c8d5f51db3f32699fbd047e11279bb6e",
    65536: "2155379d12180caa88f39a78f1aeb57867a665ae1fcadc91d7118f85cd96b8ad",
}


@pytest.mark.parametrize("n", sorted(SPEC_ROOTS))
def test_roots_of_unity_match_spec(n):
    w = fft.root_of_unity(n)
    assert w == int(SPEC_ROOTS[n], 16)
    assert pow(w, n, R) == 1 and pow(w, n // 2, R) == R - 1  # exact order n


def test_roots_are_consistent_across_scales():
    for k in range(1, 32):
        assert pow(fft.root_of_unity(1 << (k + 1)), 2, R) == fft.root_of_unity(1 << k)


def naive_dft(vals, inverse=False):
    n = len(vals)
    w = fft.root_of_unity(n)
    if inverse:
        w = pow(w, R - 2, R)
    out = [sum(v * pow(w, i * j, R) for j, v in enumerate(vals)) % R for i in range(n)]
    if inverse:
        ninv = pow(n, R - 2, R)
        out = [x * ninv % R for x in out]
    return out


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
def test_reference_fft_is_the_natural_order_dft(n):
    rng = random.Random(n)
    vals = [rng.randrange(R) for _ in range(n)]
    assert fft.ref_fft(vals) == naive_dft(vals)
    assert fft.ref_ifft(vals) == naive_dft(vals, inverse=True)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 256, 1024, 4096, 8192])
def test_fast_fft_matches_reference(n):
    rng = random.Random(100 + n)
    vals = [rng.randrange(R) for _ in range(n)]
    b = fr.ints_to_bytes(vals)
    f = fft.fft(b)
    assert f.dtype == np.uint8 and f.shape == (n, 32)
    assert fr.ints_from_bytes(f) == fft.ref_fft(vals)
    inv = fft.ifft(b)
    assert fr.ints_from_bytes(inv) == fft.ref_ifft(vals)
    assert (fft.ifft(f) == b).all()


def test_fft_2_16_matches_reference():
    n = 2**16
    rng = random.Random(7)
    vals = [rng.randrange(R) for _ in range(n)]
    x = fr.scalars_from_ints(vals)
    got = fft.fft(x)  # internal form in, internal form out
    assert got.dtype == np.uint64
    assert fr.scalars_to_ints(got) == fft.ref_fft(vals)
    assert (fft.ifft(got) == x).all()


def test_batched_fft_matches_per_row():
    rng = random.Random(3)
    rows = [[rng.randrange(R) for _ in range(128)] for _ in range(6)]
    b = np.stack([fr.ints_to_bytes(r) for r in rows]).reshape(2, 3, 128, 32)
    got = fft.fft(b)
    assert got.shape == (2, 3, 128, 32)
    for i, r in enumerate(rows):
        assert fr.ints_from_bytes(got.reshape(6, 128, 32)[i]) == fft.ref_fft(r)


def test_zero_padding_and_errors():
    vals = [5, 6, 7]
    assert fr.ints_from_bytes(fft.fft(fr.ints_to_bytes(vals), 8)) == fft.ref_fft(vals + [0] * 5)
    with pytest.raises(FarmkitError):
        fft.fft(fr.ints_to_bytes([1, 2, 3]))  # not a power of two
    with pytest.raises(FarmkitError):
        fft.fft(fr.ints_to_bytes([1] * 8), 4)  # more values than n
    with pytest.raises(FarmkitError):
        fft.fft(np.zeros((2**17, 32), dtype=np.uint8))  # above scale 16
    bad = np.full((2, 32), 0xFF, dtype=np.uint8)
    with pytest.raises(FarmkitError):
        fft.fft(bad)
