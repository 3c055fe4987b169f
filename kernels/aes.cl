/* AES-128 lanes for Proof-of-Time verification on GPUs (pot-rpc.md A.3, A.5).
 *
 * One work item = one lane = one chain of `iterations` AES-128 encryptions (lanes < n_enc) or
 * decryptions (lanes >= n_enc, equivalent inverse cipher, FIPS-197 5.3.5). The host lays out
 * 8 forward lanes (inputs seed, cp0..cp6) and 8 backward lanes (cp0..cp7) per proof, all forward
 * lanes first so a warp rarely mixes the two, and launches repeatedly until each lane has done
 * checkpoint_iterations / 2 steps; then it compares forward and backward states (meet in the middle).
 *
 * Classic T-table AES: a state is 4 big-endian column words; Te0/Td0 are rotated for the other
 * byte positions. Tables arrive in one buffer (Te0 | Td0 | S | InvS as u32) and are copied to
 * local memory. Round keys: 44 words per proof and direction (decryption keys already InvMixColumns'ed).
 */

#define TE(i) t_enc[(i)]
#define TD(i) t_dec[(i)]
#define ROT8(x) ROTR32((x), 8)
#define ROT16(x) ROTR32((x), 16)
#define ROT24(x) ROTR32((x), 24)

KERNEL pot_aes_lanes(GLOBAL u32 *states,           /* [n_lanes][4] big-endian words, in/out */
                     GLOBAL const u32 *enc_keys,   /* [n_proofs][44] */
                     GLOBAL const u32 *dec_keys,   /* [n_proofs][44] */
                     GLOBAL const u32 *tables,     /* Te0[256] | Td0[256] | S[256] | InvS[256] */
                     u32 iterations, u32 n_enc, u32 n_lanes, u32 lanes_per_proof_half)
{
    LOCAL u32 t_enc[256];
    LOCAL u32 t_dec[256];
    LOCAL u32 s_box[256];
    LOCAL u32 s_inv[256];
    for (u32 i = LID(); i < 256; i += LOCAL_SIZE()) {
        t_enc[i] = tables[i];
        t_dec[i] = tables[256 + i];
        s_box[i] = tables[512 + i];
        s_inv[i] = tables[768 + i];
    }
    BARRIER();

    u32 lane = (u32)GID();
    if (lane >= n_lanes) return;
    int decrypt = lane >= n_enc;
    u32 proof = (decrypt ? lane - n_enc : lane) / lanes_per_proof_half;
    GLOBAL const u32 *rk = (decrypt ? dec_keys : enc_keys) + 44u * proof;

    u32 s0 = states[4 * lane + 0], s1 = states[4 * lane + 1];
    u32 s2 = states[4 * lane + 2], s3 = states[4 * lane + 3];
    u32 k[44];
#pragma unroll
    for (int i = 0; i < 44; i++) k[i] = rk[i];

    if (!decrypt) {
        for (u32 it = 0; it < iterations; it++) {
            u32 t0, t1, t2, t3;
            s0 ^= k[0]; s1 ^= k[1]; s2 ^= k[2]; s3 ^= k[3];
#pragma unroll
            for (int r = 1; r < 10; r++) {
                t0 = TE(s0 >> 24) ^ ROT8(TE((s1 >> 16) & 0xff)) ^ ROT16(TE((s2 >> 8) & 0xff)) ^ ROT24(TE(s3 & 0xff)) ^ k[4 * r + 0];
                t1 = TE(s1 >> 24) ^ ROT8(TE((s2 >> 16) & 0xff)) ^ ROT16(TE((s3 >> 8) & 0xff)) ^ ROT24(TE(s0 & 0xff)) ^ k[4 * r + 1];
                t2 = TE(s2 >> 24) ^ ROT8(TE((s3 >> 16) & 0xff)) ^ ROT16(TE((s0 >> 8) & 0xff)) ^ ROT24(TE(s1 & 0xff)) ^ k[4 * r + 2];
                t3 = TE(s3 >> 24) ^ ROT8(TE((s0 >> 16) & 0xff)) ^ ROT16(TE((s1 >> 8) & 0xff)) ^ ROT24(TE(s2 & 0xff)) ^ k[4 * r + 3];
                s0 = t0; s1 = t1; s2 = t2; s3 = t3;
            }
            t0 = (s_box[s0 >> 24] << 24) ^ (s_box[(s1 >> 16) & 0xff] << 16) ^ (s_box[(s2 >> 8) & 0xff] << 8) ^ s_box[s3 & 0xff] ^ k[40];
            t1 = (s_box[s1 >> 24] << 24) ^ (s_box[(s2 >> 16) & 0xff] << 16) ^ (s_box[(s3 >> 8) & 0xff] << 8) ^ s_box[s0 & 0xff] ^ k[41];
            t2 = (s_box[s2 >> 24] << 24) ^ (s_box[(s3 >> 16) & 0xff] << 16) ^ (s_box[(s0 >> 8) & 0xff] << 8) ^ s_box[s1 & 0xff] ^ k[42];
            t3 = (s_box[s3 >> 24] << 24) ^ (s_box[(s0 >> 16) & 0xff] << 16) ^ (s_box[(s1 >> 8) & 0xff] << 8) ^ s_box[s2 & 0xff] ^ k[43];
            s0 = t0; s1 = t1; s2 = t2; s3 = t3;
        }
    } else {
        for (u32 it = 0; it < iterations; it++) {
            u32 t0, t1, t2, t3;
            s0 ^= k[0]; s1 ^= k[1]; s2 ^= k[2]; s3 ^= k[3];
#pragma unroll
            for (int r = 1; r < 10; r++) {
                t0 = TD(s0 >> 24) ^ ROT8(TD((s3 >> 16) & 0xff)) ^ ROT16(TD((s2 >> 8) & 0xff)) ^ ROT24(TD(s1 & 0xff)) ^ k[4 * r + 0];
                t1 = TD(s1 >> 24) ^ ROT8(TD((s0 >> 16) & 0xff)) ^ ROT16(TD((s3 >> 8) & 0xff)) ^ ROT24(TD(s2 & 0xff)) ^ k[4 * r + 1];
                t2 = TD(s2 >> 24) ^ ROT8(TD((s1 >> 16) & 0xff)) ^ ROT16(TD((s0 >> 8) & 0xff)) ^ ROT24(TD(s3 & 0xff)) ^ k[4 * r + 2];
                t3 = TD(s3 >> 24) ^ ROT8(TD((s2 >> 16) & 0xff)) ^ ROT16(TD((s1 >> 8) & 0xff)) ^ ROT24(TD(s0 & 0xff)) ^ k[4 * r + 3];
                s0 = t0; s1 = t1; s2 = t2; s3 = t3;
            }
            t0 = (s_inv[s0 >> 24] << 24) ^ (s_inv[(s3 >> 16) & 0xff] << 16) ^ (s_inv[(s2 >> 8) & 0xff] << 8) ^ s_inv[s1 & 0xff] ^ k[40];
            t1 = (s_inv[s1 >> 24] << 24) ^ (s_inv[(s0 >> 16) & 0xff] << 16) ^ (s_inv[(s3 >> 8) & 0xff] << 8) ^ s_inv[s2 & 0xff] ^ k[41];
            t2 = (s_inv[s2 >> 24] << 24) ^ (s_inv[(s1 >> 16) & 0xff] << 16) ^ (s_inv[(s0 >> 8) & 0xff] << 8) ^ s_inv[s3 & 0xff] ^ k[42];
            t3 = (s_inv[s3 >> 24] << 24) ^ (s_inv[(s2 >> 16) & 0xff] << 16) ^ (s_inv[(s1 >> 8) & 0xff] << 8) ^ s_inv[s0 & 0xff] ^ k[43];
            s0 = t0; s1 = t1; s2 = t2; s3 = t3;
        }
    }
    states[4 * lane + 0] = s0; states[4 * lane + 1] = s1;
    states[4 * lane + 2] = s2; states[4 * lane + 3] = s3;
}
