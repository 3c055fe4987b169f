"""Proof-of-Time protocol derivations (pot-rpc.md A.2, A.6, A.7).

Everything here is a hash of a few bytes; the AES work lives in :mod:`farmkit.kernels.aes` and the
tool in :mod:`farmkit.pot`.
"""

from __future__ import annotations

from dataclasses import dataclass

import blake3

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    BLAKE3_HASH_SIZE,
    GLOBAL_CHALLENGE_SIZE,  # noqa: F401  (re-exported for callers)
    POT_ENTROPY_SIZE,
    POT_ITERATIONS_MULTIPLE,
    POT_KEY_SIZE,
    POT_OUTPUT_SIZE,
    POT_SEED_SIZE,
    SCALAR_SIZE,
)


def _blake3(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def _check(value: bytes, size: int, what: str) -> bytes:
    value = bytes(value)
    if len(value) != size:
        raise FarmkitError(f"{what} must be {size} bytes, got {len(value)}")
    return value


def check_iterations(iterations: int) -> int:
    """Slot iterations must be a positive multiple of 16 = 8 checkpoints x 2 (A.4)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise FarmkitError(f"iterations must be an integer, got {iterations!r}")
    if iterations <= 0 or iterations % POT_ITERATIONS_MULTIPLE:
        raise FarmkitError(f"iterations must be a positive multiple of {POT_ITERATIONS_MULTIPLE}, got {iterations}")
    if iterations >= 2**32:
        raise FarmkitError(f"iterations must fit in a u32 (slot_iterations is NonZeroU32), got {iterations}")
    return iterations


def derive_pot_key(seed: bytes) -> bytes:
    """Slot key = first 16 bytes of BLAKE3(seed) (A.2)."""
    return _blake3(_check(seed, POT_SEED_SIZE, "PoT seed"))[:POT_KEY_SIZE]


def derive_global_randomness(output: bytes) -> bytes:
    """global_randomness = BLAKE3(PoT output of the slot) (A.7)."""
    return _blake3(_check(output, POT_OUTPUT_SIZE, "PoT output"))


def derive_global_challenge(output: bytes, slot: int) -> bytes:
    """global_challenge = BLAKE3(BLAKE3(output) || u64_le(slot)) (A.7); what farmers audit with."""
    if not 0 <= slot < 2**64:
        raise FarmkitError(f"slot must be a u64, got {slot}")
    return _blake3(derive_global_randomness(output) + slot.to_bytes(8, "little"))


def derive_next_seed(output: bytes, entropy: bytes | None = None) -> bytes:
    """Next slot's seed (A.6): the output itself, or BLAKE3(entropy || output)[:16] when entropy is
    injected in exactly that slot."""
    output = _check(output, POT_OUTPUT_SIZE, "PoT output")
    if entropy is None:
        return output
    return _blake3(_check(entropy, POT_ENTROPY_SIZE, "PoT entropy") + output)[:POT_SEED_SIZE]


def seed_from_genesis(genesis_hash: bytes, external_entropy: bytes = b"") -> bytes:
    """Genesis seed = BLAKE3(genesis_block_hash || external_entropy)[:16] (A.6).

    ``external_entropy`` is the UTF-8 bytes of the chain spec's ``potExternalEntropy`` string
    (empty on mainnet and devnet), not hex-decoded.
    """
    return _blake3(_check(genesis_hash, BLAKE3_HASH_SIZE, "genesis hash") + bytes(external_entropy))[:POT_SEED_SIZE]


def derive_pot_entropy(chunk: bytes, proof_of_time: bytes) -> bytes:
    """A block's PoT entropy = BLAKE3(solution chunk (32 B) || proof_of_time (16 B)) (A.6)."""
    return _blake3(_check(chunk, SCALAR_SIZE, "solution chunk") + _check(proof_of_time, POT_OUTPUT_SIZE, "proof of time"))


@dataclass(frozen=True)
class PotParametersChange:
    """A scheduled change (A.6): from ``slot`` on, ``slot_iterations``; ``entropy`` injected at ``slot``."""

    slot: int
    slot_iterations: int
    entropy: bytes


@dataclass(frozen=True)
class PotNextSlotInput:
    """Input of a slot's PoT chain: slot number, its iterations and its seed (A.6)."""

    slot: int
    slot_iterations: int
    seed: bytes

    @classmethod
    def derive(
        cls,
        base_slot_iterations: int,
        parent_slot: int,
        parent_output: bytes,
        pot_parameters_change: PotParametersChange | None = None,
    ) -> "PotNextSlotInput":
        """Input of slot ``parent_slot + 1`` after a slot with output ``parent_output`` (A.6).

        A change scheduled at or before the next slot switches the iterations; its entropy is
        injected into the seed only in exactly the change's slot.
        """
        slot = parent_slot + 1
        change = pot_parameters_change
        if change is not None and change.slot <= slot:
            entropy = change.entropy if change.slot == slot else None
            return cls(slot, change.slot_iterations, derive_next_seed(parent_output, entropy))
        return cls(slot, base_slot_iterations, derive_next_seed(parent_output))
