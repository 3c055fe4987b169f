"""SCALE codec (parity-scale-codec) helpers: the minimal set the protocol objects need.

Spec: kzg-erasure-archiving.md §9.1. Integers are little-endian fixed width; ``Compact<u32/u64>``
is the variable-length prefix used for vector lengths; ``Vec<u8>`` is Compact(len) || bytes;
``Option<T>`` is ``00`` (None) or ``01`` || T; an enum is a 1-byte variant index || the
variant's fields.

Decoders take ``(data, offset)`` and return ``(value, new_offset)`` so callers can walk a buffer
without copying it; they raise :class:`ScaleDecodeError` (a :class:`FarmkitError`) on truncated or
malformed input.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from farmkit.errors import FarmkitError

__all__ = [
    "ScaleDecodeError",
    "encode_u8",
    "encode_u16",
    "encode_u32",
    "encode_u64",
    "encode_u128",
    "decode_u8",
    "decode_u16",
    "decode_u32",
    "decode_u64",
    "decode_u128",
    "encode_bool",
    "decode_bool",
    "compact_len",
    "encode_compact",
    "decode_compact",
    "encode_bytes",
    "decode_bytes",
    "encoded_bytes_len",
    "encode_fixed",
    "decode_fixed",
    "encode_vec",
    "decode_vec",
    "encode_option",
    "decode_option",
    "encode_enum",
    "decode_enum_index",
]

T = TypeVar("T")

Buffer = bytes | bytearray | memoryview


class ScaleDecodeError(FarmkitError):
    """The bytes are not a valid SCALE encoding of the expected type."""


def _need(data: Buffer, offset: int, n: int, what: str) -> None:
    if offset < 0 or offset + n > len(data):
        raise ScaleDecodeError(
            f"SCALE: truncated input decoding {what} at offset {offset} (need {n} bytes, have {max(0, len(data) - offset)})"
        )


# --- fixed-width integers (little-endian) -------------------------------------------------------


def _encode_uint(value: int, nbytes: int) -> bytes:
    if value < 0 or value >= 1 << (8 * nbytes):
        raise ValueError(f"u{8 * nbytes} out of range: {value}")
    return int(value).to_bytes(nbytes, "little")


def _decode_uint(data: Buffer, offset: int, nbytes: int) -> tuple[int, int]:
    _need(data, offset, nbytes, f"u{8 * nbytes}")
    return int.from_bytes(data[offset : offset + nbytes], "little"), offset + nbytes


def encode_u8(v: int) -> bytes:
    return _encode_uint(v, 1)


def encode_u16(v: int) -> bytes:
    return _encode_uint(v, 2)


def encode_u32(v: int) -> bytes:
    return _encode_uint(v, 4)


def encode_u64(v: int) -> bytes:
    return _encode_uint(v, 8)


def encode_u128(v: int) -> bytes:
    return _encode_uint(v, 16)


def decode_u8(data: Buffer, offset: int = 0) -> tuple[int, int]:
    return _decode_uint(data, offset, 1)


def decode_u16(data: Buffer, offset: int = 0) -> tuple[int, int]:
    return _decode_uint(data, offset, 2)


def decode_u32(data: Buffer, offset: int = 0) -> tuple[int, int]:
    return _decode_uint(data, offset, 4)


def decode_u64(data: Buffer, offset: int = 0) -> tuple[int, int]:
    return _decode_uint(data, offset, 8)


def decode_u128(data: Buffer, offset: int = 0) -> tuple[int, int]:
    return _decode_uint(data, offset, 16)


def encode_bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def decode_bool(data: Buffer, offset: int = 0) -> tuple[bool, int]:
    b, offset = decode_u8(data, offset)
    if b > 1:
        raise ScaleDecodeError(f"SCALE: invalid bool byte {b:#04x}")
    return bool(b), offset


# --- Compact<uN> (spec §9.1) -------------------------------------------------------------------


def compact_len(value: int) -> int:
    """Number of bytes of ``Compact(value)``."""
    if value < 0:
        raise ValueError("compact integers are unsigned")
    if value < 1 << 6:
        return 1
    if value < 1 << 14:
        return 2
    if value < 1 << 30:
        return 4
    return 1 + max(4, (value.bit_length() + 7) // 8)


def encode_compact(value: int) -> bytes:
    """``Compact(value)``: 1, 2 or 4 bytes with a 2-bit mode tag, or a length byte + LE value."""
    if value < 0:
        raise ValueError("compact integers are unsigned")
    if value < 1 << 6:
        return bytes([value << 2])
    if value < 1 << 14:
        return ((value << 2) | 0b01).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 0b10).to_bytes(4, "little")
    nbytes = max(4, (value.bit_length() + 7) // 8)
    if nbytes > 67:
        raise ValueError("compact integer too large")
    return bytes([((nbytes - 4) << 2) | 0b11]) + value.to_bytes(nbytes, "little")


def decode_compact(data: Buffer, offset: int = 0) -> tuple[int, int]:
    """Decode a ``Compact`` integer; rejects non-canonical (over-long) encodings like the reference."""
    _need(data, offset, 1, "Compact")
    first = data[offset]
    mode = first & 0b11
    if mode == 0b00:
        return first >> 2, offset + 1
    if mode == 0b01:
        _need(data, offset, 2, "Compact")
        v = int.from_bytes(data[offset : offset + 2], "little") >> 2
        if v < 1 << 6:
            raise ScaleDecodeError("SCALE: non-canonical Compact encoding")
        return v, offset + 2
    if mode == 0b10:
        _need(data, offset, 4, "Compact")
        v = int.from_bytes(data[offset : offset + 4], "little") >> 2
        if v < 1 << 14:
            raise ScaleDecodeError("SCALE: non-canonical Compact encoding")
        return v, offset + 4
    nbytes = (first >> 2) + 4
    _need(data, offset + 1, nbytes, "Compact")
    v = int.from_bytes(data[offset + 1 : offset + 1 + nbytes], "little")
    if v < 1 << 30 or (v.bit_length() + 7) // 8 != nbytes:
        raise ScaleDecodeError("SCALE: non-canonical Compact encoding")
    return v, offset + 1 + nbytes


# --- byte vectors, fixed arrays ----------------------------------------------------------------


def encoded_bytes_len(n: int) -> int:
    """Encoded size of a ``Vec<u8>`` of ``n`` bytes."""
    return compact_len(n) + n


def encode_bytes(data: Buffer) -> bytes:
    """``Vec<u8>``: Compact(len) || bytes."""
    return encode_compact(len(data)) + bytes(data)


def decode_bytes(data: Buffer, offset: int = 0) -> tuple[bytes, int]:
    n, offset = decode_compact(data, offset)
    _need(data, offset, n, "Vec<u8>")
    return bytes(data[offset : offset + n]), offset + n


def encode_fixed(data: Buffer, n: int) -> bytes:
    """``[u8; n]``: the raw bytes, no prefix."""
    if len(data) != n:
        raise ValueError(f"expected {n} bytes, got {len(data)}")
    return bytes(data)


def decode_fixed(data: Buffer, n: int, offset: int = 0) -> tuple[bytes, int]:
    _need(data, offset, n, f"[u8; {n}]")
    return bytes(data[offset : offset + n]), offset + n


# --- generic containers ------------------------------------------------------------------------


def encode_vec(items, encode_item: Callable[[T], bytes]) -> bytes:
    """``Vec<T>``: Compact(count) || items."""
    items = list(items)
    return encode_compact(len(items)) + b"".join(encode_item(x) for x in items)


def decode_vec(
    data: Buffer, decode_item: Callable[[Buffer, int], tuple[T, int]], offset: int = 0
) -> tuple[list[T], int]:
    n, offset = decode_compact(data, offset)
    if n > len(data) - offset:  # every item takes >= 1 byte here; refuse absurd counts early
        raise ScaleDecodeError(f"SCALE: vector length {n} exceeds the remaining input")
    out = []
    for _ in range(n):
        item, offset = decode_item(data, offset)
        out.append(item)
    return out, offset


def encode_option(value: T | None, encode_item: Callable[[T], bytes]) -> bytes:
    """``Option<T>``: ``00`` or ``01`` || T."""
    return b"\x00" if value is None else b"\x01" + encode_item(value)


def decode_option(
    data: Buffer, decode_item: Callable[[Buffer, int], tuple[T, int]], offset: int = 0
) -> tuple[T | None, int]:
    tag, offset = decode_u8(data, offset)
    if tag == 0:
        return None, offset
    if tag == 1:
        return decode_item(data, offset)
    raise ScaleDecodeError(f"SCALE: invalid Option tag {tag:#04x}")


def encode_enum(index: int, payload: bytes = b"") -> bytes:
    """An enum value: 1-byte variant index || the variant's encoded fields."""
    return encode_u8(index) + payload


def decode_enum_index(data: Buffer, offset: int = 0, *, num_variants: int | None = None, what: str = "enum") -> tuple[int, int]:
    idx, offset = decode_u8(data, offset)
    if num_variants is not None and idx >= num_variants:
        raise ScaleDecodeError(f"SCALE: invalid {what} variant {idx}")
    return idx, offset
