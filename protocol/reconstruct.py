"""Reconstruction (kzg-erasure-archiving.md §10).

- :class:`PiecesReconstructor` (§10.1): all 256 pieces of a segment back from any 128 of them
  (erasure recovery per chunk offset, record commitments, segment polynomial, witnesses).
- :class:`Reconstructor` (§10.2): blocks back from a sequence of segments (source pieces →
  Segment → items → blocks, with the parent-header bookkeeping of the reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import COMMITMENT_SIZE, NUM_PIECES, NUM_RAW_RECORDS, SCALAR_SIZE
from farmkit.protocol.pieces import FULL_GEOMETRY, RecordGeometry
from farmkit.protocol.scale import ScaleDecodeError
from farmkit.protocol.segments import (
    Block,
    BlockContinuation,
    BlockStart,
    Padding,
    ParentSegmentHeader,
    Segment,
    SegmentHeader,
)

__all__ = [
    "ReconstructorError",
    "PiecesReconstructor",
    "Reconstructor",
    "ReconstructedContents",
    "raw_segment_from_pieces",
    "recover_records",
]

Progress = Callable[[str, int, int], None]


class ReconstructorError(FarmkitError):
    """Reconstruction failed: too few pieces, undecodable segment, segments out of order."""


def _present_mask(pieces: Sequence) -> np.ndarray:
    if len(pieces) != NUM_PIECES:
        raise ReconstructorError(f"expected {NUM_PIECES} piece slots, got {len(pieces)}")
    return np.array([p is not None for p in pieces], dtype=bool)


def _records_view(pieces: Sequence, present: np.ndarray, geometry: RecordGeometry) -> np.ndarray:
    """(256, n, 32) records with zeros at missing positions."""
    n = geometry.record_num_chunks
    out = np.zeros((NUM_PIECES, n, SCALAR_SIZE), dtype=np.uint8)
    for pos in np.flatnonzero(present):
        buf = np.frombuffer(pieces[pos], dtype=np.uint8)
        if buf.size != geometry.piece_size:
            raise ReconstructorError(f"piece at position {pos} is {buf.size} bytes, expected {geometry.piece_size}")
        out[pos] = buf[: geometry.record_size].reshape(n, SCALAR_SIZE)
    return out


def recover_records(records: np.ndarray, present: np.ndarray, progress: Progress | None = None) -> np.ndarray:
    """Erasure-recover every chunk offset across the 256 positions (§10.1): (256, n, 32) → (256, n, 32).

    Present rows are reproduced (recomputed) too, as upstream does.
    """
    from farmkit.kernels import erasure

    k = int(present.sum())
    if k < NUM_PIECES // 2:
        raise ReconstructorError(
            f"not enough pieces to reconstruct the segment: {k} of {NUM_PIECES} present, need {NUM_PIECES // 2}"
        )
    if k == NUM_PIECES:
        return records
    try:
        columns = np.ascontiguousarray(records.transpose(1, 0, 2))  # one row per chunk offset
        out = erasure.recover_batch(columns, present)  # rust-kzg recovery (§7), shared present mask
        if progress is not None:
            progress("recover", 1, 1)
        return np.ascontiguousarray(out.transpose(1, 0, 2))
    except FarmkitError as exc:
        raise ReconstructorError(f"erasure recovery failed: {exc}") from None


# --- §10.1 ---------------------------------------------------------------------------------------


class PiecesReconstructor:
    """All pieces of a segment back from any 128 of 256 (§10.1)."""

    def __init__(self, geometry: RecordGeometry = FULL_GEOMETRY, kzg=None, encoder=None):
        self.geometry = geometry
        if encoder is None:
            from farmkit.protocol.archiver import KzgSegmentEncoder

            encoder = KzgSegmentEncoder(geometry, kzg=kzg)
        self.encoder = encoder

    def reconstruct(self, pieces: Sequence[bytes | None], progress: Progress | None = None) -> tuple[np.ndarray, bytes]:
        """(all 256 pieces (256, piece_size), segment commitment) from any 128 (§10.1)."""
        present = _present_mask(pieces)
        records = recover_records(_records_view(pieces, present, self.geometry), present, progress)
        rs = self.geometry.record_size
        source_commitments: list[bytes | None] = [
            bytes(np.frombuffer(pieces[2 * r], np.uint8)[rs : rs + COMMITMENT_SIZE]) if present[2 * r] else None
            for r in range(NUM_RAW_RECORDS)
        ]
        try:
            return self.encoder.encode_records(records, source_commitments, progress)
        except FarmkitError as exc:
            raise ReconstructorError(f"invalid input piece commitment: {exc}") from None

    def reconstruct_segment(self, pieces: Sequence[bytes | None], progress: Progress | None = None) -> np.ndarray:
        """All 256 pieces; every witness is rewritten, present records re-derived (§10.1)."""
        return self.reconstruct(pieces, progress)[0]

    def reconstruct_piece(self, pieces: Sequence[bytes | None], position: int, progress: Progress | None = None) -> bytes:
        if not 0 <= position < NUM_PIECES:
            raise ReconstructorError(f"incorrect piece position {position}")
        return self.reconstruct_segment(pieces, progress)[position].tobytes()


# --- §10.2 ---------------------------------------------------------------------------------------


def raw_segment_from_pieces(pieces: Sequence[bytes | None], geometry: RecordGeometry = FULL_GEOMETRY, progress: Progress | None = None) -> bytes:
    """The recorded-history segment bytes (§10.2 ``reconstruct_segment`` before decoding)."""
    present = _present_mask(pieces)
    if all(present[0::2]):
        rs = geometry.record_size
        n = geometry.record_num_chunks
        rows = [
            np.frombuffer(pieces[2 * r], np.uint8)[:rs].reshape(n, SCALAR_SIZE)[:, 1:]
            for r in range(NUM_RAW_RECORDS)
        ]
        return np.ascontiguousarray(np.stack(rows)).tobytes()
    records = recover_records(_records_view(pieces, present, geometry), present, progress)
    source = records[0::2]
    if np.any(source[:, :, 0] != 0):
        raise ReconstructorError("recovered source data is not safe-byte encoded (corrupt pieces)")
    return np.ascontiguousarray(source[:, :, 1:]).tobytes()


@dataclass
class ReconstructedContents:
    """What one segment gives back: its parent's header (if any) and the (number, bytes) blocks."""

    segment_header: SegmentHeader | None = None
    blocks: list[tuple[int, bytes]] = field(default_factory=list)


class Reconstructor:
    """Blocks back from segments, fed in order (§10.2).

    ``upstream_numbering=True`` (default) copies the reference exactly, including its quirk for a
    parent header whose last archived block is Complete: it emits the pending partial block (even
    when empty) under the per-call counter. With ``False`` (what ``plotter blocks`` uses) that
    pending block is emitted only when non-empty and numbered ``lab.number``, so a history read
    from segment 0 yields every block once, with its true number.
    """

    def __init__(self, geometry: RecordGeometry = FULL_GEOMETRY, upstream_numbering: bool = True):
        self.geometry = geometry
        self.upstream_numbering = upstream_numbering
        self.last_segment_index: int | None = None
        self.partial_block: bytes | None = None

    def reconstruct_segment(self, pieces: Sequence[bytes | None], progress: Progress | None = None) -> Segment:
        raw = raw_segment_from_pieces(pieces, self.geometry, progress)
        try:
            return Segment.decode(raw)
        except ScaleDecodeError as exc:
            raise ReconstructorError(f"segment decoding failed: {exc}") from None

    def add_segment(self, pieces: Sequence[bytes | None], progress: Progress | None = None) -> ReconstructedContents:
        return self.add_segment_items(self.reconstruct_segment(pieces, progress))

    def add_segment_items(self, segment: Segment) -> ReconstructedContents:
        """§10.2 ``add_segment`` on an already decoded segment."""
        contents = ReconstructedContents()
        next_block_number = 0
        partial = bytearray(self.partial_block or b"")
        self.partial_block = None

        for item in segment.items:
            if isinstance(item, Padding):
                continue
            if isinstance(item, Block):
                if partial:
                    contents.blocks.append((next_block_number, bytes(partial)))
                    partial = bytearray()
                    next_block_number += 1
                contents.blocks.append((next_block_number, item.data))
                next_block_number += 1
            elif isinstance(item, BlockStart):
                if partial:
                    contents.blocks.append((next_block_number, bytes(partial)))
                    next_block_number += 1
                partial = bytearray(item.data)
            elif isinstance(item, BlockContinuation):
                if partial:
                    partial += item.data
                # continuation of a block we never saw the start of: skipped
            elif isinstance(item, ParentSegmentHeader):
                header = item.header
                if self.last_segment_index is not None and self.last_segment_index != header.segment_index:
                    raise ReconstructorError(
                        f"incorrect segment order: expected {self.last_segment_index + 1}, got {header.segment_index + 1}"
                    )
                self.last_segment_index = header.segment_index + 1
                contents.segment_header = header
                lab = header.last_archived_block
                if lab.partial is None:
                    if self.upstream_numbering:
                        contents.blocks.append((next_block_number, bytes(partial)))
                    elif partial:
                        contents.blocks.append((lab.number, bytes(partial)))
                    partial = bytearray()
                    next_block_number = lab.number + 1
                else:
                    next_block_number = lab.number
                    if not partial:
                        next_block_number += 1

        if partial:
            self.partial_block = bytes(partial)
        if self.last_segment_index is None:
            self.last_segment_index = 0
        return contents
