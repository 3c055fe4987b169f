"""Readable reference for the proof of space (pos.md §3-9, pos-v2.md §3): numpy + ``blake3``.

Slow by design and written like the spec; any K >= 10 (V2: K >= 16). Tests compare the compiled
kernels of :mod:`farmkit.kernels.pos` against this on random seeds at reduced K, and this
against the upstream vectors.
"""

from __future__ import annotations

import blake3 as _blake3
import numpy as np

from farmkit.kernels.chacha8 import keystream_reference

EXT, M, B, C = 6, 64, 119, 127
BC = B * C
META_MULT = {1: 1, 2: 2, 3: 4, 4: 4, 5: 3, 6: 2, 7: 0}


# --- f1 (§3) -------------------------------------------------------------------------------------
def f1_all(seed: bytes, k: int) -> np.ndarray:
    """y(x) for x in [0, 2^k): k keystream bits at bit offset k·x, << 6 | x >> (k - 6)."""
    n = 1 << k
    stream = keystream_reference(seed, (k * n) // 8 + 8)
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8)).astype(np.int64)
    x = np.arange(n, dtype=np.int64)
    idx = (k * x)[:, None] + np.arange(k)
    partial = (bits[idx] << np.arange(k - 1, -1, -1)).sum(axis=1)
    return (partial << EXT) | (x >> (k - EXT))


# --- matching (§4) -------------------------------------------------------------------------------
def targets(parity: int, r_left: np.ndarray) -> np.ndarray:
    """The 64 targets of each left r value: shape (n, 64), in m order."""
    m = np.arange(M, dtype=np.int64)
    r = np.asarray(r_left, dtype=np.int64)[:, None]
    return ((r // C + m) % B) * C + (((2 * m + parity) ** 2 + r) % C)


def has_match(y_left: int, y_right: int) -> bool:
    """verify_only's pair check: r(R) is a target of L (bucket adjacency NOT checked, §9)."""
    return bool(np.any(targets((y_left // BC) % 2, np.array([y_left % BC]))[0] == y_right % BC))


# --- fx (§5) -------------------------------------------------------------------------------------
def fx(t: int, k: int, y_left: int, meta_left: int, meta_right: int) -> tuple[int, int]:
    """BLAKE3(y_L ‖ meta_L ‖ meta_R) MSB-first, zero-padded: (first k+6 bits, metadata of table t)."""
    p = META_MULT[t - 1] * k
    n = k + EXT + 2 * p
    value = (y_left << (2 * p)) | (meta_left << p) | meta_right
    nbytes = (n + 7) // 8
    h = _blake3.blake3((value << (8 * nbytes - n)).to_bytes(nbytes, "big")).digest()
    y = int.from_bytes(h[:4], "big") >> (32 - k - EXT)
    m_out = META_MULT[t] * k
    if t in (2, 3):
        meta = (meta_left << p) | meta_right
    elif t in (4, 5, 6):
        meta = (int.from_bytes(h, "big") >> (256 - (k + EXT) - m_out)) & ((1 << m_out) - 1)
    else:
        meta = 0
    return y, meta


def pack_proof(xs, k: int) -> bytes:
    """§8: 64 x values of k bits, MSB-first."""
    v = 0
    for x in xs:
        v = (v << k) | int(x)
    return v.to_bytes(8 * k, "big")


def challenge_prefix(ci: int, k: int) -> int:
    return int.from_bytes(int(ci).to_bytes(4, "little"), "big") >> (32 - k)


# --- V1 (§6, §7) ---------------------------------------------------------------------------------
def tables_v1(seed: bytes, k: int):
    """Tables 1..7 sorted by (y, x) / (y, lpos, rpos): list of dicts y, l, r, meta (table 1: x)."""
    ys = f1_all(seed, k)
    x = np.arange(1 << k, dtype=np.int64)
    order = np.lexsort((x, ys))
    tables = [None, {"y": ys[order], "meta": [int(v) for v in x[order]], "x": x[order]}]
    for t in range(2, 8):
        prev = tables[t - 1]
        y = prev["y"]
        bucket = y // BC
        out_y, out_l, out_r, out_meta = [], [], [], []
        for b in range(int(bucket.max()) if len(y) else 0):
            left = np.flatnonzero(bucket == b)
            right = np.flatnonzero(bucket == b + 1)
            if len(left) == 0 or len(right) == 0:
                continue
            tg = targets(b % 2, y[left] % BC)  # (nl, 64)
            hit = (y[right] % BC)[None, :, None] == tg[:, None, :]  # (nl, nr, 64)
            li, ri = np.nonzero(hit.any(axis=2))  # row-major: (lpos, rpos) ascending
            for i, j in zip(left[li], right[ri]):
                yo, mo = fx(t, k, int(y[i]), prev["meta"][i], prev["meta"][j])
                out_y.append(yo), out_l.append(i), out_r.append(j), out_meta.append(mo)
        oy, ol, orr = np.array(out_y, np.int64), np.array(out_l, np.int64), np.array(out_r, np.int64)
        order = np.lexsort((orr, ol, oy))
        tables.append({"y": oy[order], "l": ol[order], "r": orr[order], "meta": [out_meta[i] for i in order]})
    return tables


def find_proof_v1(tables, ci: int, k: int) -> bytes | None:
    """§7: the first table-7 entry with y >> 6 == c, walked back depth-first to 64 x values."""
    c = challenge_prefix(ci, k)
    cand = np.flatnonzero((tables[7]["y"] >> EXT) == c)
    if len(cand) == 0:
        return None
    positions = [int(cand[0])]
    for t in range(7, 1, -1):
        positions = [p for q in positions for p in (int(tables[t]["l"][q]), int(tables[t]["r"][q]))]
    return pack_proof([tables[1]["x"][p] for p in positions], k)


# --- V2 (pos-v2.md §3) ---------------------------------------------------------------------------
def _group_by_buckets(ys: np.ndarray, nb: int) -> list[list[int]]:
    buckets: list[list[int]] = [[] for _ in range(nb)]
    for label, y in enumerate(ys.tolist()):
        bk = buckets[y // BC]
        if len(bk) < 272:
            bk.append(label)
    return buckets


def _matches_of_pair(b: int, buckets, ys: np.ndarray) -> list[tuple[int, int]]:
    """§3.3 vectorised as in §8: (n_left, 64, 2) lookups flattened in C order, first 288 valid."""
    left, right = buckets[b], buckets[b + 1]
    if not left or not right:
        return []
    first = np.full(BC, -1, np.int64)
    second = np.full(BC, -1, np.int64)
    for label in right:
        r = int(ys[label]) - (b + 1) * BC
        if first[r] < 0:
            first[r] = label
        elif second[r] < 0:
            second[r] = label
    left = np.array(left, np.int64)
    tg = targets(b % 2, ys[left] - b * BC)
    look = np.stack([first[tg], second[tg]], axis=2)  # (nl, 64, 2)
    li = np.broadcast_to(left[:, None, None], look.shape)
    valid = look.ravel() >= 0
    return list(zip(li.ravel()[valid][:288].tolist(), look.ravel()[valid][:288].tolist()))


def proofs_v2(seed: bytes, k: int):
    """create_proofs (pos-v2.md §3): ({s_bucket: proof} for the first 2^15, table sizes t1..t7)."""
    nb = -(-(1 << (k + EXT)) // BC)
    ys = f1_all(seed, k)
    metas = list(range(1 << k))
    sizes = [1 << k]
    lr = {}
    target: dict[int, tuple[int, int]] = {}
    for t in range(2, 8):
        buckets = _group_by_buckets(ys, nb)
        out_y, out_meta, out_lr = [], [], []
        count = 0
        for b in range(nb - 1):
            for li, ri in _matches_of_pair(b, buckets, ys):
                count += 1
                yo, mo = fx(t, k, int(ys[li]), metas[li], metas[ri])
                if t == 7:
                    f = yo >> EXT
                    if f & ((1 << (k - 16)) - 1):
                        continue
                    s16 = f >> (k - 16)
                    s = ((s16 >> 8) & 0xFF) | ((s16 & 0xFF) << 8)
                    target.setdefault(s, (li, ri))
                else:
                    out_y.append(yo), out_meta.append(mo), out_lr.append((li, ri))
        sizes.append(count)
        if t < 7:
            lr[t] = out_lr
            ys, metas = np.array(out_y, np.int64), out_meta
    proofs = {}
    for s in sorted(target)[: 2**15]:
        labels = list(target[s])
        for t in range(6, 1, -1):
            labels = [p for q in labels for p in lr[t][q]]
        proofs[s] = pack_proof(labels, k)
    return proofs, sizes


# --- verify_only (§9) ----------------------------------------------------------------------------
def verify_only(seed: bytes, ci: int, proof: bytes, k: int) -> bool:
    v = int.from_bytes(proof, "big")
    xs = [(v >> (k * (63 - i))) & ((1 << k) - 1) for i in range(64)]
    level = []
    for x in xs:
        nbyte = (k * x) // 8
        stream = keystream_reference(seed, 128, nbyte // 64)  # the block(s) holding those bits
        off = nbyte - 64 * (nbyte // 64)
        word = int.from_bytes(stream[off : off + 4], "big")
        partial = (word >> (32 - k - (k * x) % 8)) & ((1 << k) - 1)
        level.append(((partial << EXT) | (x >> (k - EXT)), x))
    for t in range(2, 8):
        nxt = []
        for i in range(0, len(level), 2):
            (yl, ml), (yr, mr) = level[i], level[i + 1]
            if not has_match(yl, yr):
                return False
            nxt.append(fx(t, k, yl, ml, mr))
        level = nxt
    return (level[0][0] >> EXT) == challenge_prefix(ci, k)
