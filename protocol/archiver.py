"""The archiver: blocks → segments → 256 pieces each (kzg-erasure-archiving.md §9).

Two halves:

- :class:`Archiver` is the state machine of §9.2-9.3: it buffers segment items, cuts segments of
  exactly ``RecordedHistorySegment::SIZE`` encoded bytes (``produce_segment``), keeps the
  last-archived-block bookkeeping, and chains segment headers (``produce_archived_segment``).
- a *segment encoder* turns one encoded segment into pieces and a segment commitment (§9.4 steps
  1-7). :class:`KzgSegmentEncoder` is the real one (erasure coding across records, record
  commitments, segment commitment, witnesses);
  tests of the state machine alone may pass a cheap stand-in.

The archiver's state (buffered items, segment index, parent hash, LAB) serializes to bytes
(:meth:`Archiver.state_bytes` / :meth:`Archiver.from_state_bytes`) so a later run continues the
same history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import NUM_PIECES, SEGMENT_HEADER_HASH_SIZE
from farmkit.protocol.pieces import FULL_GEOMETRY, RecordGeometry
from farmkit.protocol.scale import (
    ScaleDecodeError,
    compact_len,
    decode_fixed,
    decode_u32,
    decode_u64,
    decode_vec,
    encode_u64,
    encode_vec,
)
from farmkit.protocol.segments import (
    Block,
    BlockContinuation,
    BlockObject,
    BlockStart,
    GlobalObject,
    LastArchivedBlock,
    Padding,
    ParentSegmentHeader,
    Segment,
    SegmentHeader,
    decode_segment_item,
)

__all__ = [
    "Archiver",
    "ArchiverError",
    "NewArchivedSegment",
    "SegmentEncoder",
    "produce_object_mappings",
]

INITIAL_LAST_ARCHIVED_BLOCK = LastArchivedBlock.INITIAL  # type: ignore[attr-defined]


class ArchiverError(FarmkitError):
    """Invalid archiver usage (e.g. a restart block shorter than its archived part)."""


class SegmentEncoder(Protocol):
    """Turns one recorded-history segment into pieces (§9.4 steps 1-7)."""

    geometry: RecordGeometry

    def encode(self, raw_segment: bytearray, progress: Callable[[str, int, int], None] | None = None) -> tuple[np.ndarray, bytes]:
        """``raw_segment`` (geometry.segment_size bytes) → (pieces (256, piece_size) uint8, segment commitment)."""
        ...


@dataclass
class NewArchivedSegment:
    """One archived segment: its header and 256 pieces in position order (§9.4)."""

    segment_header: SegmentHeader
    pieces: np.ndarray | None  # (256, piece_size) uint8; None when the encoder produced no pieces
    object_mapping: list[GlobalObject] = field(default_factory=list)

    @property
    def segment_index(self) -> int:
        return self.segment_header.segment_index


# --- global object mappings (§9.5) ---------------------------------------------------------------


def produce_object_mappings(segment_index: int, items: Iterable, raw_record_size: int) -> list[GlobalObject]:
    """Mappings of the objects still attached to ``items`` (which form or start segment
    ``segment_index``); the objects are cleared so they are not emitted twice (§9.5)."""
    out: list[GlobalObject] = []
    base = 1  # the Segment variant byte
    for item in items:
        objects = getattr(item, "objects", None)
        if objects:
            n = len(item.data)
            for obj in objects:
                off = base + 1 + compact_len(n) + obj.offset
                out.append(
                    GlobalObject(
                        obj.hash,
                        segment_index * NUM_PIECES + 2 * (off // raw_record_size),
                        off % raw_record_size,
                    )
                )
            item.objects = []
        base += item.encoded_size
    return out


# --- the state machine (§9.2-9.4) -----------------------------------------------------------------


class Archiver:
    """Block archiver (§9). ``encoder=None`` uses the KZG encoder for ``geometry``."""

    def __init__(self, *, geometry: RecordGeometry = FULL_GEOMETRY, encoder: SegmentEncoder | None = None):
        self.geometry = geometry
        self.segment_size = geometry.segment_size
        self._encoder = encoder
        self.buffer: deque = deque()
        self.segment_index = 0
        self.prev_segment_header_hash = bytes(SEGMENT_HEADER_HASH_SIZE)
        self.last_archived_block: LastArchivedBlock = INITIAL_LAST_ARCHIVED_BLOCK
        self.blocks_added = 0  # bookkeeping for tools (not part of the upstream state)

    @property
    def encoder(self) -> SegmentEncoder:
        if self._encoder is None:
            self._encoder = KzgSegmentEncoder(self.geometry)
        return self._encoder

    # -- restart (§9.6) --------------------------------------------------------------------------

    @classmethod
    def with_initial_state(
        cls,
        segment_header: SegmentHeader,
        encoded_block: bytes,
        objects: Iterable[BlockObject] = (),
        **kwargs,
    ) -> "Archiver":
        """Continue after ``segment_header``; ``encoded_block`` is its last archived block."""
        archiver = cls(**kwargs)
        archiver.segment_index = segment_header.segment_index + 1
        archiver.prev_segment_header_hash = segment_header.hash()
        archiver.last_archived_block = segment_header.last_archived_block
        archiver.buffer.append(ParentSegmentHeader(segment_header))
        archived = segment_header.last_archived_block.partial
        if archived is not None:
            n = len(encoded_block)
            if n < archived:
                raise ArchiverError(
                    f"invalid block: its size {n} bytes is smaller than the already archived {archived} bytes"
                )
            if n == archived:
                raise ArchiverError(f"invalid last archived block: its size {n} bytes is the same as the encoded block")
            moved = [BlockObject(o.hash, o.offset - archived) for o in objects if o.offset >= archived]
            archiver.buffer.append(BlockContinuation(bytes(encoded_block[archived:]), moved))
        return archiver

    def last_archived_block_number(self) -> int | None:
        if self.last_archived_block == INITIAL_LAST_ARCHIVED_BLOCK:
            return None
        return self.last_archived_block.number

    # -- adding blocks (§9.3) ----------------------------------------------------------------------

    def add_block(self, data: bytes, objects: Iterable[BlockObject] = ()) -> tuple[list[NewArchivedSegment], list[GlobalObject]]:
        """Add a block; returns (archived segments, global object mappings) (§9.3)."""
        segments: list[NewArchivedSegment] = []
        for seg in self.add_block_iter(data, objects):
            segments.append(seg)
        return segments, self._pending_mappings

    def add_block_iter(
        self,
        data: bytes,
        objects: Iterable[BlockObject] = (),
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Iterator[NewArchivedSegment]:
        """Like :meth:`add_block` but yields each archived segment as soon as it is produced
        (each holds 256 MiB of pieces). Mappings end up in each segment's ``object_mapping``
        and, for the buffered remainder, in :attr:`pending_mappings` after exhaustion."""
        self.buffer.append(Block(bytes(data), list(objects)))
        self.blocks_added += 1
        self._pending_mappings: list[GlobalObject] = []
        while True:
            segment = self.produce_segment()
            if segment is None:
                break
            mappings = produce_object_mappings(self.segment_index, segment.items, self.geometry.raw_record_size)
            self._pending_mappings.extend(mappings)
            archived = self.produce_archived_segment(segment, progress)
            archived.object_mapping = mappings
            yield archived
        self._pending_mappings.extend(
            produce_object_mappings(self.segment_index, self.buffer, self.geometry.raw_record_size)
        )

    @property
    def pending_mappings(self) -> list[GlobalObject]:
        return getattr(self, "_pending_mappings", [])

    @property
    def buffered_bytes(self) -> int:
        """Encoded bytes waiting for the next segment (items in the buffer)."""
        return sum(item.encoded_size for item in self.buffer)

    def produce_segment(self) -> Segment | None:
        """Cut the next segment from the buffer, or return None if there is not enough data (§9.3)."""
        size_limit = self.segment_size
        items: list = []
        lab = self.last_archived_block
        size = 1  # Segment variant byte
        buffer = self.buffer
        while size < size_limit - 2:
            if not buffer:
                buffer.extendleft(reversed(items))
                return None
            item = buffer.popleft()
            item_size = item.encoded_size
            size += item_size
            if size >= size_limit:
                spill = size - size_limit
                if isinstance(item, ParentSegmentHeader):  # unreachable upstream
                    raise ArchiverError("segment header does not fit into a segment")
                if spill > len(item.data):
                    buffer.appendleft(item)
                    size -= item_size
                    break
            if isinstance(item, Block):
                number = lab.number + 1 if lab != INITIAL_LAST_ARCHIVED_BLOCK else lab.number
                lab = LastArchivedBlock(number, None)
            elif isinstance(item, BlockContinuation):
                if lab.partial is None:  # unreachable upstream
                    raise ArchiverError("block continuation without a partially archived block")
                lab = lab.set_partial(lab.partial + len(item.data))
            items.append(item)

        spill = max(0, size - size_limit)
        if spill > 0:
            last = items.pop()
            split = len(last.data) - spill
            keep = [o for o in last.objects if o.offset < split]
            moved = [BlockObject(o.hash, o.offset - split) for o in last.objects if o.offset >= split]
            buffer.appendleft(BlockContinuation(last.data[split:], moved))
            if isinstance(last, Block):
                items.append(BlockStart(last.data[:split], keep))
                lab = lab.set_partial(split)
            elif isinstance(last, BlockContinuation):
                items.append(BlockContinuation(last.data[:split], keep))
                lab = lab.set_partial(lab.partial - spill)
            else:  # unreachable upstream
                raise ArchiverError(f"cannot cut a {type(last).__name__} item")
        else:
            lab = lab.set_complete()
        self.last_archived_block = lab
        return Segment(items)

    def produce_archived_segment(
        self, segment: Segment, progress: Callable[[str, int, int], None] | None = None
    ) -> NewArchivedSegment:
        """Encode ``segment`` into pieces, build its header and chain it (§9.4)."""
        raw = segment.encode_padded(self.segment_size)
        del segment
        pieces, segment_commitment = self.encoder.encode(raw, progress)
        header = SegmentHeader(
            segment_index=self.segment_index,
            segment_commitment=segment_commitment,
            prev_segment_header_hash=self.prev_segment_header_hash,
            last_archived_block=self.last_archived_block,
        )
        self.segment_index += 1
        self.prev_segment_header_hash = header.hash()
        self.buffer.appendleft(ParentSegmentHeader(header))
        return NewArchivedSegment(header, pieces)

    # -- persistence ---------------------------------------------------------------------------------

    STATE_MAGIC = b"FKARCH01"

    def state_bytes(self) -> bytes:
        """Serialize the archiver state: magic, segment index, parent hash, LAB, blocks added, then
        the buffered items (SegmentItem encoding) each followed by its object mapping."""

        def encode_obj(o: BlockObject) -> bytes:
            return o.encode()

        parts = [
            self.STATE_MAGIC,
            encode_u64(self.segment_index),
            self.prev_segment_header_hash,
            self.last_archived_block.encode(),
            encode_u64(self.blocks_added),
            encode_u64(len(self.buffer)),
        ]
        for item in self.buffer:
            if isinstance(item, ParentSegmentHeader):
                parts.append(item.encode())
                parts.append(encode_vec([], encode_obj))
            else:
                parts.extend(item.encode_parts())
                parts.append(encode_vec(item.objects, encode_obj))
        return b"".join(parts)

    @classmethod
    def from_state_bytes(cls, data: bytes, **kwargs) -> "Archiver":
        """Inverse of :meth:`state_bytes`; raises FarmkitError on corrupt state."""
        view = memoryview(data)
        if bytes(view[: len(cls.STATE_MAGIC)]) != cls.STATE_MAGIC:
            raise ArchiverError("archiver state: bad magic (not a farmkit archiver state file)")

        def decode_obj(buf, off):
            h, off = decode_fixed(buf, 32, off)
            o, off = decode_u32(buf, off)
            return BlockObject(h, o), off

        try:
            off = len(cls.STATE_MAGIC)
            archiver = cls(**kwargs)
            archiver.segment_index, off = decode_u64(view, off)
            archiver.prev_segment_header_hash, off = decode_fixed(view, SEGMENT_HEADER_HASH_SIZE, off)
            archiver.last_archived_block, off = LastArchivedBlock.decode(view, off)
            archiver.blocks_added, off = decode_u64(view, off)
            count, off = decode_u64(view, off)
            for _ in range(count):
                item, off = decode_segment_item(view, off)
                if isinstance(item, Padding):
                    raise ScaleDecodeError("padding in archiver buffer")
                objects, off = decode_vec(view, decode_obj, off)
                if objects:
                    item.objects = objects
                archiver.buffer.append(item)
            if off != len(view):
                raise ScaleDecodeError(f"{len(view) - off} trailing bytes")
        except ScaleDecodeError as exc:
            raise ArchiverError(f"archiver state is corrupt: {exc}") from None
        return archiver


# --- §9.4 steps 1-7: the KZG segment encoder ------------------------------------------------------

_FORK_WORK: dict = {}


def _commit_row_in_child(r: int) -> bytes:
    """Worker body (forked process): commit the coefficients of row r of the shared batch."""
    return _FORK_WORK["kzg"].commit(_FORK_WORK["coeffs"][r])


def _witness_in_child(j: int) -> bytes:
    """Worker body: the segment witness for position j (§9.4 step 7, §6 ``create_witness``):
    commit((P(X) − P(x)) / (X − x)) with x = ω_256^j. The 255-term synthetic division runs on
    Python ints (small; avoids per-call kernel overheads), the MSM in the KZG kernel."""
    from farmkit.kernels import fr
    from farmkit.kernels.kzg import ref_quotient

    kzg = _FORK_WORK["kzg"]
    x = kzg.evaluation_point(NUM_PIECES, j)
    return kzg.commit(fr.ints_to_bytes(ref_quotient(_FORK_WORK["poly_ints"], x)))


def _fork_map(func, items: list, workers: int, shared: dict, progress=None, stage: str = "") -> list:
    """``[func(x) for x in items]`` in ``workers`` forked processes that inherit ``shared``
    (the MSM library holds the GIL, so threads would not overlap). Serial when workers == 1."""
    import multiprocessing as mp

    n = len(items)
    out: list = [None] * n
    _FORK_WORK.update(shared)
    try:
        if workers <= 1 or n <= 1 or "fork" not in mp.get_all_start_methods():
            for i, x in enumerate(items):
                out[i] = func(x)
                if progress is not None:
                    progress(stage, i + 1, n)
            return out
        with mp.get_context("fork").Pool(min(workers, n)) as pool:
            for i, res in enumerate(pool.imap(func, items, chunksize=max(1, n // (8 * workers)))):
                out[i] = res
                if progress is not None:
                    progress(stage, i + 1, n)
        return out
    finally:
        _FORK_WORK.clear()


PARALLEL_MIN_RECORD_CHUNKS = 4096  # below this (test geometries) forking costs more than it saves


def default_workers() -> int:
    import os

    env = os.environ.get("FARMKIT_ARCHIVER_WORKERS", "").strip()
    if env.isdigit():
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class KzgSegmentEncoder:
    """Erasure coding + KZG for one segment (§9.4 steps 1-7).

    Record commitments (128 MSMs of 2^15 points: the bulk of the time) run in ``workers`` forked
    processes (the MSM library holds the GIL, so threads would not overlap); everything else is
    numba (erasure coding, IFFTs, both cores) or small.
    """

    def __init__(self, geometry: RecordGeometry = FULL_GEOMETRY, kzg=None, workers: int | None = None):
        self.geometry = geometry
        self._kzg = kzg
        self.workers = default_workers() if workers is None else max(1, workers)
        self.timings: dict[str, float] = {}

    @property
    def kzg(self):
        if self._kzg is None:
            from farmkit.kernels.kzg import default_kzg

            self._kzg = default_kzg()
        return self._kzg

    # -- step 1-2: source records and erasure coding -------------------------------------------
    def source_records(self, raw) -> np.ndarray:
        """Recorded-history bytes → 128 source records (128, n, 32) (§9.4 step 1, §8)."""
        from farmkit.protocol.pieces import raw_record_to_record
        from farmkit.protocol.constants import NUM_RAW_RECORDS

        g = self.geometry
        arr = np.frombuffer(raw, dtype=np.uint8)
        if arr.size != g.segment_size:
            raise ArchiverError(f"a recorded history segment is {g.segment_size} bytes, got {arr.size}")
        return raw_record_to_record(arr.reshape(NUM_RAW_RECORDS, g.raw_record_size), g)

    def erasure_code(self, source: np.ndarray) -> np.ndarray:
        """Parity records (128, n, 32): one extension per chunk offset across the records (§9.4 step 2)."""
        from farmkit.kernels import erasure

        return erasure.extend_records(source)

    # -- step 3: record commitments ------------------------------------------------------------------
    def _workers_for(self) -> int:
        return self.workers if self.geometry.record_num_chunks >= PARALLEL_MIN_RECORD_CHUNKS else 1

    def commit_records(self, records: np.ndarray, progress: Callable[[str, int, int], None] | None = None) -> list[bytes]:
        """commit(poly(record)) for each record of (k, n, 32) (§9.4 step 3), over ``workers`` processes."""
        if len(records) == 0:
            return []
        kzg = self.kzg
        coeffs = kzg.polys_from_evaluations(np.ascontiguousarray(records))  # numba IFFTs, all cores
        kzg.g1_powers()  # decompress once, before forking, so the workers inherit them
        return _fork_map(
            _commit_row_in_child, list(range(len(records))), self._workers_for(),
            {"kzg": kzg, "coeffs": coeffs}, progress, "record commitments",
        )

    def segment_witnesses(self, segment_poly: np.ndarray, progress: Callable[[str, int, int], None] | None = None) -> list[bytes]:
        """create_witness(P, 256, j) for every position j (§9.4 step 7), over ``workers`` processes."""
        from farmkit.kernels import fr

        self.kzg.g1_powers()
        return _fork_map(
            _witness_in_child, list(range(NUM_PIECES)), self._workers_for(),
            {"kzg": self.kzg, "poly_ints": fr.ints_from_bytes(segment_poly)}, progress, "witnesses",
        )

    # -- steps 4-7 ------------------------------------------------------------------------------------
    def encode(self, raw, progress: Callable[[str, int, int], None] | None = None) -> tuple[np.ndarray, bytes]:
        import time

        t0 = time.perf_counter()
        source = self.source_records(raw)
        parity = self.erasure_code(source)
        t1 = time.perf_counter()
        if progress is not None:
            progress("erasure coding", 1, 1)
        records = np.empty((NUM_PIECES,) + source.shape[1:], dtype=np.uint8)
        records[0::2] = source  # even position = source record r at 2r (§12.4)
        records[1::2] = parity
        del source, parity
        pieces, commitment = self.encode_records(records, [None] * (NUM_PIECES // 2), progress)
        self.timings["erasure_s"] = t1 - t0
        return pieces, commitment

    def encode_records(
        self,
        records: np.ndarray,
        source_commitments: list[bytes | None],
        progress: Callable[[str, int, int], None] | None = None,
    ) -> tuple[np.ndarray, bytes]:
        """All 256 records (interleaved) → pieces and the segment commitment (§9.4 steps 3-7).

        ``source_commitments[r]`` may already be known (pieces reconstruction takes the embedded
        commitments of present source pieces, §10.1); ``None`` ones are computed from the records.
        """
        import time

        from farmkit.kernels.kzg import extend_commitments
        from farmkit.protocol.pieces import record_commitment_hash

        g = self.geometry
        kzg = self.kzg
        t0 = time.perf_counter()
        missing = [r for r, c in enumerate(source_commitments) if c is None]
        computed = self.commit_records(records[0::2][missing], progress) if missing else []
        commitments = list(source_commitments)
        for r, c in zip(missing, computed):
            commitments[r] = c
        t1 = time.perf_counter()
        try:
            all_commitments = extend_commitments(commitments)  # step 4: interleaved, 256
        except FarmkitError as exc:
            raise ArchiverError(f"invalid record commitment: {exc}") from None
        hashes = np.frombuffer(b"".join(record_commitment_hash(c) for c in all_commitments), np.uint8).reshape(
            NUM_PIECES, 32
        )  # step 5
        t2 = time.perf_counter()
        segment_poly = kzg.poly_from_evaluations(hashes)  # step 6
        segment_commitment = kzg.commit(segment_poly)
        witnesses = self.segment_witnesses(segment_poly, progress)  # step 7
        t3 = time.perf_counter()
        rs = g.record_size
        pieces = np.empty((NUM_PIECES, g.piece_size), dtype=np.uint8)
        pieces[:, :rs] = records.reshape(NUM_PIECES, rs)
        pieces[:, rs : rs + 48] = np.frombuffer(b"".join(all_commitments), np.uint8).reshape(NUM_PIECES, 48)
        pieces[:, rs + 48 :] = np.frombuffer(b"".join(witnesses), np.uint8).reshape(NUM_PIECES, 48)
        t4 = time.perf_counter()
        self.timings.update(
            record_commitments_s=t1 - t0,
            extend_commitments_and_hashing_s=t2 - t1,
            segment_commitment_and_witnesses_s=t3 - t2,
            assembly_s=t4 - t3,
        )
        return pieces, bytes(segment_commitment)
