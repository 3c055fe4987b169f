"""Proving and verifying a slot's Proof-of-Time (pot-rpc.md A.2-A.5).

``prove`` runs one latency-bound AES chain checkpoint by checkpoint (progress can be reported
between chunks); ``verify`` checks the 8 segments independently, meeting in the middle with the
best CPU implementation (VAES-512 > VAES-256 > AES-NI > pycryptodome); ``verify_batch`` verifies
many proofs on all cores or on a GPU. All heavy work runs without the GIL, so callers may use
threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.kernels import aes
from farmkit.protocol.constants import POT_KEY_SIZE, POT_NUM_CHECKPOINTS, POT_OUTPUT_SIZE, POT_SEED_SIZE
from farmkit.protocol.pot import check_iterations, derive_pot_key

Progress = Callable[[int], None]

#: Proving reports progress at least every this many iterations (a few tens of ms of AES-NI).
PROGRESS_CHUNK_ITERATIONS = 1 << 22


def _check_block(value: bytes, size: int, what: str) -> bytes:
    value = bytes(value)
    if len(value) != size:
        raise FarmkitError(f"{what} must be {size} bytes, got {len(value)}")
    return value


def normalize_checkpoints(checkpoints: Sequence[bytes] | bytes) -> list[bytes]:
    """8 checkpoints as a list of 16-byte values; also accepts the 128-byte SCALE form (A.1)."""
    if isinstance(checkpoints, (bytes, bytearray, memoryview)):
        raw = bytes(checkpoints)
        if len(raw) != POT_NUM_CHECKPOINTS * POT_OUTPUT_SIZE:
            raise FarmkitError(f"checkpoints must be {POT_NUM_CHECKPOINTS * POT_OUTPUT_SIZE} bytes, got {len(raw)}")
        return [raw[i : i + POT_OUTPUT_SIZE] for i in range(0, len(raw), POT_OUTPUT_SIZE)]
    cps = list(checkpoints)
    if len(cps) != POT_NUM_CHECKPOINTS:
        raise FarmkitError(f"expected {POT_NUM_CHECKPOINTS} checkpoints, got {len(cps)}")
    return [_check_block(c, POT_OUTPUT_SIZE, f"checkpoint {i + 1}") for i, c in enumerate(cps)]


def create_checkpoints(
    seed: bytes,
    key: bytes,
    checkpoint_iterations: int,
    *,
    impl: str | None = None,
    progress: Progress | None = None,
    on_checkpoint: Callable[[int, bytes], None] | None = None,
) -> list[bytes]:
    """Checkpoint j = seed after (j + 1) * checkpoint_iterations encryptions under ``key`` (A.4).

    ``progress(iterations_done)`` is called as the chain advances (at least once per checkpoint),
    ``on_checkpoint(j, value)`` when checkpoint j is ready; either may raise to abandon the proof.
    """
    seed = _check_block(seed, POT_SEED_SIZE, "PoT seed")
    key = _check_block(key, POT_KEY_SIZE, "PoT key")
    if checkpoint_iterations <= 0:
        raise FarmkitError("checkpoint iterations must be positive")
    impl = aes.prove_impl(impl)
    checkpoints = []
    block, done = seed, 0
    for _ in range(POT_NUM_CHECKPOINTS):
        left = checkpoint_iterations
        while left:
            step = min(left, PROGRESS_CHUNK_ITERATIONS)
            block = aes.encrypt_chain(key, block, step, impl)
            left -= step
            done += step
            if progress is not None:
                progress(done)
        checkpoints.append(block)
        if on_checkpoint is not None:
            on_checkpoint(len(checkpoints) - 1, block)
    return checkpoints


def prove(
    seed: bytes,
    iterations: int,
    *,
    impl: str | None = None,
    progress: Progress | None = None,
    on_checkpoint: Callable[[int, bytes], None] | None = None,
) -> list[bytes]:
    """The 8 checkpoints of a slot with input ``seed`` and ``iterations`` (A.2-A.4); the last is the output.

    Raises :class:`FarmkitError` unless iterations is a positive multiple of 16.
    """
    iterations = check_iterations(iterations)
    seed = _check_block(seed, POT_SEED_SIZE, "PoT seed")
    return create_checkpoints(
        seed,
        derive_pot_key(seed),
        iterations // POT_NUM_CHECKPOINTS,
        impl=impl,
        progress=progress,
        on_checkpoint=on_checkpoint,
    )


def verify_checkpoints(
    seed: bytes, key: bytes, checkpoint_iterations: int, checkpoints: Sequence[bytes] | bytes, *, impl: str | None = None
) -> bool:
    """True iff the 8 segments ``[seed, cp0..cp6] -> [cp0..cp7]`` each take ``checkpoint_iterations``
    encryptions under ``key`` (A.5). ``checkpoint_iterations`` must be even."""
    seed = _check_block(seed, POT_SEED_SIZE, "PoT seed")
    key = _check_block(key, POT_KEY_SIZE, "PoT key")
    cps = normalize_checkpoints(checkpoints)
    if checkpoint_iterations <= 0 or checkpoint_iterations % 2:
        raise FarmkitError("checkpoint iterations must be positive and even")
    return aes.verify_segments(key, [seed, *cps[:-1]], cps, checkpoint_iterations, impl)


def verify(seed: bytes, iterations: int, checkpoints: Sequence[bytes] | bytes, *, impl: str | None = None) -> bool:
    """True iff ``checkpoints`` are the 8 checkpoints of ``prove(seed, iterations)`` (A.5).

    Costs the same AES work as proving, but the 16 half-segments run side by side, so it takes
    ~1/16 of the proving time with VAES (~1/6-1/8 with AES-NI). Raises :class:`FarmkitError` on
    malformed input (bad sizes, iterations not a positive multiple of 16).
    """
    iterations = check_iterations(iterations)
    seed = _check_block(seed, POT_SEED_SIZE, "PoT seed")
    return verify_checkpoints(seed, derive_pot_key(seed), iterations // POT_NUM_CHECKPOINTS, checkpoints, impl=impl)


def verify_batch(
    proofs: Iterable[tuple[bytes, int, Sequence[bytes] | bytes]],
    *,
    backend: str = "cpu",
    impl: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> list[bool]:
    """Verify many ``(seed, iterations, checkpoints)`` proofs; one bool each, in order.

    ``backend="cpu"``: one :func:`verify` per proof on ``threads`` threads (default: all cores; the
    kernels release the GIL). ``"cuda"``/``"opencl"``: every segment half of every proof is a GPU
    lane (``kernels/aes.cl``); proofs are grouped by iteration count. ``progress(n)`` reports
    proofs finished (cpu) or iterations advanced (gpu). Inputs must already be well formed.
    """
    items = []
    for seed, iterations, checkpoints in proofs:
        iterations = check_iterations(iterations)
        items.append((_check_block(seed, POT_SEED_SIZE, "PoT seed"), iterations, normalize_checkpoints(checkpoints)))
    if not items:
        return []
    if backend == "cpu":
        impl = aes.resolve_impl(impl)
        workers = max(1, min(threads or os.cpu_count() or 1, len(items)))
        results: list[bool] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for ok in pool.map(lambda it: verify(it[0], it[1], it[2], impl=impl), items):
                results.append(ok)
                if progress is not None:
                    progress(len(results))
        return results
    verdicts = np.zeros(len(items), dtype=bool)
    groups: dict[int, list[int]] = {}
    for i, (_, iterations, _) in enumerate(items):
        groups.setdefault(iterations, []).append(i)
    for iterations, idx in groups.items():
        keys = [derive_pot_key(items[i][0]) for i in idx]
        inputs = np.array([[np.frombuffer(b, np.uint8) for b in [items[i][0], *items[i][2][:-1]]] for i in idx], dtype=np.uint8)
        outputs = np.array([[np.frombuffer(b, np.uint8) for b in items[i][2]] for i in idx], dtype=np.uint8)
        ok = aes.gpu_verify_segments_many(backend, keys, inputs, outputs, iterations // POT_NUM_CHECKPOINTS, progress=progress)
        verdicts[idx] = ok
    return [bool(v) for v in verdicts]
