"""The on-disk archived history that ``plotter archive`` writes and everything else reads.

Layout of an archive directory (kzg-erasure-archiving.md §8-9 for the contents):

- ``segment-<index>.pieces``: the 256 pieces of segment ``index`` (decimal, no padding), each
  1,048,672 bytes, in position order (even = source, odd = parity);
- ``segment-<index>.header``: the SCALE-encoded ``SegmentHeader`` (94 or 98 bytes);
- ``index.json``: ``{"format", "segments": [{"index", "commitment", "header_hash"}, ...],
  "genesis_hash" (synthetic histories), "archiver": {...}}``, written last on every update;
- ``archiver-state-<n>.bin``: the archiver's state (pending items, last archived block) named by
  ``index.json["archiver"]["state_file"]``.

:func:`open` gives a read-only :class:`PieceStore`; writing is done by
:mod:`farmkit.plotter.archive` with temp files and renames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import NUM_PIECES, PIECE_SIZE
from farmkit.protocol.pieces import FULL_GEOMETRY, PieceIndex, RecordGeometry
from farmkit.protocol.segments import SegmentHeader

__all__ = [
    "FORMAT",
    "INDEX_FILE",
    "PieceStore",
    "SegmentInfo",
    "open",
    "pieces_path",
    "header_path",
    "read_index",
    "geometry_of_index",
]

FORMAT = "farmkit-archive/1"
INDEX_FILE = "index.json"


def pieces_path(directory: Path, segment_index: int) -> Path:
    return Path(directory) / f"segment-{segment_index}.pieces"


def header_path(directory: Path, segment_index: int) -> Path:
    return Path(directory) / f"segment-{segment_index}.header"


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as listed in index.json."""

    index: int
    commitment: bytes
    header_hash: bytes

    def to_json(self) -> dict:
        return {"index": self.index, "commitment": self.commitment.hex(), "header_hash": self.header_hash.hex()}


def _parse_hex(value, nbytes: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise FarmkitError(f"index.json: {what} is not hex") from None
    if len(raw) != nbytes:
        raise FarmkitError(f"index.json: {what} must be {nbytes} bytes")
    return raw


def read_index(directory: Path) -> dict:
    """Parse ``DIR/index.json`` (FarmkitError if missing or malformed)."""
    path = Path(directory) / INDEX_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FarmkitError(f"{path}: not found (not an archive directory?)") from None
    except (OSError, ValueError) as exc:
        raise FarmkitError(f"{path}: unreadable or not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise FarmkitError(f"{path}: missing 'segments' list")
    return data


def geometry_of_index(index: dict) -> RecordGeometry:
    """The record geometry of an archive: full size unless ``record_num_chunks`` (tests) says otherwise."""
    n = index.get("record_num_chunks")
    if n is None:
        return FULL_GEOMETRY
    try:
        return RecordGeometry(int(n))
    except (TypeError, ValueError):
        raise FarmkitError(f"index.json: bad record_num_chunks {n!r}") from None


class PieceStore:
    """Read-only view of an archive directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FarmkitError(f"{self.directory}: not a directory")
        self.index = read_index(self.directory)
        self.geometry = geometry_of_index(self.index)
        infos = []
        for i, entry in enumerate(self.index["segments"]):
            try:
                idx = int(entry["index"])
                infos.append(
                    SegmentInfo(
                        idx,
                        _parse_hex(entry["commitment"], 48, f"segment {idx} commitment"),
                        _parse_hex(entry["header_hash"], 32, f"segment {idx} header_hash"),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise FarmkitError(f"{self.directory / INDEX_FILE}: malformed segment entry #{i}") from None
        infos.sort(key=lambda s: s.index)
        if [s.index for s in infos] != list(range(len(infos))):
            raise FarmkitError(f"{self.directory / INDEX_FILE}: segment indexes are not 0..{len(infos) - 1}")
        self._segments = infos

    # -- what is stored ----------------------------------------------------------------------------
    def segments(self) -> list[SegmentInfo]:
        return list(self._segments)

    @property
    def history_size(self) -> int:
        """Number of archived segments (``HistorySize``; 0 for an empty archive)."""
        return len(self._segments)

    @property
    def genesis_hash(self) -> bytes | None:
        g = self.index.get("genesis_hash")
        return _parse_hex(g, 32, "genesis_hash") if g else None

    def segment_info(self, segment_index: int) -> SegmentInfo:
        if not 0 <= segment_index < len(self._segments):
            raise FarmkitError(f"segment {segment_index} is not in the archive (history size {self.history_size})")
        return self._segments[segment_index]

    def segment_commitment(self, segment_index: int) -> bytes:
        return self.segment_info(segment_index).commitment

    def segment_header(self, segment_index: int) -> SegmentHeader:
        info = self.segment_info(segment_index)
        path = header_path(self.directory, segment_index)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise FarmkitError(f"{path}: {exc.strerror}") from None
        try:
            header = SegmentHeader.from_bytes(raw)
        except FarmkitError as exc:
            raise FarmkitError(f"{path}: {exc}") from None
        if header.hash() != info.header_hash or header.segment_commitment != info.commitment:
            raise FarmkitError(f"{path}: does not match index.json")
        return header

    # -- pieces ------------------------------------------------------------------------------------------
    def pieces_file(self, segment_index: int) -> Path:
        self.segment_info(segment_index)
        return pieces_path(self.directory, segment_index)

    def check_segment_file(self, segment_index: int) -> None:
        """FarmkitError if the pieces file is missing or not exactly 256 pieces long."""
        path = self.pieces_file(segment_index)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise FarmkitError(f"{path}: missing") from None
        expected = self.geometry.archived_segment_size
        if size != expected:
            raise FarmkitError(f"{path}: {size} bytes, expected {expected} ({NUM_PIECES} pieces); truncated or corrupt")

    def segment_pieces(self, segment_index: int) -> np.ndarray:
        """All 256 pieces of a segment, (256, piece_size) uint8, memory-mapped read-only."""
        self.check_segment_file(segment_index)
        return np.memmap(self.pieces_file(segment_index), dtype=np.uint8, mode="r").reshape(
            NUM_PIECES, self.geometry.piece_size
        )

    def read_piece(self, piece_index: int) -> bytes:
        """One piece by global piece index (segment·256 + position)."""
        p = PieceIndex(piece_index)
        path = self.pieces_file(p.segment_index)
        size = self.geometry.piece_size
        try:
            with path.open("rb") as f:
                f.seek(p.position * size)
                data = f.read(size)
        except FileNotFoundError:
            raise FarmkitError(f"{path}: missing") from None
        if len(data) != size:
            raise FarmkitError(f"{path}: truncated (piece {int(p)} incomplete)")
        return data


def open(directory: str | os.PathLike) -> PieceStore:  # noqa: A001 - the documented API name
    """Open an archive directory written by ``plotter archive`` (read-only)."""
    return PieceStore(directory)


assert PIECE_SIZE == FULL_GEOMETRY.piece_size
