"""Records, pieces and piece indexes (kzg-erasure-archiving.md §8, §11).

- A raw record is 32,768 chunks of 31 bytes; a record is 32,768 chunks of 32 bytes (ScalarBytes,
  big-endian); a source record's chunk i = ``00 || raw[31i : 31i+31]`` (§8, §12.3).
- A piece is ``record || record_commitment (48) || record_witness (48)``; the witness is the
  segment-level KZG witness of the piece's position (§8, §9.4).
- Positions in a segment are interleaved: even = source (record r at 2r), odd = parity.
- ``PieceIndex`` = segment_index·256 + position; ``to_bytes`` is u64 little-endian.

:class:`RecordGeometry` names every size that depends on the number of chunks per record. The
network uses :data:`FULL_GEOMETRY` (2^15 chunks); tests may use a smaller power of two to run the
whole archiving pipeline (erasure coding, KZG, reconstruction) on tiny segments. The number of
records per segment (128 source, 256 pieces) never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from blake3 import blake3

from farmkit.protocol.constants import (
    COMMITMENT_SIZE,
    NUM_PIECES,
    NUM_RAW_RECORDS,
    RECORD_NUM_CHUNKS,
    SAFE_BYTES,
    SCALAR_SIZE,
    WITNESS_SIZE,
)

__all__ = [
    "RecordGeometry",
    "FULL_GEOMETRY",
    "PieceIndex",
    "SegmentIndex",
    "HistorySize",
    "raw_record_to_record",
    "record_to_raw_record",
    "split_piece",
    "make_piece",
    "piece_record",
    "piece_commitment",
    "piece_witness",
    "blake3_254_hash_to_scalar",
    "record_commitment_hash",
    "is_piece_valid",
    "is_record_commitment_hash_valid",
    "piece_encode",
    "Piece",
    "find_invalid_pieces",
]


# --- sizes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordGeometry:
    """Sizes that follow from the number of chunks per record (§1, §8)."""

    record_num_chunks: int = RECORD_NUM_CHUNKS

    def __post_init__(self):
        n = self.record_num_chunks
        if n < 1 or n & (n - 1) or n > RECORD_NUM_CHUNKS:
            raise ValueError(f"record_num_chunks must be a power of two <= {RECORD_NUM_CHUNKS}, got {n}")

    @property
    def raw_record_size(self) -> int:
        return SAFE_BYTES * self.record_num_chunks

    @property
    def record_size(self) -> int:
        return SCALAR_SIZE * self.record_num_chunks

    @property
    def piece_size(self) -> int:
        return self.record_size + COMMITMENT_SIZE + WITNESS_SIZE

    @property
    def segment_size(self) -> int:
        """RecordedHistorySegment::SIZE: the bytes of one segment before erasure coding."""
        return self.raw_record_size * NUM_RAW_RECORDS

    @property
    def archived_segment_size(self) -> int:
        return self.piece_size * NUM_PIECES

    @property
    def is_full(self) -> bool:
        return self.record_num_chunks == RECORD_NUM_CHUNKS


FULL_GEOMETRY = RecordGeometry()


# --- indexes (§8) --------------------------------------------------------------------------------


class PieceIndex(int):
    """u64 piece index = segment_index·256 + position (§8)."""

    def __new__(cls, value: int):
        value = int(value)
        if value < 0 or value >= 1 << 64:
            raise ValueError(f"piece index out of u64 range: {value}")
        return super().__new__(cls, value)

    def to_bytes_le(self) -> bytes:
        return int(self).to_bytes(8, "little")

    @property
    def segment_index(self) -> int:
        return int(self) // NUM_PIECES

    @property
    def position(self) -> int:
        return int(self) % NUM_PIECES

    @property
    def is_source(self) -> bool:
        return int(self) % 2 == 0

    @property
    def source_position(self) -> int:
        if not self.is_source:
            raise ValueError(f"piece {int(self)} is a parity piece: no source position")
        return self.position // 2

    @classmethod
    def from_source_position(cls, source_position: int, segment_index: int) -> "PieceIndex":
        return cls(segment_index * NUM_PIECES + 2 * source_position)

    def next_source_index(self) -> "PieceIndex":
        return PieceIndex.from_source_position(self.source_position + 1, self.segment_index)

    def prev_source_index(self) -> "PieceIndex | None":
        sp = self.source_position
        if sp == 0:
            if self.segment_index == 0:
                return None
            return PieceIndex.from_source_position(NUM_RAW_RECORDS - 1, self.segment_index - 1)
        return PieceIndex.from_source_position(sp - 1, self.segment_index)


class SegmentIndex(int):
    """u64 segment index (§8)."""

    @property
    def first_piece_index(self) -> PieceIndex:
        return PieceIndex(int(self) * NUM_PIECES)

    @property
    def last_piece_index(self) -> PieceIndex:
        return PieceIndex(int(self) * NUM_PIECES + NUM_PIECES - 1)

    def segment_piece_indexes(self) -> list[PieceIndex]:
        base = int(self) * NUM_PIECES
        return [PieceIndex(base + p) for p in range(NUM_PIECES)]

    def segment_piece_indexes_source_first(self) -> list[PieceIndex]:
        base = int(self) * NUM_PIECES
        return [PieceIndex(base + p) for p in range(0, NUM_PIECES, 2)] + [
            PieceIndex(base + p) for p in range(1, NUM_PIECES, 2)
        ]


class HistorySize(int):
    """NonZeroU64: number of archived segments (last segment index + 1) (§8)."""

    def __new__(cls, value: int):
        if int(value) < 1:
            raise ValueError("history size must be non-zero")
        return super().__new__(cls, int(value))

    @property
    def in_pieces(self) -> int:
        return int(self) * NUM_PIECES

    @property
    def segment_index(self) -> int:
        return int(self) - 1


# --- records (§8) --------------------------------------------------------------------------------


def raw_record_to_record(raw, geometry: RecordGeometry = FULL_GEOMETRY) -> np.ndarray:
    """Raw record(s) (..., raw_record_size) bytes → record chunks (..., n, 32): prepend 0x00 (§2, §8)."""
    arr = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else np.asarray(raw, np.uint8)
    n = geometry.record_num_chunks
    lead = arr.shape[:-1] if arr.ndim > 1 else ()
    chunks = arr.reshape(lead + (n, SAFE_BYTES))
    out = np.zeros(lead + (n, SCALAR_SIZE), dtype=np.uint8)
    out[..., 1:] = chunks
    return out


def record_to_raw_record(record) -> np.ndarray:
    """Record chunks (..., n, 32) → raw bytes (..., n·31): drop byte 0 of each chunk (§8)."""
    rec = np.asarray(record, dtype=np.uint8)
    lead = rec.shape[:-2]
    return np.ascontiguousarray(rec[..., 1:]).reshape(lead + (-1,))


# --- pieces (§8) ---------------------------------------------------------------------------------


def split_piece(piece, geometry: RecordGeometry = FULL_GEOMETRY) -> tuple[memoryview, bytes, bytes]:
    """(record bytes, record commitment, record witness) of one piece."""
    view = memoryview(piece).cast("B") if not isinstance(piece, memoryview) else piece
    if len(view) != geometry.piece_size:
        raise ValueError(f"a piece is {geometry.piece_size} bytes, got {len(view)}")
    rs = geometry.record_size
    return view[:rs], bytes(view[rs : rs + COMMITMENT_SIZE]), bytes(view[rs + COMMITMENT_SIZE :])


def piece_record(piece, geometry: RecordGeometry = FULL_GEOMETRY) -> np.ndarray:
    """The record of a piece as chunks (n, 32) uint8 (a view, no copy)."""
    rec, _, _ = split_piece(piece, geometry)
    return np.frombuffer(rec, dtype=np.uint8).reshape(geometry.record_num_chunks, SCALAR_SIZE)


def piece_commitment(piece, geometry: RecordGeometry = FULL_GEOMETRY) -> bytes:
    return split_piece(piece, geometry)[1]


def piece_witness(piece, geometry: RecordGeometry = FULL_GEOMETRY) -> bytes:
    return split_piece(piece, geometry)[2]


def make_piece(record, commitment: bytes, witness: bytes) -> bytes:
    """record || commitment || witness (§8)."""
    if len(commitment) != COMMITMENT_SIZE or len(witness) != WITNESS_SIZE:
        raise ValueError("commitment and witness are 48 bytes each")
    return np.asarray(record, dtype=np.uint8).tobytes() + bytes(commitment) + bytes(witness)


def piece_encode(piece: bytes) -> bytes:
    """``Piece::encode``: a SCALE byte vector (Compact(len) || bytes) (§8)."""
    from farmkit.protocol.scale import encode_bytes

    return encode_bytes(piece)


@dataclass(frozen=True)
class Piece:
    """One piece (§8): ``record`` (n, 32) uint8 chunks, 48-byte record commitment, 48-byte witness."""

    record: np.ndarray
    commitment: bytes
    witness: bytes

    @classmethod
    def from_bytes(cls, data, geometry: RecordGeometry = FULL_GEOMETRY) -> "Piece":
        rec, commitment, witness = split_piece(data, geometry)
        chunks = np.frombuffer(rec, dtype=np.uint8).reshape(geometry.record_num_chunks, SCALAR_SIZE)
        return cls(chunks, commitment, witness)

    def to_bytes(self) -> bytes:
        return make_piece(self.record, self.commitment, self.witness)

    def encode(self) -> bytes:
        """SCALE ``Piece`` (a byte vector)."""
        return piece_encode(self.to_bytes())

    def raw_record(self) -> bytes:
        """The 31-byte-chunk payload (meaningful for source pieces)."""
        return record_to_raw_record(self.record).tobytes()


# --- hashing and verification (§2, §11) ----------------------------------------------------------


def blake3_254_hash_to_scalar(data: bytes) -> bytes:
    """BLAKE3-256(data) with the two top bits of byte 0 cleared: always < r (§2)."""
    h = bytearray(blake3(bytes(data)).digest())
    h[0] &= 0x3F
    return bytes(h)


def record_commitment_hash(commitment: bytes) -> bytes:
    """The scalar a record commitment contributes to the segment polynomial (§9.4 step 5)."""
    return blake3_254_hash_to_scalar(commitment)


def is_record_commitment_hash_valid(kzg, commitment: bytes, segment_commitment: bytes, witness: bytes, position: int) -> bool:
    """§11 step 5 only: the embedded commitment opens the segment commitment at ω_256^position."""
    try:
        return bool(kzg.verify(segment_commitment, NUM_PIECES, position, record_commitment_hash(commitment), witness))
    except Exception:  # any decoding error is "invalid", like upstream
        return False


def is_piece_valid(kzg, piece, segment_commitment: bytes, position: int, geometry: RecordGeometry = FULL_GEOMETRY) -> bool:
    """``is_piece_valid`` (§11): chunks canonical, record commitment recomputed from the record equals
    the embedded one, and the embedded commitment opens the segment commitment at ``position``."""
    from farmkit.kernels import fr

    try:
        record, commitment, witness = split_piece(piece, geometry)
    except ValueError:
        return False
    chunks = np.frombuffer(record, dtype=np.uint8).reshape(geometry.record_num_chunks, SCALAR_SIZE)
    if not bool(np.all(fr.is_canonical(chunks))):
        return False
    try:
        recomputed = bytes(kzg.commit_evaluations(chunks))
    except Exception:
        return False
    if recomputed != commitment:
        return False
    return is_record_commitment_hash_valid(kzg, commitment, segment_commitment, witness, position)


# --- many pieces at once (verify-pieces, repair) ----------------------------------------------------


def _g1_decompress_canonical(data: bytes):
    """The point if ``data`` is a canonical compressed G1 point in the prime-order subgroup, else None."""
    from py_arkworks_bls12381 import G1Point

    try:
        pt = G1Point.from_compressed_bytes(bytes(data))  # checks curve and subgroup
    except Exception:
        return None
    return pt if bytes(pt.to_compressed_bytes()) == bytes(data) else None


def find_invalid_pieces(
    kzg,
    pieces,
    segment_commitment: bytes,
    geometry: RecordGeometry = FULL_GEOMETRY,
    *,
    exact: bool = False,
    progress=None,
) -> list[int]:
    """Positions whose piece fails ``is_piece_valid`` (§11); ``pieces[pos]`` may be None (skipped).

    ``exact=True`` recommits every record (the reference path: 256 MSMs of 2^15 points per
    segment). The default checks steps 1, 2, 4 and 5 per piece exactly and step 3 (record
    commitment == commitment of the record) for all pieces at once with a random linear
    combination: Σρ_j·C_j == commit(Σρ_j·record_j) for random 128-bit ρ_j (commitments are linear;
    embedded commitments are first required to be canonical points of the prime-order subgroup,
    which every honest commitment is). A false "valid" has probability ≤ 2^-128 per check; groups
    that fail are bisected until the culprits are found.
    """
    import secrets

    from farmkit.kernels import fr

    n_chunks = geometry.record_num_chunks
    invalid: list[int] = []
    candidates: list[int] = []
    points = {}
    total = sum(1 for p in pieces if p is not None)
    done = 0
    for pos, piece in enumerate(pieces):
        if piece is None:
            continue
        done += 1
        record, commitment, witness = split_piece(piece, geometry)
        chunks = np.frombuffer(record, dtype=np.uint8).reshape(n_chunks, SCALAR_SIZE)
        ok = bool(np.all(fr.is_canonical(chunks)))
        ok = ok and is_record_commitment_hash_valid(kzg, commitment, segment_commitment, witness, pos)
        if ok and exact:
            try:
                ok = bytes(kzg.commit_evaluations(chunks)) == commitment
            except Exception:
                ok = False
        elif ok:
            pt = _g1_decompress_canonical(commitment)
            if pt is None:
                ok = False
            else:
                points[pos] = pt
                candidates.append(pos)
        if not ok:
            invalid.append(pos)
        if progress is not None:
            progress("check", done, total)
    if exact or not candidates:
        return sorted(invalid)

    from py_arkworks_bls12381 import G1Point, Scalar

    slot = {pos: k for k, pos in enumerate(candidates)}
    internal = fr.scalars_from_bytes(np.stack([piece_record(pieces[pos], geometry) for pos in candidates]))

    def tree_sum(terms: np.ndarray) -> np.ndarray:
        """Σ over axis 0 in log2(k) vectorized field additions."""
        while len(terms) > 1:
            half = len(terms) // 2
            summed = fr.add(terms[:half], terms[half : 2 * half])
            terms = np.concatenate([summed, terms[2 * half :]]) if len(terms) % 2 else summed
        return terms[0]

    def group_ok(group: list[int]) -> bool:
        if len(group) == 1:
            pos = group[0]
            return bytes(kzg.commit_evaluations(piece_record(pieces[pos], geometry))) == piece_commitment(pieces[pos], geometry)
        rho_ints = [secrets.randbits(128) | 1 for _ in group]
        rho = fr.scalars_from_ints(rho_ints)
        combined = tree_sum(fr.mul(internal[[slot[p] for p in group]], rho[:, None, :]))
        lhs = bytes(kzg.commit_evaluations(fr.scalars_to_bytes(combined)))
        scal = [Scalar.from_be_bytes(v.to_bytes(32, "big")) for v in rho_ints]
        rhs = bytes(G1Point.multiexp_unchecked([points[p] for p in group], scal).to_compressed_bytes())
        return lhs == rhs

    stack = [candidates]
    while stack:
        group = stack.pop()
        if group_ok(group):
            continue
        if len(group) == 1:
            invalid.append(group[0])
        else:
            half = len(group) // 2
            stack.append(group[half:])
            stack.append(group[:half])
    return sorted(invalid)
