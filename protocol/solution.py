"""``Solution<RewardAddress>``: what a farmer proves and submits (sector-audit-prove.md §10.1).

Field order is the SCALE order (412 bytes with a 32-byte reward address):

| field | bytes | JSON (pot-rpc.md C.2/C.4) |
|---|---|---|
| ``public_key`` | 32 | ``publicKey``: hex |
| ``reward_address`` | 32 | ``rewardAddress``: hex |
| ``sector_index`` | 2 (u16 LE) | ``sectorIndex``: number |
| ``history_size`` | 8 (NonZeroU64 LE) | ``historySize``: number |
| ``piece_offset`` | 2 (u16 LE) | ``pieceOffset``: number |
| ``record_commitment`` | 48 | ``recordCommitment``: hex |
| ``record_witness`` | 48 | ``recordWitness``: hex |
| ``chunk`` | 32 (BE scalar, unmasked) | ``chunk``: array of 32 integers |
| ``chunk_witness`` | 48 | ``chunkWitness``: hex |
| ``proof_of_space`` | 160 | ``proofOfSpace``: hex |

Hex is lowercase without ``0x`` on output; uppercase is accepted on input, ``0x`` is rejected
(serde + hex::FromHex). The auditor builds these objects; the farmer daemon sends
``Solution.to_json()`` inside a :class:`farmkit.protocol.rpc.SolutionResponse`.
"""

from __future__ import annotations

from dataclasses import dataclass

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    COMMITMENT_SIZE,
    POS_PROOF_SIZE,
    PUBLIC_KEY_SIZE,
    SCALAR_SIZE,
    WITNESS_SIZE,
)

__all__ = ["Solution", "SOLUTION_ENCODED_SIZE", "REWARD_ADDRESS_SIZE", "CHUNK_WITNESS_SIZE"]

REWARD_ADDRESS_SIZE = 32  # AccountId32 / PublicKey (sector-audit-prove.md §10.1)
CHUNK_WITNESS_SIZE = WITNESS_SIZE
SOLUTION_ENCODED_SIZE = (
    PUBLIC_KEY_SIZE + REWARD_ADDRESS_SIZE + 2 + 8 + 2 + COMMITMENT_SIZE + WITNESS_SIZE
    + SCALAR_SIZE + CHUNK_WITNESS_SIZE + POS_PROOF_SIZE
)  # 412

# (attribute, JSON name, kind, size or bit width)
_FIELDS = (
    ("public_key", "publicKey", "hex", PUBLIC_KEY_SIZE),
    ("reward_address", "rewardAddress", "hex", REWARD_ADDRESS_SIZE),
    ("sector_index", "sectorIndex", "uint", 16),
    ("history_size", "historySize", "nonzero", 64),
    ("piece_offset", "pieceOffset", "uint", 16),
    ("record_commitment", "recordCommitment", "hex", COMMITMENT_SIZE),
    ("record_witness", "recordWitness", "hex", WITNESS_SIZE),
    ("chunk", "chunk", "bytes_array", SCALAR_SIZE),
    ("chunk_witness", "chunkWitness", "hex", CHUNK_WITNESS_SIZE),
    ("proof_of_space", "proofOfSpace", "hex", POS_PROOF_SIZE),
)


@dataclass(frozen=True)
class Solution:
    """A farmer's solution for one slot (sector-audit-prove.md §10.1)."""

    public_key: bytes
    reward_address: bytes
    sector_index: int
    history_size: int
    piece_offset: int
    record_commitment: bytes
    record_witness: bytes
    chunk: bytes
    chunk_witness: bytes
    proof_of_space: bytes

    def __post_init__(self) -> None:
        for attr, _, kind, size in _FIELDS:
            value = getattr(self, attr)
            if kind in ("hex", "bytes_array"):
                if not isinstance(value, (bytes, bytearray)) or len(value) != size:
                    raise FarmkitError(f"Solution.{attr}: expected {size} bytes")
                object.__setattr__(self, attr, bytes(value))
            else:
                lo = 1 if kind == "nonzero" else 0
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value < 1 << size:
                    raise FarmkitError(f"Solution.{attr}: expected an integer in [{lo}, 2^{size})")

    # -- JSON (pot-rpc.md C.2, C.4) --
    def to_json(self) -> dict:
        out = {}
        for attr, name, kind, _ in _FIELDS:
            value = getattr(self, attr)
            if kind == "hex":
                out[name] = value.hex()
            elif kind == "bytes_array":
                out[name] = list(value)
            else:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, obj, where: str = "Solution") -> "Solution":
        from farmkit.protocol import rpc as j  # the JSON field codecs live with the RPC shapes

        o = j.expect_object(obj, where)
        values = {}
        for attr, name, kind, size in _FIELDS:
            if kind == "hex":
                values[attr] = j.hex_field(o, name, size, where)
            elif kind == "bytes_array":
                values[attr] = j.byte_array_field(o, name, size, where)
            else:
                values[attr] = j.uint_field(o, name, size, where, nonzero=(kind == "nonzero"))
        return cls(**values)

    # -- SCALE (sector-audit-prove.md §3, §10.1) --
    def encode(self) -> bytes:
        return (
            self.public_key
            + self.reward_address
            + self.sector_index.to_bytes(2, "little")
            + self.history_size.to_bytes(8, "little")
            + self.piece_offset.to_bytes(2, "little")
            + self.record_commitment
            + self.record_witness
            + self.chunk
            + self.chunk_witness
            + self.proof_of_space
        )

    @classmethod
    def decode(cls, data: bytes) -> "Solution":
        data = bytes(data)
        if len(data) != SOLUTION_ENCODED_SIZE:
            raise FarmkitError(f"Solution: expected {SOLUTION_ENCODED_SIZE} SCALE bytes, got {len(data)}")
        values = {}
        off = 0
        for attr, _, kind, size in _FIELDS:
            n = size if kind in ("hex", "bytes_array") else size // 8
            raw = data[off : off + n]
            off += n
            values[attr] = raw if kind in ("hex", "bytes_array") else int.from_bytes(raw, "little")
        return cls(**values)
