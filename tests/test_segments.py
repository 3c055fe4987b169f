"""SCALE codec, segment items and headers, and the archiver/reconstructor state machines.

Known answers: kzg-erasure-archiving.md §9.1 (Compact examples, header layout), §13.1 (the sizes,
LAB values and object positions hard-coded in the upstream archiver/reconstructor tests),
§13.2 TV-SEG0 (header bytes and hash), and `scalecodec`-style Compact examples. The state
machine runs at full size here with a stand-in segment encoder (no KZG): only the byte layout
matters for these vectors.
"""

from __future__ import annotations

import pytest
from blake3 import blake3

from farmkit.protocol import scale
from farmkit.protocol.archiver import Archiver, ArchiverError
from farmkit.protocol.constants import RECORDED_HISTORY_SEGMENT_SIZE as S
from farmkit.protocol.pieces import FULL_GEOMETRY, HistorySize, PieceIndex, SegmentIndex
from farmkit.protocol.reconstruct import Reconstructor
from farmkit.protocol.segments import (
    Block,
    BlockContinuation,
    BlockObject,
    BlockStart,
    LastArchivedBlock,
    Padding,
    ParentSegmentHeader,
    Segment,
    SegmentHeader,
)

# --- SCALE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, hexenc",
    [
        (0, "00"),
        (1, "04"),
        (63, "fc"),
        (64, "0101"),
        (16383, "fdff"),
        (16384, "02000100"),
        (130023418, "eaffff1e"),  # spec §9.1
        (1048672, "82014000"),  # Piece SCALE prefix, spec §8
        ((1 << 30) - 1, "feffffff"),
        (1 << 30, "0300000040"),
        ((1 << 32) - 1, "03ffffffff"),
        (1 << 32, "070000000001"),
        ((1 << 64) - 1, "13ffffffffffffffff"),
    ],
)
def test_compact_known_answers(value, hexenc):
    enc = scale.encode_compact(value)
    assert enc.hex() == hexenc
    assert scale.compact_len(value) == len(enc)
    assert scale.decode_compact(enc + b"\xaa", 0) == (value, len(enc))


def test_compact_rejects_non_canonical_and_truncated():
    with pytest.raises(scale.ScaleDecodeError):
        scale.decode_compact(bytes.fromhex("0100"))  # 0 in 2-byte mode
    with pytest.raises(scale.ScaleDecodeError):
        scale.decode_compact(bytes.fromhex("02"))
    with pytest.raises(scale.ScaleDecodeError):
        scale.decode_compact(bytes.fromhex("03ffff"))


def test_vec_option_enum_ints():
    assert scale.encode_bytes(b"abc").hex() == "0c616263"
    assert scale.decode_bytes(bytes.fromhex("0c616263")) == (b"abc", 4)
    assert scale.encode_vec([1, 2], scale.encode_u32).hex() == "080100000002000000"
    assert scale.decode_vec(bytes.fromhex("080100000002000000"), scale.decode_u32) == ([1, 2], 9)
    assert scale.encode_option(None, scale.encode_u8) == b"\x00"
    assert scale.encode_option(7, scale.encode_u8) == b"\x01\x07"
    assert scale.decode_option(b"\x01\x07", scale.decode_u8) == (7, 2)
    with pytest.raises(scale.ScaleDecodeError):
        scale.decode_option(b"\x02", scale.decode_u8)
    assert scale.encode_u64(1).hex() == "0100000000000000"
    assert scale.encode_enum(3, b"\x01") == b"\x03\x01"


# --- SegmentHeader (§9.1, TV-SEG0 §13.2) ---------------------------------------------------------

TV_SEG0_COMMITMENT = bytes.fromhex(
    "992da208df97b3d14e3f9423c1f86364f3ff6b1fc00d8b36813cd1cb42adef861da8d061406e7fe1b4c2814dfd926bd0"
)
TV_SEG0_HEADER_HASH = "892acd29b36904f0e14f34a517f5870d729386cc0cb57ab3479ec873c0ac8b01"


def test_segment_header_tv_seg0():
    header = SegmentHeader(0, TV_SEG0_COMMITMENT, bytes(32), LastArchivedBlock(0, 130023418))
    enc = header.encode()
    assert len(enc) == 98 == header.encoded_size
    assert enc.hex() == "00" + "00" * 8 + TV_SEG0_COMMITMENT.hex() + "00" * 32 + "00000000" + "01faffbf07"
    assert header.hash().hex() == TV_SEG0_HEADER_HASH
    assert SegmentHeader.from_bytes(enc) == header


def test_segment_header_complete_size_and_errors():
    header = SegmentHeader(5, bytes(48), bytes(range(32)), LastArchivedBlock(7, None))
    enc = header.encode()
    assert len(enc) == 94 == header.encoded_size
    assert enc[1:9] == (5).to_bytes(8, "little")
    assert enc[-5:] == (7).to_bytes(4, "little") + b"\x00"
    assert SegmentHeader.from_bytes(enc) == header
    assert ParentSegmentHeader(header).encoded_size == 95
    with pytest.raises(scale.ScaleDecodeError):
        SegmentHeader.from_bytes(enc[:-1])
    with pytest.raises(scale.ScaleDecodeError):
        SegmentHeader.from_bytes(b"\x01" + enc[1:])
    with pytest.raises(scale.ScaleDecodeError):
        SegmentHeader.from_bytes(enc[:-1] + b"\x02")


# --- Segment codec ---------------------------------------------------------------------------------


def test_segment_encoding_and_padding_decode():
    header = SegmentHeader(0, bytes(48), bytes(32), LastArchivedBlock(0, None))
    seg = Segment([ParentSegmentHeader(header), BlockContinuation(b"xy"), Block(b"\x01" * 70), BlockStart(b"")])
    enc = seg.encode()
    assert enc[0] == 0
    assert enc[1] == 4 and enc[96:100] == b"\x03\x08xy"
    assert enc[100:103] == b"\x01\x19\x01"  # Block, Compact(70) = 0x0119
    assert enc[-2:] == b"\x02\x00"
    assert seg.encoded_size == len(enc)
    padded = bytes(seg.encode_padded(len(enc) + 5))
    dec = Segment.decode(padded)
    assert dec.items[:4] == seg.items
    assert dec.items[4] == Padding(5) and dec.encoded_size == len(padded)
    with pytest.raises(scale.ScaleDecodeError):
        Segment.decode(b"\x01")
    with pytest.raises(scale.ScaleDecodeError):
        Segment.decode(b"\x00\x07")
    with pytest.raises(scale.ScaleDecodeError):
        Segment.decode(b"\x00\x01\x08a")  # truncated payload
    assert Segment([]).encoded_size == 1


# --- piece indexes (§8, upstream subspace-core-primitives tests, §13.1) ---------------------------


@pytest.mark.parametrize(
    "idx, pos, sp, seg, nxt",
    [
        (0, 0, 0, 0, 2), (2, 2, 1, 0, 4), (126, 126, 63, 0, 128), (128, 128, 64, 0, 130),
        (252, 252, 126, 0, 254), (254, 254, 127, 0, 256), (256, 0, 0, 1, 258), (510, 254, 127, 1, 512),
        (512, 0, 0, 2, 514), ((2**64 - 1) // 4 - 1, 254, 127, (2**64 - 1) // 1024, (2**64 - 1) // 4 + 1),
    ],
)
def test_source_piece_indexes(idx, pos, sp, seg, nxt):
    p = PieceIndex(idx)
    assert (p.position, p.source_position, p.segment_index, p.next_source_index()) == (pos, sp, seg, nxt)
    assert p.is_source
    assert PieceIndex.from_source_position(sp, seg) == idx


@pytest.mark.parametrize(
    "idx, pos, seg",
    [(1, 1, 0), (3, 3, 0), (127, 127, 0), (129, 129, 0), (253, 253, 0), (255, 255, 0), (257, 1, 1),
     (511, 255, 1), (513, 1, 2), ((2**64 - 1) // 4, 255, (2**64 - 1) // 1024)],
)
def test_parity_piece_indexes(idx, pos, seg):
    p = PieceIndex(idx)
    assert (p.position, p.segment_index, p.is_source) == (pos, seg, False)
    with pytest.raises(ValueError):
        p.source_position
    order = SegmentIndex(seg).segment_piece_indexes_source_first()
    assert order[128 + pos // 2] == idx


def test_piece_index_misc():
    assert PieceIndex(0).prev_source_index() is None
    assert PieceIndex(256).prev_source_index() == 254
    assert PieceIndex(4).prev_source_index() == 2
    assert PieceIndex(258).to_bytes_le() == (258).to_bytes(8, "little")
    assert SegmentIndex(3).first_piece_index == 768 and SegmentIndex(3).last_piece_index == 1023
    assert HistorySize(2).in_pieces == 512
    with pytest.raises(ValueError):
        HistorySize(0)


# --- archiver state machine at full size (§9.3, upstream vectors §13.1) ----------------------------


class HeaderOnlyEncoder:
    """Stand-in for the KZG encoder: keeps the raw segment bytes, commits to zero."""

    geometry = FULL_GEOMETRY

    def __init__(self, keep_raw: bool = False):
        self.keep_raw = keep_raw

    def encode(self, raw, progress=None):
        return (raw if self.keep_raw else None), bytes(48)


def _block(tag: bytes, n: int) -> bytes:
    return blake3(tag).digest(length=n)


def _archiver(**kw) -> Archiver:
    return Archiver(encoder=HeaderOnlyEncoder(**kw))


def test_upstream_archiver_scenario():
    """`tests/integration/archiver.rs::archiver` sizes, LABs, mappings (spec §13.1)."""
    a = _archiver()
    block_0 = _block(b"b0", S // 2)
    segs, maps = a.add_block(block_0, [BlockObject(b"\x01" * 32, 0), BlockObject(b"\x02" * 32, S // 3)])
    assert segs == [] and len(maps) == 2
    piece_indexes = [m.piece_index for m in maps]

    block_1 = _block(b"b1", S // 3 * 2)
    objs_1 = [BlockObject(b"\x03" * 32, S // 6), BlockObject(b"\x04" * 32, S // 5), BlockObject(b"\x05" * 32, S // 3 * 2 - 200)]
    segs, maps = a.add_block(block_1, objs_1)
    assert len(segs) == 1 and len(maps) == 3
    h0 = segs[0].segment_header
    assert h0.segment_index == 0 and h0.prev_segment_header_hash == bytes(32)
    assert h0.last_archived_block == LastArchivedBlock(1, 65011701)
    piece_indexes += [m.piece_index for m in maps]
    assert piece_indexes == [0, 84, 170, 178, 298]
    third_mapping = maps[2]

    block_2 = _block(b"b2", 2 * S)
    segs, maps = a.add_block(block_2)
    assert [s.segment_header.last_archived_block for s in segs] == [LastArchivedBlock(2, 108352733), LastArchivedBlock(2, 238376052)]
    assert maps == []
    assert segs[0].segment_header.prev_segment_header_hash == h0.hash()
    assert segs[1].segment_header.prev_segment_header_hash == segs[0].segment_header.hash()
    headers_12 = [s.segment_header for s in segs]

    # restart from segment 0's header replays the same segments and the one pending mapping
    b = Archiver.with_initial_state(h0, block_1, objs_1, encoder=HeaderOnlyEncoder())
    segs_b, maps_b = b.add_block(block_2)
    assert [s.segment_header for s in segs_b] == headers_12
    assert maps_b == [third_mapping]

    a.encoder.keep_raw = True
    segs, _ = a.add_block(_block(b"b3", S - 21_670_908))
    assert len(segs) == 1
    assert segs[0].segment_header.last_archived_block == LastArchivedBlock(3, None)
    items = Segment.decode(bytes(segs[0].pieces)).items
    assert isinstance(items[0], ParentSegmentHeader) and items[0].encoded_size == 99
    assert isinstance(items[1], BlockContinuation) and len(items[1].data) == 21_670_796
    assert isinstance(items[2], Block) and len(items[2].data) == 108_352_516
    assert items[3] == Padding(2)


def test_upstream_invalid_usage():
    header = SegmentHeader(0, bytes(48), bytes(32), LastArchivedBlock(0, 10))
    with pytest.raises(ArchiverError, match="same as"):
        Archiver.with_initial_state(header, bytes(10), encoder=HeaderOnlyEncoder())
    with pytest.raises(ArchiverError, match="smaller"):
        Archiver.with_initial_state(header, bytes(6), encoder=HeaderOnlyEncoder())


def test_upstream_one_byte_smaller_segment():
    assert len(_archiver().add_block(bytes(S - 8))[0]) == 1
    assert len(_archiver().add_block(bytes(S - 9))[0]) == 0


def test_upstream_spill_over_edge_case():
    a = _archiver(keep_raw=True)
    assert a.add_block(bytes(S - 9))[0] == []
    segs, maps = a.add_block(_block(b"x", S), [BlockObject(b"\x07" * 32, 0)])
    assert len(segs) == 2
    items0 = Segment.decode(bytes(segs[0].pieces)).items
    assert isinstance(items0[0], Block) and len(items0[0].data) == S - 9 and items0[1] == Padding(3)
    assert segs[0].segment_header.last_archived_block == LastArchivedBlock(0, None)
    assert [(m.piece_index, m.offset) for m in maps] == [(256, 101)]


def test_upstream_object_on_the_edge_of_segment():
    from farmkit.protocol.scale import compact_len

    for delta, expected in [(0, (512, 105)), (-1, (510, 1_015_807))]:
        a = _archiver()
        segs, _ = a.add_block(bytes(S))
        assert len(segs) == 1
        left = len(a.buffer[1].data)  # [ParentSegmentHeader, BlockContinuation(left)]
        offset = S - 1 - 99 - 1 - compact_len(left) - left - 1 - compact_len(2 * S) + delta
        _, maps = a.add_block(bytes(2 * S), [BlockObject(b"\x09" * 32, offset)])
        assert [(m.piece_index, m.offset) for m in maps] == [expected]


def test_state_round_trip_continues_identically():
    a = _archiver()
    a.add_block(_block(b"s0", S // 2), [BlockObject(b"\x01" * 32, 5)])
    saved = a.state_bytes()
    b = Archiver.from_state_bytes(saved, encoder=HeaderOnlyEncoder())
    assert b.state_bytes() == saved
    assert b.blocks_added == 1 and b.last_archived_block == a.last_archived_block
    nxt = _block(b"s1", S)
    ha = [s.segment_header for s in a.add_block(nxt)[0]]
    hb = [s.segment_header for s in b.add_block(nxt)[0]]
    assert ha == hb and len(ha) == 1
    b2 = Archiver.from_state_bytes(b.state_bytes(), encoder=HeaderOnlyEncoder())
    assert isinstance(b2.buffer[0], ParentSegmentHeader) and b2.segment_index == 1
    with pytest.raises(ArchiverError):
        Archiver.from_state_bytes(saved[:-1])
    with pytest.raises(ArchiverError):
        Archiver.from_state_bytes(b"garbage")


# --- reconstructor state machine (§10.2, upstream reconstructor.rs::basic) -------------------------


def _segments_of(blocks):
    a = _archiver(keep_raw=True)
    out = []
    for blk in blocks:
        for seg in a.add_block_iter(blk):
            out.append(Segment.decode(bytes(seg.pieces)))
            seg.pieces = None
    return out


def test_upstream_reconstructor_basic():
    sizes = [S // 2, S, S // 4, 3 * S, S]
    blocks = [_block(b"r%d" % i, n) for i, n in enumerate(sizes)]
    segments = _segments_of(blocks)
    assert len(segments) == 5
    expect_parent = [None, (0, LastArchivedBlock(1, 65011701)), (1, LastArchivedBlock(3, 32505730)),
                     (2, LastArchivedBlock(3, 162529049)), (3, LastArchivedBlock(3, 292552368))]
    expect_blocks = [[0], [1, 2], [], [], [3]]
    rec = Reconstructor()
    for seg, parent, want in zip(segments, expect_parent, expect_blocks):
        contents = rec.add_segment_items(seg)
        if parent is None:
            assert contents.segment_header is None
        else:
            assert (contents.segment_header.segment_index, contents.segment_header.last_archived_block) == parent
        assert [n for n, _ in contents.blocks] == want
        for n, data in contents.blocks:
            assert data == blocks[n]
    # a fresh reconstructor per segment gives only what a segment holds by itself
    fresh = [[n for n, _ in Reconstructor().add_segment_items(seg).blocks] for seg in segments[1:]]
    assert fresh == [[2], [], [], []]
    # ordering errors (§13.1 invalid_usage)
    rec = Reconstructor()
    rec.add_segment_items(segments[0])
    with pytest.raises(Exception, match="expected 1, got 2"):
        rec.add_segment_items(segments[2])


def test_reconstructor_exact_numbering_with_complete_parent():
    """A segment that ends exactly on a block boundary: the next one's parent LAB is Complete."""
    first = bytes(S - 9)  # Block(S-9) + 3 padding bytes → segment 0 ends Complete (the next
    blocks = [first, _block(b"c1", S), _block(b"c2", S)]  # block is too big to start in it)
    segments = _segments_of(blocks)
    got_upstream, got_exact = [], []
    r_up, r_ex = Reconstructor(), Reconstructor(upstream_numbering=False)
    for seg in segments:
        got_upstream += r_up.add_segment_items(seg).blocks
        got_exact += r_ex.add_segment_items(seg).blocks
    assert [(n, len(d)) for n, d in got_exact] == [(0, S - 9), (1, S)]
    assert got_exact[1][1] == blocks[1]
    assert got_upstream[1] == (0, b"")  # the reference's quirk: an empty entry for the Complete header


def test_piece_layout_and_scale_prefix():
    """Piece = record || commitment || witness; SCALE(Piece) = Compact(1048672) `82014000` || bytes (§8)."""
    import numpy as np

    from farmkit.protocol.constants import PIECE_SIZE
    from farmkit.protocol.pieces import Piece, raw_record_to_record, record_to_raw_record
    from farmkit.protocol.segments import ArchivedHistorySegment

    raw = _block(b"raw", FULL_GEOMETRY.raw_record_size)
    record = raw_record_to_record(raw)
    assert record.shape == (32768, 32) and np.all(record[:, 0] == 0)
    assert record[0, 1:].tobytes() == raw[:31] and record_to_raw_record(record).tobytes() == raw
    piece = Piece(record, b"\x01" * 48, b"\x02" * 48)
    data = piece.to_bytes()
    assert len(data) == PIECE_SIZE and data[1048576:1048624] == b"\x01" * 48 and data[-48:] == b"\x02" * 48
    assert piece.encode()[:4].hex() == "82014000" and len(piece.encode()) == PIECE_SIZE + 4
    back = Piece.from_bytes(data)
    assert back.commitment == piece.commitment and np.array_equal(back.record, record) and back.raw_record() == raw
    seg = ArchivedHistorySegment.from_bytes(data * 256)
    assert seg.piece(255) == data and seg.source_pieces().shape == (128, PIECE_SIZE)
