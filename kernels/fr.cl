/* BLS12-381 scalar field Fr on the GPU (kzg-erasure-archiving.md §1-2), one source for CUDA and
 * OpenCL (dialect of kernels/gpu.py).  The device twin of kernels/fr.py, bit for bit:
 *
 *   fr_t        four little-endian 64-bit limbs v0..v3, always fully reduced (< r)
 *   fr_mul      Montgomery product a·b·2^-256 mod r, CIOS, 64x64->128 via u64 multiply + MULHI64
 *   fr_add/sub  modular, branch-free
 *   fr_load_be  ScalarBytes (32 bytes big-endian) -> plain limbs + canonical flag (§2: reject >= r)
 *   fr_store_be plain limbs -> ScalarBytes
 *   fr_to_mont / fr_from_mont   plain <-> Montgomery (x·R2·R^-1, x·1·R^-1)
 *
 * Byte-to-byte linear maps (FFT, erasure extension) feed plain limbs straight into products with
 * Montgomery-form constants and store the plain result: the 2^-256 factors cancel (see
 * fr.fr_raw_from_be32), so no conversion is needed.
 *
 * Only portable integer operations are used: u64 add/sub/compare, u64 multiply (low half) and
 * MULHI64 (OpenCL mul_hi on ulong, CUDA __umul64hi).  Tables of Fr values in device memory are
 * stored limb-major ("SoA": limb k of element i at k*stride + i) so that neighbouring work items
 * touch neighbouring words.
 */

#ifdef FARMKIT_CUDA
#define MULHI64(a, b) __umul64hi((a), (b))
#endif
#ifdef FARMKIT_OPENCL
#define MULHI64(a, b) mul_hi((u64)(a), (u64)(b))
#endif

#define FR_P0 ((u64)0xFFFFFFFF00000001)
#define FR_P1 ((u64)0x53BDA402FFFE5BFE)
#define FR_P2 ((u64)0x3339D80809A1D805)
#define FR_P3 ((u64)0x73EDA753299D7D48)
#define FR_INV ((u64)0xFFFFFFFEFFFFFFFF) /* -r^-1 mod 2^64 */
#define FR_R2_0 ((u64)0xC999E990F3F29C6D) /* 2^512 mod r (Montgomery form of 2^256) */
#define FR_R2_1 ((u64)0x2B6CEDCB87925C23)
#define FR_R2_2 ((u64)0x05D314967254398F)
#define FR_R2_3 ((u64)0x0748D9D99F59FF11)

typedef struct {
    u64 v0, v1, v2, v3;
} fr_t;

DEVICE fr_t fr_make(u64 a, u64 b, u64 c, u64 d) {
    fr_t r;
    r.v0 = a; r.v1 = b; r.v2 = c; r.v3 = d;
    return r;
}

DEVICE fr_t fr_zero(void) { return fr_make(0, 0, 0, 0); }

/* lo of t + a·b + c; *hi receives the high word (the sum never overflows 128 bits). */
DEVICE u64 fr_mac(u64 t, u64 a, u64 b, u64 c, u64 *hi) {
    u64 lo = a * b;
    u64 h = MULHI64(a, b);
    lo += t;
    h += (lo < t) ? 1 : 0;
    lo += c;
    h += (lo < c) ? 1 : 0;
    *hi = h;
    return lo;
}

/* a - b - borrow_in; *borrow receives 0 or 1. */
DEVICE u64 fr_sbb(u64 a, u64 b, u64 bin, u64 *borrow) {
    u64 t = a - b;
    u64 b1 = (a < b) ? 1 : 0;
    u64 d = t - bin;
    u64 b2 = (t < bin) ? 1 : 0;
    *borrow = b1 | b2;
    return d;
}

/* a + b + carry_in; *carry receives 0 or 1. */
DEVICE u64 fr_adc(u64 a, u64 b, u64 cin, u64 *carry) {
    u64 s = a + b;
    u64 c1 = (s < a) ? 1 : 0;
    u64 d = s + cin;
    u64 c2 = (d < cin) ? 1 : 0;
    *carry = c1 | c2;
    return d;
}

/* t - r if t >= r (t < 2r), branch-free. */
DEVICE fr_t fr_reduce_once(u64 t0, u64 t1, u64 t2, u64 t3) {
    u64 br;
    u64 d0 = fr_sbb(t0, FR_P0, 0, &br);
    u64 d1 = fr_sbb(t1, FR_P1, br, &br);
    u64 d2 = fr_sbb(t2, FR_P2, br, &br);
    u64 d3 = fr_sbb(t3, FR_P3, br, &br);
    u64 keep = (u64)0 - br; /* all ones when t < r */
    return fr_make(d0 ^ ((t0 ^ d0) & keep), d1 ^ ((t1 ^ d1) & keep), d2 ^ ((t2 ^ d2) & keep),
                   d3 ^ ((t3 ^ d3) & keep));
}

DEVICE fr_t fr_add(fr_t a, fr_t b) {
    u64 c;
    u64 s0 = fr_adc(a.v0, b.v0, 0, &c);
    u64 s1 = fr_adc(a.v1, b.v1, c, &c);
    u64 s2 = fr_adc(a.v2, b.v2, c, &c);
    u64 s3 = fr_adc(a.v3, b.v3, c, &c); /* no carry out: a, b < r < 2^255 */
    return fr_reduce_once(s0, s1, s2, s3);
}

DEVICE fr_t fr_sub(fr_t a, fr_t b) {
    u64 br, c;
    u64 d0 = fr_sbb(a.v0, b.v0, 0, &br);
    u64 d1 = fr_sbb(a.v1, b.v1, br, &br);
    u64 d2 = fr_sbb(a.v2, b.v2, br, &br);
    u64 d3 = fr_sbb(a.v3, b.v3, br, &br);
    u64 mask = (u64)0 - br; /* add r back when the subtraction borrowed */
    d0 = fr_adc(d0, FR_P0 & mask, 0, &c);
    d1 = fr_adc(d1, FR_P1 & mask, c, &c);
    d2 = fr_adc(d2, FR_P2 & mask, c, &c);
    d3 = fr_adc(d3, FR_P3 & mask, c, &c);
    return fr_make(d0, d1, d2, d3);
}

/* One CIOS round: t = (t + a·bi + m·r) / 2^64 with m = -(t + a·bi)·r^-1 mod 2^64. */
#define FR_MONT_ROUND(bi)                                 \
    {                                                     \
        u64 A, C, m;                                      \
        t0 = fr_mac(t0, a.v0, (bi), 0, &A);               \
        m = t0 * FR_INV;                                  \
        fr_mac(t0, m, FR_P0, 0, &C); /* low word is 0 */  \
        t1 = fr_mac(t1, a.v1, (bi), A, &A);               \
        t0 = fr_mac(t1, m, FR_P1, C, &C);                 \
        t2 = fr_mac(t2, a.v2, (bi), A, &A);               \
        t1 = fr_mac(t2, m, FR_P2, C, &C);                 \
        t3 = fr_mac(t3, a.v3, (bi), A, &A);               \
        t2 = fr_mac(t3, m, FR_P3, C, &C);                 \
        t3 = C + A;                                       \
    }

/* Montgomery product a·b·2^-256 mod r (r's top limb < 2^62: no extra carry word needed). */
DEVICE fr_t fr_mul(fr_t a, fr_t b) {
    u64 t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    FR_MONT_ROUND(b.v0)
    FR_MONT_ROUND(b.v1)
    FR_MONT_ROUND(b.v2)
    FR_MONT_ROUND(b.v3)
    return fr_reduce_once(t0, t1, t2, t3);
}

DEVICE fr_t fr_to_mont(fr_t x) { return fr_mul(x, fr_make(FR_R2_0, FR_R2_1, FR_R2_2, FR_R2_3)); }

DEVICE fr_t fr_from_mont(fr_t x) { return fr_mul(x, fr_make(1, 0, 0, 0)); }

/* 1 when x < r (a canonical ScalarBytes value, §2). */
DEVICE u32 fr_is_canonical(fr_t x) {
    u64 br;
    fr_sbb(x.v0, FR_P0, 0, &br);
    fr_sbb(x.v1, FR_P1, br, &br);
    fr_sbb(x.v2, FR_P2, br, &br);
    fr_sbb(x.v3, FR_P3, br, &br);
    return (u32)br;
}

DEVICE u64 fr_be64(GLOBAL const u32 *w) {
    return ((u64)BSWAP32(w[0]) << 32) | (u64)BSWAP32(w[1]);
}

/* ScalarBytes at `row` (32-byte aligned) -> plain limbs; *ok = 1 when canonical. */
DEVICE fr_t fr_load_be(GLOBAL const u8 *row, u32 *ok) {
    GLOBAL const u32 *w = (GLOBAL const u32 *)row;
    fr_t x = fr_make(fr_be64(w + 6), fr_be64(w + 4), fr_be64(w + 2), fr_be64(w + 0));
    *ok = fr_is_canonical(x);
    return x;
}

DEVICE void fr_store_be64(GLOBAL u32 *w, u64 v) {
    w[0] = BSWAP32((u32)(v >> 32));
    w[1] = BSWAP32((u32)v);
}

/* plain limbs -> ScalarBytes at `row` (32-byte aligned). */
DEVICE void fr_store_be(GLOBAL u8 *row, fr_t x) {
    GLOBAL u32 *w = (GLOBAL u32 *)row;
    fr_store_be64(w + 0, x.v3);
    fr_store_be64(w + 2, x.v2);
    fr_store_be64(w + 4, x.v1);
    fr_store_be64(w + 6, x.v0);
}

/* element i of a limb-major table with `stride` elements per limb plane */
DEVICE fr_t fr_load_soa(GLOBAL const u64 *t, u64 stride, u64 i) {
    return fr_make(t[i], t[stride + i], t[2 * stride + i], t[3 * stride + i]);
}

DEVICE void fr_store_soa(GLOBAL u64 *t, u64 stride, u64 i, fr_t x) {
    t[i] = x.v0;
    t[stride + i] = x.v1;
    t[2 * stride + i] = x.v2;
    t[3 * stride + i] = x.v3;
}

/* Element-wise kernels (tests and small jobs): limb-major arrays of n elements, Montgomery form.
 * op: 0 add, 1 sub, 2 mul. */
KERNEL fr_binop(GLOBAL const u64 *a, GLOBAL const u64 *b, GLOBAL u64 *out, u64 n, u32 op) {
    u64 i = GID();
    if (i >= n) return;
    fr_t x = fr_load_soa(a, n, i);
    fr_t y = fr_load_soa(b, n, i);
    fr_t z = (op == 0) ? fr_add(x, y) : ((op == 1) ? fr_sub(x, y) : fr_mul(x, y));
    fr_store_soa(out, n, i, z);
}

/* ScalarBytes (n, 32) -> Montgomery limb-major (4, n); bad[i] = 1 where the value is >= r. */
KERNEL fr_from_bytes(GLOBAL const u8 *src, GLOBAL u64 *out, GLOBAL u32 *bad, u64 n) {
    u64 i = GID();
    if (i >= n) return;
    u32 ok;
    fr_t x = fr_load_be(src + i * 32u, &ok);
    bad[i] = ok ? 0u : 1u;
    fr_store_soa(out, n, i, fr_to_mont(x));
}

/* Montgomery limb-major (4, n) -> ScalarBytes (n, 32). */
KERNEL fr_to_bytes(GLOBAL const u64 *src, GLOBAL u8 *out, u64 n) {
    u64 i = GID();
    if (i >= n) return;
    fr_store_be(out + i * 32u, fr_from_mont(fr_load_soa(src, n, i)));
}
