"""farmkit.pot: Proof-of-Time: repeated AES-128 at AES-NI speed, checkpoint verification, global challenges.

Public API (pot-rpc.md A.2-A.7)::

    prove(seed, iterations) -> list[bytes]            # 8 checkpoints, the last is the output
    verify(seed, iterations, checkpoints) -> bool     # meet-in-the-middle, VAES/AES-NI/pycryptodome
    verify_batch([(seed, iterations, checkpoints), ...], backend="cpu"|"cuda"|"opencl") -> list[bool]

Derivations (key, global challenge, next seed) are in :mod:`farmkit.protocol.pot`.
Both prove and verify release the GIL while the AES work runs.
"""

from farmkit.pot.proof import create_checkpoints, prove, verify, verify_batch, verify_checkpoints

__all__ = ["prove", "verify", "verify_batch", "create_checkpoints", "verify_checkpoints"]
