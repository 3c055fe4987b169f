"""Sectors: ids, piece selection, PoS seeds, contents map, metadata, sizes, expiration, reading.

Spec: sector-audit-prove.md §1-§7, §10 (reading), §12 (expiration); pos-v2.md §4 (which PoS
version reads a sector). Byte layouts follow the reference farmer
(subspace-farmer-components ``sector.rs``, ``reading.rs``).

Everything here is readable numpy/Python; the plotter's fast paths live in
:mod:`farmkit.plotter.encoding` and are tested against these functions.

Reading API (what proving and ``read_piece`` need; the farm side is :mod:`farmkit.protocol.farm`):

* :class:`SectorLayout` — region offsets; ``record_chunk_locations(contents_map, p)`` gives record p's
  s-buckets, encoded flags and byte offsets; ``s_bucket_byte_range`` is what an audit reads.
* :func:`read_sector_record_chunks` -> :func:`unmask_sector_record_chunks` (shards + present mask for
  ``erasure.recover_poly``/``recover_source``) -> :func:`decode_sector_record`;
  :func:`read_record_metadata`; :func:`read_piece_from_sector` (the whole piece, checksum checked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
from blake3 import blake3

from farmkit.errors import FarmkitError
from farmkit.protocol.pot import derive_global_challenge
from farmkit.protocol.constants import (
    BLAKE3_HASH_SIZE,
    COMMITMENT_SIZE,
    MAX_PIECES_IN_SECTOR,
    MIN_SECTOR_LIFETIME,
    NUM_PIECES,
    PIECE_SIZE,
    RECORD_NUM_CHUNKS,
    RECORD_NUM_S_BUCKETS,
    RECENT_HISTORY_FRACTION,
    RECENT_SEGMENTS,
    RECORD_METADATA_SIZE,
    RECORD_SIZE,
    SCALAR_SIZE,
    SECTOR_BITFIELD_SIZE,
    SECTOR_METADATA_CHECKSUMMED_SIZE,
)

__all__ = [
    "FarmerProtocolInfo",
    "MAINNET_PROTOCOL_INFO",
    "SectorId",
    "public_key_hash",
    "sector_size",
    "sector_contents_map_size",
    "sector_record_chunks_size",
    "sector_record_metadata_size",
    "RECORD_METADATA_SIZE",
    "SECTOR_METADATA_SIZE",
    "RECORD_BITFIELD_SIZE",
    "SectorContentsMap",
    "SectorMetadata",
    "RecordMetadata",
    "SectorLayout",
    "sector_checksum",
    "global_challenge",
    "sector_slot_challenge",
    "s_bucket_audit_index",
]

# --- sizes (§6.4-§7) ---------------------------------------------------------------------------
RECORD_BITFIELD_SIZE = SECTOR_BITFIELD_SIZE  # 8192 bytes: one bit per s-bucket (Lsb0)
SECTOR_METADATA_SIZE = SECTOR_METADATA_CHECKSUMMED_SIZE  # 131,116 bytes
_SECTOR_METADATA_PLAIN_SIZE = 2 + 2 + 2 * RECORD_NUM_S_BUCKETS + 8  # u16 ‖ u16 ‖ [u16; 65536] ‖ u64
assert _SECTOR_METADATA_PLAIN_SIZE + BLAKE3_HASH_SIZE == SECTOR_METADATA_SIZE
_U64_MASK = (1 << 64) - 1


def _h(*parts: bytes, key: bytes | None = None) -> bytes:
    """``H(a‖b‖…)`` or ``HK(key, a‖b‖…)`` (§0)."""
    hasher = blake3(key=key) if key is not None else blake3()
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def _u16(x: int) -> bytes:
    return int(x).to_bytes(2, "little")


def _u64(x: int) -> bytes:
    return int(x).to_bytes(8, "little")


def _le(b: bytes) -> int:
    return int.from_bytes(b, "little")


def sector_contents_map_size(pieces_in_sector: int) -> int:
    """§6.4: ``8192·P + 32``."""
    return RECORD_BITFIELD_SIZE * pieces_in_sector + BLAKE3_HASH_SIZE


def sector_record_chunks_size(pieces_in_sector: int) -> int:
    """§6.5 region 2: ``P · 1 MiB`` of s-bucket chunks."""
    return RECORD_SIZE * pieces_in_sector


def sector_record_metadata_size(pieces_in_sector: int) -> int:
    """§6.5 region 3: ``128·P``."""
    return RECORD_METADATA_SIZE * pieces_in_sector


def sector_size(pieces_in_sector: int) -> int:
    """§7: ``1,056,896·P + 64`` bytes (contents map, s-buckets, record metadata, checksum)."""
    return (
        sector_contents_map_size(pieces_in_sector)
        + sector_record_chunks_size(pieces_in_sector)
        + sector_record_metadata_size(pieces_in_sector)
        + BLAKE3_HASH_SIZE
    )


# --- protocol parameters (§4) ----------------------------------------------------------------
@dataclass(frozen=True)
class FarmerProtocolInfo:
    """``FarmerProtocolInfo`` (§4): what the node tells a farmer; history_size changes."""

    history_size: int
    max_pieces_in_sector: int = MAX_PIECES_IN_SECTOR
    recent_segments: int = RECENT_SEGMENTS
    recent_history_fraction: tuple[int, int] = RECENT_HISTORY_FRACTION
    min_sector_lifetime: int = MIN_SECTOR_LIFETIME

    def with_history_size(self, history_size: int) -> "FarmerProtocolInfo":
        return FarmerProtocolInfo(
            history_size,
            self.max_pieces_in_sector,
            self.recent_segments,
            self.recent_history_fraction,
            self.min_sector_lifetime,
        )


MAINNET_PROTOCOL_INFO = FarmerProtocolInfo(history_size=1)


def public_key_hash(public_key: bytes) -> bytes:
    """``H(public_key)`` (§2)."""
    return _h(bytes(public_key))


# --- SectorId (§5) -------------------------------------------------------------------------------
class SectorId(bytes):
    """32-byte sector id, ``HK(H(public_key), u16le(sector_index) ‖ u64le(history_size))`` (§5.1)."""

    def __new__(cls, value: bytes):
        if len(value) != 32:
            raise FarmkitError(f"sector id must be 32 bytes, got {len(value)}")
        return super().__new__(cls, value)

    @classmethod
    def new(cls, public_key_hash: bytes, sector_index: int, history_size: int) -> "SectorId":
        """§5.1 (the key is the *hash* of the public key)."""
        return cls(_h(_u16(sector_index), _u64(history_size), key=bytes(public_key_hash)))

    @classmethod
    def from_public_key(cls, public_key: bytes, sector_index: int, history_size: int) -> "SectorId":
        return cls.new(public_key_hash(public_key), sector_index, history_size)

    def derive_piece_index(
        self,
        piece_offset: int,
        history_size: int,
        max_pieces_in_sector: int = MAX_PIECES_IN_SECTOR,
        recent_segments: int = RECENT_SEGMENTS,
        recent_history_fraction: tuple[int, int] = RECENT_HISTORY_FRACTION,
    ) -> int:
        """§5.2: the piece stored at ``piece_offset`` (recent-history rule for odd low offsets)."""
        f0, f1 = recent_history_fraction
        recent_pieces = recent_segments * NUM_PIECES
        min_history_pieces = recent_pieces * (f1 * NUM_PIECES) // (f0 * NUM_PIECES)
        key = _u16(piece_offset) + bytes(30)
        input_hash = _le(_h(bytes(self), key=key))
        history_pieces = history_size * NUM_PIECES
        num_interleaved = max(1, max_pieces_in_sector * (f0 * NUM_PIECES) // (f1 * NUM_PIECES) * 2)
        if (
            history_pieces > min_history_pieces
            and piece_offset < num_interleaved
            and piece_offset % 2 == 1
        ):
            return input_hash % recent_pieces + (history_pieces - recent_pieces)
        return input_hash % history_pieces

    def derive_piece_indexes(
        self, pieces_in_sector: int, protocol: FarmerProtocolInfo, history_size: int | None = None
    ) -> list[int]:
        """§6.2 step 2: ``piece_index[offset]`` for offsets ``0 .. P-1``."""
        hs = protocol.history_size if history_size is None else history_size
        return [
            self.derive_piece_index(
                offset,
                hs,
                protocol.max_pieces_in_sector,
                protocol.recent_segments,
                protocol.recent_history_fraction,
            )
            for offset in range(pieces_in_sector)
        ]

    def derive_evaluation_seed(self, piece_offset: int) -> bytes:
        """§5.3: PoS seed of the record at ``piece_offset``, ``H(sector_id ‖ u16le(offset))``."""
        return _h(bytes(self), _u16(piece_offset))

    def derive_sector_slot_challenge(self, global_challenge: bytes) -> bytes:
        """§5.4: ``sector_id XOR global_challenge``."""
        return sector_slot_challenge(self, global_challenge)

    def derive_expiration_history_size(
        self, history_size: int, sector_expiration_check_segment_commitment: bytes, min_sector_lifetime: int = MIN_SECTOR_LIFETIME
    ) -> int | None:
        """§12: history size at which this sector expires (``None`` on u64 overflow)."""
        check_hs = history_size + min_sector_lifetime
        last = min_sector_lifetime + 4 * history_size
        if check_hs > _U64_MASK or last > _U64_MASK or last <= check_hs:
            return None
        input_hash = _le(_h(bytes(self), bytes(sector_expiration_check_segment_commitment)))
        return check_hs + input_hash % (last - check_hs)


def sector_expiration_check_segment_index(history_size: int, min_sector_lifetime: int = MIN_SECTOR_LIFETIME) -> int:
    """§12: the segment whose commitment decides a sector's expiration (``h + m - 1``)."""
    return history_size + min_sector_lifetime - 1


# §5.4 global challenge ``H(H(pot_output) ‖ u64le(slot))``: one definition, in protocol.pot
global_challenge = derive_global_challenge


def sector_slot_challenge(sector_id: bytes, global_challenge_: bytes) -> bytes:
    """§5.4: ``xor32(sector_id, global_challenge)``."""
    return bytes(a ^ b for a, b in zip(bytes(sector_id), bytes(global_challenge_)))


def s_bucket_audit_index(sector_slot_challenge_: bytes) -> int:
    """§5.4: first two bytes of the sector slot challenge, little-endian."""
    return sector_slot_challenge_[0] | (sector_slot_challenge_[1] << 8)


# --- SectorContentsMap (§6.4) ---------------------------------------------------------------------
def _popcount_bytes(a: np.ndarray) -> np.ndarray:
    return np.unpackbits(a, axis=-1).sum(axis=-1, dtype=np.int64)


class SectorContentsMap:
    """One 65536-bit Lsb0 bitfield per record ("s-bucket s is stored PoS-encoded"), §6.4."""

    def __init__(self, bitfields: np.ndarray):
        bitfields = np.ascontiguousarray(bitfields, dtype=np.uint8)
        if bitfields.ndim != 2 or bitfields.shape[1] != RECORD_BITFIELD_SIZE:
            raise FarmkitError(f"contents map bitfields must be (P, {RECORD_BITFIELD_SIZE}) bytes")
        self.bitfields = bitfields
        self.num_encoded = _popcount_bytes(bitfields)
        if (self.num_encoded > RECORD_NUM_CHUNKS).any():
            raise FarmkitError("sector contents map: a record has more than 2^15 encoded chunks")

    @property
    def pieces_in_sector(self) -> int:
        return self.bitfields.shape[0]

    @classmethod
    def new(cls, pieces_in_sector: int) -> "SectorContentsMap":
        return cls(np.zeros((pieces_in_sector, RECORD_BITFIELD_SIZE), np.uint8))

    @staticmethod
    def encoded_size(pieces_in_sector: int) -> int:
        return sector_contents_map_size(pieces_in_sector)

    def encode(self) -> bytes:
        """bitfields of all records, then ``H(those bytes)``."""
        raw = self.bitfields.tobytes()
        return raw + _h(raw)

    @classmethod
    def from_bytes(cls, data: bytes, pieces_in_sector: int) -> "SectorContentsMap":
        """Decode and check length and checksum (§6.4)."""
        data = bytes(data)
        if len(data) != sector_contents_map_size(pieces_in_sector):
            raise FarmkitError(
                f"sector contents map: expected {sector_contents_map_size(pieces_in_sector)} bytes, got {len(data)}"
            )
        raw, checksum = data[:-BLAKE3_HASH_SIZE], data[-BLAKE3_HASH_SIZE:]
        if _h(raw) != checksum:
            raise FarmkitError("sector contents map checksum mismatch (possible disk corruption)")
        return cls(np.frombuffer(raw, np.uint8).reshape(pieces_in_sector, RECORD_BITFIELD_SIZE))

    def encoded_bits(self, piece_offset: int) -> np.ndarray:
        """bool[65536]: s-buckets of this record that hold an encoded chunk."""
        return np.unpackbits(self.bitfields[piece_offset], bitorder="little").astype(bool)

    def record_presence(self, piece_offset: int) -> tuple[np.ndarray, np.ndarray]:
        """(present bool[65536], encoded bool[65536]) for one record (``record_has_s_bucket_chunk``)."""
        encoded = self.encoded_bits(piece_offset)
        unencoded_total = RECORD_NUM_CHUNKS - int(self.num_encoded[piece_offset])
        not_encoded = ~encoded
        # unencoded_before(s) < unencoded_total  <=>  inclusive count of non-encoded <= total
        unencoded_present = not_encoded & (np.cumsum(not_encoded) <= unencoded_total)
        return encoded | unencoded_present, encoded

    def presence_matrix(self) -> np.ndarray:
        """uint8[P, 65536]: 1 where record p has a chunk in s-bucket s (computed once, cached)."""
        cached = getattr(self, "_presence", None)
        if cached is None:
            cached = np.zeros((self.pieces_in_sector, RECORD_NUM_S_BUCKETS), np.uint8)
            for p in range(self.pieces_in_sector):
                cached[p] = self.record_presence(p)[0]
            self._presence = cached
        return cached

    def chunks_before(self, piece_offset: int) -> np.ndarray:
        """int64[65536]: ``#{p' < piece_offset with a chunk in s}`` for every s-bucket."""
        return self.presence_matrix()[:piece_offset].sum(axis=0, dtype=np.int64)

    def s_bucket_sizes(self) -> np.ndarray:
        """uint16[65536]: how many records have a chunk in each s-bucket."""
        return self.presence_matrix().sum(axis=0, dtype=np.int64).astype(np.uint16)


# --- record metadata (§6.5 region 3) ------------------------------------------------------------
@dataclass(frozen=True)
class RecordMetadata:
    commitment: bytes
    witness: bytes
    piece_checksum: bytes

    def encode(self) -> bytes:
        return bytes(self.commitment) + bytes(self.witness) + bytes(self.piece_checksum)

    @classmethod
    def from_piece(cls, piece: bytes) -> "RecordMetadata":
        """§6.2 step 4: commitment, witness and ``H(piece)`` of a 1,048,672-byte piece."""
        return cls(
            bytes(piece[RECORD_SIZE : RECORD_SIZE + COMMITMENT_SIZE]),
            bytes(piece[RECORD_SIZE + COMMITMENT_SIZE : PIECE_SIZE]),
            _h(bytes(piece)),
        )

    @classmethod
    def decode(cls, data: bytes) -> "RecordMetadata":
        data = bytes(data)
        return cls(data[:48], data[48:96], data[96:128])


# --- SectorMetadata (§6.6) ------------------------------------------------------------------------
@dataclass
class SectorMetadata:
    """``SectorMetadata`` (SCALE) kept in metadata.bin with a BLAKE3 checksum appended (§6.6)."""

    sector_index: int
    pieces_in_sector: int
    s_bucket_sizes: np.ndarray = field(repr=False)
    history_size: int

    def encode(self) -> bytes:
        sizes = np.asarray(self.s_bucket_sizes, dtype="<u2")
        if sizes.shape != (RECORD_NUM_S_BUCKETS,):
            raise FarmkitError("s_bucket_sizes must have 65536 entries")
        return _u16(self.sector_index) + _u16(self.pieces_in_sector) + sizes.tobytes() + _u64(self.history_size)

    def encode_checksummed(self) -> bytes:
        """``SectorMetadataChecksummed``: SCALE bytes ‖ H(SCALE bytes), 131,116 bytes."""
        plain = self.encode()
        return plain + _h(plain)

    @classmethod
    def decode_checksummed(cls, data: bytes) -> "SectorMetadata":
        data = bytes(data)
        if len(data) != SECTOR_METADATA_SIZE:
            raise FarmkitError(f"sector metadata: expected {SECTOR_METADATA_SIZE} bytes, got {len(data)}")
        plain, checksum = data[:_SECTOR_METADATA_PLAIN_SIZE], data[_SECTOR_METADATA_PLAIN_SIZE:]
        if _h(plain) != checksum:
            raise FarmkitError("sector metadata checksum mismatch")
        history_size = _le(plain[-8:])
        if history_size == 0:
            raise FarmkitError("sector metadata: history size is zero")
        return cls(
            sector_index=_le(plain[0:2]),
            pieces_in_sector=_le(plain[2:4]),
            s_bucket_sizes=np.frombuffer(plain[4:-8], dtype="<u2").astype(np.uint16),
            history_size=history_size,
        )

    @classmethod
    def dummy_expired(cls, sector_index: int, pieces_in_sector: int) -> "SectorMetadata":
        """What the reference writes over an undecodable entry: all s-buckets empty, hs = 1 (§6.6)."""
        return cls(sector_index, pieces_in_sector, np.zeros(RECORD_NUM_S_BUCKETS, np.uint16), 1)

    def s_bucket_offsets(self) -> np.ndarray:
        """uint32[65536]: first chunk of each s-bucket within the s-bucket region (§6.4)."""
        sizes = np.asarray(self.s_bucket_sizes, dtype=np.int64)
        offsets = np.zeros(RECORD_NUM_S_BUCKETS, np.int64)
        np.cumsum(sizes[:-1], out=offsets[1:])
        return offsets.astype(np.uint32)

    def sector_id(self, public_key_hash_: bytes) -> SectorId:
        return SectorId.new(public_key_hash_, self.sector_index, self.history_size)


def sector_checksum(sector_without_checksum: bytes | memoryview | np.ndarray) -> bytes:
    """§6.5 region 4: ``H(regions 1-3)``."""
    hasher = blake3(max_threads=blake3.AUTO)
    hasher.update(sector_without_checksum)
    return hasher.digest()


# --- where things are inside a sector (§6.5, §10) -----------------------------------------------
class SectorLayout:
    """Byte offsets of one sector's regions and of a record's chunks (reference ``reading.rs``)."""

    def __init__(self, pieces_in_sector: int):
        self.pieces_in_sector = pieces_in_sector
        self.contents_map_offset = 0
        self.contents_map_size = sector_contents_map_size(pieces_in_sector)
        self.s_buckets_offset = self.contents_map_size
        self.s_buckets_size = sector_record_chunks_size(pieces_in_sector)
        self.record_metadata_offset = self.s_buckets_offset + self.s_buckets_size
        self.checksum_offset = self.record_metadata_offset + sector_record_metadata_size(pieces_in_sector)
        self.size = sector_size(pieces_in_sector)

    def record_metadata_range(self, piece_offset: int) -> tuple[int, int]:
        start = self.record_metadata_offset + RECORD_METADATA_SIZE * piece_offset
        return start, start + RECORD_METADATA_SIZE

    def s_bucket_byte_range(self, s_bucket_offsets: np.ndarray, s_bucket_sizes: np.ndarray, s: int) -> tuple[int, int]:
        """The contiguous bytes of s-bucket ``s`` (what the auditor reads)."""
        start = self.s_buckets_offset + SCALAR_SIZE * int(s_bucket_offsets[s])
        return start, start + SCALAR_SIZE * int(s_bucket_sizes[s])

    def record_chunk_locations(
        self, contents_map: SectorContentsMap, piece_offset: int, s_bucket_offsets: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For record ``p``: (s-buckets it occupies ascending, encoded flags, byte offsets in sector).

        ``loc(p, s) = s_bucket_offsets[s] + #{p' < p with a chunk in s}`` (§6.5, §10 step 2).
        """
        present_before = contents_map.chunks_before(piece_offset)
        if s_bucket_offsets is None:
            sizes = contents_map.s_bucket_sizes()
            s_bucket_offsets = SectorMetadata(0, self.pieces_in_sector, sizes, 1).s_bucket_offsets()
        present, encoded = contents_map.record_presence(piece_offset)
        s_buckets = np.flatnonzero(present)
        loc = np.asarray(s_bucket_offsets, np.int64)[s_buckets] + present_before[s_buckets]
        return s_buckets, encoded[s_buckets], self.s_buckets_offset + SCALAR_SIZE * loc


def piece_segment_index(piece_index: int) -> int:
    """``piece_index // 256`` (§1)."""
    return piece_index // NUM_PIECES


def piece_position(piece_index: int) -> int:
    """``piece_index % 256`` (§1)."""
    return piece_index % NUM_PIECES


def split_chunks(data: bytes | np.ndarray) -> np.ndarray:
    """View bytes as (n, 32) uint8 chunks."""
    return np.frombuffer(bytes(data), np.uint8).reshape(-1, SCALAR_SIZE) if not isinstance(data, np.ndarray) else data.reshape(-1, SCALAR_SIZE)


# --- reading a record back (§10 steps 1-6, reference ``reading.rs``) ------------------------------
def read_record_metadata(sector: np.ndarray, pieces_in_sector: int, piece_offset: int) -> RecordMetadata:
    """§10 step 8: commitment ‖ witness ‖ piece checksum of record ``piece_offset``."""
    start, end = SectorLayout(pieces_in_sector).record_metadata_range(piece_offset)
    return RecordMetadata.decode(bytes(sector[start:end]))


def read_sector_record_chunks(
    sector: np.ndarray, metadata: SectorMetadata, contents_map: SectorContentsMap, piece_offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """§10 steps 2-3: (s-buckets, encoded flags, stored chunks (32768, 32)) of one record."""
    layout = SectorLayout(metadata.pieces_in_sector)
    s_buckets, encoded, offsets = layout.record_chunk_locations(
        contents_map, piece_offset, metadata.s_bucket_offsets()
    )
    sector = np.asarray(sector, dtype=np.uint8)
    idx = offsets[:, None] + np.arange(SCALAR_SIZE)[None, :]
    return s_buckets, encoded, sector[idx]


def proof_hashes_for_s_buckets(pos_seed: bytes, s_buckets: np.ndarray, version: str) -> np.ndarray:
    """§10 step 4: ``H(find_proof(s))`` for the given (encoded) s-buckets; error if a proof is missing."""
    from farmkit.kernels.blake3 import blake3_rows
    from farmkit.kernels.pos import encoding_proofs

    proof_s, proofs = encoding_proofs(bytes(pos_seed), version)
    proof_s = np.asarray(proof_s, dtype=np.int64)
    pos = np.searchsorted(proof_s, s_buckets)
    ok = (pos < len(proof_s)) & (proof_s[np.minimum(pos, len(proof_s) - 1)] == s_buckets)
    if not ok.all():
        raise FarmkitError(f"missing PoS proof for s-bucket {int(np.asarray(s_buckets)[~ok][0])} (wrong PoS version or corrupt sector)")
    return blake3_rows(np.asarray(proofs, dtype=np.uint8)[pos])


def unmask_sector_record_chunks(
    s_buckets: np.ndarray, encoded: np.ndarray, stored: np.ndarray, pos_seed: bytes, version: str
) -> tuple[np.ndarray, np.ndarray]:
    """§10 steps 4-5: erasure shards (65536, 32) and their ``present`` mask for one record.

    Encoded chunks are unmasked with ``H(find_proof(s))``; every value must be a canonical scalar.
    Feed the result to ``erasure.recover_source`` (reading) or ``erasure.recover_poly`` (proving).
    """
    from farmkit.kernels.fr import MODULUS

    chunks = np.array(stored, dtype=np.uint8, copy=True)
    enc_s = s_buckets[encoded]
    if len(enc_s):
        chunks[encoded] ^= proof_hashes_for_s_buckets(pos_seed, enc_s, version)
    if not canonical_scalars(chunks, MODULUS).all():
        raise FarmkitError("invalid chunk: not a canonical scalar (possible disk corruption or wrong PoS version)")
    shards = np.zeros((RECORD_NUM_S_BUCKETS, SCALAR_SIZE), np.uint8)
    present = np.zeros(RECORD_NUM_S_BUCKETS, bool)
    shards[s_buckets] = chunks
    present[s_buckets] = True
    return shards, present


def decode_sector_record(
    s_buckets: np.ndarray, encoded: np.ndarray, stored: np.ndarray, pos_seed: bytes, version: str
) -> np.ndarray:
    """§10 steps 4-6 then ``recover_source``: the record's 32768 source chunks, (32768, 32)."""
    from farmkit.kernels.erasure import recover_source

    shards, present = unmask_sector_record_chunks(s_buckets, encoded, stored, pos_seed, version)
    if present[0::2].all():  # every source chunk is stored unencoded or was unmasked: no recovery needed
        return shards[0::2].copy()
    return recover_source(shards, present)


def canonical_scalars(chunks: np.ndarray, modulus: int) -> np.ndarray:
    """bool[n]: which 32-byte big-endian values are < modulus (lexicographic on 4 big-endian u64 words)."""
    words = np.ascontiguousarray(chunks, dtype=np.uint8).view(">u8").reshape(-1, 4).astype(np.uint64)
    mod = [np.uint64((modulus >> (64 * (3 - i))) & _U64_MASK) for i in range(4)]
    less = np.zeros(len(words), bool)
    equal = np.ones(len(words), bool)
    for i in range(4):
        less |= equal & (words[:, i] < mod[i])
        equal &= words[:, i] == mod[i]
    return less


def read_piece_from_sector(
    sector: np.ndarray,
    metadata: SectorMetadata,
    sector_id: SectorId,
    piece_offset: int,
    version: str,
    *,
    check: bool = True,
) -> bytes:
    """Reference ``read_piece``: decode the record, append commitment and witness, check ``H(piece)``."""
    p = metadata.pieces_in_sector
    if not 0 <= piece_offset < p:
        raise FarmkitError(f"piece offset {piece_offset} outside 0..{p - 1}")
    layout = SectorLayout(p)
    sector = np.asarray(sector, dtype=np.uint8)
    contents_map = SectorContentsMap.from_bytes(bytes(sector[: layout.contents_map_size]), p)
    s_buckets, encoded, stored = read_sector_record_chunks(sector, metadata, contents_map, piece_offset)
    record = decode_sector_record(s_buckets, encoded, stored, sector_id.derive_evaluation_seed(piece_offset), version)
    rm = read_record_metadata(sector, p, piece_offset)
    piece = record.tobytes() + rm.commitment + rm.witness
    if check and _h(piece) != rm.piece_checksum:
        raise FarmkitError(f"piece at offset {piece_offset}: checksum mismatch (possible disk corruption)")
    return piece
