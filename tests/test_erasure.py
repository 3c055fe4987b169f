"""Erasure coding (kzg-erasure-archiving.md §7, §9.4 step 2, §10.1)."""

import random

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import erasure, fft, fr

R = fr.MODULUS


def lagrange_eval(xs, ys, x):
    """Independent definition: the unique polynomial through (xs, ys) evaluated at x."""
    total = 0
    for i, (xi, yi) in enumerate(zip(xs, ys)):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (x - xj) % R
                den = den * (xi - xj) % R
        total = (total + yi * num * pow(den, R - 2, R)) % R
    return total


def source_chunks(rng, n):
    """Source chunks as in a record: 0x00 || 31 random bytes (§8)."""
    a = np.zeros((n, 32), dtype=np.uint8)
    a[:, 1:] = rng.integers(0, 256, (n, 31), dtype=np.uint8)
    return a


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_extend_is_evaluation_at_odd_points_of_doubled_domain(n):
    rng = random.Random(n)
    vals = [rng.randrange(R) for _ in range(n)]
    parity = fr.ints_from_bytes(erasure.extend(fr.ints_to_bytes(vals)))
    wn, w2n = fft.root_of_unity(n), fft.root_of_unity(2 * n)
    xs = [pow(wn, i, R) for i in range(n)]
    assert parity == [lagrange_eval(xs, vals, pow(w2n, 2 * i + 1, R)) for i in range(n)]
    assert parity == erasure.ref_extend(vals)


@pytest.mark.parametrize("n", [32, 128, 1024])
def test_extend_fast_matches_reference_and_interleaving(n):
    rng = np.random.default_rng(n)
    src = source_chunks(rng, n)
    parity = erasure.extend(src)
    assert fr.ints_from_bytes(parity) == erasure.ref_extend(fr.ints_from_bytes(src))
    full = erasure.interleave(src, parity)
    assert (full[0::2] == src).all() and (full[1::2] == parity).all()
    # the interleaved vector is a degree < n polynomial on the 2n-domain: upper half of IFFT is 0
    assert not fft.ifft(full)[n:].any()


def test_extend_records_is_columnwise_across_records():
    """§9.4 step 2: chunk offset o of the 128 records is one extension."""
    rng = np.random.default_rng(9)
    recs = np.stack([source_chunks(rng, 64) for _ in range(128)])  # (128 records, 64 chunks, 32)
    par = erasure.extend_records(recs)
    assert par.shape == recs.shape
    for o in (0, 17, 63):
        assert (par[:, o] == erasure.extend(recs[:, o])).all()
    batch = erasure.extend_batch(np.ascontiguousarray(recs.transpose(1, 0, 2)))
    assert (batch.transpose(1, 0, 2) == par).all()


def test_extension_matrix():
    n = 8
    m = fr.ints_from_bytes(erasure.extension_matrix(n).reshape(-1, 32))
    rng = random.Random(2)
    vals = [rng.randrange(R) for _ in range(n)]
    parity = erasure.ref_extend(vals)
    assert parity == [sum(m[i * n + r] * vals[r] for r in range(n)) % R for i in range(n)]


def test_extend_rejects_bad_input():
    with pytest.raises(FarmkitError):
        erasure.extend(np.zeros((3, 32), dtype=np.uint8))
    with pytest.raises(FarmkitError):
        erasure.extend(np.zeros((2**16, 32), dtype=np.uint8))  # 2n > 65536
    bad = np.zeros((4, 32), dtype=np.uint8)
    bad[2] = 0xFF
    with pytest.raises(FarmkitError, match="invalid scalar"):
        erasure.extend(bad)
    with pytest.raises(FarmkitError):
        erasure.extend_records(np.stack([bad] * 4, axis=1))


def patterns(n, rng):
    """Missing-shard patterns (as present masks) over a 2n interleaved domain."""
    N = 2 * n
    out = []
    m = np.ones(N, bool)
    out.append(m.copy())  # nothing missing
    m = np.ones(N, bool)
    m[1::2] = False  # all parity missing
    out.append(m)
    m = np.ones(N, bool)
    m[0::2] = False  # all source missing
    out.append(m)
    m = np.ones(N, bool)
    m[: n] = False  # first half
    out.append(m)
    m = np.ones(N, bool)
    m[n:] = False
    out.append(m)
    m = np.ones(N, bool)  # upstream test: a quarter of each half missing
    m[: N // 4 // 2] = False
    m[N // 2 : N // 2 + N // 8] = False
    out.append(m)
    for k in (1, n // 2, n):
        for _ in range(3):
            m = np.ones(N, bool)
            m[rng.choice(N, size=k, replace=False)] = False
            out.append(m)
    return out


@pytest.mark.parametrize("n", [1, 2, 8, 128])
def test_recover_from_many_patterns(n):
    rng = np.random.default_rng(n)
    src = source_chunks(rng, n)
    full = erasure.interleave(src, erasure.extend(src))
    coeffs = fft.ifft(src)
    for present in patterns(n, rng):
        shards = np.where(present[:, None], full, np.uint8(0xEE))  # garbage where missing is ignored
        shards[~present] = 0
        assert (erasure.recover(shards, present) == full).all()
        assert (erasure.recover_source(shards, present) == src).all()
        poly = erasure.recover_poly(shards, present)
        nz = np.nonzero(coeffs.any(axis=1))[0]
        expect = coeffs[: (int(nz[-1]) + 1 if len(nz) else 1)]
        assert (poly == expect).all()


def test_recover_batch_shares_the_pattern():
    rng = np.random.default_rng(11)
    srcs = np.stack([source_chunks(rng, 128) for _ in range(5)])
    full = erasure.interleave(srcs, erasure.extend_batch(srcs))
    present = np.ones(256, bool)
    present[100:130] = False  # piece_reconstruction.rs: drop 100..129
    shards = full.copy()
    shards[:, ~present] = 0
    assert (erasure.recover_batch(shards, present) == full).all()


def test_recover_counts_and_sizes():
    """Upstream tests: 127 of 256 present is an error, 128 succeeds; 255 shards is an error."""
    rng = np.random.default_rng(1)
    src = source_chunks(rng, 128)
    full = erasure.interleave(src, erasure.extend(src))
    present = np.zeros(256, bool)
    present[rng.choice(256, 128, replace=False)] = True
    assert (erasure.recover(np.where(present[:, None], full, 0).astype(np.uint8), present) == full).all()
    present[np.nonzero(present)[0][0]] = False
    with pytest.raises(FarmkitError, match="127 of 256"):
        erasure.recover(full, present)
    with pytest.raises(FarmkitError, match="power of two"):
        erasure.recover(full[:255], np.ones(255, bool))


@pytest.mark.parametrize("n", [8, 64])
def test_recover_inconsistent_input_matches_rust_kzg_port(n):
    """With a corrupted shard the output is algorithm-dependent (§7): fast == ref port."""
    rng = np.random.default_rng(n)
    pyrng = random.Random(n)
    src = source_chunks(rng, n // 2)
    full = erasure.interleave(src, erasure.extend(src))
    present = np.ones(n, bool)
    present[rng.choice(n, n // 4, replace=False)] = False
    shards = np.where(present[:, None], full, 0).astype(np.uint8)
    j = int(np.nonzero(present)[0][1])
    shards[j] = fr.ints_to_bytes([pyrng.randrange(R)])[0]
    vals = fr.ints_from_bytes(shards)
    ref = erasure.ref_recover([v if p else None for v, p in zip(vals, present)])
    assert fr.ints_from_bytes(erasure.recover(shards, present)) == ref


def test_zero_poly_matches_reference():
    rng = random.Random(4)
    for n, k in [(16, 8), (256, 100), (512, 256)]:
        missing = sorted(rng.sample(range(n), k))
        z = fr.scalars_to_ints(erasure.zero_poly(np.array(missing), n))
        assert z == erasure.ref_zero_poly(missing, n)


def test_recover_rejects_non_canonical_present_shard():
    present = np.ones(4, bool)
    shards = np.zeros((4, 32), dtype=np.uint8)
    shards[1] = 0xFF
    with pytest.raises(FarmkitError, match="invalid scalar"):
        erasure.recover(shards, present)
    present[1] = False  # a missing shard is never read
    assert not erasure.recover(shards, present).any()


@pytest.mark.slow
def test_recover_record_poly_2_16():
    """Proving (sector-audit-prove.md §10 step 6): half of 65,536 s-buckets present."""
    rng = np.random.default_rng(3)
    src = source_chunks(rng, 2**15)
    full = erasure.interleave(src, erasure.extend(src))
    present = np.zeros(2**16, bool)
    present[rng.choice(2**16, 2**15, replace=False)] = True
    shards = np.where(present[:, None], full, 0).astype(np.uint8)
    assert (erasure.recover_poly(shards, present) == fft.ifft(src)).all()


def test_large_single_extension_matches_batched_path():
    """extend() of one record (2^15) takes the all-cores path; a batch of 2 takes the per-row path."""
    rng = np.random.default_rng(21)
    rec = source_chunks(rng, 2**15)
    single = erasure.extend(rec)
    pair = erasure.extend_batch(np.stack([rec, rec[::-1]]))
    assert (single == pair[0]).all()
    sample = [0, 1, 12345, 2**15 - 1]
    vals = fr.ints_from_bytes(rec)
    coeffs = fft.ref_ifft(vals)
    w = fft.root_of_unity(2**16)
    for i in sample:  # parity i = p(ω_{2n}^(2i+1)) by Horner on the reference coefficients
        x = pow(w, 2 * i + 1, R)
        acc = 0
        for c in reversed(coeffs):
            acc = (acc * x + c) % R
        assert int.from_bytes(single[i].tobytes(), "big") == acc
    bad = rec.copy()
    bad[7] = 0xFF
    with pytest.raises(FarmkitError, match="index 7"):
        erasure.extend(bad)


def test_recovery_plan_internal_and_raw_paths_agree():
    rng = np.random.default_rng(8)
    src = source_chunks(rng, 32)
    full = erasure.interleave(src, erasure.extend(src))
    present = np.ones(64, bool)
    present[rng.choice(64, 32, replace=False)] = False
    plan = erasure.RecoveryPlan(present)
    shards = np.where(present[:, None], full, 0).astype(np.uint8)[None]
    internal = plan.coefficients(shards)
    raw = plan.coefficients(shards, raw=True)
    assert (fr.scalars_to_bytes(internal) == fr.raw_to_bytes(raw)).all()
    assert (fr.scalars_to_bytes(internal)[0] == fft.ifft(full)).all()
