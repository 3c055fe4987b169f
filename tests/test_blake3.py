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
