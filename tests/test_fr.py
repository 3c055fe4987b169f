"""Fr arithmetic (kzg-erasure-archiving.md §1-2): fast numba path vs Python ints; canonical bytes."""

import random

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import fr

R = fr.MODULUS
EDGE = [0, 1, 2, R - 1, R - 2, (1 << 64) - 1, 1 << 64, (1 << 128) + 5, (1 << 254) - 1, (1 << 255) % R]


def rand_vals(n, seed):
    rng = random.Random(seed)
    return [rng.randrange(R) for _ in range(n)] + EDGE


def test_modulus_matches_spec():
    assert fr.MODULUS == int("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)
    assert R.bit_length() == 255 and (R - 1) % (1 << 32) == 0 and ((R - 1) >> 32) % 2 == 1


def test_bytes_round_trip_is_big_endian_canonical():
    vals = rand_vals(500, 1)
    b = fr.ints_to_bytes(vals)
    assert bytes(b[0]) == vals[0].to_bytes(32, "big")
    x = fr.scalars_from_bytes(b)
    assert x.shape == (len(vals), 4) and x.dtype == np.uint64
    assert (fr.scalars_to_bytes(x) == b).all()
    assert fr.scalars_to_ints(x) == vals
    # batch shapes are kept
    assert fr.scalars_from_bytes(b[:6].reshape(2, 3, 32)).shape == (2, 3, 4)


def test_internal_form_is_montgomery():
    x = fr.scalars_from_ints([1, 5])
    for limbs, v in zip(x, [1, 5]):
        mont = sum(int(l) << (64 * k) for k, l in enumerate(limbs))
        assert mont == (v << 256) % R


@pytest.mark.parametrize("op,ref", [(fr.add, fr.ref_add), (fr.sub, fr.ref_sub), (fr.mul, fr.ref_mul)])
def test_binops_match_python_ints(op, ref):
    a = rand_vals(5000, 2)  # above the parallel threshold
    b = rand_vals(5000, 3)[::-1]
    got = fr.scalars_to_ints(op(fr.scalars_from_ints(a), fr.scalars_from_ints(b)))
    assert got == [ref(x, y) for x, y in zip(a, b)]
    small = fr.scalars_to_ints(op(fr.scalars_from_ints(a[:10]), fr.scalars_from_ints(b[:10])))
    assert small == [ref(x, y) for x, y in zip(a[:10], b[:10])]


def test_inverse():
    a = [v for v in rand_vals(300, 4) if v]
    got = fr.scalars_to_ints(fr.inverse(fr.scalars_from_ints(a)))
    assert got == [fr.ref_inverse(v) for v in a]
    assert all(x * y % R == 1 for x, y in zip(a, got))
    with pytest.raises(FarmkitError):
        fr.inverse(fr.scalars_from_ints([3, 0]))
    with pytest.raises(FarmkitError):
        fr.ref_inverse(0)


@pytest.mark.parametrize("bad", [R, R + 1, (1 << 256) - 1, 1 << 255])
def test_non_canonical_scalars_are_rejected(bad):
    """§2 / §12.10: ScalarBytes ≥ r is an error, never reduced."""
    arr = np.zeros((3, 32), dtype=np.uint8)
    arr[1] = np.frombuffer(bad.to_bytes(32, "big"), dtype=np.uint8)
    with pytest.raises(FarmkitError, match="index 1"):
        fr.scalars_from_bytes(arr)
    with pytest.raises(FarmkitError):
        fr.ints_from_bytes(arr)
    assert fr.is_canonical(arr).tolist() == [True, False, True]


def test_safe_bytes_are_always_canonical():
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    arr[:, 0] = 0  # a source chunk: 0x00 || 31 bytes (§2)
    assert fr.is_canonical(arr).all()
    fr.scalars_from_bytes(arr)
    arr[:, 0] = 0xFF
    assert not fr.is_canonical(arr).any()


def test_wrong_shape_rejected():
    with pytest.raises(FarmkitError):
        fr.scalars_from_bytes(np.zeros((4, 31), dtype=np.uint8))


def test_raw_limbs_round_trip_and_reject():
    """Plain-limb conversion (for linear kernels) keeps bytes and still rejects values ≥ r."""
    vals = rand_vals(100, 8)
    b = fr.ints_to_bytes(vals)
    raw = fr.raw_from_bytes(b)
    assert [sum(int(l) << (64 * k) for k, l in enumerate(row)) for row in raw] == vals
    assert (fr.raw_to_bytes(raw) == b).all()
    b[3] = 0xFF
    with pytest.raises(FarmkitError, match="index 3"):
        fr.raw_from_bytes(b)
