"""BLAKE3 (spec: pos.md §5 "fx", sector-audit-prove.md §6.3), numba-compiled.

* :func:`compress32` — the BLAKE3 compression function on uint32 tuples (:func:`round32`,
  :func:`permute32`; inlined, so the permutation costs nothing at run time); :func:`compress` is
  the same on int64 scalars (every value < 2^32); :func:`compress_lanes` runs it lane-parallel.
* :func:`hash` — BLAKE3-256 of a byte string, plain or keyed (any length: chunks and the
  binary tree of parent nodes).
* :func:`blake3_rows` — one hash per row of an ``(n, m)`` uint8 matrix (e.g. 160-byte proofs,
  keyed hashing of 32-byte chunks).
* :func:`hash_reference` — the readable reference path: the ``blake3`` PyPI package.

All kernels are ``@njit(cache=True, nogil=True)``; callers may run them in threads.
"""

from __future__ import annotations

import numpy as np
from numba import int64, njit, uint32

__all__ = [
    "IV",
    "CHUNK_START",
    "CHUNK_END",
    "PARENT",
    "ROOT",
    "KEYED_HASH",
    "BLOCK_LEN",
    "CHUNK_LEN",
    "OUT_LEN",
    "compress",
    "compress_lanes",
    "compress_lanes4",
    "compress32",
    "round32",
    "permute32",
    "MSG_PERMUTATION",
    "hash_into",
    "hash",
    "blake3_rows",
    "hash_reference",
]

# BLAKE3 constants (the BLAKE3 paper §2.1, §2.2).
IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
CHUNK_START = 1
CHUNK_END = 2
PARENT = 4
ROOT = 8
KEYED_HASH = 16
BLOCK_LEN = 64
CHUNK_LEN = 1024
OUT_LEN = 32
KEY_LEN = 32

_IV_ARRAY = np.array(IV, dtype=np.int64)
_M32 = 0xFFFFFFFF


# --- The compression function ---------------------------------------------------------------------
# Written once, on uint32 words (explicit truncation after each step): G, a round, the message
# permutation, 7 rounds. Called in a loop over many independent messages (lanes) LLVM vectorises it
# (AVX2 / AVX-512: 8 / 16 messages per instruction), ~6x the scalar throughput: the PoS fx and
# audit kernels. ``compress`` is the same function with int64 words in and out.


@njit(cache=True, nogil=True, inline="always")
def _g32(a, b, c, d, mx, my):
    a = uint32(a + b + mx)
    d = uint32(d ^ a)
    d = uint32((d >> 16) | (d << 16))
    c = uint32(c + d)
    b = uint32(b ^ c)
    b = uint32((b >> 12) | (b << 20))
    a = uint32(a + b + my)
    d = uint32(d ^ a)
    d = uint32((d >> 8) | (d << 24))
    c = uint32(c + d)
    b = uint32(b ^ c)
    b = uint32((b >> 7) | (b << 25))
    return a, b, c, d


MSG_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)  # BLAKE3 paper §2.2
_IV32 = tuple(np.uint32(x) for x in IV)


@njit(cache=True, nogil=True, inline="always")
def round32(v, m):
    """One BLAKE3 round on a 16-word uint32 state tuple: G on the columns, then the diagonals."""
    v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15 = v
    v0, v4, v8, v12 = _g32(v0, v4, v8, v12, m[0], m[1])
    v1, v5, v9, v13 = _g32(v1, v5, v9, v13, m[2], m[3])
    v2, v6, v10, v14 = _g32(v2, v6, v10, v14, m[4], m[5])
    v3, v7, v11, v15 = _g32(v3, v7, v11, v15, m[6], m[7])
    v0, v5, v10, v15 = _g32(v0, v5, v10, v15, m[8], m[9])
    v1, v6, v11, v12 = _g32(v1, v6, v11, v12, m[10], m[11])
    v2, v7, v8, v13 = _g32(v2, v7, v8, v13, m[12], m[13])
    v3, v4, v9, v14 = _g32(v3, v4, v9, v14, m[14], m[15])
    return (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15)


@njit(cache=True, nogil=True, inline="always")
def permute32(m):
    """The message word permutation applied between rounds (``MSG_PERMUTATION``)."""
    return (m[2], m[6], m[3], m[10], m[7], m[0], m[4], m[13], m[1], m[11], m[12], m[5], m[9], m[14], m[15], m[8])


@njit(cache=True, nogil=True, inline="always")
def compress32(h, m, counter, block_len, flags):
    """The compression function on uint32 tuples (``h``: 8-word chaining value, ``m``: 16 message
    words): the 16-word state after the 7 rounds; output word i < 8 is ``v[i] ^ v[i + 8]``. Called
    inside a loop over independent messages (lanes) it vectorises: keep only the output words you
    need and LLVM drops the rest."""
    v = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
         _IV32[0], _IV32[1], _IV32[2], _IV32[3],
         uint32(counter & 0xFFFFFFFF), uint32(counter >> 32), uint32(block_len), uint32(flags))
    v = round32(v, m)
    m = permute32(m)
    v = round32(v, m)
    m = permute32(m)
    v = round32(v, m)
    m = permute32(m)
    v = round32(v, m)
    m = permute32(m)
    v = round32(v, m)
    m = permute32(m)
    v = round32(v, m)
    m = permute32(m)
    return round32(v, m)


@njit(cache=True, nogil=True, inline="always")
def compress(
    h0, h1, h2, h3, h4, h5, h6, h7,
    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15,
    counter, block_len, flags,
):
    """BLAKE3 compression of one 64-byte block (16 LE message words) under chaining value h.

    Returns the 8-word output chaining value (the first 32 bytes of the block output). All words
    are int64 holding 32-bit values; ``counter`` is the 64-bit chunk counter. (:func:`compress32`
    with int64 words in and out.)
    """
    v = compress32(
        (uint32(h0), uint32(h1), uint32(h2), uint32(h3), uint32(h4), uint32(h5), uint32(h6), uint32(h7)),
        (uint32(m0), uint32(m1), uint32(m2), uint32(m3), uint32(m4), uint32(m5), uint32(m6), uint32(m7),
         uint32(m8), uint32(m9), uint32(m10), uint32(m11), uint32(m12), uint32(m13), uint32(m14), uint32(m15)),
        counter, block_len, flags,
    )
    return (int64(v[0] ^ v[8]), int64(v[1] ^ v[9]), int64(v[2] ^ v[10]), int64(v[3] ^ v[11]),
            int64(v[4] ^ v[12]), int64(v[5] ^ v[13]), int64(v[6] ^ v[14]), int64(v[7] ^ v[15]))



@njit(cache=True, nogil=True)
def _compress_block(cv, data, off, length, counter, flags, out):
    """Compress ``data[off:off+length]`` (length <= 64, zero-padded) under ``cv`` into ``out``."""
    m = np.zeros(16, dtype=np.int64)
    for i in range(length):
        m[i >> 2] |= np.int64(data[off + i]) << (8 * (i & 3))
    r = compress(
        cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
        m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7],
        m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15],
        counter, length, flags,
    )
    for i in range(8):
        out[i] = r[i]


@njit(cache=True, nogil=True)
def _chunk_cv(key_words, data, start, end, chunk_counter, base_flags, root, out):
    """Chaining value of one chunk ``data[start:end]`` (<= 1024 bytes); ROOT on its last block if root."""
    cv = key_words.copy()
    n = end - start
    nblocks = max(1, (n + BLOCK_LEN - 1) // BLOCK_LEN)
    for j in range(nblocks):
        off = start + j * BLOCK_LEN
        length = min(BLOCK_LEN, end - off)
        flags = base_flags
        if j == 0:
            flags |= CHUNK_START
        if j == nblocks - 1:
            flags |= CHUNK_END
            if root:
                flags |= ROOT
        _compress_block(cv, data, off, length, chunk_counter, flags, cv)
    for i in range(8):
        out[i] = cv[i]


@njit(cache=True, nogil=True)
def _parent_cv(key_words, left, right, base_flags, out):
    m = np.empty(16, dtype=np.int64)
    for i in range(8):
        m[i] = left[i]
        m[8 + i] = right[i]
    r = compress(
        key_words[0], key_words[1], key_words[2], key_words[3],
        key_words[4], key_words[5], key_words[6], key_words[7],
        m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7],
        m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15],
        0, BLOCK_LEN, base_flags | PARENT,
    )
    for i in range(8):
        out[i] = r[i]


@njit(cache=True, nogil=True)
def hash_into(data, key_words, base_flags, out):
    """BLAKE3-256 of ``data`` (uint8 array, any length) into ``out`` (uint8[32]).

    ``key_words``: 8 int64 words (IV for plain hashing, the LE key words for keyed mode, with
    ``base_flags = KEYED_HASH``). Chunks of 1024 bytes are merged in BLAKE3's binary tree.
    """
    n = data.shape[0]
    nchunks = max(1, (n + CHUNK_LEN - 1) // CHUNK_LEN)
    cv = np.empty(8, dtype=np.int64)
    if nchunks == 1:
        _chunk_cv(key_words, data, 0, n, 0, base_flags, True, cv)
    else:
        stack = np.empty((64, 8), dtype=np.int64)
        depth = 0
        for c in range(nchunks - 1):
            _chunk_cv(key_words, data, c * CHUNK_LEN, (c + 1) * CHUNK_LEN, c, base_flags, False, cv)
            total = c + 1
            while total & 1 == 0:
                depth -= 1
                _parent_cv(key_words, stack[depth], cv, base_flags, cv)
                total >>= 1
            stack[depth, :] = cv
            depth += 1
        c = nchunks - 1
        _chunk_cv(key_words, data, c * CHUNK_LEN, n, c, base_flags, False, cv)
        while depth > 0:
            depth -= 1
            flags = base_flags | (ROOT if depth == 0 else 0)
            _parent_cv(key_words, stack[depth], cv, flags, cv)
    for i in range(8):
        w = cv[i]
        out[4 * i] = w & 0xFF
        out[4 * i + 1] = (w >> 8) & 0xFF
        out[4 * i + 2] = (w >> 16) & 0xFF
        out[4 * i + 3] = (w >> 24) & 0xFF


def _key_words(key: bytes | None) -> tuple[np.ndarray, int]:
    if key is None:
        return _IV_ARRAY.copy(), 0
    key = bytes(key)
    if len(key) != KEY_LEN:
        raise ValueError(f"BLAKE3 key must be {KEY_LEN} bytes, got {len(key)}")
    return np.frombuffer(key, dtype="<u4").astype(np.int64), KEYED_HASH


def hash(data: bytes, key: bytes | None = None) -> bytes:  # noqa: A001 - named after the spec
    """BLAKE3-256 of ``data`` (plain, or keyed with a 32-byte ``key``)."""
    arr = np.frombuffer(bytes(data), dtype=np.uint8)
    kw, flags = _key_words(key)
    out = np.empty(OUT_LEN, dtype=np.uint8)
    hash_into(arr, kw, flags, out)
    return out.tobytes()


@njit(cache=True, nogil=True)
def _rows_kernel(data, key_words, base_flags, out):
    for i in range(data.shape[0]):
        hash_into(data[i], key_words, base_flags, out[i])


def blake3_rows(data: np.ndarray, key: bytes | None = None) -> np.ndarray:
    """BLAKE3-256 of every row of ``data`` ((n, m) uint8) -> (n, 32) uint8; keyed if ``key``."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    if data.ndim != 2:
        raise ValueError("blake3_rows expects an (n, m) uint8 array")
    kw, flags = _key_words(key)
    out = np.empty((data.shape[0], OUT_LEN), dtype=np.uint8)
    _rows_kernel(data, kw, flags, out)
    return out


@njit(cache=True, nogil=True, inline="always")
def _lane_message(msg, lane):
    return (msg[0, lane], msg[1, lane], msg[2, lane], msg[3, lane], msg[4, lane], msg[5, lane], msg[6, lane],
            msg[7, lane], msg[8, lane], msg[9, lane], msg[10, lane], msg[11, lane], msg[12, lane], msg[13, lane],
            msg[14, lane], msg[15, lane])


@njit(cache=True, nogil=True)
def compress_lanes(msg, n, block_len, flags, out):
    """Root compression (cv = IV, counter 0) of ``n`` one-block messages, lane-parallel.

    ``msg``: (16, >= n) uint32, the LE message words of message ``lane`` in column ``lane``;
    all messages share ``block_len`` and ``flags``. Writes the 8 output words to ``out[:, lane]``
    ((8, >= n) uint32).
    """
    for lane in range(n):
        v = compress32(_IV32, _lane_message(msg, lane), 0, block_len, flags)
        out[0, lane] = v[0] ^ v[8]
        out[1, lane] = v[1] ^ v[9]
        out[2, lane] = v[2] ^ v[10]
        out[3, lane] = v[3] ^ v[11]
        out[4, lane] = v[4] ^ v[12]
        out[5, lane] = v[5] ^ v[13]
        out[6, lane] = v[6] ^ v[14]
        out[7, lane] = v[7] ^ v[15]


@njit(cache=True, nogil=True)
def compress_lanes4(msg, n, block_len, flags, out):
    """:func:`compress_lanes` keeping only the first 4 output words (16 bytes of the hash).

    LLVM vectorises this one (the 8-word version stays scalar: too many live vectors).
    """
    for lane in range(n):
        v = compress32(_IV32, _lane_message(msg, lane), 0, block_len, flags)
        out[0, lane] = v[0] ^ v[8]
        out[1, lane] = v[1] ^ v[9]
        out[2, lane] = v[2] ^ v[10]
        out[3, lane] = v[3] ^ v[11]


def hash_reference(data: bytes, key: bytes | None = None) -> bytes:
    """Reference path: the ``blake3`` PyPI package (BLAKE3 team's Rust implementation)."""
    import blake3 as _blake3

    h = _blake3.blake3(bytes(data), key=key) if key is not None else _blake3.blake3(bytes(data))
    return h.digest()
