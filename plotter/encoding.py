"""Record and sector encoding (sector-audit-prove.md §6.3-§6.5; reference ``plotting.rs``).

Per record (offset p of the sector)::

    seed   = H(sector_id ‖ u16le(p))                         PoS seed (§5.3)
    proofs = first proof of each s-bucket that has one      (at most the first 2^15; V1 or V2)
    ext    = interleave(source, erasure.extend(source))      2^16 s-buckets
    masked = ext[s] XOR H(proof_s)                           encoded chunks, ascending s, first 2^15
    fill   = lowest s-buckets without an encoded chunk      unencoded chunks, up to 2^15 in all

Paths (all give identical bytes; tests compare them):

* :func:`encode_record_reference` — the readable §6.3 loop (Python, ``blake3`` package).
* :func:`encode_record` — numba kernels (``nogil``), run for several records at once in threads.
* GPU (``cuda``/``opencl``) — PoS tables from :mod:`farmkit.kernels.pos_gpu`, erasure coding
  (NTTs over Fr) and BLAKE3 of the proofs + masking on the device (kernel sources below, one
  text compiled for CUDA or OpenCL); only the fill and the sector assembly run on the CPU.

A sector is then assembled s-bucket by s-bucket (§6.5) by :func:`assemble_sector`.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from numba import njit, prange

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    PIECE_SIZE,
    POS_PROOF_SIZE,
    RECORD_NUM_CHUNKS,
    RECORD_NUM_S_BUCKETS,
    RECORD_SIZE,
    SCALAR_SIZE,
)
from farmkit.protocol.sector import (
    RECORD_BITFIELD_SIZE,
    RecordMetadata,
    SectorContentsMap,
    SectorId,
    SectorLayout,
    SectorMetadata,
    sector_checksum,
)

__all__ = [
    "EncodedRecord",
    "extend_record",
    "record_proofs",
    "encode_record_reference",
    "encode_record",
    "encode_records_gpu",
    "assemble_sector",
    "SectorEncoder",
    "PlottedSectorBytes",
    "STAGES",
]

STAGES = ("pos", "erasure", "hashing", "masking", "assembly", "io")


@dataclass
class EncodedRecord:
    """One encoded record: bit s of ``bitfield`` = s-bucket s is PoS-encoded (Lsb0, §6.4);
    ``present`` marks the 2^15 s-buckets that hold a chunk; ``chunks`` are those chunks, ascending s."""

    bitfield: np.ndarray  # uint8[8192]
    present: np.ndarray  # uint8[65536]
    chunks: np.ndarray  # uint8[32768, 32]

    @property
    def num_encoded(self) -> int:
        return int(np.unpackbits(self.bitfield).sum())


# --- the parts ---------------------------------------------------------------------------------
def extend_record(source: np.ndarray) -> np.ndarray:
    """§6.3: the 2^16 s-bucket values ``ext`` (source at even s, parity at odd s)."""
    from farmkit.kernels.erasure import extend, interleave

    source = np.ascontiguousarray(source, dtype=np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
    return interleave(source, extend(source))


def record_proofs(seed: bytes, version: str) -> tuple[np.ndarray, np.ndarray]:
    """First proof of every s-bucket with one, ascending s (at most 2^15): ``(s_buckets, proofs)``."""
    from farmkit.kernels.pos import encoding_proofs

    s_buckets, proofs = encoding_proofs(bytes(seed), version)
    return np.asarray(s_buckets, dtype=np.int64), np.ascontiguousarray(proofs, dtype=np.uint8).reshape(-1, POS_PROOF_SIZE)


# --- reference path (§6.3, readable) --------------------------------------------------------------
def encode_record_reference(ext: np.ndarray, s_buckets: Sequence[int], proofs: np.ndarray) -> EncodedRecord:
    """§6.3 literally: mask with H(first proof) in ascending s, keep 2^15, fill with unencoded."""
    from blake3 import blake3

    proof_of = {int(s): bytes(proofs[i]) for i, s in enumerate(s_buckets)}
    encoded: list[tuple[int, bytes]] = []
    for s in range(RECORD_NUM_S_BUCKETS):
        proof = proof_of.get(s)
        if proof is None:
            continue
        key = blake3(proof).digest()
        masked = bytes(a ^ b for a, b in zip(bytes(ext[s]), key))
        if masked == bytes(32):  # upstream treats an all-zero masked chunk as "no proof"
            continue
        encoded.append((s, masked))
        if len(encoded) == RECORD_NUM_CHUNKS:
            break
    encoded_s = {s for s, _ in encoded}
    unencoded: list[tuple[int, bytes]] = []
    for s in range(RECORD_NUM_S_BUCKETS):
        if len(encoded) + len(unencoded) == RECORD_NUM_CHUNKS:
            break
        if s not in encoded_s:
            unencoded.append((s, bytes(ext[s])))
    stored = sorted(encoded + unencoded)
    bits = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    present = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    for s, _ in encoded:
        bits[s] = 1
    for s, _ in stored:
        present[s] = 1
    chunks = np.frombuffer(b"".join(c for _, c in stored), np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
    return EncodedRecord(np.packbits(bits, bitorder="little"), present, chunks.copy())


# --- fast path (numba) ----------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _mask_and_fill(ext, s_buckets, hashes, bits, present, chunks):
    """Mask the chunks that have a proof (ascending s, first 2^15, skip all-zero), then fill.

    ext (65536, 32), s_buckets int64[n] ascending, hashes (n, 32) = H(proof); outputs: bits and
    present uint8[65536], chunks (32768, 32) in ascending s. Returns the number of encoded chunks.
    """
    n_s = ext.shape[0]
    hash_row = np.full(n_s, -1, np.int64)
    n_enc = 0
    for i in range(s_buckets.shape[0]):
        if n_enc == 32768:
            break
        s = s_buckets[i]
        zero = True
        for j in range(32):
            if (ext[s, j] ^ hashes[i, j]) != 0:
                zero = False
                break
        if zero:
            continue
        hash_row[s] = i
        bits[s] = 1
        n_enc += 1
    unencoded_left = 32768 - n_enc
    k = 0
    for s in range(n_s):
        if bits[s] == 1:
            i = hash_row[s]
            for j in range(32):
                chunks[k, j] = ext[s, j] ^ hashes[i, j]
            present[s] = 1
            k += 1
        elif unencoded_left > 0:
            for j in range(32):
                chunks[k, j] = ext[s, j]
            present[s] = 1
            unencoded_left -= 1
            k += 1
        if k == 32768:
            break
    return n_enc


@njit(cache=True, nogil=True)
def _pack_bits_lsb0(bits, out):
    for b in range(out.shape[0]):
        v = 0
        for t in range(8):
            v |= (bits[8 * b + t] & 1) << t
        out[b] = v


def _record_buffers(out: EncodedRecord | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    bits = np.zeros(RECORD_NUM_S_BUCKETS, np.uint8)
    if out is None:
        return bits, np.zeros(RECORD_NUM_S_BUCKETS, np.uint8), np.empty((RECORD_NUM_CHUNKS, SCALAR_SIZE), np.uint8), np.empty(RECORD_BITFIELD_SIZE, np.uint8)
    out.present[:] = 0
    return bits, out.present, out.chunks, out.bitfield


def encode_record_from_parts(
    ext: np.ndarray, s_buckets: np.ndarray, hashes: np.ndarray, out: EncodedRecord | None = None
) -> EncodedRecord:
    """Fast §6.3 given ``ext`` and ``H(proof)`` per s-bucket with a proof (``out``: write in place)."""
    bits, present, chunks, bitfield = _record_buffers(out)
    _mask_and_fill(
        np.ascontiguousarray(ext, dtype=np.uint8),
        np.ascontiguousarray(s_buckets, dtype=np.int64),
        np.ascontiguousarray(hashes, dtype=np.uint8),
        bits,
        present,
        chunks,
    )
    _pack_bits_lsb0(bits, bitfield)
    return out if out is not None else EncodedRecord(bitfield, present, chunks)


def encode_record(
    source: np.ndarray, seed: bytes, version: str, timings: dict | None = None, out: EncodedRecord | None = None
) -> EncodedRecord:
    """Fast path for one record (numba; releases the GIL so records can run in threads)."""
    from farmkit.kernels.blake3 import blake3_rows

    t0 = time.perf_counter()
    s_buckets, proofs = record_proofs(seed, version)
    t1 = time.perf_counter()
    with _parallel_kernel_lock:  # numba-parallel kernel: one launch at a time (workqueue layer safety)
        ext = extend_record(source)
    t2 = time.perf_counter()
    hashes = blake3_rows(proofs)
    t3 = time.perf_counter()
    rec = encode_record_from_parts(ext, s_buckets, hashes, out)
    t4 = time.perf_counter()
    if timings is not None:
        _add(timings, "pos", t1 - t0)
        _add(timings, "erasure", t2 - t1)
        _add(timings, "hashing", t3 - t2)
        _add(timings, "masking", t4 - t3)
    return rec


_timings_lock = threading.Lock()
_parallel_kernel_lock = threading.Lock()


def _add(timings: dict, key: str, dt: float) -> None:
    with _timings_lock:
        timings[key] = timings.get(key, 0.0) + dt


# --- GPU: BLAKE3(proof) and masking on the device -----------------------------------------------
GPU_MASK_SOURCE = r"""
CONSTANT u32 B3_IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                         0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};
CONSTANT u8 B3_PERM[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

DEVICE void b3_g(u32 *v, int a, int b, int c, int d, u32 x, u32 y) {
    v[a] = v[a] + v[b] + x; v[d] = ROTR32(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];     v[b] = ROTR32(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + y; v[d] = ROTR32(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];     v[b] = ROTR32(v[b] ^ v[c], 7);
}

DEVICE void b3_compress(u32 *cv, const u32 *block, u32 block_len, u32 flags) {
    u32 v[16];
    u32 m[16];
    u32 t[16];
    for (int i = 0; i < 8; i++) v[i] = cv[i];
    for (int i = 0; i < 4; i++) v[8 + i] = B3_IV[i];
    v[12] = 0; v[13] = 0; v[14] = block_len; v[15] = flags;
    for (int i = 0; i < 16; i++) m[i] = block[i];
    for (int r = 0; r < 7; r++) {
        b3_g(v, 0, 4, 8, 12, m[0], m[1]);
        b3_g(v, 1, 5, 9, 13, m[2], m[3]);
        b3_g(v, 2, 6, 10, 14, m[4], m[5]);
        b3_g(v, 3, 7, 11, 15, m[6], m[7]);
        b3_g(v, 0, 5, 10, 15, m[8], m[9]);
        b3_g(v, 1, 6, 11, 12, m[10], m[11]);
        b3_g(v, 2, 7, 8, 13, m[12], m[13]);
        b3_g(v, 3, 4, 9, 14, m[14], m[15]);
        if (r < 6) {
            for (int i = 0; i < 16; i++) t[i] = m[B3_PERM[i]];
            for (int i = 0; i < 16; i++) m[i] = t[i];
        }
    }
    for (int i = 0; i < 8; i++) cv[i] = v[i] ^ v[i + 8];
}

/* masked[i] = ext[s_buckets[i]] XOR BLAKE3(proofs[i]) for i < n (one record, 160-byte proofs:
   one chunk of three blocks 64 + 64 + 32 bytes; flags CHUNK_START=1, CHUNK_END=2, ROOT=8). */
KERNEL mask_chunks(GLOBAL const u8 *proofs, GLOBAL const u32 *s_buckets, GLOBAL const u8 *ext,
                   GLOBAL u8 *masked, u32 n) {
    u64 i = GID();
    if (i >= n) return;
    GLOBAL const u8 *p = proofs + i * 160u;
    u32 cv[8];
    u32 block[16];
    for (int k = 0; k < 8; k++) cv[k] = B3_IV[k];
    for (int b = 0; b < 3; b++) {
        u32 len = (b < 2) ? 64u : 32u;
        for (int w = 0; w < 16; w++) {
            u32 x = 0;
            if ((u32)(4 * w) < len) {
                u32 o = 64u * b + 4u * w;
                x = (u32)p[o] | ((u32)p[o + 1] << 8) | ((u32)p[o + 2] << 16) | ((u32)p[o + 3] << 24);
            }
            block[w] = x;
        }
        u32 flags = (b == 0) ? 1u : ((b == 2) ? (2u | 8u) : 0u);
        b3_compress(cv, block, len, flags);
    }
    GLOBAL const u8 *e = ext + (u64)s_buckets[i] * 32u;
    GLOBAL u8 *out = masked + i * 32u;
    for (int k = 0; k < 8; k++) {
        u32 h = cv[k];
        out[4 * k + 0] = e[4 * k + 0] ^ (u8)(h & 0xffu);
        out[4 * k + 1] = e[4 * k + 1] ^ (u8)((h >> 8) & 0xffu);
        out[4 * k + 2] = e[4 * k + 2] ^ (u8)((h >> 16) & 0xffu);
        out[4 * k + 3] = e[4 * k + 3] ^ (u8)(h >> 24);
    }
}
"""


def _version_number(version: str) -> int:
    if version not in ("v1", "v2"):
        raise FarmkitError(f"proof-of-space version must be v1 or v2, not {version!r}")
    return 1 if version == "v1" else 2


class GpuMasker:
    """Compiled masking kernel for one GPU backend."""

    def __init__(self, backend: str):
        from farmkit.kernels.gpu import gpu_context

        self.ctx = gpu_context(backend)
        self.program = self.ctx.program(GPU_MASK_SOURCE)
        self.lock = threading.Lock()
        self._erasure: "GpuErasure | None" = None

    def extend_batch(self, sources: np.ndarray) -> np.ndarray:
        """Parity of a batch of records computed on the device (same bytes as ``erasure.extend``)."""
        with self.lock:
            if self._erasure is None:
                self._erasure = GpuErasure(self.ctx)
            return self._erasure.extend_batch(sources)

    def masked_chunks(self, ext: np.ndarray, s_buckets: np.ndarray, proofs: np.ndarray) -> np.ndarray:
        """(n, 32): ``ext[s_i] XOR H(proof_i)`` computed on the device."""
        n = len(s_buckets)
        if n == 0:
            return np.zeros((0, SCALAR_SIZE), np.uint8)
        with self.lock:
            d_proofs = self.ctx.to_device(np.ascontiguousarray(proofs, dtype=np.uint8).reshape(-1))
            d_s = self.ctx.to_device(np.ascontiguousarray(s_buckets, dtype=np.uint32))
            d_ext = self.ctx.to_device(np.ascontiguousarray(ext, dtype=np.uint8).reshape(-1))
            d_out = self.ctx.empty(n * SCALAR_SIZE, np.uint8)
            self.program.launch("mask_chunks", n, 64, d_proofs, d_s, d_ext, d_out, np.uint32(n))
            out = self.ctx.to_host(d_out)
        return out.reshape(n, SCALAR_SIZE)


# --- GPU: erasure coding (extend 2^15 -> parity) on the device -------------------------------------
GPU_ERASURE_SOURCE = r"""
#ifdef FARMKIT_CUDA
#define MULHI64(a, b) __umul64hi((a), (b))
#else
#define MULHI64(a, b) mul_hi((u64)(a), (u64)(b))
#endif

DEVICE int fr_geq_p(const u64 *t) {
    for (int i = 3; i >= 0; i--) {
        if (t[i] > FR_P[i]) return 1;
        if (t[i] < FR_P[i]) return 0;
    }
    return 1;
}

DEVICE void fr_sub_p(u64 *t) {
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 x = t[i];
        u64 d = x - FR_P[i];
        u64 b1 = x < FR_P[i];
        u64 d2 = d - borrow;
        u64 b2 = d < borrow;
        t[i] = d2;
        borrow = b1 | b2;
    }
}

DEVICE void fr_add(u64 *out, const u64 *a, const u64 *b) {
    u64 carry = 0;
    for (int i = 0; i < 4; i++) {
        u64 s = a[i] + b[i];
        u64 c1 = s < a[i];
        u64 s2 = s + carry;
        u64 c2 = s2 < s;
        out[i] = s2;
        carry = c1 | c2;
    }
    if (carry || fr_geq_p(out)) fr_sub_p(out);  /* r < 2^255: no carry out in practice */
}

DEVICE void fr_sub(u64 *out, const u64 *a, const u64 *b) {
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 d = a[i] - b[i];
        u64 b1 = a[i] < b[i];
        u64 d2 = d - borrow;
        u64 b2 = d < borrow;
        out[i] = d2;
        borrow = b1 | b2;
    }
    if (borrow) {  /* add p back */
        u64 carry = 0;
        for (int i = 0; i < 4; i++) {
            u64 s = out[i] + FR_P[i];
            u64 c1 = s < out[i];
            u64 s2 = s + carry;
            u64 c2 = s2 < s;
            out[i] = s2;
            carry = c1 | c2;
        }
    }
}

/* Montgomery product a*b*2^-256 mod p (CIOS, 4 limbs); inputs < p, output < p. */
DEVICE void fr_mul(u64 *out, const u64 *a, const u64 *b) {
    u64 t[6];
    for (int i = 0; i < 6; i++) t[i] = 0;
    for (int i = 0; i < 4; i++) {
        u64 c = 0;
        for (int j = 0; j < 4; j++) {
            u64 lo = a[j] * b[i];
            u64 hi = MULHI64(a[j], b[i]);
            u64 s = t[j] + lo;
            u64 c1 = s < lo;
            u64 s2 = s + c;
            u64 c2 = s2 < s;
            t[j] = s2;
            c = hi + c1 + c2;
        }
        u64 s = t[4] + c;
        t[5] = s < c;
        t[4] = s;
        u64 m = t[0] * FR_INV;
        c = 0;
        for (int j = 0; j < 4; j++) {
            u64 lo = m * FR_P[j];
            u64 hi = MULHI64(m, FR_P[j]);
            u64 s1 = t[j] + lo;
            u64 c1 = s1 < lo;
            u64 s2 = s1 + c;
            u64 c2 = s2 < s1;
            t[j] = s2;
            c = hi + c1 + c2;
        }
        u64 s3 = t[4] + c;
        t[5] += s3 < c;
        t[4] = s3;
        t[0] = t[1]; t[1] = t[2]; t[2] = t[3]; t[3] = t[4]; t[4] = t[5]; t[5] = 0;
    }
    if (t[4] || fr_geq_p(t)) fr_sub_p(t);
    for (int i = 0; i < 4; i++) out[i] = t[i];
}

/* big-endian 32-byte scalars -> limbs, written at the bit-reversed position (DIT input order).
   The transform is linear, so raw limbs go through it unchanged (no Montgomery conversion). */
KERNEL ec_load(GLOBAL const u8 *src, GLOBAL u64 *a, GLOBAL const u32 *rev, u32 log_n, u64 total) {
    u64 g = GID();
    if (g >= total) return;
    u64 n = (u64)1 << log_n;
    u64 rec = g >> log_n, k = g & (n - 1);
    GLOBAL const u8 *p = src + g * 32u;
    GLOBAL u64 *dst = a + (rec * n + rev[k]) * 4u;
    for (int l = 0; l < 4; l++) {
        u64 w = 0;
        for (int b = 0; b < 8; b++) w = (w << 8) | (u64)p[(3 - l) * 8 + b];
        dst[l] = w;
    }
}

/* one radix-2 DIT stage of length 2*hlen over every record (tw: size-n table, stride n/(2*hlen)) */
KERNEL ec_stage(GLOBAL u64 *a, GLOBAL const u64 *tw, u32 log_n, u32 log_half, u64 total) {
    u64 g = GID();
    if (g >= total) return;
    u64 n = (u64)1 << log_n;
    u64 per = n >> 1;
    u64 rec = g / per, k = g % per;
    u64 hlen = (u64)1 << log_half;
    u64 blk = k >> log_half, j = k & (hlen - 1);
    u64 i0 = rec * n + blk * (hlen << 1) + j;
    u64 i1 = i0 + hlen;
    u64 ti = j << (log_n - 1 - log_half);
    u64 u[4], v[4], w[4], x[4];
    for (int l = 0; l < 4; l++) { u[l] = a[i0 * 4 + l]; x[l] = a[i1 * 4 + l]; w[l] = tw[ti * 4 + l]; }
    fr_mul(v, x, w);
    fr_add(x, u, v);
    fr_sub(w, u, v);
    for (int l = 0; l < 4; l++) { a[i0 * 4 + l] = x[l]; a[i1 * 4 + l] = w[l]; }
}

/* a[k] * twist[k] (coset shift and 1/n), written bit-reversed into b for the forward transform */
KERNEL ec_twist(GLOBAL const u64 *a, GLOBAL u64 *b, GLOBAL const u64 *twist, GLOBAL const u32 *rev, u32 log_n, u64 total) {
    u64 g = GID();
    if (g >= total) return;
    u64 n = (u64)1 << log_n;
    u64 rec = g >> log_n, k = g & (n - 1);
    u64 x[4], t[4], y[4];
    for (int l = 0; l < 4; l++) { x[l] = a[g * 4 + l]; t[l] = twist[k * 4 + l]; }
    fr_mul(y, x, t);
    GLOBAL u64 *dst = b + (rec * n + rev[k]) * 4u;
    for (int l = 0; l < 4; l++) dst[l] = y[l];
}

/* limbs -> big-endian 32-byte scalars */
KERNEL ec_store(GLOBAL const u64 *a, GLOBAL u8 *out, u64 total) {
    u64 g = GID();
    if (g >= total) return;
    GLOBAL u8 *p = out + g * 32u;
    for (int l = 0; l < 4; l++) {
        u64 w = a[g * 4 + l];
        for (int b = 7; b >= 0; b--) { p[(3 - l) * 8 + b] = (u8)(w & 0xffu); w >>= 8; }
    }
}
"""


def _gpu_erasure_constants() -> str:
    from farmkit.kernels.fr import MODULUS

    limbs = ", ".join(f"0x{(MODULUS >> (64 * i)) & ((1 << 64) - 1):016x}UL" for i in range(4))
    inv = (-pow(MODULUS, -1, 1 << 64)) % (1 << 64)
    return f"CONSTANT u64 FR_P[4] = {{{limbs}}};\n#define FR_INV 0x{inv:016x}UL\n"


class GpuErasure:
    """``erasure.extend`` for a batch of records on the device (radix-2 NTTs over Fr)."""

    def __init__(self, ctx, n: int = RECORD_NUM_CHUNKS):
        from farmkit.kernels import fft as _fft
        from farmkit.kernels import fr

        self.ctx = ctx
        self.n = n
        self.log_n = n.bit_length() - 1
        source = _gpu_erasure_constants() + GPU_ERASURE_SOURCE
        if ctx.backend == "cuda":
            source = source.replace("UL}", "ULL}").replace("UL,", "ULL,").replace("UL\n", "ULL\n")
        self.program = ctx.program(source)
        w2n = _fft.root_of_unity(2 * n)
        n_inv = pow(n, fr.MODULUS - 2, fr.MODULUS)
        twist, acc = [], n_inv
        for _ in range(n):
            twist.append(acc)
            acc = acc * w2n % fr.MODULUS
        self.d_tw = ctx.to_device(np.ascontiguousarray(_fft.twiddles(n)).reshape(-1))
        self.d_tw_inv = ctx.to_device(np.ascontiguousarray(_fft.twiddles(n, True)).reshape(-1))
        self.d_twist = ctx.to_device(np.ascontiguousarray(fr.scalars_from_ints(twist)).reshape(-1))
        self.d_rev = ctx.to_device(_fft.bit_reverse_permutation(n).astype(np.uint32))

    def _transform(self, d_a, tw, batch: int) -> None:
        butterflies = np.uint64(batch * self.n // 2)
        for log_half in range(self.log_n):
            self.program.launch("ec_stage", int(butterflies), 64, d_a, tw, np.uint32(self.log_n), np.uint32(log_half), butterflies)

    def extend_batch(self, sources: np.ndarray) -> np.ndarray:
        """(b, n, 32) canonical big-endian scalars -> parity (b, n, 32)."""
        from farmkit.kernels.fr import MODULUS

        from farmkit.protocol.sector import canonical_scalars

        b = sources.shape[0]
        if not canonical_scalars(sources.reshape(-1, SCALAR_SIZE), MODULUS).all():
            raise FarmkitError("extend: invalid scalar (>= modulus) in a record")
        total = np.uint64(b * self.n)
        ctx = self.ctx
        d_src = ctx.to_device(np.ascontiguousarray(sources, dtype=np.uint8).reshape(-1))
        d_a = ctx.empty(b * self.n * 4, np.uint64)
        d_b = ctx.empty(b * self.n * 4, np.uint64)
        ln = np.uint32(self.log_n)
        self.program.launch("ec_load", int(total), 64, d_src, d_a, self.d_rev, ln, total)
        self._transform(d_a, self.d_tw_inv, b)  # unscaled inverse FFT (1/n is in the twist)
        self.program.launch("ec_twist", int(total), 64, d_a, d_b, self.d_twist, self.d_rev, ln, total)
        self._transform(d_b, self.d_tw, b)
        self.program.launch("ec_store", int(total), 64, d_b, d_src, total)
        return ctx.to_host(d_src).reshape(b, self.n, SCALAR_SIZE)


@njit(cache=True, nogil=True)
def _fill_from_masked(ext, s_buckets, masked, bits, present, chunks):
    """Like :func:`_mask_and_fill` but with the masked values already computed (GPU path)."""
    n_s = ext.shape[0]
    row = np.full(n_s, -1, np.int64)
    n_enc = 0
    for i in range(s_buckets.shape[0]):
        if n_enc == 32768:
            break
        zero = True
        for j in range(32):
            if masked[i, j] != 0:
                zero = False
                break
        if zero:
            continue
        row[s_buckets[i]] = i
        bits[s_buckets[i]] = 1
        n_enc += 1
    unencoded_left = 32768 - n_enc
    k = 0
    for s in range(n_s):
        if bits[s] == 1:
            chunks[k, :] = masked[row[s], :]
            present[s] = 1
            k += 1
        elif unencoded_left > 0:
            chunks[k, :] = ext[s, :]
            present[s] = 1
            unencoded_left -= 1
            k += 1
        if k == 32768:
            break
    return n_enc


def encode_records_gpu(
    sources: Sequence[np.ndarray], seeds: Sequence[bytes], version: str, backend: str,
    masker: GpuMasker | None = None, timings: dict | None = None, outs: Sequence[EncodedRecord] | None = None,
    erasure_on_device: bool = True,
) -> list[EncodedRecord]:
    """GPU path for a batch of records: PoS tables (``pos_gpu``), erasure coding (radix-2 NTTs)
    and BLAKE3 + masking on the device, then the (cheap) fill on the CPU."""
    from farmkit.kernels import pos_gpu
    from farmkit.kernels.erasure import extend_batch, interleave

    masker = masker or GpuMasker(backend)
    src = np.ascontiguousarray(np.stack([np.asarray(s, np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE) for s in sources]))
    t0 = time.perf_counter()
    if erasure_on_device:
        found = pos_gpu.encoding_proofs_batch([bytes(s) for s in seeds], _version_number(version), backend)
        t1 = time.perf_counter()
        exts = interleave(src, masker.extend_batch(src))
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:  # erasure coding on the CPU overlaps the device PoS
            ext_future = pool.submit(lambda: interleave(src, extend_batch(src)))
            found = pos_gpu.encoding_proofs_batch([bytes(s) for s in seeds], _version_number(version), backend)
            t1 = time.perf_counter()
            exts = ext_future.result()
    t2 = time.perf_counter()
    out = []
    t_mask = 0.0
    for k, (s_buckets, proofs) in enumerate(found):
        s_buckets = np.asarray(s_buckets, np.int64)
        ta = time.perf_counter()
        masked = masker.masked_chunks(exts[k], s_buckets, proofs)
        bits, present, chunks, bitfield = _record_buffers(outs[k] if outs is not None else None)
        _fill_from_masked(exts[k], s_buckets, masked, bits, present, chunks)
        _pack_bits_lsb0(bits, bitfield)
        out.append(outs[k] if outs is not None else EncodedRecord(bitfield, present, chunks))
        t_mask += time.perf_counter() - ta
    if timings is not None:
        _add(timings, "pos", t1 - t0)
        _add(timings, "erasure", t2 - t1)
        _add(timings, "masking", t_mask)
    return out


# --- sector assembly (§6.4-§6.5) -------------------------------------------------------------------
@njit(cache=True, nogil=True, parallel=True)
def _record_ranks(present, block_starts, ranks):
    """ranks[p, b] = number of chunks of record p before s-bucket block_starts[b]."""
    for p in prange(present.shape[0]):
        acc = 0
        b = 0
        for s in range(present.shape[1]):
            while b < block_starts.shape[0] and block_starts[b] == s:
                ranks[p, b] = acc
                b += 1
            acc += present[p, s]


@njit(cache=True, nogil=True, parallel=True)
def _scatter_blocks(present, chunks, offsets, ranks, block, out):
    n_p = present.shape[0]
    n_blocks = ranks.shape[1]
    for b in prange(n_blocks):
        s0 = b * block
        s1 = s0 + block
        cursor = offsets[s0:s1].copy()
        for p in range(n_p):
            k = ranks[p, b]
            for s in range(s0, s1):
                if present[p, s]:
                    c = cursor[s - s0]
                    out[c, :] = chunks[p, k, :]
                    cursor[s - s0] = c + 1
                    k += 1


def scatter_s_buckets(present: np.ndarray, chunks: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Fill the s-bucket region ``out`` ((P·32768, 32)) from per-record chunks (§6.5 region 2)."""
    block = 1024
    starts = np.arange(0, RECORD_NUM_S_BUCKETS, block, dtype=np.int64)
    ranks = np.zeros((present.shape[0], len(starts)), np.int64)
    _record_ranks(present, starts, ranks)
    _scatter_blocks(present, chunks, np.asarray(offsets, np.int64), ranks, block, out)


def scatter_s_buckets_reference(present: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """Readable §6.5 region 2: for s ascending, for p ascending, append record p's chunk."""
    order_rows = []
    k_of = np.cumsum(present, axis=1) - 1  # index of s within record p's ascending chunks
    for s in range(present.shape[1]):
        for p in range(present.shape[0]):
            if present[p, s]:
                order_rows.append(chunks[p, k_of[p, s]])
    return np.stack(order_rows)


@dataclass
class PlottedSectorBytes:
    """A sector ready to write (§6.7): bytes, metadata and which piece went to which offset."""

    sector_index: int
    sector_id: SectorId
    data: np.ndarray  # uint8[sector_size]
    metadata: SectorMetadata
    piece_indexes: list[int]


def assemble_sector(
    records: "Sequence[EncodedRecord] | SectorBuffers", record_metadata: Sequence[RecordMetadata], sector_index: int,
    history_size: int, timings: dict | None = None,
) -> tuple[np.ndarray, SectorMetadata]:
    """§6.4-§6.6: contents map ‖ s-buckets ‖ record metadata ‖ checksum, and the sector metadata."""
    t0 = time.perf_counter()
    if isinstance(records, SectorBuffers):
        bitfields, present, chunks = records.bitfields, records.present, records.chunks
    else:
        bitfields = np.stack([r.bitfield for r in records])
        present = np.stack([r.present for r in records])
        chunks = np.stack([r.chunks for r in records])
    p = len(bitfields)
    layout = SectorLayout(p)
    sizes = present.sum(axis=0, dtype=np.int64)
    metadata = SectorMetadata(sector_index, p, sizes.astype(np.uint16), history_size)
    offsets = metadata.s_bucket_offsets().astype(np.int64)
    sector = np.empty(layout.size, np.uint8)
    sector[: layout.contents_map_size] = np.frombuffer(SectorContentsMap(bitfields).encode(), np.uint8)
    region = sector[layout.s_buckets_offset : layout.record_metadata_offset].reshape(-1, SCALAR_SIZE)
    scatter_s_buckets(present, chunks, offsets, region)
    meta = b"".join(m.encode() for m in record_metadata)
    sector[layout.record_metadata_offset : layout.checksum_offset] = np.frombuffer(meta, np.uint8)
    t1 = time.perf_counter()
    sector[layout.checksum_offset :] = np.frombuffer(sector_checksum(sector[: layout.checksum_offset]), np.uint8)
    t2 = time.perf_counter()
    if timings is not None:
        _add(timings, "assembly", t1 - t0)
        _add(timings, "hashing", t2 - t1)
    return sector, metadata


# --- sector encoder (several records in flight) ----------------------------------------------------
def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class SectorBuffers:
    """Per-sector arrays the encoders write into (no copies when the sector is assembled)."""

    def __init__(self, pieces_in_sector: int):
        self.bitfields = np.zeros((pieces_in_sector, RECORD_BITFIELD_SIZE), np.uint8)
        self.present = np.zeros((pieces_in_sector, RECORD_NUM_S_BUCKETS), np.uint8)
        self.chunks = np.empty((pieces_in_sector, RECORD_NUM_CHUNKS, SCALAR_SIZE), np.uint8)

    def record(self, p: int) -> EncodedRecord:
        return EncodedRecord(self.bitfields[p], self.present[p], self.chunks[p])


class SectorEncoder:
    """Encodes whole sectors on one backend. ``cpu``: a thread pool keeps several records in
    flight (numba kernels release the GIL); ``cuda``/``opencl``: batches of records on the GPU."""

    def __init__(self, backend: str = "cpu", workers: int | None = None, gpu_batch: int | None = None):
        self.backend = backend
        self.workers = workers or _default_workers()
        self.timings: dict[str, float] = {}
        self._masker: GpuMasker | None = None
        self.gpu_batch = gpu_batch or 1
        if backend != "cpu":
            from farmkit.kernels import pos_gpu

            self._masker = GpuMasker(backend)
            # records per device launch: as many as half the device memory holds (pos_gpu's rule)
            self.gpu_batch = gpu_batch or max(1, pos_gpu.default_batch(backend))

    def device_name(self) -> str:
        if self._masker is not None:
            return self._masker.ctx.device_name
        from farmkit.kernels.backends import probe

        return probe("cpu").device

    def encode_records(
        self, sources: Sequence[np.ndarray], seeds: Sequence[bytes], version: str,
        progress: Callable[[int], None] | None = None, buffers: SectorBuffers | None = None,
    ) -> list[EncodedRecord]:
        n = len(sources)
        buffers = buffers or SectorBuffers(n)
        if self.backend == "cpu":
            out: list[EncodedRecord | None] = [None] * n
            pool = ThreadPoolExecutor(max_workers=self.workers)
            try:
                futures = {
                    pool.submit(encode_record, sources[i], seeds[i], version, self.timings, buffers.record(i)): i
                    for i in range(n)
                }
                for fut in futures:
                    i = futures[fut]
                    out[i] = fut.result()
                    if progress:
                        progress(1)
            finally:  # on an error or Ctrl-C, drop the records not started yet
                pool.shutdown(wait=True, cancel_futures=True)
            return out  # type: ignore[return-value]
        out2: list[EncodedRecord] = []
        for start in range(0, n, self.gpu_batch):
            batch = slice(start, min(n, start + self.gpu_batch))
            recs = encode_records_gpu(
                sources[batch], seeds[batch], version, self.backend, self._masker, self.timings,
                [buffers.record(i) for i in range(batch.start, batch.stop)],
            )
            out2.extend(recs)
            if progress:
                progress(len(recs))
        return out2

    def encode_sector(
        self, public_key_hash: bytes, sector_index: int, history_size: int, pieces: Sequence[bytes],
        piece_indexes: Sequence[int], version: str, progress: Callable[[int], None] | None = None,
    ) -> PlottedSectorBytes:
        """§6.2-§6.6 for already-downloaded pieces (``pieces[offset]`` is the piece at that offset)."""
        sector_id = SectorId.new(public_key_hash, sector_index, history_size)
        if not pieces:
            raise FarmkitError("a sector needs at least one piece")
        sources = []
        metas = []
        for piece in pieces:
            if len(piece) != PIECE_SIZE:
                raise FarmkitError(f"piece has {len(piece)} bytes, expected {PIECE_SIZE}")
            sources.append(np.frombuffer(piece, np.uint8, count=RECORD_SIZE).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE))
            metas.append(RecordMetadata.from_piece(piece))
        seeds = [sector_id.derive_evaluation_seed(p) for p in range(len(pieces))]
        buffers = SectorBuffers(len(pieces))
        self.encode_records(sources, seeds, version, progress, buffers)
        data, metadata = assemble_sector(buffers, metas, sector_index, history_size, self.timings)
        return PlottedSectorBytes(sector_index, sector_id, data, metadata, list(piece_indexes))

