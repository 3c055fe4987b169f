"""ristretto255 (RFC 9496) over edwards25519, and scalars mod the group order l.

Reference path: plain Python integers, functions named after RFC 9496 §4 (SQRT_RATIO_M1, Decode,
Encode, Equals, the element derivation function MAP) on extended twisted-Edwards coordinates
(X:Y:Z:T), a = -1. Tested against the RFC's Appendix A vectors.

Fast path (:func:`mul_base`): the fixed-base multiplication, which is where secret scalars enter
(public key from a secret key, the signing nonce point R), goes through libsodium by way of PyNaCl
(``crypto_scalarmult_ed25519_base_noclamp``, constant-time) and converts the resulting Edwards point
to its ristretto255 encoding. PyNaCl 1.6 exposes no ``crypto_core_ristretto255_*`` bindings, and its
Ed25519 variable-base functions refuse points outside the prime-order subgroup (a decoded
ristretto255 element may carry a 4-torsion component), so variable-base multiplication (used only
with public data, in verification) stays on the reference path. Tests compare the two paths.
"""

from __future__ import annotations

import secrets

__all__ = [
    "P",
    "L",
    "IDENTITY",
    "BASEPOINT",
    "RistrettoError",
    "decode",
    "encode",
    "equals",
    "add",
    "neg",
    "sub",
    "mul",
    "mul_base",
    "mul_base_reference",
    "from_uniform_bytes",
    "scalar_from_bytes_mod_order_wide",
    "scalar_from_canonical_bytes",
    "scalar_to_bytes",
    "random_scalar",
    "HAVE_LIBSODIUM",
]

# --- Field GF(2^255 - 19) and curve constants (RFC 9496 §4.1) -----------------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # prime order of the ristretto255 group
D = (-121665 * pow(121666, P - 2, P)) % P  # edwards25519 d
SQRT_M1 = pow(2, (P - 1) // 4, P)
SQRT_AD_MINUS_ONE = 25063068953384623474111414158702152701244531502492656460079210482610430750235
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
ONE_MINUS_D_SQ = 1159843021668779879193775521855586647937357759715417654439879720876111806838
D_MINUS_ONE_SQ = 40440834346308536858101042469323190826248399146238708352240133220865137265952


class RistrettoError(ValueError):
    """An invalid ristretto255 encoding or scalar."""


def _is_negative(x: int) -> bool:
    """RFC 9496 §4.1: a field element is negative when its canonical encoding's low bit is 1."""
    return (x % P) & 1 == 1


def _abs(x: int) -> int:
    x %= P
    return P - x if x & 1 else x


def sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    """RFC 9496 §4.2 SQRT_RATIO_M1(u, v) -> (was_square, non-negative r)."""
    u %= P
    v %= P
    v3 = v * v % P * v % P
    v7 = v3 * v3 % P * v % P
    r = u * v3 % P * pow(u * v7 % P, (P - 5) // 8, P) % P
    check = v * r % P * r % P
    correct_sign = check == u
    flipped_sign = check == (-u) % P
    flipped_sign_i = check == (-u * SQRT_M1) % P
    if flipped_sign or flipped_sign_i:
        r = r * SQRT_M1 % P
    return (correct_sign or flipped_sign), _abs(r)


# Points are tuples (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
Point = tuple[int, int, int, int]
IDENTITY: Point = (0, 1, 1, 0)


def _edwards_basepoint() -> Point:
    y = 4 * pow(5, P - 2, P) % P
    x = _recover_x(y, 0)
    return (x, y, 1, x * y % P)


def _recover_x(y: int, sign: int) -> int:
    """RFC 8032 §5.1.3 x from y and the sign bit; raises on a non-point."""
    if y >= P:
        raise RistrettoError("edwards25519: y not canonical")
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        if sign:
            raise RistrettoError("edwards25519: x = 0 with sign bit set")
        return 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        raise RistrettoError("edwards25519: not on the curve")
    if x & 1 != sign:
        x = P - x
    return x


BASEPOINT: Point = _edwards_basepoint()


# --- Edwards group law (a = -1, extended coordinates; add-2008-hwcd-3, dbl-2008-hwcd) -----------
def add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 % P * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p: Point) -> Point:
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    x, y, z, t = p
    return ((-x) % P, y, z, (-t) % P)


def sub(p: Point, q: Point) -> Point:
    return add(p, neg(q))


def mul(k: int, p: Point) -> Point:
    """k * p (variable time; use only with public scalars), 4-bit fixed window."""
    k %= L
    table = [IDENTITY, p]
    for _ in range(14):
        table.append(add(table[-1], p))
    acc = IDENTITY
    for shift in range(252, -1, -4):
        acc = _double(_double(_double(_double(acc))))
        nib = (k >> shift) & 15
        if nib:
            acc = add(acc, table[nib])
    return acc


_BASE_TABLE: list[list[Point]] | None = None


def mul_base_reference(k: int) -> Point:
    """k * B with a radix-16 precomputed table (reference path; variable time)."""
    global _BASE_TABLE
    if _BASE_TABLE is None:
        tab = []
        q = BASEPOINT
        for _ in range(64):
            row = [IDENTITY, q]
            for _ in range(14):
                row.append(add(row[-1], q))
            tab.append(row)
            q = add(row[15], q)  # 16 * q
        _BASE_TABLE = tab
    k %= L
    acc = IDENTITY
    for i in range(64):
        nib = (k >> (4 * i)) & 15
        if nib:
            acc = add(acc, _BASE_TABLE[i][nib])
    return acc


# --- Encoding (RFC 9496 §4.3) -------------------------------------------------------------------
def decode(data: bytes) -> Point:
    """RFC 9496 §4.3.1 Decode; raises :class:`RistrettoError` on any invalid encoding."""
    if len(data) != 32:
        raise RistrettoError("ristretto255 encoding must be 32 bytes")
    s = int.from_bytes(data, "little")
    if s >= P or s & 1:
        raise RistrettoError("ristretto255: non-canonical or negative field element")
    ss = s * s % P
    u1 = (1 - ss) % P
    u2 = (1 + ss) % P
    u2_sqr = u2 * u2 % P
    v = (-(D * u1 % P * u1) - u2_sqr) % P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr % P)
    den_x = invsqrt * u2 % P
    den_y = invsqrt * den_x % P * v % P
    x = _abs(2 * s * den_x)
    y = u1 * den_y % P
    t = x * y % P
    if not was_square or _is_negative(t) or y == 0:
        raise RistrettoError("ristretto255: not a valid group element encoding")
    return (x, y, 1, t)


def encode(p: Point) -> bytes:
    """RFC 9496 §4.3.2 Encode."""
    x0, y0, z0, t0 = p
    u1 = (z0 + y0) * (z0 - y0) % P
    u2 = x0 * y0 % P
    _, invsqrt = sqrt_ratio_m1(1, u1 * u2 % P * u2 % P)
    den1 = invsqrt * u1 % P
    den2 = invsqrt * u2 % P
    z_inv = den1 * den2 % P * t0 % P
    ix0 = x0 * SQRT_M1 % P
    iy0 = y0 * SQRT_M1 % P
    enchanted_denominator = den1 * INVSQRT_A_MINUS_D % P
    rotate = _is_negative(t0 * z_inv)
    if rotate:
        x, y, den_inv = iy0, ix0, enchanted_denominator
    else:
        x, y, den_inv = x0, y0, den2
    if _is_negative(x * z_inv):
        y = (-y) % P
    s = _abs(den_inv * (z0 - y))
    return s.to_bytes(32, "little")


def equals(p: Point, q: Point) -> bool:
    """RFC 9496 §4.3.3 Equals."""
    x1, y1, _, _ = p
    x2, y2, _, _ = q
    return (x1 * y2 - y1 * x2) % P == 0 or (y1 * y2 - x1 * x2) % P == 0


def _map(t: int) -> Point:
    """RFC 9496 §4.3.4 MAP (Elligator 2 variant)."""
    r = SQRT_M1 * t % P * t % P
    u = (r + 1) * ONE_MINUS_D_SQ % P
    v = (-1 - r * D) * (r + D) % P
    was_square, s = sqrt_ratio_m1(u, v)
    s_prime = (-_abs(s * t)) % P
    if not was_square:
        s = s_prime
    c = P - 1 if was_square else r
    n = (c * (r - 1) % P * D_MINUS_ONE_SQ - v) % P
    w0 = 2 * s * v % P
    w1 = n * SQRT_AD_MINUS_ONE % P
    w2 = (1 - s * s) % P
    w3 = (1 + s * s) % P
    return (w0 * w3 % P, w2 * w1 % P, w1 * w3 % P, w0 * w2 % P)


def from_uniform_bytes(data: bytes) -> Point:
    """RFC 9496 §4.3.4 element derivation from 64 uniform bytes (hash-to-group)."""
    if len(data) != 64:
        raise RistrettoError("element derivation needs 64 bytes")
    mask = (1 << 255) - 1
    r0 = (int.from_bytes(data[:32], "little") & mask) % P
    r1 = (int.from_bytes(data[32:], "little") & mask) % P
    return add(_map(r0), _map(r1))


# --- Scalars mod l ------------------------------------------------------------------------------
def scalar_from_bytes_mod_order_wide(data: bytes) -> int:
    """64 bytes little-endian reduced mod l (curve25519-dalek ``from_bytes_mod_order_wide``)."""
    if len(data) != 64:
        raise RistrettoError("wide scalar must be 64 bytes")
    return int.from_bytes(data, "little") % L


def scalar_from_canonical_bytes(data: bytes) -> int:
    """32 bytes little-endian that must already be < l."""
    if len(data) != 32:
        raise RistrettoError("scalar must be 32 bytes")
    k = int.from_bytes(data, "little")
    if k >= L:
        raise RistrettoError("scalar not canonical (>= group order)")
    return k


def scalar_to_bytes(k: int) -> bytes:
    return (k % L).to_bytes(32, "little")


def random_scalar() -> int:
    return scalar_from_bytes_mod_order_wide(secrets.token_bytes(64))


# --- Fast fixed-base path through libsodium (PyNaCl) --------------------------------------------
try:  # pragma: no branch
    from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp as _sodium_base_noclamp

    HAVE_LIBSODIUM = True
except ImportError:  # pragma: no cover - PyNaCl is a dependency, but keep the reference usable
    _sodium_base_noclamp = None
    HAVE_LIBSODIUM = False


def _edwards_decompress(data: bytes) -> Point:
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return (x, y, 1, x * y % P)


def mul_base(k: int) -> Point:
    """k * B. Through libsodium (constant-time ladder) when PyNaCl is present, else the reference."""
    k %= L
    if k == 0:
        return IDENTITY
    if _sodium_base_noclamp is None:
        return mul_base_reference(k)
    return _edwards_decompress(_sodium_base_noclamp(k.to_bytes(32, "little")))
