"""SS58 addresses (Substrate ``sp-core`` ``Ss58Codec``) for 32-byte account ids / public keys.

``base58(prefix ‖ account_id[32] ‖ blake2b_512(b"SS58PRE" ‖ prefix ‖ account_id)[0:2])`` where the
prefix is one byte for network ids < 64 and two bytes for 64..16383:
``((id & 0b1111_1100) >> 2) | 0b0100_0000`` then ``(id >> 8) | ((id & 0b11) << 6)``.
Autonomys uses network id 6094 (sector-audit-prove.md §4). Decoding accepts any id whose checksum holds.
"""

from __future__ import annotations

import hashlib

from farmkit.errors import FarmkitError

__all__ = ["AUTONOMYS_SS58_PREFIX", "ss58_decode", "ss58_encode", "b58decode", "b58encode"]

AUTONOMYS_SS58_PREFIX = 6094
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_CHECKSUM_PREFIX = b"SS58PRE"
_CHECKSUM_LEN = 2  # for 32-byte payloads


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + out


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        if c not in _INDEX:
            raise FarmkitError(f"SS58 address: invalid base58 character {c!r}")
        n = n * 58 + _INDEX[c]
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * zeros + body


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(_CHECKSUM_PREFIX + data, digest_size=64).digest()[:_CHECKSUM_LEN]


def _prefix_bytes(network_id: int) -> bytes:
    if not 0 <= network_id < 16384 or network_id in (46, 47):
        raise FarmkitError(f"SS58 network id {network_id} is not allowed")
    if network_id < 64:
        return bytes([network_id])
    first = ((network_id & 0b1111_1100) >> 2) | 0b0100_0000
    second = (network_id >> 8) | ((network_id & 0b11) << 6)
    return bytes([first, second])


def ss58_encode(account_id: bytes, network_id: int = AUTONOMYS_SS58_PREFIX) -> str:
    account_id = bytes(account_id)
    if len(account_id) != 32:
        raise FarmkitError("SS58: account id must be 32 bytes")
    body = _prefix_bytes(network_id) + account_id
    return b58encode(body + _checksum(body))


def ss58_decode(address: str) -> tuple[bytes, int]:
    """(32-byte account id, network id); FarmkitError on a malformed address or bad checksum."""
    raw = b58decode(address.strip())
    if not raw:
        raise FarmkitError("SS58 address: empty")
    if raw[0] < 64:
        prefix_len, network_id = 1, raw[0]
    elif raw[0] < 128:
        if len(raw) < 2:
            raise FarmkitError("SS58 address: too short")
        b0, b1 = raw[0], raw[1]
        prefix_len = 2
        network_id = ((b0 & 0b0011_1111) << 2) | (b1 >> 6) | ((b1 & 0b0011_1111) << 8)
    else:
        raise FarmkitError("SS58 address: invalid prefix")
    if len(raw) != prefix_len + 32 + _CHECKSUM_LEN:
        raise FarmkitError(f"SS58 address: expected a 32-byte account id, got {len(raw) - prefix_len - _CHECKSUM_LEN} bytes")
    body, checksum = raw[:-_CHECKSUM_LEN], raw[-_CHECKSUM_LEN:]
    if _checksum(body) != checksum:
        raise FarmkitError("SS58 address: bad checksum")
    return body[prefix_len:], network_id
