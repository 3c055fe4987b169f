"""sr25519: schnorrkel Schnorr signatures over ristretto255 with Merlin transcripts, any context.

Spec: pot-rpc.md C.7 (reward signatures), sector-audit-prove.md §8.2 (farm identity). The node
asks the farmer to sign a 32-byte hash under the signing context ``subspace_reward``;
py-sr25519-bindings can only sign under ``substrate``, hence this module.

Protocol (schnorrkel 0.11, as used by the reference farmer's ``identity.rs``):

* signing context: ``t = Transcript("SigningContext"); t.append("", context);
  t.append("sign-bytes", message)``;
* sign: ``t.append("proto-name", "Schnorr-sig"); t.append("sign:pk", A)``;
  nonce ``r`` = 64 bytes from the transcript RNG keyed with (``"signing"``, secret nonce) and 32
  external random bytes, reduced mod l; ``R = r*B``; ``t.append("sign:R", R)``;
  ``k = challenge("sign:c", 64) mod l``; ``s = k*a + r``;
  signature = ``R || s`` with bit 7 of byte 63 set (schnorrkel's marker);
* verify: rebuild ``k`` from (A, R) and check ``encode(s*B - k*A) == R``.

Keys: a 32-byte mini secret expands to (scalar a, nonce) either the Ed25519 way (SHA-512, clamp,
divide by the cofactor 8; what the reference farmer and substrate use) or the "uniform" way (a
Merlin transcript ``ExpandSecretKeys``). Entropy -> mini secret is substrate-bip39's
``PBKDF2-HMAC-SHA512(entropy, "mnemonic" || password, 2048)[0..32]``.

Secret-dependent curve work (``a*B``, ``r*B``) and the scalar arithmetic ``k*a + r`` go through
libsodium when PyNaCl is available (constant-time); the Merlin/Keccak code is pure Python and is
not hardened against timing side channels (pot-rpc.md D.8).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from farmkit.errors import FarmkitError
from farmkit.kernels import ristretto
from farmkit.kernels.merlin import Transcript

__all__ = [
    "MINI_SECRET_KEY_LENGTH",
    "SECRET_KEY_LENGTH",
    "PUBLIC_KEY_LENGTH",
    "SIGNATURE_LENGTH",
    "SUBSTRATE_CONTEXT",
    "Keypair",
    "mini_secret_from_entropy",
    "keypair_from_mini_secret",
    "keypair_from_entropy",
    "keypair_from_secret_key",
    "public_key",
    "signing_transcript",
    "sign",
    "verify",
]

MINI_SECRET_KEY_LENGTH = 32
SECRET_KEY_LENGTH = 64  # scalar (32, LE) || nonce (32)
PUBLIC_KEY_LENGTH = 32  # compressed ristretto255
SIGNATURE_LENGTH = 64  # R (32) || s (32, LE, bit 7 of byte 63 set)
SUBSTRATE_CONTEXT = b"substrate"  # the context py-sr25519-bindings / substrate use

try:  # constant-time scalar arithmetic mod l from libsodium
    from nacl.bindings import crypto_core_ed25519_scalar_add as _sc_add
    from nacl.bindings import crypto_core_ed25519_scalar_mul as _sc_mul
except ImportError:  # pragma: no cover
    _sc_add = _sc_mul = None


@dataclass(frozen=True)
class Keypair:
    """An sr25519 keypair: secret scalar ``a`` (< l), 32-byte secret nonce, public key ``a*B``."""

    secret_scalar: int
    nonce: bytes
    public: bytes

    def __post_init__(self) -> None:
        if not 0 < self.secret_scalar < ristretto.L:
            raise FarmkitError("sr25519: secret scalar out of range")
        if len(self.nonce) != 32 or len(self.public) != PUBLIC_KEY_LENGTH:
            raise FarmkitError("sr25519: keypair nonce/public key must be 32 bytes")

    @property
    def secret_key(self) -> bytes:
        """64 bytes: scalar (LE) || nonce — schnorrkel ``SecretKey::to_bytes`` layout, the same
        as py-sr25519-bindings' secret key."""
        return ristretto.scalar_to_bytes(self.secret_scalar) + self.nonce

    def __repr__(self) -> str:  # never print secrets
        return f"Keypair(public={self.public.hex()})"

    def sign(self, message: bytes, context: bytes = SUBSTRATE_CONTEXT) -> bytes:
        return sign(self, message, context)


def mini_secret_from_entropy(entropy: bytes, password: str = "") -> bytes:
    """substrate-bip39 ``mini_secret_from_entropy``: PBKDF2-HMAC-SHA512 of the BIP-39 entropy
    (16..32 bytes, a multiple of 4) with salt ``"mnemonic" + password``, 2048 rounds, first 32 B."""
    if not 16 <= len(entropy) <= 32 or len(entropy) % 4:
        raise FarmkitError(f"sr25519: entropy must be 16..32 bytes, a multiple of 4 (got {len(entropy)})")
    seed = hashlib.pbkdf2_hmac("sha512", bytes(entropy), b"mnemonic" + password.encode(), 2048)
    return seed[:MINI_SECRET_KEY_LENGTH]


def _divide_scalar_bytes_by_cofactor(key: bytearray) -> None:
    """Little-endian shift right by 3 bits (schnorrkel ``divide_scalar_bytes_by_cofactor``)."""
    low = 0
    for i in reversed(range(32)):
        r = key[i] & 0b111
        key[i] = (key[i] >> 3) | low
        low = r << 5


def _expand_ed25519(mini: bytes) -> tuple[int, bytes]:
    h = hashlib.sha512(mini).digest()
    key = bytearray(h[:32])
    key[0] &= 248
    key[31] &= 63
    key[31] |= 64
    _divide_scalar_bytes_by_cofactor(key)
    return int.from_bytes(key, "little"), h[32:]


def _expand_uniform(mini: bytes) -> tuple[int, bytes]:
    t = Transcript(b"ExpandSecretKeys")
    t.append_message(b"mini", mini)
    scalar = ristretto.scalar_from_bytes_mod_order_wide(t.challenge_bytes(b"sk", 64))
    nonce = t.challenge_bytes(b"no", 32)
    return scalar, nonce


def _public_from_scalar(a: int) -> bytes:
    return ristretto.encode(ristretto.mul_base(a))


def keypair_from_mini_secret(mini_secret: bytes, mode: str = "ed25519") -> Keypair:
    """schnorrkel ``MiniSecretKey::expand_to_keypair``; ``mode`` is ``"ed25519"`` (what the
    reference farmer, substrate and py-sr25519-bindings' ``pair_from_seed`` use) or ``"uniform"``."""
    if len(mini_secret) != MINI_SECRET_KEY_LENGTH:
        raise FarmkitError(f"sr25519: mini secret must be 32 bytes (got {len(mini_secret)})")
    if mode == "ed25519":
        a, nonce = _expand_ed25519(bytes(mini_secret))
    elif mode == "uniform":
        a, nonce = _expand_uniform(bytes(mini_secret))
    else:
        raise FarmkitError(f"sr25519: unknown expansion mode {mode!r} (ed25519|uniform)")
    return Keypair(a, nonce, _public_from_scalar(a))


def keypair_from_entropy(entropy: bytes, password: str = "") -> Keypair:
    """The farm identity key (sector-audit-prove.md §8.2; reference ``identity.rs``):
    ``mini_secret_from_entropy(entropy, "")`` expanded with ``ExpansionMode::Ed25519``."""
    return keypair_from_mini_secret(mini_secret_from_entropy(entropy, password), "ed25519")


def keypair_from_secret_key(secret_key: bytes) -> Keypair:
    """From the 64-byte schnorrkel secret key (scalar LE || nonce), e.g. py-sr25519-bindings'."""
    if len(secret_key) != SECRET_KEY_LENGTH:
        raise FarmkitError(f"sr25519: secret key must be 64 bytes (got {len(secret_key)})")
    try:
        a = ristretto.scalar_from_canonical_bytes(bytes(secret_key[:32]))
    except ristretto.RistrettoError as exc:
        raise FarmkitError(f"sr25519: secret key: {exc}") from None
    return Keypair(a, bytes(secret_key[32:]), _public_from_scalar(a))


def _as_keypair(secret: "Keypair | bytes") -> Keypair:
    if isinstance(secret, Keypair):
        return secret
    if isinstance(secret, (bytes, bytearray, memoryview)):
        secret = bytes(secret)
        if len(secret) == MINI_SECRET_KEY_LENGTH:
            return keypair_from_mini_secret(secret)
        if len(secret) == SECRET_KEY_LENGTH:
            return keypair_from_secret_key(secret)
        if len(secret) == SECRET_KEY_LENGTH + PUBLIC_KEY_LENGTH:  # schnorrkel Keypair::to_bytes
            kp = keypair_from_secret_key(secret[:64])
            if kp.public != secret[64:]:
                raise FarmkitError("sr25519: keypair bytes: public key does not match the secret")
            return kp
    raise FarmkitError(
        "sr25519: secret must be a Keypair, a 32-byte mini secret, a 64-byte secret key "
        "or 96-byte keypair bytes"
    )


def public_key(secret: "Keypair | bytes") -> bytes:
    """The 32-byte public key of a Keypair / mini secret (Ed25519 expansion) / 64-byte secret key."""
    return _as_keypair(secret).public


def signing_transcript(context: bytes, message: bytes) -> Transcript:
    """schnorrkel ``signing_context(context).bytes(message)``."""
    t = Transcript(b"SigningContext")
    t.append_message(b"", bytes(context))
    t.append_message(b"sign-bytes", bytes(message))
    return t


def _challenge_scalar(t: Transcript, public: bytes, r_enc: bytes) -> int:
    t.append_message(b"sign:R", r_enc)
    return ristretto.scalar_from_bytes_mod_order_wide(t.challenge_bytes(b"sign:c", 64))


def _sign_transcript(kp: Keypair, t: Transcript, rng_bytes: bytes) -> bytes:
    t.append_message(b"proto-name", b"Schnorr-sig")
    t.append_message(b"sign:pk", kp.public)
    rng = t.build_rng().rekey_with_witness_bytes(b"signing", kp.nonce).finalize(rng_bytes)
    r = ristretto.scalar_from_bytes_mod_order_wide(rng.fill_bytes(64))
    r_enc = ristretto.encode(ristretto.mul_base(r))
    k = _challenge_scalar(t, kp.public, r_enc)
    if _sc_mul is not None:
        s_bytes = _sc_add(
            _sc_mul(ristretto.scalar_to_bytes(k), ristretto.scalar_to_bytes(kp.secret_scalar)),
            ristretto.scalar_to_bytes(r),
        )
    else:  # pragma: no cover
        s_bytes = ristretto.scalar_to_bytes(k * kp.secret_scalar + r)
    sig = bytearray(r_enc + s_bytes)
    sig[63] |= 0x80  # schnorrkel marker: distinguishes sr25519 from Ed25519 signatures
    return bytes(sig)


def sign(
    secret: "Keypair | bytes",
    message: bytes,
    context: bytes = SUBSTRATE_CONTEXT,
    *,
    rng_bytes: bytes | None = None,
) -> bytes:
    """Sign ``message`` under signing ``context``; returns 64 bytes ``R || s`` (marker set).

    ``secret``: a :class:`Keypair`, 32-byte mini secret (Ed25519 expansion), 64-byte secret key
    or 96-byte keypair. ``rng_bytes`` (32 B) replaces the external randomness, for tests only.
    """
    kp = _as_keypair(secret)
    if rng_bytes is None:
        rng_bytes = os.urandom(32)
    return _sign_transcript(kp, signing_transcript(context, message), rng_bytes)


def verify(public_key: bytes, message: bytes, signature: bytes, context: bytes = SUBSTRATE_CONTEXT) -> bool:
    """True iff ``signature`` is a valid sr25519 signature of ``message`` under ``context``.

    Never raises on malformed input: a wrong length, a non-canonical or non-group public key or
    R, a missing schnorrkel marker, or ``s >= l`` all give False.
    """
    try:
        public_key = bytes(public_key)
        signature = bytes(signature)
        message = bytes(message)
        context = bytes(context)
    except TypeError:
        return False
    if len(public_key) != PUBLIC_KEY_LENGTH or len(signature) != SIGNATURE_LENGTH:
        return False
    if not signature[63] & 0x80:
        return False
    s_bytes = signature[32:63] + bytes([signature[63] & 0x7F])
    s = int.from_bytes(s_bytes, "little")
    if s >= ristretto.L:
        return False
    r_enc = signature[:32]
    try:
        a_point = ristretto.decode(public_key)
        ristretto.decode(r_enc)
    except ristretto.RistrettoError:
        return False
    t = signing_transcript(context, message)
    t.append_message(b"proto-name", b"Schnorr-sig")
    t.append_message(b"sign:pk", public_key)
    k = _challenge_scalar(t, public_key, r_enc)
    # R' = s*B - k*A. All inputs are public, so the variable-time reference path is fine here.
    r_check = ristretto.sub(ristretto.mul_base_reference(s), ristretto.mul(k, a_point))
    return ristretto.encode(r_check) == r_enc
