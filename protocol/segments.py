"""Segments: items, the Segment codec, SegmentHeader V0 and its hash, LastArchivedBlock.

Spec: kzg-erasure-archiving.md §9.1 (encodings), §9.2-9.4 (how the archiver fills them), §12.7-12.9.

- ``SegmentItem`` is an enum: 0 Padding, 1 Block, 2 BlockStart, 3 BlockContinuation,
  4 ParentSegmentHeader. Block* carry ``Vec<u8>`` bytes and an in-memory object mapping that is
  never encoded.
- ``Segment`` encodes as the byte ``00`` (V0) then every item's encoding, no count; decoding reads
  items until the input ends, so trailing zero bytes are Padding.
- ``SegmentHeader::V0`` = ``00`` || u64 index || 48-byte commitment || 32-byte parent hash ||
  LastArchivedBlock (u32 number, ``00`` Complete | ``01`` u32 Partial). Its hash is BLAKE3-256 of
  those 94/98 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np
from blake3 import blake3

from farmkit.protocol.constants import (
    BLAKE3_HASH_SIZE,
    SEGMENT_COMMITMENT_SIZE,
    SEGMENT_HEADER_HASH_SIZE,
)
from farmkit.protocol.scale import (
    ScaleDecodeError,
    compact_len,
    decode_bytes,
    decode_fixed,
    decode_u8,
    decode_u32,
    decode_u64,
    encode_compact,
    encode_u32,
    encode_u64,
)

__all__ = [
    "LastArchivedBlock",
    "SegmentHeader",
    "BlockObject",
    "GlobalObject",
    "Padding",
    "Block",
    "BlockStart",
    "BlockContinuation",
    "ParentSegmentHeader",
    "SegmentItem",
    "Segment",
    "decode_segment_item",
    "segment_header_hash",
    "ArchivedHistorySegment",
]


# --- LastArchivedBlock / ArchivedBlockProgress (§9.1, §9.2) -------------------------------------


@dataclass(frozen=True)
class LastArchivedBlock:
    """Block ``number`` and how much of it is archived: ``partial=None`` is Complete, an int is
    Partial(bytes of the *block* archived so far)."""

    number: int
    partial: int | None = None

    @property
    def is_complete(self) -> bool:
        return self.partial is None

    def set_complete(self) -> "LastArchivedBlock":
        return LastArchivedBlock(self.number, None)

    def set_partial(self, archived_bytes: int) -> "LastArchivedBlock":
        return LastArchivedBlock(self.number, archived_bytes)

    def encode(self) -> bytes:
        progress = b"\x00" if self.partial is None else b"\x01" + encode_u32(self.partial)
        return encode_u32(self.number) + progress

    @classmethod
    def decode(cls, data, offset: int = 0) -> tuple["LastArchivedBlock", int]:
        number, offset = decode_u32(data, offset)
        tag, offset = decode_u8(data, offset)
        if tag == 0:
            return cls(number, None), offset
        if tag == 1:
            partial, offset = decode_u32(data, offset)
            return cls(number, partial), offset
        raise ScaleDecodeError(f"SCALE: invalid ArchivedBlockProgress variant {tag}")

    def __str__(self) -> str:
        return f"#{self.number} " + ("complete" if self.partial is None else f"partial({self.partial})")


#: The archiver's starting sentinel {0, Partial(0)}: "nothing archived yet" (§9.2).
LastArchivedBlock.INITIAL = LastArchivedBlock(0, 0)  # type: ignore[attr-defined]


# --- SegmentHeader (§9.1) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentHeader:
    """``SegmentHeader::V0``."""

    segment_index: int
    segment_commitment: bytes
    prev_segment_header_hash: bytes
    last_archived_block: LastArchivedBlock

    def __post_init__(self):
        if len(self.segment_commitment) != SEGMENT_COMMITMENT_SIZE:
            raise ValueError("segment commitment must be 48 bytes")
        if len(self.prev_segment_header_hash) != SEGMENT_HEADER_HASH_SIZE:
            raise ValueError("previous segment header hash must be 32 bytes")

    def encode(self) -> bytes:
        return (
            b"\x00"
            + encode_u64(self.segment_index)
            + bytes(self.segment_commitment)
            + bytes(self.prev_segment_header_hash)
            + self.last_archived_block.encode()
        )

    @property
    def encoded_size(self) -> int:
        return 1 + 8 + SEGMENT_COMMITMENT_SIZE + SEGMENT_HEADER_HASH_SIZE + 4 + (1 if self.last_archived_block.partial is None else 5)

    @classmethod
    def decode(cls, data, offset: int = 0) -> tuple["SegmentHeader", int]:
        variant, offset = decode_u8(data, offset)
        if variant != 0:
            raise ScaleDecodeError(f"SCALE: invalid SegmentHeader variant {variant}")
        index, offset = decode_u64(data, offset)
        commitment, offset = decode_fixed(data, SEGMENT_COMMITMENT_SIZE, offset)
        prev, offset = decode_fixed(data, SEGMENT_HEADER_HASH_SIZE, offset)
        lab, offset = LastArchivedBlock.decode(data, offset)
        return cls(index, commitment, prev, lab), offset

    @classmethod
    def from_bytes(cls, data: bytes) -> "SegmentHeader":
        """Decode exactly one header (no trailing bytes)."""
        header, end = cls.decode(data, 0)
        if end != len(data):
            raise ScaleDecodeError(f"SCALE: {len(data) - end} trailing bytes after SegmentHeader")
        return header

    def hash(self) -> bytes:
        """BLAKE3-256 of the SCALE encoding (§9.1)."""
        return segment_header_hash(self.encode())


def segment_header_hash(encoded_header: bytes) -> bytes:
    return blake3(encoded_header).digest(length=BLAKE3_HASH_SIZE)


# --- object mappings (§9.1, §9.5) --------------------------------------------------------------


@dataclass(frozen=True)
class BlockObject:
    """An object inside a block: its hash and byte offset in the block (or in a continuation)."""

    hash: bytes
    offset: int

    def encode(self) -> bytes:
        return bytes(self.hash) + encode_u32(self.offset)


@dataclass(frozen=True)
class GlobalObject:
    """Where an object lands in archived history: source piece index and raw-record offset."""

    hash: bytes
    piece_index: int
    offset: int

    def encode(self) -> bytes:
        return bytes(self.hash) + encode_u64(self.piece_index) + encode_u32(self.offset)


# --- SegmentItem variants (§9.1) ---------------------------------------------------------------


@dataclass
class Padding:
    """``count`` Padding items (each the single byte ``00``); a run is kept as one object."""

    count: int = 1
    VARIANT = 0

    @property
    def encoded_size(self) -> int:
        return self.count

    def encode(self) -> bytes:
        return b"\x00" * self.count


@dataclass
class _BlockBytes:
    data: bytes
    objects: list[BlockObject] = field(default_factory=list)  # not encoded (codec(skip))

    VARIANT = -1

    @property
    def encoded_size(self) -> int:
        return 1 + compact_len(len(self.data)) + len(self.data)

    def encode(self) -> bytes:
        return bytes([self.VARIANT]) + encode_compact(len(self.data)) + bytes(self.data)

    def encode_parts(self) -> list[bytes]:
        """The encoding as pieces (avoids copying a large payload twice)."""
        return [bytes([self.VARIANT]) + encode_compact(len(self.data)), self.data]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(len={len(self.data)}, objects={len(self.objects)})"


class Block(_BlockBytes):
    """A whole block."""

    VARIANT = 1


class BlockStart(_BlockBytes):
    """The first part of a block that continues in the next segment."""

    VARIANT = 2


class BlockContinuation(_BlockBytes):
    """A continuation (maybe the last part) of a block started in an earlier segment."""

    VARIANT = 3


@dataclass
class ParentSegmentHeader:
    """The header of the previous segment, first item of every segment after the first."""

    header: SegmentHeader
    VARIANT = 4

    @property
    def encoded_size(self) -> int:
        return 1 + self.header.encoded_size

    def encode(self) -> bytes:
        return b"\x04" + self.header.encode()

    def encode_parts(self) -> list[bytes]:
        return [self.encode()]


SegmentItem = Union[Padding, Block, BlockStart, BlockContinuation, ParentSegmentHeader]

_BYTES_VARIANTS = {1: Block, 2: BlockStart, 3: BlockContinuation}


def _zero_run_length(data, offset: int) -> int:
    """Length of the run of ``00`` bytes starting at ``offset``."""
    view = np.frombuffer(data, dtype=np.uint8, offset=offset) if len(data) > offset else np.empty(0, np.uint8)
    nz = np.flatnonzero(view)
    return int(nz[0]) if nz.size else len(view)


def decode_segment_item(data, offset: int = 0) -> tuple[SegmentItem, int]:
    """Decode one item; a run of zero bytes becomes one :class:`Padding` with its count."""
    variant, next_off = decode_u8(data, offset)
    if variant == 0:
        n = _zero_run_length(data, offset)
        return Padding(n), offset + n
    if variant in _BYTES_VARIANTS:
        payload, next_off = decode_bytes(data, next_off)
        return _BYTES_VARIANTS[variant](payload), next_off
    if variant == 4:
        header, next_off = SegmentHeader.decode(data, next_off)
        return ParentSegmentHeader(header), next_off
    raise ScaleDecodeError(f"SCALE: invalid SegmentItem variant {variant}")


# --- Segment (§9.1) ----------------------------------------------------------------------------


@dataclass
class Segment:
    """``Segment::V0 { items }`` with the custom encoding: ``00`` || items, no length prefix."""

    items: list[SegmentItem]

    @property
    def encoded_size(self) -> int:
        return 1 + sum(item.encoded_size for item in self.items)

    def encode_parts(self) -> list[bytes]:
        parts: list[bytes] = [b"\x00"]
        for item in self.items:
            if isinstance(item, Padding):
                parts.append(item.encode())
            else:
                parts.extend(item.encode_parts())
        return parts

    def encode(self) -> bytes:
        return b"".join(self.encode_parts())

    def encode_padded(self, size: int) -> bytearray:
        """The encoding zero-padded to ``size`` bytes (the recorded history segment, §9.4 step 1)."""
        out = bytearray(size)
        pos = 0
        for part in self.encode_parts():
            n = len(part)
            if pos + n > size:
                raise ValueError(f"segment encoding exceeds {size} bytes")
            out[pos : pos + n] = part
            pos += n
        return out

    @classmethod
    def decode(cls, data) -> "Segment":
        """Decode a whole buffer (trailing zeros become Padding). Raises ScaleDecodeError."""
        variant, offset = decode_u8(data, 0)
        if variant != 0:
            raise ScaleDecodeError(f"SCALE: invalid Segment variant {variant}")
        items: list[SegmentItem] = []
        n = len(data)
        while offset < n:
            item, offset = decode_segment_item(data, offset)
            items.append(item)
        return cls(items)


# --- ArchivedHistorySegment (§8) ----------------------------------------------------------------


class ArchivedHistorySegment:
    """The 256 pieces of one archived segment, in position order (even = source, odd = parity)."""

    def __init__(self, pieces: np.ndarray, geometry=None):
        from farmkit.protocol.pieces import FULL_GEOMETRY

        self.geometry = geometry or FULL_GEOMETRY
        arr = np.asarray(pieces, dtype=np.uint8)
        if arr.shape != (256, self.geometry.piece_size):
            raise ValueError(f"expected (256, {self.geometry.piece_size}) piece bytes, got {arr.shape}")
        self.pieces = arr

    @classmethod
    def from_bytes(cls, data, geometry=None) -> "ArchivedHistorySegment":
        from farmkit.protocol.pieces import FULL_GEOMETRY

        g = geometry or FULL_GEOMETRY
        arr = np.frombuffer(data, dtype=np.uint8)
        if arr.size != g.archived_segment_size:
            raise ValueError(f"an archived segment is {g.archived_segment_size} bytes, got {arr.size}")
        return cls(arr.reshape(256, g.piece_size), g)

    def __len__(self) -> int:
        return 256

    def piece(self, position: int) -> bytes:
        return self.pieces[position].tobytes()

    def source_pieces(self) -> np.ndarray:
        return self.pieces[0::2]

    def parity_pieces(self) -> np.ndarray:
        return self.pieces[1::2]

    def to_bytes(self) -> bytes:
        return self.pieces.tobytes()
