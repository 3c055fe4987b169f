"""ChaCha8 keystream (spec: pos.md §3.1), the source of PoS f1 values.

Key = the 32-byte PoS seed, nonce = 0, block counter from 0. Block ``b`` is the IETF/DJB ChaCha
block with 8 rounds (4 double rounds); with a zero nonce and < 2^32 blocks both layouts agree.

* :func:`chacha8_block` — one 64-byte block into an output buffer (numba).
* :func:`keystream` — ``nblocks`` blocks from block ``first`` (numba, nogil).
* :func:`keystream_reference` — the readable path: pycryptodome's ChaCha20 cannot do 8 rounds,
  so the reference is a plain-Python transcription of RFC 8439 §2.3 with 8 rounds.
"""

from __future__ import annotations

import struct

import numpy as np
from numba import njit

__all__ = ["SIGMA", "chacha8_block", "keystream", "keystream_bytes", "keystream_reference"]

SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
BLOCK_SIZE = 64
ROUNDS = 8


@njit(cache=True, nogil=True, inline="always")
def _qr(a, b, c, d):
    a = (a + b) & 0xFFFFFFFF
    d ^= a
    d = ((d << 16) | (d >> 16)) & 0xFFFFFFFF
    c = (c + d) & 0xFFFFFFFF
    b ^= c
    b = ((b << 12) | (b >> 20)) & 0xFFFFFFFF
    a = (a + b) & 0xFFFFFFFF
    d ^= a
    d = ((d << 8) | (d >> 24)) & 0xFFFFFFFF
    c = (c + d) & 0xFFFFFFFF
    b ^= c
    b = ((b << 7) | (b >> 25)) & 0xFFFFFFFF
    return a, b, c, d


@njit(cache=True, nogil=True)
def chacha8_block(kw, counter, out, off):
    """Write ChaCha8 block ``counter`` for key words ``kw`` (8 int64, LE) to ``out[off:off+64]``."""
    x0, x1, x2, x3 = 0x61707865, 0x3320646E, 0x79622D32, 0x6B206574
    x4, x5, x6, x7, x8, x9, x10, x11 = kw[0], kw[1], kw[2], kw[3], kw[4], kw[5], kw[6], kw[7]
    x12 = counter & 0xFFFFFFFF
    x13 = 0
    x14 = 0
    x15 = 0
    for _ in range(ROUNDS // 2):
        # column round
        x0, x4, x8, x12 = _qr(x0, x4, x8, x12)
        x1, x5, x9, x13 = _qr(x1, x5, x9, x13)
        x2, x6, x10, x14 = _qr(x2, x6, x10, x14)
        x3, x7, x11, x15 = _qr(x3, x7, x11, x15)
        # diagonal round
        x0, x5, x10, x15 = _qr(x0, x5, x10, x15)
        x1, x6, x11, x12 = _qr(x1, x6, x11, x12)
        x2, x7, x8, x13 = _qr(x2, x7, x8, x13)
        x3, x4, x9, x14 = _qr(x3, x4, x9, x14)
    words = (
        x0 + 0x61707865, x1 + 0x3320646E, x2 + 0x79622D32, x3 + 0x6B206574,
        x4 + kw[0], x5 + kw[1], x6 + kw[2], x7 + kw[3],
        x8 + kw[4], x9 + kw[5], x10 + kw[6], x11 + kw[7],
        x12 + (counter & 0xFFFFFFFF), x13, x14, x15,
    )
    i = 0
    for w in words:
        out[off + i] = w & 0xFF
        out[off + i + 1] = (w >> 8) & 0xFF
        out[off + i + 2] = (w >> 16) & 0xFF
        out[off + i + 3] = (w >> 24) & 0xFF
        i += 4


@njit(cache=True, nogil=True)
def keystream(kw, first, nblocks, out):
    """ChaCha8 keystream blocks ``first .. first+nblocks-1`` into ``out`` (uint8, >= 64·nblocks)."""
    for b in range(nblocks):
        chacha8_block(kw, first + b, out, 64 * b)


def key_words(key: bytes) -> np.ndarray:
    """The 8 LE key words of a 32-byte key as int64 (the form the kernels take)."""
    if len(key) != 32:
        raise ValueError(f"ChaCha8 key must be 32 bytes, got {len(key)}")
    return np.frombuffer(bytes(key), dtype="<u4").astype(np.int64)


def keystream_bytes(key: bytes, nbytes: int, first_block: int = 0) -> bytes:
    """``nbytes`` keystream bytes starting at block ``first_block`` (fast path)."""
    nblocks = (nbytes + 63) // 64
    out = np.empty(nblocks * 64, dtype=np.uint8)
    keystream(key_words(key), first_block, nblocks, out)
    return out[:nbytes].tobytes()


def keystream_reference(key: bytes, nbytes: int, first_block: int = 0) -> bytes:
    """Readable reference: RFC 8439 §2.3 block function with 8 rounds, in plain Python."""

    def rotl(v, n):
        return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF

    def quarter(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)  # noqa: E702
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)  # noqa: E702
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)  # noqa: E702
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)  # noqa: E702

    out = bytearray()
    block = first_block
    kws = list(struct.unpack("<8I", key))
    while len(out) < nbytes:
        init = list(SIGMA) + kws + [block & 0xFFFFFFFF, 0, 0, 0]
        s = init[:]
        for _ in range(ROUNDS // 2):
            quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13)  # noqa: E702
            quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)  # noqa: E702
            quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12)  # noqa: E702
            quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)  # noqa: E702
        out += struct.pack("<16I", *[(a + b) & 0xFFFFFFFF for a, b in zip(s, init)])
        block += 1
    return bytes(out[:nbytes])
