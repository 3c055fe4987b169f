"""The on-disk piece store API (`farmkit.plotter.piece_store`) that `plotter plot` and the dev node read.

Uses the session's small synthetic archive (built once by tests/test_archiver.py's builder).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from blake3 import blake3

from farmkit.errors import FarmkitError
from farmkit.plotter import piece_store
from farmkit.plotter.archive import synthetic_genesis_hash
from farmkit.protocol.constants import NUM_PIECES
from farmkit.protocol.segments import SegmentHeader
from test_archiver import MINI, MINI_SEGMENTS, SEED, build_mini_archive


@pytest.fixture(scope="module")
def archive_dir():
    return build_mini_archive()


def test_open_and_metadata(archive_dir):
    store = piece_store.open(archive_dir)
    assert store.history_size == MINI_SEGMENTS
    assert [s.index for s in store.segments()] == list(range(MINI_SEGMENTS))
    assert store.genesis_hash == synthetic_genesis_hash(bytes.fromhex(SEED))
    assert store.geometry == MINI
    index = json.loads((archive_dir / "index.json").read_text())
    for s in index["segments"]:
        assert store.segment_commitment(s["index"]).hex() == s["commitment"]
        header = store.segment_header(s["index"])
        assert isinstance(header, SegmentHeader)
        assert header.hash().hex() == s["header_hash"]


def test_read_piece_matches_file(archive_dir):
    store = piece_store.open(archive_dir)
    ps = MINI.piece_size
    for seg in range(MINI_SEGMENTS):
        raw = (archive_dir / f"segment-{seg}.pieces").read_bytes()
        for pos in (0, 1, 128, 255):
            assert store.read_piece(seg * NUM_PIECES + pos) == raw[pos * ps : (pos + 1) * ps]
        assert np.array_equal(store.segment_pieces(seg)[7], np.frombuffer(raw[7 * ps : 8 * ps], np.uint8))
    with pytest.raises(FarmkitError, match="not in the archive"):
        store.read_piece(MINI_SEGMENTS * NUM_PIECES)
    with pytest.raises(FarmkitError):
        store.segment_commitment(-1)


def test_errors_are_farmkit_errors(archive_dir, tmp_path):
    with pytest.raises(FarmkitError, match="not a directory"):
        piece_store.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FarmkitError, match="index.json"):
        piece_store.open(tmp_path / "empty")
    d = tmp_path / "copy"
    shutil.copytree(archive_dir, d)
    raw = (d / "segment-1.pieces").read_bytes()
    (d / "segment-1.pieces").write_bytes(raw[: 10 * MINI.piece_size + 3])
    store = piece_store.open(d)
    assert store.read_piece(256 + 9) == raw[9 * MINI.piece_size : 10 * MINI.piece_size]
    with pytest.raises(FarmkitError, match="truncated"):
        store.read_piece(256 + 10)
    with pytest.raises(FarmkitError, match="truncated"):
        store.check_segment_file(1)
    (d / "segment-2.header").write_bytes(b"\x00" * 94)
    with pytest.raises(FarmkitError, match="does not match"):
        store.segment_header(2)
    idx = json.loads((d / "index.json").read_text())
    idx["segments"][0]["commitment"] = "zz"
    (d / "index.json").write_text(json.dumps(idx))
    with pytest.raises(FarmkitError, match="not hex"):
        piece_store.open(d)
    idx["segments"] = idx["segments"][1:]
    (d / "index.json").write_text(json.dumps(idx))
    with pytest.raises(FarmkitError, match="not 0.."):
        piece_store.open(d)


def test_full_size_store_defaults(tmp_path):
    """A full-size archive has no geometry key; pieces are 1,048,672 bytes."""
    d = tmp_path / "full"
    d.mkdir()
    header = SegmentHeader(0, bytes(48), bytes(32), __import__("farmkit.protocol.segments", fromlist=["x"]).LastArchivedBlock(0, None))
    (d / "segment-0.header").write_bytes(header.encode())
    (d / "index.json").write_text(
        json.dumps({"format": piece_store.FORMAT, "segments": [{"index": 0, "commitment": "00" * 48, "header_hash": blake3(header.encode()).hexdigest()}]})
    )
    store = piece_store.open(d)
    assert store.geometry.piece_size == 1_048_672 and store.genesis_hash is None and store.history_size == 1
    with pytest.raises(FarmkitError, match="missing"):
        store.read_piece(3)
    assert store.segment_header(0) == header
