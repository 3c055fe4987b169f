/* Chia proof of space (Subspace, K = 20) on the GPU: table construction and proof search.
 *
 * One source for CUDA and OpenCL (dialect of kernels/gpu.py).  Spec: shared/spec/pos.md §3-9, 14,
 * 19 (V1, canonical order) and shared/spec/pos-v2.md §3 (V2, generation order with caps).
 *
 * Compile-time parameters (-D): POS_K (20; 17 for tests), POS_VERSION (1 or 2).
 *
 * Every kernel works on a batch of NREC records (argument `nrec`); the record is taken from the
 * work-group / global id, so one launch runs one step for all records in flight.
 *
 * Data layout, per record, for every table t = 1..6 ("bucketed tables"):
 *   a table is NB y-buckets of CAP slots; the entry in slot i of bucket b has label b*CAP + i and
 *   count[b] entries are valid.  After `sort_buckets` a bucket holds
 *     V1: its entries sorted by (y, lpos, rpos) (table 1: by (y, x)), so labels are
 *         order-isomorphic to the canonical ranks of pos.md §6 and proofs are byte-identical;
 *     V2: its first 272 entries in generation order (pos-v2.md §3.2), unsorted by y.
 *   Per label: y (u32), metadata (mhi:u32 high bits, mlo:u64 low 64 bits), and the parents'
 *   labels L, R (table 1: L = R = x).
 * New entries are appended to a bucket with an atomic counter ("staging"), then one work-group
 * per bucket sorts its slots by a unique 64-bit key (V1: (r, lpos, rpos); V2: generation index),
 * so the result never depends on atomic order.
 * Table 7 is never stored: each T7 match that lands on an s-bucket prefix becomes a candidate and
 * the best candidate per s-bucket is chosen by two 32-bit atomic-min passes
 * (V1: min (y7, lpos, rpos); V2: min generation index = first generated, pos-v2.md §3.5).
 *
 * Matching (match_fx, one 256-thread work-group per bucket pair, ~13 KiB local memory): the right
 * bucket's keys (r << 9 | index) sorted by r (V2: bitonic sort in local memory, which also gives
 * the rmap's "first two in bucket order"; V1 buckets are already in y order), an r-presence bitmap
 * (473 words), pass 1 counts each left entry's matches (targets without divisions, bitmap test,
 * binary search only on a hit), a block scan gives every match its generation index, pass 2
 * writes the (left, right) list, then all threads run fx (one BLAKE3 compression) over the list.
 *
 * Atomics used beyond the dialect: ATOMIC_MIN_U32 (global), ATOMIC_OR_U32 (local); both are core
 * in OpenCL 1.1 and CUDA.  All arithmetic is 32/64-bit integer.
 */

#ifndef POS_K
#define POS_K 20
#endif
#ifndef POS_VERSION
#define POS_VERSION 2
#endif
#ifndef POS_ALL_PREFIXES
#define POS_ALL_PREFIXES 0  /* 1 (V1 only): best T7 entry for all 2^K challenge prefixes */
#endif

/* Local additions to the dialect (both runtimes have them as core atomics). */
#ifdef FARMKIT_OPENCL
#define LPTR __local
#define ATOMIC_MIN_U32(p, v) atomic_min((p), (v))
#define ATOMIC_OR_U32(p, v) atomic_or((p), (v))
#else
#define LPTR
#define ATOMIC_MIN_U32(p, v) atomicMin((p), (v))
#define ATOMIC_OR_U32(p, v) atomicOr((p), (v))
#endif

#define EXT 6u
#define YBITS (POS_K + 6)
#define BC 15113u
#define PB 119u
#define PC 127u
#define NB ((u32)((((u64)1 << YBITS) + BC - 1) / BC))   /* y-buckets (4441 at K = 20) */
#define NPAIRS (NB - 1u)
#define CAP 512u              /* slots per bucket (upstream MAX_BUCKET_SIZE); more = error */
#define SLOTS ((u64)NB * CAP) /* slots per table per record */
#define WG 256u               /* work-group size of the bucket kernels */
#define V2_BUCKET 272u        /* REDUCED_BUCKET_SIZE */
#define V2_MATCHES 288u       /* REDUCED_MATCHES_COUNT */
#define MLIST 1024u           /* V1: matches one pair may have (observed max ~351); more = error */
#define NUM_S 65536u          /* s-buckets */
#define NUM_CHUNKS 32768u     /* proofs kept per record */
#define PROOF_BYTES (8u * POS_K)
#define KS_WORDS ((u32)(((u64)POS_K << POS_K) / 32u)) /* keystream words needed by f1 */
#define KS_STRIDE (KS_WORDS + 16u)
#if POS_ALL_PREFIXES
#define NIDX (1u << POS_K)    /* best entry per K-bit challenge prefix */
#define CANDCAP (2u << POS_K) /* every T7 entry is a candidate */
#else
#define NIDX NUM_S            /* best entry per s-bucket */
#define CANDCAP (1u << 18)    /* T7 candidates per record (~2^16 at K = 20); more = error */
#endif
#define NONE 0xFFFFFFFFu
#define RWORDS ((BC + 31u) / 32u) /* presence bitmap of r values in a right bucket */

#define ERR_BUCKET 1u   /* a bucket got more than CAP entries */
#define ERR_MLIST 2u    /* a V1 bucket pair had more than MLIST matches */
#define ERR_CAND 4u     /* too many table-7 candidates */

/* ------------------------------------------------------------------------------------------ */
/* ChaCha8 keystream (pos.md §3.1) and f1 (§3.2)                                               */

#define QR(a, b, c, d)                    \
    a += b; d ^= a; d = ROTR32(d, 16);    \
    c += d; b ^= c; b = ROTR32(b, 20);    \
    a += b; d ^= a; d = ROTR32(d, 24);    \
    c += d; b ^= c; b = ROTR32(b, 25);

/* One ChaCha8 block per work item; the keystream is stored as big-endian words W[i] =
 * BE_u32(S[4i..4i+4]) so that f1 can read bit fields MSB-first. */
KERNEL chacha8_keystream(GLOBAL const u32 *seeds, GLOBAL u32 *ks, u32 nrec) {
    u64 gid = GID();
    u32 nblocks = KS_WORDS / 16u;
    if (gid >= (u64)nrec * nblocks) return;
    u32 rec = (u32)(gid / nblocks), blk = (u32)(gid % nblocks);
    u32 k[8];
    for (int i = 0; i < 8; i++) k[i] = seeds[rec * 8u + i];
    u32 x0 = 0x61707865u, x1 = 0x3320646eu, x2 = 0x79622d32u, x3 = 0x6b206574u;
    u32 x4 = k[0], x5 = k[1], x6 = k[2], x7 = k[3], x8 = k[4], x9 = k[5], x10 = k[6], x11 = k[7];
    u32 x12 = blk, x13 = 0, x14 = 0, x15 = 0;
    for (int r = 0; r < 4; r++) {
        QR(x0, x4, x8, x12) QR(x1, x5, x9, x13) QR(x2, x6, x10, x14) QR(x3, x7, x11, x15)
        QR(x0, x5, x10, x15) QR(x1, x6, x11, x12) QR(x2, x7, x8, x13) QR(x3, x4, x9, x14)
    }
    GLOBAL u32 *o = ks + (u64)rec * KS_STRIDE + (u64)blk * 16u;
    o[0] = BSWAP32(x0 + 0x61707865u); o[1] = BSWAP32(x1 + 0x3320646eu);
    o[2] = BSWAP32(x2 + 0x79622d32u); o[3] = BSWAP32(x3 + 0x6b206574u);
    o[4] = BSWAP32(x4 + k[0]); o[5] = BSWAP32(x5 + k[1]); o[6] = BSWAP32(x6 + k[2]);
    o[7] = BSWAP32(x7 + k[3]); o[8] = BSWAP32(x8 + k[4]); o[9] = BSWAP32(x9 + k[5]);
    o[10] = BSWAP32(x10 + k[6]); o[11] = BSWAP32(x11 + k[7]); o[12] = BSWAP32(x12 + blk);
    o[13] = BSWAP32(x13); o[14] = BSWAP32(x14); o[15] = BSWAP32(x15);
    if (blk == 0) ks[(u64)rec * KS_STRIDE + KS_WORDS] = 0u; /* pad word read by the last x */
}

/* Staging record of one new entry: sort key, y, parent labels, metadata. */
DEVICE void stage_entry(GLOBAL u32 *scount, GLOBAL u64 *skey, GLOBAL u32 *sy, GLOBAL u32 *sl,
                        GLOBAL u32 *sr, GLOBAL u32 *smhi, GLOBAL u64 *smlo, GLOBAL u32 *err,
                        u32 rec, u32 y, u64 key_low, u64 gen, u32 l, u32 r, u32 mhi, u64 mlo) {
    u32 b = y / BC;
    u32 slot = ATOMIC_ADD_U32(&scount[rec * NB + b], 1u);
    if (slot >= CAP) { err[rec] |= ERR_BUCKET; return; }
    u64 i = (u64)rec * SLOTS + (u64)b * CAP + slot;
#if POS_VERSION == 1
    skey[i] = ((u64)(y - b * BC) << 44) | key_low; /* (r, lpos, rpos) or (r, x) */
#else
    skey[i] = gen;                                 /* generation index */
#endif
    sy[i] = y; sl[i] = l; sr[i] = r; smhi[i] = mhi; smlo[i] = mlo;
}

/* f1 for every x; the new entries go straight into table 1's staging buckets. */
KERNEL f1_stage(GLOBAL const u32 *ks, GLOBAL u32 *scount, GLOBAL u64 *skey, GLOBAL u32 *sy,
                GLOBAL u32 *sl, GLOBAL u32 *sr, GLOBAL u32 *smhi, GLOBAL u64 *smlo,
                GLOBAL u32 *err, u32 nrec) {
    u64 gid = GID();
    if (gid >= ((u64)nrec << POS_K)) return;
    u32 rec = (u32)(gid >> POS_K), x = (u32)(gid & ((1u << POS_K) - 1u));
    u64 o = (u64)POS_K * x;
    GLOBAL const u32 *w = ks + (u64)rec * KS_STRIDE + (o >> 5);
    u64 two = ((u64)w[0] << 32) | (u64)w[1];
    u32 partial = (u32)(two >> (64u - POS_K - (u32)(o & 31u))) & ((1u << POS_K) - 1u);
    u32 y = (partial << EXT) | (x >> (POS_K - EXT));
    stage_entry(scount, skey, sy, sl, sr, smhi, smlo, err, rec, y, (u64)x, (u64)x, x, x, 0u, (u64)x);
}

/* ------------------------------------------------------------------------------------------ */
/* Local-memory bitonic sorts (N = CAP, a power of two; WG threads)                             */

/* Smallest power of two >= n (>= 2, <= CAP): the sort size of a bucket (uniform per group). */
DEVICE u32 sort_size(u32 n) {
    u32 N = 2;
    while (N < n) N <<= 1;
    return N;
}

DEVICE void bitonic_sort_u64_idx(LPTR u64 *key, LPTR u32 *idx, u32 N, u32 lid) {
    for (u32 k = 2; k <= N; k <<= 1) {
        for (u32 j = k >> 1; j > 0; j >>= 1) {
            for (u32 i = lid; i < N; i += WG) {
                u32 p = i ^ j;
                if (p > i) {
                    u64 a = key[i], b = key[p];
                    int up = ((i & k) == 0);
                    if ((a > b) == up) {
                        key[i] = b; key[p] = a;
                        u32 t = idx[i]; idx[i] = idx[p]; idx[p] = t;
                    }
                }
            }
            BARRIER();
        }
    }
}

DEVICE void bitonic_sort_u32(LPTR u32 *key, u32 N, u32 lid) {
    for (u32 k = 2; k <= N; k <<= 1) {
        for (u32 j = k >> 1; j > 0; j >>= 1) {
            for (u32 i = lid; i < N; i += WG) {
                u32 p = i ^ j;
                if (p > i) {
                    u32 a = key[i], b = key[p];
                    int up = ((i & k) == 0);
                    if ((a > b) == up) { key[i] = b; key[p] = a; }
                }
            }
            BARRIER();
        }
    }
}

/* Exclusive prefix sum of v[0..CAP) in place; returns the total.  WG threads. */
DEVICE u32 block_exclusive_scan(LPTR u32 *v, LPTR u32 *part, u32 lid) {
    const u32 per = CAP / WG;
    u32 s = 0;
    for (u32 q = 0; q < per; q++) s += v[lid * per + q];
    part[lid] = s;
    BARRIER();
    for (u32 off = 1; off < WG; off <<= 1) {
        u32 add = (lid >= off) ? part[lid - off] : 0u;
        BARRIER();
        part[lid] += add;
        BARRIER();
    }
    u32 run = part[lid] - s;
    for (u32 q = 0; q < per; q++) { u32 t = v[lid * per + q]; v[lid * per + q] = run; run += t; }
    u32 total = part[WG - 1];
    BARRIER();
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Sort each staging bucket by its unique key and write the table (one work-group per bucket). */

KERNEL sort_buckets(GLOBAL const u32 *scount, GLOBAL const u64 *skey, GLOBAL const u32 *sy,
                    GLOBAL const u32 *sl, GLOBAL const u32 *sr, GLOBAL const u32 *smhi,
                    GLOBAL const u64 *smlo, GLOBAL u32 *tcount, GLOBAL u32 *ty,
                    GLOBAL u32 *tmhi, GLOBAL u64 *tmlo, GLOBAL u32 *tl, GLOBAL u32 *tr,
                    GLOBAL u32 *err, u32 nrec, u32 table) {
    LOCAL u64 key[CAP];
    LOCAL u32 idx[CAP];
    u32 g = GROUP_ID(), lid = LID();
    u32 rec = g / NB, b = g % NB;
    u32 n = scount[rec * NB + b];
    if (n > CAP) n = CAP; /* error already flagged by stage_entry */
    u64 base = (u64)rec * SLOTS + (u64)b * CAP;
    for (u32 i = lid; i < CAP; i += WG) {
        key[i] = (i < n) ? skey[base + i] : ~(u64)0;
        idx[i] = i;
    }
    BARRIER();
    bitonic_sort_u64_idx(key, idx, sort_size(n), lid);
#if POS_VERSION == 1
    u32 keep = n;
#else
    u32 keep = n < V2_BUCKET ? n : V2_BUCKET; /* first 272 in generation order */
#endif
    u64 lr_base = ((u64)(table - 1u) * nrec + rec) * SLOTS + (u64)b * CAP;
    for (u32 i = lid; i < keep; i += WG) {
        u64 src = base + idx[i], dst = base + i;
        ty[dst] = sy[src]; tmhi[dst] = smhi[src]; tmlo[dst] = smlo[src];
        tl[lr_base + i] = sl[src]; tr[lr_base + i] = sr[src];
    }
    if (lid == 0) tcount[rec * NB + b] = keep;
}

/* ------------------------------------------------------------------------------------------ */
/* fx (pos.md §5): one BLAKE3 compression over y_L ‖ meta_L ‖ meta_R packed MSB-first.         */

#define G3(a, b, c, d, mx, my)                            \
    a = a + b + mx; d = ROTR32(d ^ a, 16); c = c + d; b = ROTR32(b ^ c, 12); \
    a = a + b + my; d = ROTR32(d ^ a, 8);  c = c + d; b = ROTR32(b ^ c, 7);

/* BLAKE3 compression (chunk counter 0) of message words m (clobbered) into cv (8 words). */
DEVICE void blake3_compress(u32 *cv, u32 *m, u32 block_len, u32 flags) {
    u32 v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];
    u32 v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];
    u32 v8 = 0x6A09E667u, v9 = 0xBB67AE85u, v10 = 0x3C6EF372u, v11 = 0xA54FF53Au;
    u32 v12 = 0, v13 = 0, v14 = block_len, v15 = flags;
    u32 t[16];
    for (int r = 0; r < 7; r++) {
        G3(v0, v4, v8, v12, m[0], m[1]) G3(v1, v5, v9, v13, m[2], m[3])
        G3(v2, v6, v10, v14, m[4], m[5]) G3(v3, v7, v11, v15, m[6], m[7])
        G3(v0, v5, v10, v15, m[8], m[9]) G3(v1, v6, v11, v12, m[10], m[11])
        G3(v2, v7, v8, v13, m[12], m[13]) G3(v3, v4, v9, v14, m[14], m[15])
        /* message permutation 2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8 */
        t[0] = m[2]; t[1] = m[6]; t[2] = m[3]; t[3] = m[10]; t[4] = m[7]; t[5] = m[0];
        t[6] = m[4]; t[7] = m[13]; t[8] = m[1]; t[9] = m[11]; t[10] = m[12]; t[11] = m[5];
        t[12] = m[9]; t[13] = m[14]; t[14] = m[15]; t[15] = m[8];
        for (int i = 0; i < 16; i++) m[i] = t[i];
    }
    cv[0] = v0 ^ v8; cv[1] = v1 ^ v9; cv[2] = v2 ^ v10; cv[3] = v3 ^ v11;
    cv[4] = v4 ^ v12; cv[5] = v5 ^ v13; cv[6] = v6 ^ v14; cv[7] = v7 ^ v15;
}

DEVICE void blake3_iv(u32 *cv) {
    cv[0] = 0x6A09E667u; cv[1] = 0xBB67AE85u; cv[2] = 0x3C6EF372u; cv[3] = 0xA54FF53Au;
    cv[4] = 0x510E527Fu; cv[5] = 0x9B05688Cu; cv[6] = 0x1F83D9ABu; cv[7] = 0x5BE0CD19u;
}

/* Unkeyed BLAKE3 of one <= 64-byte input (flags CHUNK_START | CHUNK_END | ROOT = 11). */
DEVICE void blake3_one_block(u32 *m, u32 block_len, u32 *out) {
    blake3_iv(out);
    blake3_compress(out, m, block_len, 11u);
}

/* Append the low n bits of v (0 < n <= 64) MSB-first at bit position pos of big-endian words w. */
DEVICE void put_bits(u32 *w, u32 pos, u64 v, u32 n) {
    u64 a = v << (64u - n);
    u32 wi = pos >> 5, off = pos & 31u;
    w[wi] |= (u32)(a >> (32u + off));
    w[wi + 1] |= (u32)(a >> off);
    if (off) w[wi + 2] |= (u32)(a << (32u - off));
}

/* Metadata bits per table: K * {1, 2, 4, 4, 3, 2, 0}[t - 1]. */
DEVICE u32 meta_bits(u32 t) {
    u32 mult = (t == 1u) ? 1u : (t == 2u) ? 2u : (t == 3u || t == 4u) ? 4u : (t == 5u) ? 3u : (t == 6u) ? 2u : 0u;
    return POS_K * mult;
}

/* Append an up-to-128-bit value (hi:lo) of n bits. */
DEVICE void put_meta(u32 *w, u32 pos, u32 hi, u64 lo, u32 n) {
    if (n > 64u) { put_bits(w, pos, (u64)hi, n - 64u); put_bits(w, pos + n - 64u, lo, 64u); }
    else put_bits(w, pos, lo, n);
}

/* fx for the new table t (2..7): y_out and meta_out (hi:lo) from the left y and both metadata.
 * Called with a literal t (see fx below) so that all bit positions are constants and the message
 * words stay in registers. */
DEVICE u32 fx_t(u32 t, u32 yl, u32 lhi, u64 llo, u32 rhi, u64 rlo, u32 *ohi, u64 *olo) {
    u32 p = meta_bits(t - 1u), mt = meta_bits(t);
    u32 w[18];
    for (int i = 0; i < 18; i++) w[i] = 0u;
    put_bits(w, 0u, (u64)yl, YBITS);
    put_meta(w, YBITS, lhi, llo, p);
    put_meta(w, YBITS + p, rhi, rlo, p);
    u32 nbits = YBITS + 2u * p;
    u32 m[16];
    for (int i = 0; i < 16; i++) m[i] = BSWAP32(w[i]);
    u32 h[8];
    blake3_one_block(m, (nbits + 7u) >> 3, h);
    u32 h0 = BSWAP32(h[0]), h1 = BSWAP32(h[1]), h2 = BSWAP32(h[2]), h3 = BSWAP32(h[3]);
    u32 y = h0 >> (32u - YBITS);
    if (t == 2u || t == 3u) {
        /* meta_out = meta_L ‖ meta_R (p <= 40 bits each, so 2p <= 80) */
        u64 lo = (rlo & ((p >= 64u) ? ~(u64)0 : (((u64)1 << p) - (u64)1))) | (llo << p);
        u32 hi = (p > 32u) ? (u32)(llo >> (64u - p)) : 0u;
        *ohi = hi; *olo = lo;
    } else if (mt > 0u) {
        /* bits [YBITS, YBITS + mt) of the hash, as a 128-bit shift of h0..h3 */
        u64 H = ((u64)h0 << 32) | h1, L = ((u64)h2 << 32) | h3;
        u64 sh_hi = (H << YBITS) | (L >> (64u - YBITS)), sh_lo = L << YBITS; /* 128-bit << YBITS */
        u32 s = 128u - mt;                                                  /* then >> s */
        if (s >= 64u) { *olo = sh_hi >> (s - 64u); *ohi = 0u; }
        else { *olo = (sh_lo >> s) | (sh_hi << (64u - s)); *ohi = (u32)(sh_hi >> s); }
    } else { *ohi = 0u; *olo = (u64)0; }
    return y;
}

DEVICE u32 fx(u32 t, u32 yl, u32 lhi, u64 llo, u32 rhi, u64 rlo, u32 *ohi, u64 *olo) {
    switch (t) {
    case 2u: return fx_t(2u, yl, lhi, llo, rhi, rlo, ohi, olo);
    case 3u: return fx_t(3u, yl, lhi, llo, rhi, rlo, ohi, olo);
    case 4u: return fx_t(4u, yl, lhi, llo, rhi, rlo, ohi, olo);
    case 5u: return fx_t(5u, yl, lhi, llo, rhi, rlo, ohi, olo);
    case 6u: return fx_t(6u, yl, lhi, llo, rhi, rlo, ohi, olo);
    default: return fx_t(7u, yl, lhi, llo, rhi, rlo, ohi, olo);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Matching (pos.md §4; V2 caps pos-v2.md §3.3) + fx, one work-group per (record, bucket pair). */

/* Target m of a left entry with r = rl in a bucket of the given parity (the spec's formula). */
DEVICE u32 match_target(u32 parity, u32 rl, u32 m) {
    u32 a = ((rl / PC + m) % PB) * PC;
    u32 q = 2u * m + parity;
    return a + ((q * q + rl) % PC);
}

/* match_target(parity, rl, m) for m = 0, 1, ... in turn, without divisions in the loop: a = (rl/C + m) mod B,
 * sq = (2m + parity)^2 mod C, with (d + 2)^2 = d^2 + 4d + 4 (d = 2m + parity). */
typedef struct { u32 a, sq, inc, r0; } target_iter;

DEVICE target_iter targets_begin(u32 parity, u32 rl) {
    target_iter it;
    it.a = rl / PC; it.r0 = rl % PC; it.sq = parity; it.inc = 4u * parity + 4u;
    return it;
}

DEVICE u32 targets_next(target_iter *it) {
    u32 b = it->sq + it->r0;
    if (b >= PC) b -= PC;
    u32 tg = it->a * PC + b;
    it->a += 1u; if (it->a == PB) it->a = 0u;
    it->sq += it->inc; if (it->sq >= PC) it->sq -= PC;
    it->inc += 8u; if (it->inc >= PC) it->inc -= PC;
    return tg;
}

/* First index in sorted rkey[0..n) whose r (= key >> 9) is >= r. */
DEVICE u32 lower_bound_r(LPTR const u32 *rkey, u32 n, u32 r) {
    u32 lo = 0, hi = n, want = r << 9;
    while (lo < hi) {
        u32 mid = (lo + hi) >> 1;
        if (rkey[mid] < want) lo = mid + 1; else hi = mid;
    }
    return lo;
}

#if POS_VERSION == 1
#define RMAP_MAX 0xFFFFu
#define PAIR_MAX MLIST
#else
#define RMAP_MAX 2u
#define PAIR_MAX V2_MATCHES
#endif

/* table = the new table (2..7).  Parent table arrays: pcount, py, pmhi, pmlo (labels b*CAP+i).
 * t < 7: new entries go to the staging buckets.  t = 7: candidates per s-bucket. */
KERNEL match_fx(u32 table, u32 nrec, GLOBAL const u32 *pcount, GLOBAL const u32 *py,
                GLOBAL const u32 *pmhi, GLOBAL const u64 *pmlo, GLOBAL u32 *scount,
                GLOBAL u64 *skey, GLOBAL u32 *sy, GLOBAL u32 *sl, GLOBAL u32 *sr,
                GLOBAL u32 *smhi, GLOBAL u64 *smlo, GLOBAL u32 *ccount, GLOBAL u32 *cand,
                GLOBAL u32 *sizes, GLOBAL u32 *err) {
    LOCAL u32 rkey[CAP];
    LOCAL u32 lr[CAP];
    LOCAL u32 cnt[CAP];
    LOCAL u32 part[WG];
    LOCAL u32 mlist[MLIST];
    LOCAL u32 present[RWORDS];
    u32 g = GROUP_ID(), lid = LID();
    u32 rec = g / NPAIRS, b = g % NPAIRS;
    u64 rbase = (u64)rec * SLOTS;
    u32 nl = pcount[rec * NB + b], nr = pcount[rec * NB + b + 1u];
    u32 lbase = b * BC, rb = (b + 1u) * BC, parity = b & 1u;
    /* right bucket: keys (r << 9 | index), sorted by r then bucket index (pos-v2.md §3.3 rmap) */
    for (u32 i = lid; i < CAP; i += WG) {
        rkey[i] = (i < nr) ? (((py[rbase + (u64)(b + 1u) * CAP + i] - rb) << 9) | i) : NONE;
        lr[i] = (i < nl) ? (py[rbase + (u64)b * CAP + i] - lbase) : 0u;
    }
    for (u32 i = lid; i < RWORDS; i += WG) present[i] = 0u;
    BARRIER();
    for (u32 i = lid; i < nr; i += WG) {
        u32 r = rkey[i] >> 9;
        ATOMIC_OR_U32(&present[r >> 5], 1u << (r & 31u));
    }
    BARRIER();
#if POS_VERSION == 2
    bitonic_sort_u32(rkey, sort_size(nr), lid); /* V1 buckets are already sorted by y */
#endif
    /* pass 1: matches per left entry */
    for (u32 i = lid; i < CAP; i += WG) {
        u32 c = 0;
        if (i < nl) {
            target_iter it = targets_begin(parity, lr[i]);
            for (u32 m = 0; m < 64u; m++) {
                u32 tg = targets_next(&it);
                if (!((present[tg >> 5] >> (tg & 31u)) & 1u)) continue;
                u32 k = lower_bound_r(rkey, nr, tg), k0 = k;
                while (k < nr && (rkey[k] >> 9) == tg && k - k0 < RMAP_MAX) k++;
                c += k - k0;
            }
        }
        cnt[i] = c;
    }
    BARRIER();
    u32 total = block_exclusive_scan(cnt, part, lid);
    /* pass 2: write (left index, right index) in generation order: left, m, rmap order */
    for (u32 i = lid; i < nl; i += WG) {
        u32 j = cnt[i];
        u32 end = (i + 1u < CAP) ? cnt[i + 1u] : total; /* this entry's matches: [j, end) */
        if (end > PAIR_MAX) end = PAIR_MAX;
        if (j >= end) continue;
        target_iter it = targets_begin(parity, lr[i]);
        for (u32 m = 0; m < 64u && j < end; m++) {
            u32 tg = targets_next(&it);
            if (!((present[tg >> 5] >> (tg & 31u)) & 1u)) continue;
            u32 k = lower_bound_r(rkey, nr, tg), k0 = k;
            while (k < nr && (rkey[k] >> 9) == tg && k - k0 < RMAP_MAX && j < end) {
                mlist[j++] = (i << 16) | (rkey[k] & 511u);
                k++;
            }
        }
    }
    BARRIER();
    u32 nm = total < PAIR_MAX ? total : PAIR_MAX;
#if POS_VERSION == 1
    if (total > MLIST && lid == 0) err[rec] |= ERR_MLIST;
#endif
    if (lid == 0 && nm) ATOMIC_ADD_U32(&sizes[rec * 8u + table], nm);
    for (u32 j = lid; j < nm; j += WG) {
        u32 li = mlist[j] >> 16, ri = mlist[j] & 0xFFFFu;
        u32 ll = b * CAP + li, rlab = (b + 1u) * CAP + ri;
        u32 yl = lr[li] + lbase;
        u32 ohi; u64 olo;
        u32 y = fx(table, yl, pmhi[rbase + ll], pmlo[rbase + ll], pmhi[rbase + rlab], pmlo[rbase + rlab], &ohi, &olo);
        u64 gen = (u64)b * V2_MATCHES + j; /* generation order (pos-v2.md §3.4 parallel labels) */
        if (table < 7u) {
            stage_entry(scount, skey, sy, sl, sr, smhi, smlo, err, rec, y,
                        ((u64)ll << 22) | (u64)rlab, gen, ll, rlab, ohi, olo);
        } else {
            /* table 7: keep only y7 whose K-bit prefix is an s-bucket prefix (pos-v2.md §3.5) */
            u32 f = y >> EXT;
#if POS_ALL_PREFIXES
            u32 s = f;
#else
            if (f & ((1u << (POS_K - 16)) - 1u)) continue;
            u32 s = ((f >> (POS_K - 8)) & 0xFFu) | (((f >> (POS_K - 16)) & 0xFFu) << 8);
#endif
            u32 slot = ATOMIC_ADD_U32(&ccount[rec], 1u);
            if (slot >= CANDCAP) { err[rec] |= ERR_CAND; continue; }
            GLOBAL u32 *c = cand + ((u64)rec * CANDCAP + slot) * 5u;
#if POS_VERSION == 1
            c[1] = ((y & 63u) << 22) | ll; /* order (y7, lpos, rpos) within the prefix */
            c[2] = rlab;
#else
            c[1] = (u32)gen;               /* first generated wins */
            c[2] = 0u;
#endif
            c[0] = s; c[3] = ll; c[4] = rlab;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Best table-7 candidate per s-bucket: min hi, then min lo among those, then write (l, r).    */

KERNEL fill_u32(GLOBAL u32 *buf, u64 n, u32 value) {
    u64 gid = GID();
    if (gid >= n) return;
    buf[gid] = value;
}

KERNEL cand_best(GLOBAL const u32 *ccount, GLOBAL const u32 *cand, GLOBAL u32 *best_hi,
                 GLOBAL u32 *best_lo, GLOBAL u32 *best_l, GLOBAL u32 *best_r, u32 nrec,
                 u32 phase) {
    u64 gid = GID();
    if (gid >= (u64)nrec * CANDCAP) return;
    u32 rec = (u32)(gid / CANDCAP), slot = (u32)(gid % CANDCAP);
    u32 n = ccount[rec];
    if (slot >= n) return;
    GLOBAL const u32 *c = cand + gid * 5u;
    u64 si = (u64)rec * NIDX + c[0];
    if (phase == 0u) { ATOMIC_MIN_U32(&best_hi[si], c[1]); return; }
    if (best_hi[si] != c[1]) return;
    if (phase == 1u) { ATOMIC_MIN_U32(&best_lo[si], c[2]); return; }
    if (best_lo[si] != c[2]) return;
    best_l[si] = c[3];
    best_r[si] = c[4];
}

/* Rank of each s-bucket among the s-buckets with a proof (one work-group per record). */
KERNEL rank_sbuckets(GLOBAL const u32 *best_hi, GLOBAL u32 *rank, GLOBAL u32 *total_out) {
    LOCAL u32 part[WG];
    u32 rec = GROUP_ID(), lid = LID();
    const u32 per = NUM_S / WG;
    u64 base = (u64)rec * NUM_S + (u64)lid * per;
    u32 s = 0;
    for (u32 q = 0; q < per; q++) s += (best_hi[base + q] != NONE) ? 1u : 0u;
    part[lid] = s;
    BARRIER();
    for (u32 off = 1; off < WG; off <<= 1) {
        u32 add = (lid >= off) ? part[lid - off] : 0u;
        BARRIER();
        part[lid] += add;
        BARRIER();
    }
    u32 run = part[lid] - s;
    for (u32 q = 0; q < per; q++) {
        u32 f = (best_hi[base + q] != NONE) ? 1u : 0u;
        rank[base + q] = f ? run : NONE;
        run += f;
    }
    if (lid == WG - 1u) total_out[rec] = part[WG - 1u];
}

/* ------------------------------------------------------------------------------------------ */
/* Proofs (pos.md §7-8, pos-v2.md §3.6): walk back 6 tables to 64 x values, pack MSB-first.    */

/* mode 0: encoding -- proofs of the first NUM_CHUNKS s-buckets with a proof, packed by rank;
 *         sb_out[rec][rank] = s (one work item per (record, s-bucket)).
 * mode 1: gather -- slot i of `count` gets the proof of index want[i] (s-bucket, or K-bit prefix
 *         with POS_ALL_PREFIXES); sb_out[rec][i] = 1 where there is one.
 * V2 only knows proofs for the first NUM_CHUNKS s-buckets (found_proofs bitmap, pos-v2.md §3.6). */
KERNEL write_proofs(GLOBAL const u32 *rank, GLOBAL const u32 *best_hi, GLOBAL const u32 *best_l,
                    GLOBAL const u32 *best_r, GLOBAL const u32 *tl, GLOBAL const u32 *tr,
                    GLOBAL u8 *out, GLOBAL u32 *sb_out, GLOBAL const u32 *want, u32 nrec,
                    u32 mode, u32 count) {
    u64 gid = GID();
    u32 rec, slot, nslots;
    u64 bi;
    if (mode == 0u) {
        if (gid >= (u64)nrec * NUM_S) return;
        rec = (u32)(gid / NUM_S);
        u32 rk = rank[gid];
        if (rk == NONE || rk >= NUM_CHUNKS) return;
        slot = rk; nslots = NUM_CHUNKS; bi = gid;
        sb_out[(u64)rec * NUM_CHUNKS + rk] = (u32)(gid % NUM_S);
    } else {
        if (gid >= (u64)nrec * count) return;
        rec = (u32)(gid / count); slot = (u32)(gid % count); nslots = count;
        bi = (u64)rec * NIDX + want[slot];
        if (best_hi[bi] == NONE) return;
#if POS_VERSION == 2
        if (rank[bi] >= NUM_CHUNKS) return;
#endif
        sb_out[gid] = 1u;
    }
    u32 pos[64];
    pos[0] = best_l[bi];
    pos[1] = best_r[bi];
    u32 n = 2;
    for (u32 t = 6; t >= 2u; t--) {
        u64 tb = ((u64)(t - 1u) * nrec + rec) * SLOTS;
        for (int i = (int)n - 1; i >= 0; i--) {
            u32 q = pos[i];
            pos[2 * i] = tl[tb + q];
            pos[2 * i + 1] = tr[tb + q];
        }
        n *= 2u;
    }
    u64 xb = (u64)rec * SLOTS; /* table 1: L = x */
    GLOBAL u8 *o = out + ((u64)rec * nslots + slot) * PROOF_BYTES;
    u64 acc = 0;
    u32 nacc = 0, ob = 0;
    for (u32 i = 0; i < 64u; i++) {
        acc = (acc << POS_K) | (u64)tl[xb + pos[i]];
        nacc += POS_K;
        while (nacc >= 8u) {
            nacc -= 8u;
            o[ob++] = (u8)(acc >> nacc);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Record-encoding masks BLAKE3(proof) (pos.md §11): one work item per proof, 8K <= 1024 bytes
 * is one BLAKE3 chunk: blocks chained with flags CHUNK_START (first), CHUNK_END | ROOT (last). */

KERNEL proof_masks(GLOBAL const u8 *proofs, GLOBAL u8 *masks, u64 n) {
    u64 gid = GID();
    if (gid >= n) return;
    GLOBAL const u8 *p = proofs + gid * PROOF_BYTES;
    u32 cv[8], m[16];
    blake3_iv(cv);
    const u32 nblocks = (PROOF_BYTES + 63u) / 64u;
    for (u32 blk = 0; blk < nblocks; blk++) {
        u32 len = PROOF_BYTES - blk * 64u;
        if (len > 64u) len = 64u;
        for (u32 w = 0; w < 16u; w++) {
            u32 v = 0;
            for (u32 q = 0; q < 4u; q++) {
                u32 o = w * 4u + q;
                if (o < len) v |= (u32)p[blk * 64u + o] << (8u * q);
            }
            m[w] = v;
        }
        u32 flags = (blk == 0u ? 1u : 0u) | (blk == nblocks - 1u ? 10u : 0u);
        blake3_compress(cv, m, len, flags);
    }
    GLOBAL u8 *o = masks + gid * 32u;
    for (u32 i = 0; i < 8u; i++) {
        o[4 * i] = (u8)cv[i]; o[4 * i + 1] = (u8)(cv[i] >> 8);
        o[4 * i + 2] = (u8)(cv[i] >> 16); o[4 * i + 3] = (u8)(cv[i] >> 24);
    }
}

/* Proofs each record is encoded with: min(s-buckets with a proof, NUM_CHUNKS). */
KERNEL encoding_counts(GLOBAL const u32 *total, GLOBAL u32 *counts, u32 nrec) {
    u64 gid = GID();
    if (gid >= nrec) return;
    counts[gid] = total[gid] < NUM_CHUNKS ? total[gid] : NUM_CHUNKS;
}
