"""Proving a winning chunk: read and decode its record, open the chunk, build the Solution.

sector-audit-prove.md §10 (reference ``proving.rs`` ``SolutionsIterator`` and ``reading.rs``):

1. PoS table for ``pos_seed(piece_offset)`` (the sector's PoS version, pos-v2.md §4);
2. locations of the record's 32768 chunks (``loc(p, t) = s_bucket_offsets[t] + #{p' < p with a chunk
   in t}``, from the contents map read from the sector, checksum-checked);
3. read them (``concurrent``: 32768 small reads through the page cache; ``whole``: the whole sector);
4. unmask encoded chunks with ``H(find_proof(t))``; 5. every value a canonical scalar;
6. ``recover_poly`` over the 2^16 domain; 7. ``chunk`` = unmasked value at the audited s-bucket;
8. record commitment and witness from the record metadata; 9. ``proof_of_space = find_proof(s)``;
10. ``chunk_witness = create_witness(poly, 65536, s)``; 11. the :class:`Solution`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from farmkit.errors import FarmkitError
from farmkit.kernels.blake3 import blake3_rows
from farmkit.protocol.constants import RECORD_NUM_CHUNKS, RECORD_NUM_S_BUCKETS, SCALAR_SIZE
from farmkit.protocol.farm import PlottedSector, SingleDiskFarm
from farmkit.protocol.sector import SectorContentsMap, canonical_scalars, read_record_metadata
from farmkit.protocol.solution import Solution

__all__ = ["ProvingError", "RECORD_CHUNKS_MODES", "record_chunk_locations", "prove_candidate", "ProofTimings"]

RECORD_CHUNKS_MODES = ("concurrent", "whole")  # ConcurrentChunks | WholeSector (§10 step 3)


class ProvingError(FarmkitError):
    """A candidate could not be proven (corrupt sector, missing PoS proof, ...)."""


@njit(cache=True, nogil=True)
def _record_chunk_locations(bitfields, piece_offset, s_bucket_offsets, s_out, enc_out, loc_out):
    """§6.4/§10 step 2 in one pass per record: counts records p' < p present in each s-bucket
    (``record_has_s_bucket_chunk``), then lists record p's chunks. Returns how many it found."""
    before = np.zeros(RECORD_NUM_S_BUCKETS, np.int64)
    for q in range(piece_offset + 1):
        num_encoded = 0
        for b in range(bitfields.shape[1]):
            x = bitfields[q, b]
            while x:
                num_encoded += 1
                x &= x - 1
        unencoded_total = RECORD_NUM_CHUNKS - num_encoded
        unencoded_seen = 0
        n = 0
        for s in range(RECORD_NUM_S_BUCKETS):
            encoded = (bitfields[q, s >> 3] >> (s & 7)) & 1
            present = encoded == 1
            if not present:
                present = unencoded_seen < unencoded_total
                unencoded_seen += 1
            if present:
                if q == piece_offset:
                    if n < s_out.shape[0]:
                        s_out[n] = s
                        enc_out[n] = encoded == 1
                        loc_out[n] = s_bucket_offsets[s] + before[s]
                    n += 1
                else:
                    before[s] += 1
        if q == piece_offset:
            return n
    return 0


def record_chunk_locations(contents_map: SectorContentsMap, piece_offset: int, s_bucket_offsets: np.ndarray):
    """(s-buckets ascending, encoded flags, chunk index in the s-bucket region) of one record.
    Fast path of :meth:`farmkit.protocol.sector.SectorLayout.record_chunk_locations`."""
    s = np.empty(RECORD_NUM_CHUNKS, np.int64)
    enc = np.empty(RECORD_NUM_CHUNKS, np.bool_)
    loc = np.empty(RECORD_NUM_CHUNKS, np.int64)
    n = _record_chunk_locations(contents_map.bitfields, int(piece_offset), np.asarray(s_bucket_offsets, np.int64), s, enc, loc)
    if n != RECORD_NUM_CHUNKS:
        raise ProvingError(f"record {piece_offset}: {n} chunks in the contents map, expected {RECORD_NUM_CHUNKS} (corrupt sector)")
    return s, enc, loc


@dataclass
class ProofTimings:
    table: float = 0.0
    read: float = 0.0
    decode: float = 0.0
    witness: float = 0.0

    def total(self) -> float:
        return self.table + self.read + self.decode + self.witness


def _sector(farm: SingleDiskFarm, sector_index: int) -> PlottedSector:
    for s in farm.plotted_sectors():
        if s.sector_index == sector_index:
            return s
    raise ProvingError(f"sector {sector_index} is not plotted")


def prove_candidate(
    farm: SingleDiskFarm,
    sector_index: int,
    piece_offset: int,
    s_bucket: int,
    reward_address: bytes,
    *,
    sector: PlottedSector | None = None,
    mode: str = "concurrent",
    kzg=None,
    timings: ProofTimings | None = None,
) -> Solution:
    """§10: the Solution for the encoded chunk of record ``piece_offset`` in s-bucket ``s_bucket``."""
    from farmkit.kernels.erasure import recover_poly
    from farmkit.kernels.fr import MODULUS
    from farmkit.kernels.kzg import default_kzg
    from farmkit.kernels.pos import build_tables

    if mode not in RECORD_CHUNKS_MODES:
        raise FarmkitError(f"record chunks mode must be one of {', '.join(RECORD_CHUNKS_MODES)}")
    if len(bytes(reward_address)) != 32:
        raise FarmkitError("reward address must be 32 bytes")
    timings = timings if timings is not None else ProofTimings()
    sector = sector or _sector(farm, sector_index)
    meta = sector.metadata
    p = farm.pieces_in_sector
    if not 0 <= piece_offset < p:
        raise ProvingError(f"piece offset {piece_offset} outside 0..{p - 1}")
    seed = sector.sector_id.derive_evaluation_seed(piece_offset)

    t0 = time.perf_counter()
    tables = build_tables(seed, sector.pos_version)  # §10 step 1
    proof_s, proofs = tables.encoding_proofs()
    t1 = time.perf_counter()

    view = farm.sector_view(sector_index)
    if mode == "whole":
        view = np.array(view)  # WholeSector: one sequential read into RAM
    try:
        contents_map = SectorContentsMap.from_bytes(bytes(view[: farm.layout.contents_map_size]), p)
    except FarmkitError as exc:
        raise ProvingError(f"sector {sector_index}: {exc}") from None
    s_buckets, encoded, loc = record_chunk_locations(contents_map, piece_offset, meta.s_bucket_offsets())
    byte_off = farm.layout.s_buckets_offset + SCALAR_SIZE * loc
    chunks = view[byte_off[:, None] + np.arange(SCALAR_SIZE)[None, :]]  # §10 step 3 (32768 reads)
    rm = read_record_metadata(view, p, piece_offset)  # §10 step 8
    t2 = time.perf_counter()

    # §10 step 4: unmask
    enc_s = s_buckets[encoded]
    pos = np.searchsorted(proof_s, enc_s)
    ok = (pos < len(proof_s)) & (proof_s[np.minimum(pos, len(proof_s) - 1)] == enc_s)
    if not ok.all():
        raise ProvingError(f"sector {sector_index}: missing PoS proof for s-bucket {int(enc_s[~ok][0])} (MissingPosProof)")
    chunks[encoded] ^= blake3_rows(proofs[pos])
    # §10 step 5
    if not canonical_scalars(chunks, MODULUS).all():
        raise ProvingError(f"sector {sector_index}: invalid chunk, not a canonical scalar (possible disk corruption)")
    where = np.searchsorted(s_buckets, s_bucket)
    if where >= len(s_buckets) or s_buckets[where] != s_bucket or not encoded[where]:
        raise ProvingError(f"sector {sector_index}: record {piece_offset} has no encoded chunk in s-bucket {s_bucket}")
    chunk = chunks[where].tobytes()  # §10 step 7
    proof_of_space = tables.find_proof(s_bucket)  # §10 step 9
    if proof_of_space is None:
        raise ProvingError(f"sector {sector_index}: missing PoS proof for s-bucket {s_bucket}")
    # §10 step 6
    shards = np.zeros((RECORD_NUM_S_BUCKETS, SCALAR_SIZE), np.uint8)
    present = np.zeros(RECORD_NUM_S_BUCKETS, np.bool_)
    shards[s_buckets] = chunks
    present[s_buckets] = True
    poly = recover_poly(shards, present)
    t3 = time.perf_counter()

    kzg = kzg or default_kzg()
    chunk_witness = kzg.create_witness(poly, RECORD_NUM_S_BUCKETS, s_bucket)  # §10 step 10
    t4 = time.perf_counter()
    timings.table += t1 - t0
    timings.read += t2 - t1
    timings.decode += t3 - t2
    timings.witness += t4 - t3

    return Solution(
        public_key=farm.info.public_key,
        reward_address=bytes(reward_address),
        sector_index=sector_index,
        history_size=int(meta.history_size),
        piece_offset=int(piece_offset),
        record_commitment=rm.commitment,
        record_witness=rm.witness,
        chunk=chunk,
        chunk_witness=chunk_witness,
        proof_of_space=proof_of_space,
    )
