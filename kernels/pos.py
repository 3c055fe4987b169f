"""Proof of space: Chia tables at K = 20, proof selection V1 and V2, and the consensus verifier.

Spec: pos.md §§1-9, 11, 13, 19 (V1) and pos-v2.md §3 (V2). Everything hot is numba-compiled
(``@njit(cache=True, nogil=True)``); a whole table set is built by ONE compiled call, so the
plotter can build several records at once in threads. The readable reference path (numpy +
the ``blake3`` package, slow, any K) is :mod:`farmkit.kernels.pos_ref`.

Public API (``version`` is ``"v1"`` or ``"v2"``):

* :func:`build_tables` -> :class:`PosTables` (tables built once, then queried);
* :func:`find_proof` (seed, challenge_index) -> 160 bytes or None;
* :func:`find_proofs` (seed, first, count) -> (found bool[count], proofs uint8[count, 160]);
* :func:`encoding_proofs` (seed) -> (s_buckets ascending, proofs): what record encoding needs
  (sector-audit-prove.md §6.3) -- at most the first 2^15 s-buckets that have a proof;
* :func:`is_proof_valid` (seed, challenge_index, proof) -> bool: ``verify_only`` (pos.md §9).

Data layout (struct of arrays, pos.md §19). Per table: ``y`` int32, ``l``/``r`` int32 positions
(V1: ranks in the parent's canonical order; V2: generation-order labels) and metadata as two
int64 limbs ``hi``/``lo`` of 2K bits each (metadata is 1..4 pieces of K bits, value =
hi << 2K | lo). V1 orders each table with a stable two-pass LSD radix sort on y
(digit 1: y mod BC, digit 2: y div BC; the second pass yields the bucket boundaries), matches
bucket pairs with a per-bucket rmap, emits matches in ascending (lpos, rpos) order (pos.md §6.1)
and never stores table 7: it keeps the first (y7, lpos, rpos) per K-bit challenge prefix.
V2 copies each table bucket-major into 272 slots per y-bucket (generation order, the cap) so
matching and fx read locally; l/r store generation-order labels, as upstream.

Memory per table set (K = 20, ``benchmarks/pos.py`` measures it): a V1 build peaks at ~130 MiB
above the caller's baseline and its :class:`PosTables` keeps ~65 MiB (x by table-1 position,
l/r of tables 2-6, the per-prefix table-7 winners); a V2 build peaks at ~130 MiB (measured,
including its per-thread scratch workspace of ~67 MiB, which stays allocated for the thread's
next build) and its :class:`PosTables` keeps ~40 MiB (l/r of tables 2-6 and two 65536-entry
target arrays). Bounded: tables never exceed
~1.1·2^K entries in practice, arrays grow by 25 % steps if one ever does.

fx hashes 256 pairs at a time with the lane-parallel BLAKE3 compression
(:func:`farmkit.kernels.blake3.compress_lanes4`, vectorised by LLVM); matching marks the right
bucket in a padded byte grid where a left entry's 64 targets are a constant offset vector from
one base (no modulo), tests them with ONE 64-lane gather into a 64-bit mask, and visits the few
hits by count-trailing-zeros. V2 builds reuse a per-thread scratch workspace (~67 MiB at K = 20,
held by each building thread between builds) instead of fresh, page-faulting memory per table.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from farmkit.errors import FarmkitError
from farmkit.kernels.blake3 import compress, compress_lanes, compress_lanes4
from farmkit.kernels.chacha8 import chacha8_block, keystream

__all__ = [
    "K",
    "PARAM_EXT",
    "PARAM_M",
    "PARAM_B",
    "PARAM_C",
    "PARAM_BC",
    "META_MULT",
    "V2_BUCKET_CAP",
    "V2_MATCH_CAP",
    "NUM_S_BUCKETS",
    "NUM_CHUNKS",
    "VERSIONS",
    "PosTables",
    "build_tables",
    "find_proof",
    "find_proofs",
    "encoding_proofs",
    "is_proof_valid",
    "challenge_prefix",
    "proof_size",
    "num_buckets",
]

# --- Constants (pos.md §1, pos-v2.md §2). kernels/ may not import protocol/, so the algorithm's
# own parameters live here; protocol.constants.POS_K / POS_PROOF_SIZE must agree. -------------
K = 20  # PosProof::K
PARAM_EXT = 6  # extra y bits taken from x
PARAM_M = 64  # match targets per left entry
PARAM_B = 119
PARAM_C = 127
PARAM_BC = PARAM_B * PARAM_C  # 15113: bucket width in y
META_MULT = (0, 1, 2, 4, 4, 3, 2, 0)  # metadata size of table t in units of K (index 1..7)
V2_BUCKET_CAP = 272  # REDUCED_BUCKET_SIZE (pos-v2.md §2)
V2_MATCH_CAP = 288  # REDUCED_MATCHES_COUNT
NUM_S_BUCKETS = 2**16  # Record::NUM_S_BUCKETS
NUM_CHUNKS = 2**15  # Record::NUM_CHUNKS: V2 returns proofs for the first 2^15 s-buckets
VERSIONS = ("v1", "v2")
SEED_SIZE = 32
MIN_K, MAX_K = 10, 25  # K range the kernels support (K = 20 is the protocol; others for tests)

_BC = PARAM_BC
_META_MULT = np.array(META_MULT, dtype=np.int64)
# (2m + parity)^2 mod C for parity 0/1, m = 0..63 (pos.md §4)
_SQ = np.array([[((2 * m + p) ** 2) % PARAM_C for m in range(PARAM_M)] for p in (0, 1)], dtype=np.int64)
_NO_Y = np.int64(1) << 40


def num_buckets(k: int = K) -> int:
    """ceil(2^(k+6) / BC): 4441 at K = 20 (pos.md §1)."""
    return -(-(1 << (k + PARAM_EXT)) // PARAM_BC)


def proof_size(k: int = K) -> int:
    """64 x values of k bits: 8k bytes (160 at K = 20)."""
    return 8 * k


def challenge_prefix(challenge_index: int, k: int = K) -> int:
    """c_K = BE_u32(LE4(challenge_index)) >> (32 - K) (pos.md §2.2)."""
    return int.from_bytes(int(challenge_index).to_bytes(4, "little"), "big") >> (32 - k)


# ================================================================================================
# Small compiled helpers
# ================================================================================================


@njit(cache=True, nogil=True, inline="always")
def _bswap32(w):
    return ((w & 0xFF) << 24) | (((w >> 8) & 0xFF) << 16) | (((w >> 16) & 0xFF) << 8) | ((w >> 24) & 0xFF)


@njit(cache=True, nogil=True, inline="always")
def _target(parity, a, c, m):
    """Match target m of a left entry with r = 127a + c (pos.md §4), without division."""
    q = a + m
    if q >= PARAM_B:
        q -= PARAM_B
    w = _SQ[parity, m] + c
    if w >= PARAM_C:
        w -= PARAM_C
    return q * PARAM_C + w


@intrinsic
def _cttz64(typingctx, x):
    """Count trailing zeros of a uint64 (LLVM cttz)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


# Padded presence grid for matching (pos.md §4): a right entry r = 127·a + c is marked at
# row·256 + col for row in {a, a + 119} and col in {c, c + 127}, so target m of a left entry
# (a, c) is the cell (a·256 + c) + (m·256 + (2m + parity)^2 mod C): one add per target, no
# modulo, the 64 offsets a constant per parity.
_GRID_W = 256
_GRID_ROWS = PARAM_B + PARAM_M - 1  # rows a + m <= 118 + 63
_GRID_SIZE = _GRID_ROWS * _GRID_W + 3  # + 3: a byte grid is read as dwords
_GRID_DTYPE = np.uint8
_GRID_OFF = np.array([[m * _GRID_W + int(_SQ[p, m]) for m in range(PARAM_M)] for p in (0, 1)], dtype=np.int32)


@njit(cache=True, nogil=True, inline="always")
def _grid_mark(grid, r, v):
    """Set the grid cells of right value r (0 <= r < BC) to v (1: mark, 0: clear)."""
    a = r // PARAM_C
    c = r - a * PARAM_C
    base = a * _GRID_W + c
    grid[base] = v
    grid[base + PARAM_C] = v
    if a < PARAM_M - 1:
        base2 = base + PARAM_B * _GRID_W
        grid[base2] = v
        grid[base2 + PARAM_C] = v


@intrinsic
def _gather_nz_mask64(typingctx, grid, offs, row, base):
    """uint64 whose bit m is grid[base + offs[row, m]] != 0, m = 0..63 (int32 grid and offsets).

    One 64-lane masked gather (AVX-512/AVX2 gathers) and a compare straight into a bit mask;
    the caller guarantees every index is in bounds.
    """
    sig = types.uint64(grid, offs, row, base)

    def codegen(context, builder, signature, args):
        g, o, rw, bs = args
        ga = context.make_array(signature.args[0])(context, builder, g)
        oa = context.make_array(signature.args[1])(context, builder, o)
        i32 = ir.IntType(32)
        i64 = ir.IntType(64)
        v64 = ir.VectorType(i32, PARAM_M)
        m64 = ir.VectorType(ir.IntType(1), PARAM_M)
        rw64 = builder.sext(rw, i64) if rw.type.width < 64 else rw
        optr = builder.gep(oa.data, [builder.mul(rw64, ir.Constant(i64, PARAM_M))], inbounds=True)
        ovec = builder.load(builder.bitcast(optr, v64.as_pointer()), align=4)
        b32 = builder.trunc(bs, i32) if bs.type.width > 32 else bs
        bv = builder.insert_element(v64(ir.Undefined), b32, ir.Constant(i32, 0))
        bv = builder.shuffle_vector(bv, v64(ir.Undefined), ir.Constant(v64, [0] * PARAM_M))
        idx = builder.add(ovec, bv)
        ew = signature.args[0].dtype.bitwidth  # 8: byte grid, read as (unaligned) dwords
        et = ir.IntType(ew)
        gep = ir.instructions.GEPInstr(builder.block, ga.data, [idx], True, "", source_etype=et)
        gep.type = ir.VectorType(ga.data.type, PARAM_M)  # vector of element pointers
        builder._insert(gep)
        fnty = ir.FunctionType(v64, [gep.type, i32, m64, v64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.gather.v64i32.v64p0")
        vals = builder.call(fn, [gep, ir.Constant(i32, ew // 8), ir.Constant(m64, [1] * PARAM_M), ir.Constant(v64, None)])
        if ew < 32:
            vals = builder.and_(vals, ir.Constant(v64, [(1 << ew) - 1] * PARAM_M))
        return builder.bitcast(builder.icmp_unsigned("!=", vals, ir.Constant(v64, None)), i64)

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _grid_hit_mask(grid, parity, a, c):
    """Bit m set iff target m of a left entry (r = 127a + c) is marked in the grid."""
    return _gather_nz_mask64(grid, _GRID_OFF, parity, a * _GRID_W + c)


@njit(cache=True, nogil=True)
def _grow(a, n):
    b = np.empty(n, dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


# ================================================================================================
# f1 (pos.md §3)
# ================================================================================================


@njit(cache=True, nogil=True)
def _f1_all(kw, k, ys):
    """y(x) for every x in [0, 2^k) into ``ys`` (x order): K keystream bits at K·x, << 6 | x >> (K-6)."""
    n = 1 << k
    nbytes = (k * n) // 8
    nblocks = (nbytes + 63) // 64 + 1  # one spare block: the last x reads 4 bytes
    buf = np.empty(nblocks * 64, dtype=np.uint8)
    keystream(kw, 0, nblocks, buf)
    mask = (1 << k) - 1
    for x in range(n):
        o = k * x
        b = o >> 3
        v = (np.int64(buf[b]) << 24) | (np.int64(buf[b + 1]) << 16) | (np.int64(buf[b + 2]) << 8) | np.int64(buf[b + 3])
        v = (v >> (32 - k - (o & 7))) & mask
        ys[x] = (v << PARAM_EXT) | (x >> (k - PARAM_EXT))


@njit(cache=True, nogil=True)
def _f1_one(kw, k, x, buf):
    """y(x) for a single x (two ChaCha8 blocks at most), used by the verifier."""
    o = k * x
    b = o >> 3
    blk = b >> 6
    chacha8_block(kw, blk, buf, 0)
    chacha8_block(kw, blk + 1, buf, 64)
    b -= blk * 64
    v = (np.int64(buf[b]) << 24) | (np.int64(buf[b + 1]) << 16) | (np.int64(buf[b + 2]) << 8) | np.int64(buf[b + 3])
    v = (v >> (32 - k - (o & 7))) & ((1 << k) - 1)
    return (v << PARAM_EXT) | (x >> (k - PARAM_EXT))


# ================================================================================================
# fx (pos.md §5): BLAKE3 (one compression) of y_L ‖ meta_L ‖ meta_R, MSB-first
# ================================================================================================


@njit(cache=True, nogil=True, inline="always")
def _put(c0, c1, c2, c3, s, w, v):
    """OR the w-bit field v (< 2^50) into the 256-bit MSB-first string c0‖c1‖c2‖c3 at bit s."""
    if w == 0:
        return c0, c1, c2, c3
    j = s >> 6
    e = 64 - (s & 63) - w
    if e >= 0:
        x = v << e
        if j == 0:
            c0 |= x
        elif j == 1:
            c1 |= x
        elif j == 2:
            c2 |= x
        else:
            c3 |= x
    else:
        hi = v >> (-e)
        lo = v << (64 + e)
        if j == 0:
            c0 |= hi
            c1 |= lo
        elif j == 1:
            c1 |= hi
            c2 |= lo
        else:
            c2 |= hi
            c3 |= lo
    return c0, c1, c2, c3


@njit(cache=True, nogil=True, inline="always")
def _get(h0, h1, h2, s, w):
    """The w-bit field (w <= 50) at bit s of the MSB-first string h0‖h1‖h2 (int64 bit patterns)."""
    if w == 0:
        return 0
    j = s >> 6
    o = s & 63
    a = h0 if j == 0 else (h1 if j == 1 else h2)
    mask = (1 << w) - 1
    if o + w <= 64:
        return (a >> (64 - o - w)) & mask
    b = h1 if j == 0 else h2
    sh = 128 - o - w
    return ((a << (o + w - 64)) | ((b >> sh) & ((1 << (64 - sh)) - 1))) & mask


@njit(cache=True, nogil=True, inline="always")
def _fx_pack(t, k, yl, lh, ll, rh, rl):
    """The fx hash input y_L ‖ meta_L ‖ meta_R, MSB-first, as a 256-bit string c0‖c1‖c2‖c3."""
    npar = _META_MULT[t - 1]
    w_lo = min(npar, 2) * k
    w_hi = (npar - 2) * k if npar > 2 else 0
    s = k + PARAM_EXT
    c0, c1, c2, c3 = _put(0, 0, 0, 0, 0, s, yl)
    c0, c1, c2, c3 = _put(c0, c1, c2, c3, s, w_hi, lh)
    c0, c1, c2, c3 = _put(c0, c1, c2, c3, s + w_hi, w_lo, ll)
    s2 = s + w_hi + w_lo
    c0, c1, c2, c3 = _put(c0, c1, c2, c3, s2, w_hi, rh)
    c0, c1, c2, c3 = _put(c0, c1, c2, c3, s2 + w_hi, w_lo, rl)
    return c0, c1, c2, c3


@njit(cache=True, nogil=True, inline="always")
def _fx_block_len(t, k):
    """Bytes of the fx hash input of table t: ceil((k + 6 + 2·m_{t-1}) / 8) (pos.md §5)."""
    return (k + PARAM_EXT + 2 * _META_MULT[t - 1] * k + 7) >> 3


@njit(cache=True, nogil=True, inline="always")
def _fx_unpack(t, k, ll, rl, h0, h1, h2, h3, h4, h5):
    """y_out (first k+6 bits of the hash) and the table-t metadata (concatenation or hash bits)."""
    s = k + PARAM_EXT
    b0 = _bswap32(h0)
    y = b0 >> (32 - s)
    mh = 0
    ml = 0
    if t == 2:
        ml = (ll << k) | rl
    elif t == 3:
        mh = ll
        ml = rl
    elif t <= 6:
        nout = _META_MULT[t]
        o_lo = min(nout, 2) * k
        o_hi = (nout - 2) * k if nout > 2 else 0
        g0 = (b0 << 32) | _bswap32(h1)
        g1 = (_bswap32(h2) << 32) | _bswap32(h3)
        g2 = (_bswap32(h4) << 32) | _bswap32(h5)
        mh = _get(g0, g1, g2, s, o_hi)
        ml = _get(g0, g1, g2, s + o_hi, o_lo)
    return y, mh, ml


@njit(cache=True, nogil=True, inline="always")
def _fx(t, k, yl, lh, ll, rh, rl):
    """fx of table t (2..7), pos.md §5, for one pair: returns (y_out, meta_hi, meta_lo).

    Metadata is 1..4 pieces of k bits held as two limbs (hi: pieces 0-1, lo: pieces 2-3,
    value = hi << 2k | lo). The input's 32-bit big-endian words, byte-swapped, are the BLAKE3
    message words; one compression (flags CHUNK_START | CHUNK_END | ROOT).
    """
    c0, c1, c2, c3 = _fx_pack(t, k, yl, lh, ll, rh, rl)
    h = compress(
        0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
        _bswap32((c0 >> 32) & 0xFFFFFFFF), _bswap32(c0 & 0xFFFFFFFF),
        _bswap32((c1 >> 32) & 0xFFFFFFFF), _bswap32(c1 & 0xFFFFFFFF),
        _bswap32((c2 >> 32) & 0xFFFFFFFF), _bswap32(c2 & 0xFFFFFFFF),
        _bswap32((c3 >> 32) & 0xFFFFFFFF), _bswap32(c3 & 0xFFFFFFFF),
        0, 0, 0, 0, 0, 0, 0, 0,
        0, _fx_block_len(t, k), 11,
    )
    return _fx_unpack(t, k, ll, rl, h[0], h[1], h[2], h[3], h[4], h[5])


_FX_BATCH = 256


@njit(cache=True, nogil=True)
def _fx_batches(t, k, py, pmh, pml, n, ol, orr, nb, bucketed, bcnt, by, bmh, bml, blab):
    """fx of table t for n matches (l, r) of the parent, 256 pairs at a time: pack the inputs,
    hash them lane-parallel (vectorised BLAKE3), unpack.

    ``bucketed`` False: returns (y[n], meta_hi[n], meta_lo[n]) in match order (table 7: empty
    metadata). ``bucketed`` True (V2): writes each output straight into its y-bucket's slots of
    the caller's arrays (count[nb], y, meta_hi, meta_lo, label over nb·272 slots, reused from
    table to table), keeping the first 272 per bucket in generation order (group_by_buckets,
    pos-v2.md §3.2).
    """
    nm = n if (t < 7 and not bucketed) else 0
    oy = np.empty(nm if t < 7 else n, dtype=np.int32)
    omh = np.empty(nm, dtype=np.int64)
    oml = np.empty(nm, dtype=np.int64)
    if bucketed:
        bcnt[:nb] = 0
    msg = np.zeros((16, _FX_BATCH), dtype=np.uint32)
    hout = np.zeros((8, _FX_BATCH), dtype=np.uint32)
    block_len = _fx_block_len(t, k)
    four_words = k + PARAM_EXT + _META_MULT[t] * k <= 128  # output bits needed fit in h[0..3]
    for q0 in range(0, n, _FX_BATCH):
        cnt = min(_FX_BATCH, n - q0)
        for lane in range(cnt):
            i = ol[q0 + lane]
            j = orr[q0 + lane]
            c0, c1, c2, c3 = _fx_pack(t, k, py[i], pmh[i], pml[i], pmh[j], pml[j])
            msg[0, lane] = _bswap32((c0 >> 32) & 0xFFFFFFFF)
            msg[1, lane] = _bswap32(c0 & 0xFFFFFFFF)
            msg[2, lane] = _bswap32((c1 >> 32) & 0xFFFFFFFF)
            msg[3, lane] = _bswap32(c1 & 0xFFFFFFFF)
            msg[4, lane] = _bswap32((c2 >> 32) & 0xFFFFFFFF)
            msg[5, lane] = _bswap32(c2 & 0xFFFFFFFF)
            msg[6, lane] = _bswap32((c3 >> 32) & 0xFFFFFFFF)
            msg[7, lane] = _bswap32(c3 & 0xFFFFFFFF)
        if four_words:
            compress_lanes4(msg, cnt, block_len, 11, hout)
        else:
            compress_lanes(msg, cnt, block_len, 11, hout)
        for lane in range(cnt):
            q = q0 + lane
            y, mh, ml = _fx_unpack(
                t, k, pml[ol[q]], pml[orr[q]],
                np.int64(hout[0, lane]), np.int64(hout[1, lane]), np.int64(hout[2, lane]),
                np.int64(hout[3, lane]), np.int64(hout[4, lane]), np.int64(hout[5, lane]),
            )
            if bucketed:
                b = y // _BC
                c = bcnt[b]
                if c < V2_BUCKET_CAP:  # later entries are dropped silently
                    slot = b * V2_BUCKET_CAP + c
                    by[slot] = y
                    bmh[slot] = mh
                    bml[slot] = ml
                    blab[slot] = q
                    bcnt[b] = c + 1
            else:
                oy[q] = y
                if t < 7:
                    omh[q] = mh
                    oml[q] = ml
    return oy, omh, oml


@njit(cache=True, nogil=True)
def _fx_table(t, k, py, pmh, pml, n, ol, orr):
    """fx of table t for n matches (l, r): (y[n], meta_hi[n], meta_lo[n]) in match order."""
    e32 = np.empty(0, dtype=np.int32)
    e64 = np.empty(0, dtype=np.int64)
    return _fx_batches(t, k, py, pmh, pml, n, ol, orr, 1, False, e32, e32, e64, e64, e32)


@njit(cache=True, nogil=True)
def fx_kernel(t, k, yl, lh, ll, rh, rl):
    """fx for one pair (testing entry point; see :func:`fx`)."""
    return _fx(t, k, yl, lh, ll, rh, rl)


def _meta_limbs(value: int, k: int) -> tuple[int, int]:
    """Metadata integer -> (hi, lo) limbs of 2k bits each."""
    return value >> (2 * k), value & ((1 << (2 * k)) - 1)


def fx(t: int, y_left: int, meta_left: int, meta_right: int, k: int = K) -> tuple[int, int]:
    """fx of table t on integers: returns (y_out, meta_out as an integer of META_MULT[t]·k bits)."""
    lh, ll = _meta_limbs(meta_left, k)
    rh, rl = _meta_limbs(meta_right, k)
    y, mh, ml = fx_kernel(t, k, y_left, lh, ll, rh, rl)
    return int(y), (int(mh) << (2 * k)) | int(ml)


def f1(seed: bytes, x: int, k: int = K) -> int:
    """f1(x) for one x (fast path)."""
    from farmkit.kernels.chacha8 import key_words

    return int(_f1_one(key_words(seed), k, x, np.empty(128, dtype=np.uint8)))


# ================================================================================================
# V1: canonical order (pos.md §6)
# ================================================================================================


@njit(cache=True, nogil=True)
def _sort_by_y(y, n, nb):
    """Stable LSD radix sort of y[0:n] (digits y mod BC, then y div BC).

    Returns (perm, bucket_start[nb+1]): ``y[perm]`` ascending, ties in input order.
    """
    cnt = np.zeros(_BC + 1, dtype=np.int64)
    for i in range(n):
        cnt[y[i] % _BC + 1] += 1
    for i in range(_BC):
        cnt[i + 1] += cnt[i]
    tmp = np.empty(n, dtype=np.int32)
    for i in range(n):
        r = y[i] % _BC
        tmp[cnt[r]] = i
        cnt[r] += 1
    start = np.zeros(nb + 1, dtype=np.int64)
    for i in range(n):
        start[y[i] // _BC + 1] += 1
    for b in range(nb):
        start[b + 1] += start[b]
    pos = start[:nb].copy()
    perm = np.empty(n, dtype=np.int32)
    for j in range(n):
        i = tmp[j]
        b = y[i] // _BC
        perm[pos[b]] = i
        pos[b] += 1
    return perm, start


@njit(cache=True, nogil=True)
def _match_v1(py, start, nb, cap):
    """All matches of a sorted table, in ascending (lpos, rpos) order (pos.md §4, §6.1).

    Bucket pair by bucket pair: the right bucket's rmap (first position and count per r), then
    each left entry's hits visited by ascending target value. Returns (n, lpos[n], rpos[n]).
    """
    ol = np.empty(cap, dtype=np.int32)
    orr = np.empty(cap, dtype=np.int32)
    rcount = np.zeros(_BC, dtype=np.int32)
    rstart = np.zeros(_BC, dtype=np.int32)
    hits = np.empty(PARAM_M, dtype=np.int64)
    grid = np.zeros(_GRID_SIZE, dtype=_GRID_DTYPE)
    n = 0
    for b in range(nb - 1):
        ls = start[b]
        le = start[b + 1]
        rs = le
        re = start[b + 2]
        if ls == le or rs == re:
            continue  # no match across a gap
        if n + (le - ls) * (re - rs) > cap:  # a pair yields at most nl·nr matches
            cap = n + (le - ls) * (re - rs) + cap // 4
            ol = _grow(ol, cap)
            orr = _grow(orr, cap)
        rbase = (b + 1) * _BC
        for j in range(rs, re):
            r = py[j] - rbase
            if rcount[r] == 0:
                rstart[r] = j
                _grid_mark(grid, r, 1)
            rcount[r] += 1
        parity = b & 1
        lbase = b * _BC
        for i in range(ls, le):
            rl = py[i] - lbase
            a = rl // PARAM_C
            c = rl - a * PARAM_C
            mask = _grid_hit_mask(grid, parity, a, c)
            nh = 0
            while mask != 0:
                hits[nh] = _target(parity, a, c, np.int64(_cttz64(mask)))
                nh += 1
                mask &= mask - np.uint64(1)
            for h in range(1, nh):  # visit hits by ascending target value (= ascending rpos)
                tg = hits[h]
                p = h
                while p > 0 and hits[p - 1] > tg:
                    hits[p] = hits[p - 1]
                    p -= 1
                hits[p] = tg
            for h in range(nh):
                tg = hits[h]
                j0 = rstart[tg]
                for j in range(j0, j0 + rcount[tg]):
                    ol[n] = i
                    orr[n] = j
                    n += 1
        for j in range(rs, re):
            rcount[py[j] - rbase] = 0
            _grid_mark(grid, py[j] - rbase, 0)
    return n, ol, orr


@njit(cache=True, nogil=True)
def _table7_v1(k, py, pmh, pml, n, ol, orr, best_y, best_l, best_r):
    """Table 7 without storing it: per K-bit prefix of y7 keep the smallest (y7, lpos, rpos).

    Matches arrive in ascending (lpos, rpos) order, so a strict ``<`` on y7 keeps the first of
    equal-y candidates (the upstream tie-break, pos.md §6/§7).
    """
    y7, _mh, _ml = _fx_table(7, k, py, pmh, pml, n, ol, orr)
    for q in range(n):
        y = np.int64(y7[q])
        c7 = y >> PARAM_EXT
        if y < best_y[c7]:
            best_y[c7] = y
            best_l[c7] = ol[q]
            best_r[c7] = orr[q]


@njit(cache=True, nogil=True)
def _next_table_v1(t, k, py, pmh, pml, start, nb):
    """Table t from sorted table t-1: matches, fx, and the canonical order (pos.md §6).

    Returns (n, rows, perm, bucket_start): ``rows[q]`` = (y, meta_hi, meta_lo, l << 32 | r) in
    generation order (one 32-byte row, so the permutation gather touches one cache line) and
    ``perm`` the stable order by y.
    """
    n, ol, orr = _match_v1(py, start, nb, py.shape[0] + py.shape[0] // 16)
    oy, omh, oml = _fx_table(t, k, py, pmh, pml, n, ol, orr)
    perm, start = _sort_by_y(oy, n, nb)
    rows = np.empty((n, 4), dtype=np.int64)
    for q in range(n):
        rows[q, 0] = oy[q]
        rows[q, 1] = omh[q]
        rows[q, 2] = oml[q]
        rows[q, 3] = (np.int64(ol[q]) << 32) | orr[q]
    return n, rows, perm, start


@njit(cache=True, nogil=True)
def _build_v1(kw, k):
    """Build a V1 table set in one call (pos.md §6): returns
    (x1, L, R, offsets[8], sizes[8], best_y, best_l, best_r)."""
    n1 = 1 << k
    nb = (((1 << (k + PARAM_EXT)) + _BC - 1) // _BC)
    ys = np.empty(n1, dtype=np.int32)
    _f1_all(kw, k, ys)
    perm, start = _sort_by_y(ys, n1, nb)
    x1 = perm
    py = np.empty(n1, dtype=np.int32)
    pml = np.empty(n1, dtype=np.int64)
    for i in range(n1):
        py[i] = ys[perm[i]]
        pml[i] = perm[i]
    pmh = np.zeros(n1, dtype=np.int64)
    sizes = np.zeros(8, dtype=np.int64)
    sizes[1] = n1
    offsets = np.zeros(8, dtype=np.int64)
    L = np.empty(5 * (n1 + n1 // 8), dtype=np.int32)
    R = np.empty(L.shape[0], dtype=np.int32)
    off = 0
    for t in range(2, 7):
        n, rows, perm, start = _next_table_v1(t, k, py, pmh, pml, start, nb)
        py = np.empty(n, dtype=np.int32)
        pmh = np.empty(n, dtype=np.int64)
        pml = np.empty(n, dtype=np.int64)
        if off + n > L.shape[0]:
            L = _grow(L, off + n + (L.shape[0] >> 2))
            R = _grow(R, off + n + (R.shape[0] >> 2))
        offsets[t] = off
        for i in range(n):
            p = perm[i]
            py[i] = rows[p, 0]
            pmh[i] = rows[p, 1]
            pml[i] = rows[p, 2]
            lr = rows[p, 3]
            L[off + i] = lr >> 32
            R[off + i] = lr & 0xFFFFFFFF
        off += n
        sizes[t] = n
    best_y = np.full(n1, _NO_Y, dtype=np.int64)
    best_l = np.full(n1, -1, dtype=np.int32)
    best_r = np.full(n1, -1, dtype=np.int32)
    n7, ol, orr = _match_v1(py, start, nb, py.shape[0] + py.shape[0] // 16)
    _table7_v1(k, py, pmh, pml, n7, ol, orr, best_y, best_l, best_r)
    sizes[7] = n7
    offsets[7] = off
    return x1, L, R, offsets, sizes, best_y, best_l, best_r


# ================================================================================================
# V2: generation order with caps (pos-v2.md §3)
# ================================================================================================


@njit(cache=True, nogil=True)
def _bucketize_v2(py, pmh, pml, n, nb, cnt, by, bmh, bml, lab):
    """group_by_buckets (pos-v2.md §3.2): per y-bucket the first 272 entries in generation order.

    Entries are copied bucket-major into slots ``b·272 + i`` (y, metadata and the label), so
    matching and fx read memory locally: fills the caller's (count[nb], y, meta_hi, meta_lo,
    label) arrays over nb·272 slots.
    """
    cnt[:nb] = 0
    for i in range(n):
        b = py[i] // _BC
        c = cnt[b]
        if c < V2_BUCKET_CAP:
            slot = b * V2_BUCKET_CAP + c
            by[slot] = py[i]
            bmh[slot] = pmh[i]
            bml[slot] = pml[i]
            lab[slot] = i
            cnt[b] = c + 1


@njit(cache=True, nogil=True)
def _match_v2(cnt, by, nb, ol, orr):
    """Matches of one V2 table in generation order (pos-v2.md §3.3), as bucket slots.

    The rmap keeps the first 2 entries per r; left entries in bucket order, targets in m order;
    at most 288 matches per pair (the first 288 of the full ordered list). Returns
    (n, left_slot, right_slot): the caller's ol/orr arrays, grown if they were too small.
    """
    cap = ol.shape[0]
    rm1 = np.full(_BC, -1, dtype=np.int32)
    rm2 = np.full(_BC, -1, dtype=np.int32)
    grid = np.zeros(_GRID_SIZE, dtype=_GRID_DTYPE)
    n = 0
    for b in range(nb - 1):
        nl = cnt[b]
        nr = cnt[b + 1]
        if nl == 0 or nr == 0:
            continue
        if n + V2_MATCH_CAP > cap:
            cap = cap + cap // 4 + V2_MATCH_CAP
            ol = _grow(ol, cap)
            orr = _grow(orr, cap)
        rbase = (b + 1) * _BC
        r0 = (b + 1) * V2_BUCKET_CAP
        for x in range(r0, r0 + nr):
            r = by[x] - rbase
            if rm1[r] < 0:
                rm1[r] = x
                _grid_mark(grid, r, 1)
            elif rm2[r] < 0:
                rm2[r] = x  # a 3rd, 4th, ... duplicate is ignored
        parity = b & 1
        lbase = b * _BC
        l0 = b * V2_BUCKET_CAP
        nm = 0
        for li in range(l0, l0 + nl):
            if nm >= V2_MATCH_CAP:
                break  # checked before each left entry
            rl = by[li] - lbase
            a = rl // PARAM_C
            c = rl - a * PARAM_C
            mask = _grid_hit_mask(grid, parity, a, c)
            while mask != 0:
                tg = _target(parity, a, c, np.int64(_cttz64(mask)))
                mask &= mask - np.uint64(1)
                if nm < V2_MATCH_CAP:
                    ol[n + nm] = li
                    orr[n + nm] = rm1[tg]
                    nm += 1
                s = rm2[tg]
                if s >= 0 and nm < V2_MATCH_CAP:
                    ol[n + nm] = li
                    orr[n + nm] = s
                    nm += 1
        for x in range(r0, r0 + nr):
            r = by[x] - rbase
            rm1[r] = -1
            rm2[r] = -1
            _grid_mark(grid, r, 0)
        n += nm
    return n, ol, orr


@njit(cache=True, nogil=True)
def _build_v2(kw, k, s_bucket_of, ws_cnt, ws_y, ws_mh, ws_ml, ws_lab, sl, sr):
    """Build a V2 table set in one call: returns (L, R, offsets[8], sizes[8], tgt_l, tgt_r).

    Labels (what L/R store and proofs walk) are generation-order indices, as upstream's.
    ``ws_*`` (two bucket-slot sets: [2, nb] counts, [2, nb·272] y/meta_hi/meta_lo/label) and
    ``sl``/``sr`` (match slots) are the caller's scratch workspace, reused from call to call.
    """
    n1 = 1 << k
    nb = (((1 << (k + PARAM_EXT)) + _BC - 1) // _BC)
    py = np.empty(n1, dtype=np.int32)
    _f1_all(kw, k, py)
    pml = np.arange(n1).astype(np.int64)
    pmh = np.zeros(n1, dtype=np.int64)
    sizes = np.zeros(8, dtype=np.int64)
    sizes[1] = n1
    offsets = np.zeros(8, dtype=np.int64)
    L = np.empty(5 * n1, dtype=np.int32)
    R = np.empty(5 * n1, dtype=np.int32)
    tgt_l = np.full(NUM_S_BUCKETS, -1, dtype=np.int32)
    tgt_r = np.full(NUM_S_BUCKETS, -1, dtype=np.int32)
    off = 0
    # two bucket-slot sets, ping-ponged: table t-1 is read from one while table t fills the other
    cnt, cnt2 = ws_cnt[0], ws_cnt[1]
    by, by2 = ws_y[0], ws_y[1]
    bmh, bmh2 = ws_mh[0], ws_mh[1]
    bml, bml2 = ws_ml[0], ws_ml[1]
    lab, lab2 = ws_lab[0], ws_lab[1]
    _bucketize_v2(py, pmh, pml, n1, nb, cnt, by, bmh, bml, lab)
    for t in range(2, 8):
        n, sl, sr = _match_v2(cnt, by, nb, sl, sr)
        if t == 7:
            y7, _h, _l = _fx_batches(7, k, by, bmh, bml, n, sl, sr, nb, False, cnt2, by2, bmh2, bml2, lab2)
            # create_proof_targets (§3.5): the first match per little-endian s-bucket wins
            for q in range(n):
                sb = s_bucket_of[y7[q] >> PARAM_EXT]
                if sb >= 0 and tgt_l[sb] < 0:
                    tgt_l[sb] = lab[sl[q]]
                    tgt_r[sb] = lab[sr[q]]
        else:
            if off + n > L.shape[0]:
                L = _grow(L, off + n + (L.shape[0] >> 2))
                R = _grow(R, off + n + (R.shape[0] >> 2))
            offsets[t] = off
            for q in range(n):
                L[off + q] = lab[sl[q]]
                R[off + q] = lab[sr[q]]
            off += n
            _fx_batches(t, k, by, bmh, bml, n, sl, sr, nb, True, cnt2, by2, bmh2, bml2, lab2)
            cnt, cnt2 = cnt2, cnt
            by, by2 = by2, by
            bmh, bmh2 = bmh2, bmh
            bml, bml2 = bml2, bml
            lab, lab2 = lab2, lab
        sizes[t] = n
    offsets[7] = off
    return L, R, offsets, sizes, tgt_l, tgt_r


@functools.lru_cache(maxsize=None)
def _s_bucket_map(k: int) -> np.ndarray:
    """K-bit prefix f -> s-bucket (little_endian_s_bucket, pos-v2.md §3.5), -1 if f's low K-16 bits != 0."""
    f = np.arange(1 << k, dtype=np.int64)
    low = k - 16
    s16 = f >> low
    s = ((s16 >> 8) & 0xFF) | ((s16 & 0xFF) << 8)
    s[(f & ((1 << low) - 1)) != 0] = -1
    return s


# ================================================================================================
# Proof expansion and packing (pos.md §7, §8)
# ================================================================================================


@njit(cache=True, nogil=True, inline="always")
def _pack_xs(k, P, out):
    """§8: 64 x values of k bits, MSB-first, into out[0:8k]."""
    acc = 0
    nacc = 0
    ob = 0
    for i in range(64):
        acc = (acc << k) | P[i]
        nacc += k
        while nacc >= 8:
            nacc -= 8
            out[ob] = (acc >> nacc) & 0xFF
            ob += 1
        acc &= (1 << nacc) - 1


@njit(cache=True, nogil=True)
def _proofs_for(k, x1, L, R, offsets, tl, tr, idx, found, out):
    """Expand the proofs whose target index ``idx[i]`` is set (tl[idx] >= 0) into ``out[i]``.

    Each proof walks its table-7 pair back through tables 6..2 (depth-first, left first) to 64
    table-1 positions (V1: x = x1[position]; V2: the label is x) and packs them (pos.md §7, §8).
    The walk goes level by level over all proofs at once, so the random loads of one level are
    independent (memory-level parallelism).
    """
    nq = idx.shape[0]
    sel = np.empty(nq, dtype=np.int64)
    ns = 0
    for i in range(nq):
        j = idx[i]
        found[i] = j >= 0 and tl[j] >= 0
        if found[i]:
            sel[ns] = i
            ns += 1
    P = np.empty((ns, 64), dtype=np.int64)
    for q in range(ns):
        j = idx[sel[q]]
        P[q, 0] = tl[j]
        P[q, 1] = tr[j]
    cnt = 2
    for t in range(6, 1, -1):
        off = offsets[t]
        for q in range(ns):
            for i in range(cnt - 1, -1, -1):
                p = off + P[q, i]
                P[q, 2 * i + 1] = R[p]
                P[q, 2 * i] = L[p]
        cnt *= 2
    use_x1 = x1.shape[0] > 0
    for q in range(ns):
        if use_x1:
            for i in range(64):
                P[q, i] = x1[P[q, i]]
        _pack_xs(k, P[q], out[sel[q]])


# ================================================================================================
# verify_only (pos.md §9)
# ================================================================================================


@njit(cache=True, nogil=True)
def _has_match(yl, yr):
    """r(R) is one of the 64 targets of L (no bucket-adjacency check: the consensus rule)."""
    rl = yl % _BC
    rr = yr % _BC
    parity = (yl // _BC) & 1
    a = rl // PARAM_C
    c = rl - a * PARAM_C
    for m in range(PARAM_M):
        if _target(parity, a, c, m) == rr:
            return True
    return False


@njit(cache=True, nogil=True)
def _verify_kernel(kw, k, proof, c):
    ys = np.empty(64, dtype=np.int64)
    mh = np.zeros(64, dtype=np.int64)
    ml = np.empty(64, dtype=np.int64)
    buf = np.empty(128, dtype=np.uint8)
    # unpack 64 k-bit x values, MSB-first
    acc = 0
    nacc = 0
    bi = 0
    for i in range(64):
        while nacc < k:
            acc = ((acc << 8) | np.int64(proof[bi])) & ((1 << 40) - 1)
            bi += 1
            nacc += 8
        nacc -= k
        x = (acc >> nacc) & ((1 << k) - 1)
        ys[i] = _f1_one(kw, k, x, buf)
        ml[i] = x
    cnt = 64
    for t in range(2, 8):
        for i in range(cnt // 2):
            yl = ys[2 * i]
            yr = ys[2 * i + 1]
            if not _has_match(yl, yr):
                return False
            y, h, lo = _fx(t, k, yl, mh[2 * i], ml[2 * i], mh[2 * i + 1], ml[2 * i + 1])
            ys[i] = y
            mh[i] = h
            ml[i] = lo
        cnt //= 2
    return (ys[0] >> PARAM_EXT) == c


# ================================================================================================
# Python API
# ================================================================================================


def _seed_bytes(seed) -> bytes:
    if isinstance(seed, str):
        try:
            seed = bytes.fromhex(seed)
        except ValueError:
            raise FarmkitError(f"seed: not valid hex: {seed!r}") from None
    seed = bytes(seed)
    if len(seed) != SEED_SIZE:
        raise FarmkitError(f"seed: expected {SEED_SIZE} bytes, got {len(seed)}")
    return seed


def _check_version(version) -> str:
    v = str(version).lower()
    if not v.startswith("v"):
        v = "v" + v  # 1 / 2 / "1" / "2" are accepted too
    if v not in VERSIONS:
        raise FarmkitError(f"version: expected one of {', '.join(VERSIONS)}, got {version!r}")
    return v


def _check_k(k: int, version: str) -> None:
    lo = 16 if version == "v2" else MIN_K
    if not (lo <= k <= MAX_K):
        raise FarmkitError(f"k: {version} supports {lo}..{MAX_K}, got {k}")


def _kw(seed: bytes) -> np.ndarray:
    return np.frombuffer(seed, dtype="<u4").astype(np.int64)


@dataclass
class PosTables:
    """One built table set (V1 or V2) for one seed; query it for proofs.

    Holds only what proofs need: x by table-1 position (V1), l/r of tables 2-6 and the
    selected table-7 pair per challenge prefix (V1: 2^K prefixes; V2: 65536 s-buckets, truncated
    to the first 2^15 that have a proof). ``nbytes`` is the memory held (~65 MiB V1, ~40 MiB V2
    at K = 20).
    """

    seed: bytes
    version: str
    k: int
    table_sizes: tuple[int, ...]  # t1..t7 (V2: matches generated, caps applied)
    _x1: np.ndarray
    _L: np.ndarray
    _R: np.ndarray
    _offsets: np.ndarray
    _tl: np.ndarray  # selected table-7 left position, indexed by prefix (V1) / s-bucket (V2)
    _tr: np.ndarray
    _best_y: np.ndarray | None = None  # V1: y7 of the selected entry per prefix
    n_targets: int = 0  # s-buckets 0..65535 with a proof (V2: before truncation to 2^15)

    @property
    def nbytes(self) -> int:
        arrs = [self._x1, self._L, self._R, self._offsets, self._tl, self._tr]
        if self._best_y is not None:
            arrs.append(self._best_y)
        return int(sum(a.nbytes for a in arrs))

    def _indices(self, challenge_indices: np.ndarray) -> np.ndarray:
        ci = np.asarray(challenge_indices, dtype=np.int64)
        if self.version == "v1":
            b = ((ci & 0xFF) << 24) | (((ci >> 8) & 0xFF) << 16) | (((ci >> 16) & 0xFF) << 8) | ((ci >> 24) & 0xFF)
            return (b >> (32 - self.k)).astype(np.int64)
        return (ci & 0xFFFF).astype(np.int64)  # ChiaV2Table::find_proof: SBucket(ci as u16)

    def find_proofs(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Proofs for challenge indices first..first+count-1: (found bool[count], uint8[count, 8K])."""
        first, count = int(first), int(count)
        if count < 0 or first < 0 or first + count > 2**32:
            raise FarmkitError(f"challenge index range {first}..{first + count - 1} outside 0..2^32-1")
        idx = self._indices(np.arange(first, first + count, dtype=np.int64))
        found = np.zeros(count, dtype=np.bool_)
        out = np.zeros((count, proof_size(self.k)), dtype=np.uint8)
        _proofs_for(self.k, self._x1, self._L, self._R, self._offsets, self._tl, self._tr, idx, found, out)
        return found, out

    def find_proof(self, challenge_index: int) -> bytes | None:
        """The selected proof for one challenge index (V1: first in canonical order), or None."""
        found, out = self.find_proofs(challenge_index, 1)
        return out[0].tobytes() if found[0] else None

    def encoding_proofs(self) -> tuple[np.ndarray, np.ndarray]:
        """(s_buckets ascending, proofs): the first <= 2^15 s-buckets with a proof (record encoding)."""
        idx = self._indices(np.arange(NUM_S_BUCKETS, dtype=np.int64))
        s = np.flatnonzero(self._tl[idx] >= 0)[:NUM_CHUNKS].astype(np.int64)
        found = np.zeros(s.shape[0], dtype=np.bool_)
        out = np.zeros((s.shape[0], proof_size(self.k)), dtype=np.uint8)
        _proofs_for(self.k, self._x1, self._L, self._R, self._offsets, self._tl, self._tr, idx[s], found, out)
        return s, out


_WORKSPACE = threading.local()


def _v2_workspace(k: int) -> tuple[np.ndarray, ...]:
    """This thread's V2 scratch arrays (~67 MiB at K = 20), allocated once and reused, so a
    build does not page-fault fresh memory for every table set (a build that needs more match
    slots, which never happens in practice, grows a private copy)."""
    ws = getattr(_WORKSPACE, "v2", None)
    if ws is None or ws[0] != k:
        nb = num_buckets(k)
        nslots = nb * V2_BUCKET_CAP
        n = (1 << k) + (1 << k) // 8
        ws = (
            k,
            np.empty((2, nb), dtype=np.int32),
            np.empty((2, nslots), dtype=np.int32),
            np.empty((2, nslots), dtype=np.int64),
            np.empty((2, nslots), dtype=np.int64),
            np.empty((2, nslots), dtype=np.int32),
            np.empty(n, dtype=np.int32),
            np.empty(n, dtype=np.int32),
        )
        _WORKSPACE.v2 = ws
    return ws[1:]


def build_tables(seed, version: str = "v1", k: int = K) -> PosTables:
    """Build the table set for ``seed`` (32 bytes) once (one compiled call, GIL released)."""
    seed = _seed_bytes(seed)
    version = _check_version(version)
    _check_k(k, version)
    kw = _kw(seed)
    if version == "v1":
        x1, L, R, offsets, sizes, best_y, best_l, best_r = _build_v1(kw, k)
        t = PosTables(seed, version, k, tuple(int(s) for s in sizes[1:]), x1, L, R, offsets, best_l, best_r, best_y)
        t.n_targets = int(np.count_nonzero(best_l[t._indices(np.arange(NUM_S_BUCKETS))] >= 0))
        return t
    L, R, offsets, sizes, tgt_l, tgt_r = _build_v2(kw, k, _s_bucket_map(k), *_v2_workspace(k))
    # create_proofs returns proofs only for the first 2^15 s-buckets with a target
    have = np.flatnonzero(tgt_l >= 0)
    if have.shape[0] > NUM_CHUNKS:
        tgt_l[have[NUM_CHUNKS:]] = -1
        tgt_r[have[NUM_CHUNKS:]] = -1
    sizes_t = tuple(int(s) for s in sizes[1:])
    return PosTables(seed, version, k, sizes_t, np.empty(0, np.int32), L, R, offsets, tgt_l, tgt_r, None, int(have.shape[0]))


def find_proof(seed, challenge_index: int, version: str = "v1") -> bytes | None:
    """The proof for ``challenge_index`` (V1: first in (y, lpos, rpos) order; V2: pos-v2.md §3.6)."""
    return build_tables(seed, version).find_proof(challenge_index)


def find_proofs(seed, first: int, count: int, version: str = "v1") -> tuple[np.ndarray, np.ndarray]:
    """Builds the tables once; proofs for challenge indices first..first+count-1."""
    return build_tables(seed, version).find_proofs(first, count)


def encoding_proofs(seed, version: str = "v1") -> tuple[np.ndarray, np.ndarray]:
    """(s_buckets ascending, proofs uint8[n, 160]), n <= 2^15 (sector-audit-prove.md §6.3)."""
    return build_tables(seed, version).encoding_proofs()


def is_proof_valid(seed, challenge_index: int, proof, k: int = K) -> bool:
    """verify_only (pos.md §9): the consensus verifier (permissive about bucket adjacency)."""
    seed = _seed_bytes(seed)
    proof = bytes(proof)
    if len(proof) != proof_size(k):
        raise FarmkitError(f"proof: expected {proof_size(k)} bytes, got {len(proof)}")
    ci = int(challenge_index)
    if not 0 <= ci < 2**32:
        raise FarmkitError(f"challenge index {ci} outside 0..2^32-1")
    c = challenge_prefix(ci, k)
    return bool(_verify_kernel(_kw(seed), k, np.frombuffer(proof, dtype=np.uint8), c))
