/* Erasure coding of records on the GPU (kzg-erasure-archiving.md §5, §7; sector-audit-prove.md
 * §6.3, §14.2): batched natural-order FFT/IFFT over Fr and ErasureCoding::extend, several records
 * per launch.  Needs kernels/fr.cl in front of it (erasure_gpu.py concatenates the two).
 *
 * extend(source[n]) = parity[n], parity[i] = p(ω_2n^(2i+1)) with p(ω_n^i) = source[i]:
 *     c = IFFT_n(source);  parity = FFT_n(c_k · ω_2n^k)
 * done without any permutation pass: the IFFT is decimation-in-frequency (natural order in,
 * bit-reversed out), the coset twist is applied in bit-reversed order (table twist_rev[p] =
 * ω_2n^rev(p) / n, the 1/n of the IFFT folded in), and the FFT is decimation-in-time
 * (bit-reversed in, natural out).  Three launches for a whole batch:
 *
 *   dif_columns  ScalarBytes -> work: the IFFT stages whose butterflies span >= B elements.
 *                They only mix elements congruent mod B = min(n, TILE), so a work-group takes
 *                G such "columns" (G·M <= TILE elements, M = n/B) into local memory.
 *                Checks every source scalar is canonical (§2); may copy the source rows into
 *                the even positions of an interleaved output (ext[2i] = source[i]).
 *   fft_block    one work-group per block of B consecutive elements in local memory: the
 *                remaining IFFT stages, the twist, and the first log2(B) FFT stages
 *                (mode 0, extend); or the remaining stages, an optional scale and a bit-reversed
 *                store to natural-order bytes (mode 1, a plain FFT/IFFT).
 *   dit_columns  the last FFT stages (spans >= B) per column, storing ScalarBytes with a record
 *                stride / element stride / offset (plain parity or the odd rows of ext).
 *
 * Field values travel as plain limbs (see fr.cl: the map is linear, constants are Montgomery),
 * so the output bytes are exactly the CPU path's.  `work` is limb-major per record:
 * limb k of element i of record r at (4r + k)·n + i; twiddle tables are limb-major too.
 * Kernels use barriers: every launch is a whole number of work-groups of WG items, and no item
 * returns early.
 */

#define TILE_LOG 10
#define TILE (1u << TILE_LOG) /* elements per work-group in local memory (32 KiB) */
#define WG 256u               /* work items per work-group */

/* address space of a pointer into local memory, as a function parameter */
#ifdef FARMKIT_CUDA
#define LMEM
#endif
#ifdef FARMKIT_OPENCL
#define LMEM __local
#endif

DEVICE u32 bitrev_bits(u32 x, u32 bits) {
    if (bits == 0) return 0;
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
    x = (x >> 16) | (x << 16);
    return x >> (32u - bits);
}

DEVICE fr_t tile_get(LMEM u64 *s0, LMEM u64 *s1, LMEM u64 *s2, LMEM u64 *s3, u32 i) {
    return fr_make(s0[i], s1[i], s2[i], s3[i]);
}

DEVICE void tile_put(LMEM u64 *s0, LMEM u64 *s1, LMEM u64 *s2, LMEM u64 *s3, u32 i, fr_t x) {
    s0[i] = x.v0;
    s1[i] = x.v1;
    s2[i] = x.v2;
    s3[i] = x.v3;
}

/* Gentleman-Sande butterfly: (a, b) -> (a + b, (a - b)·w); w = 1 when e == 0. */
DEVICE void bf_dif(LMEM u64 *s0, LMEM u64 *s1, LMEM u64 *s2, LMEM u64 *s3, u32 i0, u32 i1,
                   GLOBAL const u64 *tw, u32 half_n, u32 e) {
    fr_t a = tile_get(s0, s1, s2, s3, i0);
    fr_t b = tile_get(s0, s1, s2, s3, i1);
    fr_t d = fr_sub(a, b);
    if (e != 0) d = fr_mul(d, fr_load_soa(tw, half_n, e));
    tile_put(s0, s1, s2, s3, i0, fr_add(a, b));
    tile_put(s0, s1, s2, s3, i1, d);
}

/* Cooley-Tukey butterfly: (a, b) -> (a + b·w, a - b·w); w = 1 when e == 0. */
DEVICE void bf_dit(LMEM u64 *s0, LMEM u64 *s1, LMEM u64 *s2, LMEM u64 *s3, u32 i0, u32 i1,
                   GLOBAL const u64 *tw, u32 half_n, u32 e) {
    fr_t a = tile_get(s0, s1, s2, s3, i0);
    fr_t b = tile_get(s0, s1, s2, s3, i1);
    if (e != 0) b = fr_mul(b, fr_load_soa(tw, half_n, e));
    tile_put(s0, s1, s2, s3, i0, fr_add(a, b));
    tile_put(s0, s1, s2, s3, i1, fr_sub(a, b));
}

/* Column tiling shared by dif_columns and dit_columns: B = 2^log_b, M = n / B elements per column,
 * G = min(B, TILE / M) columns per work-group; tile element e = j·G + g is global element
 * c0 + g + j·B of record r. */
#define COLUMN_TILING                                        \
    u32 B = 1u << log_b;                                     \
    u32 M = n >> log_b;                                      \
    u32 G = (TILE / M < B) ? (TILE / M) : B;                 \
    u32 tiles = B / G;                                       \
    u32 grp = (u32)GROUP_ID();                               \
    u32 r = grp / tiles;                                     \
    u32 c0 = (grp % tiles) * G;                              \
    u32 E = G * M;                                           \
    u32 t = (u32)LID();                                      \
    LOCAL u64 s0[TILE];                                      \
    LOCAL u64 s1[TILE];                                      \
    LOCAL u64 s2[TILE];                                      \
    LOCAL u64 s3[TILE];

/* IFFT/FFT stages with spans >= B (decimation in frequency), ScalarBytes in, work out.
 * src: (nrec, n, 32) bytes; tw: limb-major (4, n/2) powers of the transform's root;
 * bad[r] = 1 if record r has a scalar >= r; copy_src: also ext[(2n)r + 2i] = src[r, i]. */
KERNEL dif_columns(GLOBAL const u8 *src, GLOBAL u64 *work, GLOBAL const u64 *tw, GLOBAL u32 *bad,
                   GLOBAL u8 *ext, u32 copy_src, u32 n, u32 log_b) {
    COLUMN_TILING
    u32 half_n = n >> 1;
    u32 flag = 0;
    for (u32 e = t; e < E; e += WG) {
        u32 i = c0 + (e % G) + (e / G) * B;
        u64 row = (u64)r * n + i;
        u32 ok;
        fr_t x = fr_load_be(src + row * 32u, &ok);
        flag |= ok ^ 1u;
        if (copy_src) {
            GLOBAL const u32 *a = (GLOBAL const u32 *)(src + row * 32u);
            GLOBAL u32 *o = (GLOBAL u32 *)(ext + ((u64)r * 2u * n + 2u * i) * 32u);
            for (int w = 0; w < 8; w++) o[w] = a[w];
        }
        tile_put(s0, s1, s2, s3, e, x);
    }
    if (flag) bad[r] = 1u;
    BARRIER();
    for (u32 h = M >> 1; h >= 1; h >>= 1) {
        u32 wstep = M / (2u * h); /* n / len */
        for (u32 u = t; u < E / 2u; u += WG) {
            u32 g = u % G, q = u / G;
            u32 kk = q % h;
            u32 j0 = (q / h) * 2u * h + kk;
            bf_dif(s0, s1, s2, s3, j0 * G + g, (j0 + h) * G + g, tw, half_n, (c0 + g + kk * B) * wstep);
        }
        BARRIER();
    }
    GLOBAL u64 *wr = work + (u64)r * 4u * n;
    for (u32 e = t; e < E; e += WG) {
        u32 i = c0 + (e % G) + (e / G) * B;
        fr_store_soa(wr, n, i, tile_get(s0, s1, s2, s3, e));
    }
}

/* The stages with spans < B on blocks of B consecutive elements (one work-group per block).
 * mode 0 (extend): remaining DIF stages with tw_dif, x[p] *= twist[p] (limb-major (4, n)),
 *                  first log2(B) DIT stages with tw_dit; result back into work.
 * mode 1 (transform): remaining DIF stages, x *= twist[0] if do_scale, then ScalarBytes stored in
 *                  natural order: out[r, rev(p)] (out: (nrec, n, 32)). */
KERNEL fft_block(GLOBAL u64 *work, GLOBAL const u64 *tw_dif, GLOBAL const u64 *tw_dit,
                 GLOBAL const u64 *twist, GLOBAL u8 *out, u32 mode, u32 do_scale, u32 n, u32 log_n,
                 u32 log_b) {
    u32 B = 1u << log_b;
    u32 M = n >> log_b;
    u32 grp = (u32)GROUP_ID();
    u32 r = grp / M;
    u32 base = (grp % M) * B;
    u32 t = (u32)LID();
    u32 half_n = n >> 1;
    LOCAL u64 s0[TILE];
    LOCAL u64 s1[TILE];
    LOCAL u64 s2[TILE];
    LOCAL u64 s3[TILE];
    GLOBAL u64 *wr = work + (u64)r * 4u * n;
    for (u32 p = t; p < B; p += WG) tile_put(s0, s1, s2, s3, p, fr_load_soa(wr, n, base + p));
    BARRIER();
    for (u32 hw = B >> 1; hw >= 1; hw >>= 1) {
        u32 wstep = half_n / hw; /* n / len */
        for (u32 u = t; u < B / 2u; u += WG) {
            u32 k = u % hw;
            u32 i0 = (u / hw) * 2u * hw + k;
            bf_dif(s0, s1, s2, s3, i0, i0 + hw, tw_dif, half_n, k * wstep);
        }
        BARRIER();
    }
    if (mode == 0) {
        for (u32 p = t; p < B; p += WG)
            tile_put(s0, s1, s2, s3, p, fr_mul(tile_get(s0, s1, s2, s3, p), fr_load_soa(twist, n, base + p)));
        BARRIER();
        for (u32 hw = 1; hw < B; hw <<= 1) {
            u32 wstep = half_n / hw;
            for (u32 u = t; u < B / 2u; u += WG) {
                u32 k = u % hw;
                u32 i0 = (u / hw) * 2u * hw + k;
                bf_dit(s0, s1, s2, s3, i0, i0 + hw, tw_dit, half_n, k * wstep);
            }
            BARRIER();
        }
        for (u32 p = t; p < B; p += WG) fr_store_soa(wr, n, base + p, tile_get(s0, s1, s2, s3, p));
    } else {
        for (u32 p = t; p < B; p += WG) {
            fr_t x = tile_get(s0, s1, s2, s3, p);
            if (do_scale) x = fr_mul(x, fr_load_soa(twist, 1, 0));
            u64 row = (u64)r * n + bitrev_bits(base + p, log_n);
            fr_store_be(out + row * 32u, x);
        }
    }
}

/* FFT stages with spans >= B (decimation in time), work in, ScalarBytes out at row
 * r·out_rec + i·out_step + out_off of `out` (plain parity: n, 1, 0; interleaved ext: 2n, 2, 1). */
KERNEL dit_columns(GLOBAL const u64 *work, GLOBAL const u64 *tw, GLOBAL u8 *out, u32 out_rec,
                   u32 out_step, u32 out_off, u32 n, u32 log_b) {
    COLUMN_TILING
    u32 half_n = n >> 1;
    GLOBAL const u64 *wr = work + (u64)r * 4u * n;
    for (u32 e = t; e < E; e += WG) {
        u32 i = c0 + (e % G) + (e / G) * B;
        tile_put(s0, s1, s2, s3, e, fr_load_soa(wr, n, i));
    }
    BARRIER();
    for (u32 h = 1; h < M; h <<= 1) {
        u32 wstep = M / (2u * h);
        for (u32 u = t; u < E / 2u; u += WG) {
            u32 g = u % G, q = u / G;
            u32 kk = q % h;
            u32 j0 = (q / h) * 2u * h + kk;
            bf_dit(s0, s1, s2, s3, j0 * G + g, (j0 + h) * G + g, tw, half_n, (c0 + g + kk * B) * wstep);
        }
        BARRIER();
    }
    for (u32 e = t; e < E; e += WG) {
        u32 i = c0 + (e % G) + (e / G) * B;
        u64 row = (u64)r * out_rec + (u64)i * out_step + out_off;
        fr_store_be(out + row * 32u, tile_get(s0, s1, s2, s3, e));
    }
}

/* ---- Record encoding on the device (sector-audit-prove.md §6.3) ---------------------------------
 * Inputs per record r (all device-resident):
 *   ext[r]        (2^16, 32)  extended record in s-bucket order (dif/dit above, interleaved)
 *   s_buckets[r]  (2^15) u32  ascending s-buckets that have a proof, counts[r] of them valid
 *   masks[r]      (2^15, 32)  BLAKE3(proof) for those s-buckets
 * Outputs: chunks[r] (2^15, 32) the stored chunks in ascending s, present[r] (2^16) u8,
 * bitfield[r] (2^13) u8 (bit s = s-bucket s is encoded, Lsb0).
 * Rule (§6.3): encoded = s with a proof whose masked chunk ext[s] ^ mask is not all zero; the
 * first 2^15 - n_enc s-buckets without an encoded chunk are stored unmasked.  With enc_before(s)
 * encoded s-buckets below s and U = 2^15 - n_enc, the chunk of s goes to slot
 *   enc_before(s) + min(s - enc_before(s), U)   if s is encoded,
 *   s                                           if s is not encoded and s - enc_before(s) < U,
 * and nowhere otherwise.  Three launches: mark_encoded (one item per proof), count_encoded
 * (encoded s-buckets per block of 256 and their prefix sums), place_chunks (one work-group of 256
 * items per block).
 */
#define S_BUCKETS 65536u
#define NUM_CHUNKS 32768u
#define SB_BLOCK 256u
#define SB_BLOCKS (S_BUCKETS / SB_BLOCK)

/* entry[r, s] = i + 1 where s = s_buckets[r, i] and ext[s] ^ masks[i] != 0 (entry pre-zeroed). */
KERNEL mark_encoded(GLOBAL const u8 *ext, GLOBAL const u32 *s_buckets, GLOBAL const u8 *masks,
                    GLOBAL const u32 *counts, GLOBAL u32 *entry, u32 nrec) {
    u64 gid = GID();
    if (gid >= (u64)nrec * NUM_CHUNKS) return;
    u32 r = (u32)(gid / NUM_CHUNKS);
    u32 i = (u32)(gid % NUM_CHUNKS);
    if (i >= counts[r]) return;
    u32 s = s_buckets[gid];
    GLOBAL const u32 *e = (GLOBAL const u32 *)(ext + ((u64)r * S_BUCKETS + s) * 32u);
    GLOBAL const u32 *m = (GLOBAL const u32 *)(masks + gid * 32u);
    u32 any = 0;
    for (int w = 0; w < 8; w++) any |= e[w] ^ m[w];
    if (any) entry[(u64)r * S_BUCKETS + s] = i + 1u;
}

/* block_pre[r, blk] = encoded s-buckets of record r below block blk, n_enc[r] = their total.
 * One work-group of SB_BLOCKS (= SB_BLOCK) items per record: item t counts block t, then a local
 * exclusive scan. */
KERNEL count_encoded(GLOBAL const u32 *entry, GLOBAL u32 *block_pre, GLOBAL u32 *n_enc) {
    LOCAL u32 scan[SB_BLOCKS];
    u32 r = (u32)GROUP_ID();
    u32 t = (u32)LID();
    GLOBAL const u32 *e = entry + (u64)r * S_BUCKETS + (u64)t * SB_BLOCK;
    u32 c = 0;
    for (u32 j = 0; j < SB_BLOCK; j++) c += (e[j] != 0) ? 1u : 0u;
    scan[t] = c;
    BARRIER();
    for (u32 off = 1; off < SB_BLOCKS; off <<= 1) { /* inclusive Hillis-Steele scan */
        u32 v = (t >= off) ? scan[t - off] : 0u;
        BARRIER();
        scan[t] += v;
        BARRIER();
    }
    block_pre[(u64)r * SB_BLOCKS + t] = scan[t] - c;
    if (t == SB_BLOCKS - 1u) n_enc[r] = scan[t];
}

/* One work-group of SB_BLOCK items per (record, block): work item t handles s = blk·256 + t. */
KERNEL place_chunks(GLOBAL const u8 *ext, GLOBAL const u8 *masks, GLOBAL const u32 *entry,
                    GLOBAL const u32 *block_pre, GLOBAL const u32 *n_enc, GLOBAL u8 *chunks,
                    GLOBAL u8 *present, GLOBAL u8 *bitfield) {
    LOCAL u32 scan[SB_BLOCK];
    LOCAL u32 flags[SB_BLOCK];
    u32 grp = (u32)GROUP_ID();
    u32 r = grp / SB_BLOCKS;
    u32 blk = grp % SB_BLOCKS;
    u32 t = (u32)LID();
    u32 s = blk * SB_BLOCK + t;
    u64 rs = (u64)r * S_BUCKETS + s;
    u32 ent = entry[rs];
    u32 f = (ent != 0) ? 1u : 0u;
    scan[t] = f;
    flags[t] = f;
    BARRIER();
    for (u32 off = 1; off < SB_BLOCK; off <<= 1) { /* inclusive Hillis-Steele scan */
        u32 v = (t >= off) ? scan[t - off] : 0u;
        BARRIER();
        scan[t] += v;
        BARRIER();
    }
    u32 before = block_pre[(u64)r * SB_BLOCKS + blk] + scan[t] - f; /* enc_before(s) */
    u32 unenc_quota = NUM_CHUNKS - n_enc[r];
    u32 nonenc_before = s - before;
    u32 slot = 0xFFFFFFFFu;
    if (f) slot = before + ((nonenc_before < unenc_quota) ? nonenc_before : unenc_quota);
    else if (nonenc_before < unenc_quota) slot = s;
    present[rs] = (slot != 0xFFFFFFFFu) ? 1 : 0;
    if (slot != 0xFFFFFFFFu) {
        GLOBAL const u32 *e = (GLOBAL const u32 *)(ext + rs * 32u);
        GLOBAL u32 *o = (GLOBAL u32 *)(chunks + ((u64)r * NUM_CHUNKS + slot) * 32u);
        if (f) {
            GLOBAL const u32 *m = (GLOBAL const u32 *)(masks + ((u64)r * NUM_CHUNKS + ent - 1u) * 32u);
            for (int w = 0; w < 8; w++) o[w] = e[w] ^ m[w];
        } else {
            for (int w = 0; w < 8; w++) o[w] = e[w];
        }
    }
    if ((t & 7u) == 0) {
        u32 byte = 0;
        for (u32 k = 0; k < 8; k++) byte |= flags[t + k] << k;
        bitfield[(u64)r * (S_BUCKETS / 8u) + s / 8u] = (u8)byte;
    }
}
