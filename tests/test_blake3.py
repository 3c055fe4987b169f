"""BLAKE3 and ChaCha8 kernels vs independent references (the ``blake3`` package; RFC 8439 with
8 rounds) and the spec's self-check (pos.md §3.1)."""

from __future__ import annotations

import numpy as np
import pytest

from farmkit.kernels import blake3 as b3
from farmkit.kernels import chacha8

RNG = np.random.default_rng(20260)
LENGTHS = [0, 1, 9, 14, 19, 24, 31, 32, 63, 64, 65, 127, 128, 160, 1023, 1024, 1025, 2048, 2049, 4096, 5000, 9217]


@pytest.mark.parametrize("n", LENGTHS)
def test_hash_matches_blake3_package(n):
    data = RNG.integers(0, 256, n, dtype=np.uint8).tobytes()
    assert b3.hash(data) == b3.hash_reference(data)


@pytest.mark.parametrize("n", [0, 32, 64, 100, 1024, 3000])
def test_keyed_hash_matches_blake3_package(n):
    data = RNG.integers(0, 256, n, dtype=np.uint8).tobytes()
    key = RNG.integers(0, 256, 32, dtype=np.uint8).tobytes()
    assert b3.hash(data, key) == b3.hash_reference(data, key)


@pytest.mark.parametrize("m,key", [(160, None), (32, "keyed"), (9, None), (1500, None)])
def test_blake3_rows(m, key):
    rows = RNG.integers(0, 256, (37, m), dtype=np.uint8)
    k = RNG.integers(0, 256, 32, dtype=np.uint8).tobytes() if key else None
    out = b3.blake3_rows(rows, k)
    assert out.shape == (37, 32) and out.dtype == np.uint8
    for i in range(37):
        assert out[i].tobytes() == b3.hash_reference(rows[i].tobytes(), k)


def test_compress32_lanes_vs_blake3_package():
    """The tuple-form compression (round32 / permute32, the lane kernels' building block): keyed,
    one block of 0..64 bytes, root flags; all 8 output words against the ``blake3`` package."""
    from numba import njit, uint32

    @njit
    def run(h, m, block_len, flags):
        v = b3.compress32((uint32(h[0]), uint32(h[1]), uint32(h[2]), uint32(h[3]), uint32(h[4]), uint32(h[5]),
                           uint32(h[6]), uint32(h[7])),
                          (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12],
                           m[13], m[14], m[15]), 0, block_len, flags)
        out = np.empty(8, np.uint32)
        for i in range(8):
            out[i] = v[i] ^ v[i + 8]
        return out

    for n in (0, 1, 31, 32, 33, 64):
        data = RNG.integers(0, 256, n, dtype=np.uint8).tobytes()
        key = RNG.integers(0, 256, 32, dtype=np.uint8).tobytes()
        m = np.frombuffer(data + bytes(64 - n), "<u4").copy()
        flags = b3.CHUNK_START | b3.CHUNK_END | b3.ROOT | b3.KEYED_HASH
        got = run(np.frombuffer(key, "<u4").copy(), m, n, flags).tobytes()
        assert got == b3.hash_reference(data, key)


def test_permute32_is_the_papers_permutation():
    from numba import njit

    @njit
    def run():
        return b3.permute32((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

    assert run() == (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8) == b3.MSG_PERMUTATION


def test_bad_key_length():
    with pytest.raises(ValueError):
        b3.hash(b"x", b"short")


def test_chacha8_zero_key_self_check():
    """pos.md §3.1: ChaCha8 keystream for an all-zero key."""
    expect = "3e00ef2f895f40d67f5bb8e81f09a5a12c840ec3ce9a7f3b181be188ef711a1e"
    assert chacha8.keystream_bytes(bytes(32), 32).hex() == expect
    assert chacha8.keystream_reference(bytes(32), 32).hex() == expect


@pytest.mark.parametrize("first", [0, 1, 40959])
def test_chacha8_fast_vs_reference(first):
    key = RNG.integers(0, 256, 32, dtype=np.uint8).tobytes()
    assert chacha8.keystream_bytes(key, 640, first) == chacha8.keystream_reference(key, 640, first)
