"""``verify_solution``: every check the node makes on a solution, in the reference's order.

sector-audit-prove.md §11 (reference ``subspace-verification`` ``verify_solution``):

1. ``sector_id = SectorId(H(public_key), sector_index, history_size)``;
2. ``global_challenge = H(H(proof_of_time) ‖ u64le(slot))``, ``chal = sector_id ⊕ global_challenge``,
   ``s = u16le(chal[0:2])``;
3. PoS proof for ``(pos_seed(piece_offset), s)`` → ``InvalidProofOfSpace``;
4. ``d = distance(global_challenge, chunk ⊕ H(proof_of_space), chal)``, ``d > range // 2`` →
   ``OutsideSolutionRange``;
5. record commitment / chunk witness parse as G1 (else ``InvalidChunkWitness``), chunk as a canonical
   scalar (else ``InvalidChunk``), KZG opening at ω_{2^16}^s → ``InvalidChunkWitness``;
6. with :class:`PieceCheckParams`: ``FutureHistorySize``, ``InvalidPieceOffset``, expiration
   (``InvalidHistorySize`` on overflow, ``SectorExpired``), record commitment in the segment
   commitment at the piece's position → ``InvalidPiece``;
7. the distance.

Public API (used by farmerd's dev node): :func:`verify_solution`, :class:`PieceCheckParams`,
:class:`SolutionVerificationError` (``.reason`` is the reference's ``Error`` variant name).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR, NUM_PIECES, POT_OUTPUT_SIZE, RECORD_NUM_S_BUCKETS
from farmkit.protocol.sector import (
    SectorId,
    public_key_hash,
    s_bucket_audit_index,
    sector_expiration_check_segment_index,
    sector_slot_challenge,
)
from farmkit.protocol.solution import Solution

__all__ = [
    "REASONS",
    "SolutionVerificationError",
    "PieceCheckParams",
    "verify_solution",
    "check_solution",
    "calculate_solution_distance",
    "segment_commitments_from_store",
    "piece_check_params_for",
]

# the reference's ``subspace_verification::Error`` variants
REASONS = (
    "InvalidPieceOffset",
    "FutureHistorySize",
    "SectorExpired",
    "InvalidPiece",
    "OutsideSolutionRange",
    "InvalidProofOfSpace",
    "InvalidAuditChunkOffset",
    "InvalidChunk",
    "InvalidChunkWitness",
    "InvalidHistorySize",
)
_U64 = (1 << 64) - 1


class SolutionVerificationError(Exception):
    """A well-formed solution that the node would reject; ``reason`` is the reference's name."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class PieceCheckParams:
    """``PieceCheckParams`` (reference ``subspace-verification``)."""

    max_pieces_in_sector: int
    segment_commitment: bytes
    recent_segments: int
    recent_history_fraction: tuple[int, int]
    min_sector_lifetime: int
    current_history_size: int
    sector_expiration_check_segment_commitment: bytes | None = None


def calculate_solution_distance(global_challenge: bytes, chunk: bytes, sector_slot_challenge_: bytes) -> int:
    """§9.3: bidirectional distance between ``u64le(HK(chal, chunk)[0:8])`` and ``u64le(gc[0:8])``."""
    from farmkit.kernels.blake3 import hash as blake3_hash

    a = int.from_bytes(blake3_hash(bytes(chunk), key=bytes(sector_slot_challenge_))[:8], "little")
    g = int.from_bytes(bytes(global_challenge)[:8], "little")
    return min((g - a) & _U64, (a - g) & _U64)


def _g1(data: bytes):
    """A compressed G1 point (on the curve, in the subgroup) or None, like ``Commitment::try_from``."""
    from py_arkworks_bls12381 import G1Point

    try:
        return G1Point.from_compressed_bytes(bytes(data))
    except Exception:  # noqa: BLE001 - any decoding error is "invalid"
        return None


def _global_challenge(proof_of_time_or_global_challenge: bytes, slot: int) -> bytes:
    from farmkit.protocol.pot import derive_global_challenge

    value = bytes(proof_of_time_or_global_challenge)
    if len(value) == POT_OUTPUT_SIZE:
        return derive_global_challenge(value, slot)
    if len(value) == 32:
        return value  # already derived (PoT → global challenge skipped)
    raise FarmkitError(
        f"expected a {POT_OUTPUT_SIZE}-byte PoT output or a 32-byte global challenge, got {len(value)} bytes"
    )


def verify_solution(
    solution: Solution,
    slot: int,
    proof_of_time_or_global_challenge: bytes,
    solution_range: int,
    piece_check_params: PieceCheckParams | None = None,
    *,
    kzg=None,
) -> int:
    """§11: the solution distance, or :class:`SolutionVerificationError` naming the first failed check.

    ``proof_of_time_or_global_challenge``: the slot's 16-byte PoT output (as the node does), or a
    32-byte global challenge already derived from it (then ``slot`` is not used).
    """
    from farmkit.kernels.kzg import default_kzg
    from farmkit.kernels.pos import is_proof_valid
    from farmkit.protocol.pieces import record_commitment_hash

    if not 0 <= solution_range <= _U64:
        raise FarmkitError("solution range must be a u64")
    if not 0 <= slot <= _U64:
        raise FarmkitError("slot must be a u64")
    kzg = kzg or default_kzg()
    # 1-2
    sector_id = SectorId.new(public_key_hash(solution.public_key), solution.sector_index, solution.history_size)
    global_challenge = _global_challenge(proof_of_time_or_global_challenge, slot)
    chal = sector_slot_challenge(sector_id, global_challenge)
    s = s_bucket_audit_index(chal)
    # 3
    if not is_proof_valid(sector_id.derive_evaluation_seed(solution.piece_offset), s, solution.proof_of_space):
        raise SolutionVerificationError("InvalidProofOfSpace")
    # 4
    from farmkit.kernels.blake3 import hash as blake3_hash

    mask = blake3_hash(solution.proof_of_space)
    masked = bytes(a ^ b for a, b in zip(solution.chunk, mask))
    distance = calculate_solution_distance(global_challenge, masked, chal)
    if distance > solution_range // 2:
        raise SolutionVerificationError(
            "OutsideSolutionRange", f"distance {distance} > half solution range {solution_range // 2}"
        )
    # 5 (argument order of the reference: commitment, then chunk, then witness)
    if _g1(solution.record_commitment) is None:
        raise SolutionVerificationError("InvalidChunkWitness", "record commitment is not a G1 point")
    from farmkit.kernels.fr import MODULUS

    if int.from_bytes(solution.chunk, "big") >= MODULUS:
        raise SolutionVerificationError("InvalidChunk", "chunk is not a canonical scalar")
    if _g1(solution.chunk_witness) is None:
        raise SolutionVerificationError("InvalidChunkWitness", "chunk witness is not a G1 point")
    if not kzg.verify(solution.record_commitment, RECORD_NUM_S_BUCKETS, s, solution.chunk, solution.chunk_witness):
        raise SolutionVerificationError("InvalidChunkWitness")
    # 6
    pc = piece_check_params
    if pc is not None:
        if solution.history_size > pc.current_history_size + 1:
            raise SolutionVerificationError(
                "FutureHistorySize", f"history size {solution.history_size}, current {pc.current_history_size}"
            )
        if solution.piece_offset >= pc.max_pieces_in_sector:
            raise SolutionVerificationError(
                "InvalidPieceOffset", f"piece offset {solution.piece_offset} >= {pc.max_pieces_in_sector}"
            )
        if pc.sector_expiration_check_segment_commitment is not None:
            expiration = sector_id.derive_expiration_history_size(
                solution.history_size, pc.sector_expiration_check_segment_commitment, pc.min_sector_lifetime
            )
            if expiration is None:
                raise SolutionVerificationError("InvalidHistorySize")
            if expiration <= pc.current_history_size:
                raise SolutionVerificationError(
                    "SectorExpired", f"expired at history size {expiration}, current {pc.current_history_size}"
                )
        piece_index = sector_id.derive_piece_index(
            solution.piece_offset, solution.history_size, pc.max_pieces_in_sector,
            pc.recent_segments, tuple(pc.recent_history_fraction),
        )
        position = piece_index % NUM_PIECES
        ok = (
            _g1(pc.segment_commitment) is not None
            and _g1(solution.record_witness) is not None
            and kzg.verify(pc.segment_commitment, NUM_PIECES, position,
                           record_commitment_hash(solution.record_commitment), solution.record_witness)
        )
        if not ok:
            raise SolutionVerificationError("InvalidPiece")
    return distance


def check_solution(*args, **kwargs) -> tuple[int | None, str | None]:
    """:func:`verify_solution` as ``(distance, None)`` or ``(None, reason)``."""
    try:
        return verify_solution(*args, **kwargs), None
    except SolutionVerificationError as exc:
        return None, exc.reason


# --- where the parameters come from (the node's segment-header store; here a piece store) ---------
def segment_commitments_from_store(directory: str | os.PathLike) -> list[bytes]:
    """Segment commitments by segment index from an archive directory's ``index.json``
    (the layout ``plotter archive`` writes; read here without importing the plotter)."""
    path = Path(directory) / "index.json"
    try:
        index = json.loads(path.read_text())
        entries = sorted(index["segments"], key=lambda e: int(e["index"]))
        out = []
        for i, e in enumerate(entries):
            if int(e["index"]) != i:
                raise ValueError("segment indexes are not 0..n-1")
            c = bytes.fromhex(e["commitment"])
            if len(c) != 48:
                raise ValueError(f"segment {i} commitment is not 48 bytes")
            out.append(c)
        return out
    except FileNotFoundError:
        raise FarmkitError(f"{path}: not found (not a piece store?)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FarmkitError(f"{path}: not a piece store index ({exc})") from None


def piece_check_params_for(
    solution: Solution,
    segment_commitments: list[bytes],
    *,
    current_history_size: int | None = None,
    max_pieces_in_sector: int = MAX_PIECES_IN_SECTOR,
    recent_segments: int = 5,
    recent_history_fraction: tuple[int, int] = (1, 10),
    min_sector_lifetime: int = 4,
) -> PieceCheckParams:
    """What the node passes (§11 "Where the node gets the parameters"): the commitment of the piece's
    segment (missing → FarmkitError, the node skips such a solution), the expiration-check segment's
    commitment if it exists, ``current_history_size`` = number of commitments known (at least 1)."""
    current = max(1, len(segment_commitments)) if current_history_size is None else int(current_history_size)
    if current < 1:
        raise FarmkitError("history size must be at least 1")
    sector_id = SectorId.new(public_key_hash(solution.public_key), solution.sector_index, solution.history_size)
    piece_index = sector_id.derive_piece_index(
        solution.piece_offset, solution.history_size, max_pieces_in_sector, recent_segments, recent_history_fraction
    )
    segment_index = piece_index // NUM_PIECES
    if segment_index >= len(segment_commitments):
        raise FarmkitError(f"segment commitment not found for segment {segment_index} (piece {piece_index})")
    check = sector_expiration_check_segment_index(solution.history_size, min_sector_lifetime)
    return PieceCheckParams(
        max_pieces_in_sector=max_pieces_in_sector,
        segment_commitment=segment_commitments[segment_index],
        recent_segments=recent_segments,
        recent_history_fraction=recent_history_fraction,
        min_sector_lifetime=min_sector_lifetime,
        current_history_size=current,
        sector_expiration_check_segment_commitment=(
            segment_commitments[check] if check < len(segment_commitments) else None
        ),
    )
