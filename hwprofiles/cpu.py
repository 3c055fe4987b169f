"""CPU compute measurements for farming: PoT prove/verify, audit hashing, PoS tables, record encoding.

The kernels come from other layers (``farmkit.pot``, ``farmkit.kernels.pos``,
``farmkit.plotter.encoding``) and are imported lazily: when a module is missing, lacks the
function, or fails, the metric is recorded as unavailable with the reason and the profiler goes on
(so it works on a partial checkout and gets richer as the project grows).

Every rate is measured by doubling the work until one call takes ``target_s`` (after one warm-up
call that pays for numba/GPU compilation), so a slow implementation costs little time.
"""

from __future__ import annotations

import importlib
import inspect
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from farmkit.protocol.constants import (
    POS_SEED_SIZE,
    POT_ITERATIONS_MULTIPLE,
    POT_MAINNET_SLOT_ITERATIONS,
    POT_SEED_SIZE,
)


@dataclass
class Metric:
    """One measured rate, or why it could not be measured."""

    name: str  # e.g. "pot_prove"
    label: str  # human-readable
    unit: str  # e.g. "iterations/s"
    value: float | None = None
    available: bool = False
    reason: str = ""  # why unavailable (empty when measured)
    seconds: float = 0.0  # wall time the measurement took
    detail: dict[str, Any] = field(default_factory=dict)

    def attrs(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "detail"}
        d["value"] = float("nan") if self.value is None else float(self.value)
        return d


class Unavailable(Exception):
    """The code to measure is not there (yet) or does not work here."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_function(module: str, *names: str) -> tuple[Callable, str]:
    """The first of ``names`` found in ``module``; :class:`Unavailable` if none (or no module)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # ImportError, or the module failing while it imports
        raise Unavailable(f"{module} not importable ({_first_line(exc)})") from None
    for name in names:
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn, f"{module}.{name}"
    raise Unavailable(f"{module} has no {' / '.join(names)}")


def measured(name: str, label: str, unit: str, body: Callable[[Metric], None]) -> Metric:
    """Run ``body`` to fill a metric; any failure becomes ``available=False`` with a one-line reason."""
    m = Metric(name, label, unit)
    t0 = time.perf_counter()
    try:
        body(m)
        m.available = m.value is not None
        if not m.available and not m.reason:
            m.reason = "no value produced"
    except KeyboardInterrupt:
        raise
    except Unavailable as exc:
        m.available, m.value, m.reason = False, None, str(exc)
    except Exception as exc:
        m.available, m.value, m.reason = False, None, f"failed: {_first_line(exc)}"
    m.seconds = time.perf_counter() - t0
    return m


def grow_until(call: Callable[[int], Any], start: int, target_s: float, multiple: int = 1,
               limit: int = 2**40) -> tuple[int, float, Any]:
    """Double the work ``n`` (from ``start``) until ``call(n)`` takes at least ``target_s``.

    Returns (n, seconds, result) of the last call. Grows by the measured ratio (capped at 8x)
    so a fast kernel reaches the target in a few calls."""
    n = max(multiple, start // multiple * multiple)
    while True:
        t0 = time.perf_counter()
        out = call(n)
        dt = time.perf_counter() - t0
        if dt >= target_s or n >= limit:
            return n, dt, out
        factor = min(8.0, max(2.0, target_s / max(dt, 1e-6) * 1.1))
        n = min(limit, int(n * factor) // multiple * multiple)


def parallel_rate(call: Callable[[], Any], threads: int, target_s: float) -> tuple[float, int]:
    """Calls per second with ``threads`` threads each calling ``call()`` until ``target_s`` passes.

    Shows whether the kernel releases the GIL: rate ~ threads x single-thread rate if it does."""
    counts = [0] * threads
    stop = time.perf_counter() + target_s
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            while True:
                call()
                counts[i] += 1
                if time.perf_counter() >= stop:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(counts) / dt, sum(counts)


# --- Proof-of-Time (pot-rpc.md A.2-A.5; anchors.md §1.5) -----------------------------------------
def measure_pot_prove(target_s: float) -> tuple[Metric, tuple | None]:
    """Sequential AES iterations per second of ``farmkit.pot.prove`` (one core; cannot be parallel)."""
    proof: list = []

    def body(m: Metric) -> None:
        prove, where = load_function("farmkit.pot", "prove")
        seed = os.urandom(POT_SEED_SIZE)
        prove(seed, POT_ITERATIONS_MULTIPLE * 64)  # warm-up: compiles / picks the AES path
        n, dt, cps = grow_until(lambda k: prove(seed, k), POT_ITERATIONS_MULTIPLE * 4096, target_s,
                                multiple=POT_ITERATIONS_MULTIPLE)
        m.value = n / dt
        m.detail = {"function": where, "iterations": n, "seconds_per_call": dt,
                    "slot_seconds_mainnet": POT_MAINNET_SLOT_ITERATIONS / m.value}
        proof.append((seed, n, cps))

    m = measured("pot_prove", "PoT prove", "iterations/s", body)
    return m, (proof[0] if proof else None)


def measure_pot_verify(proof: tuple | None, target_s: float) -> Metric:
    """Iterations per second checked by ``farmkit.pot.verify`` (8 checkpoints side by side)."""

    def body(m: Metric) -> None:
        verify, where = load_function("farmkit.pot", "verify")
        if proof is None:
            raise Unavailable("no proof to verify (PoT prove unavailable)")
        seed, n, cps = proof
        ok = verify(seed, n, cps)  # warm-up and correctness
        if ok is not True:
            raise Unavailable("verify rejected a proof made by prove (check the PoT module)")
        reps, dt, _ = grow_until(lambda r: [verify(seed, n, cps) for _ in range(r)], 1, target_s)
        m.value = n * reps / dt
        m.detail = {"function": where, "iterations": n, "calls": reps,
                    "slot_seconds_mainnet": POT_MAINNET_SLOT_ITERATIONS / m.value}

    return measured("pot_verify", "PoT verify", "iterations/s", body)


# --- Proof-of-space tables (pos.md, pos-v2.md; anchors.md §1.2) ------------------------------------
POS_VERSIONS = ("v1", "v2")


def _pos_cpu_call(version: str) -> tuple[Callable[[bytes], Any], str]:
    """One table set + the proofs a record needs: ``farmkit.kernels.pos.encoding_proofs``
    (else ``find_proofs`` over all 2^16 s-buckets)."""
    fn, where = load_function("farmkit.kernels.pos", "encoding_proofs", "find_proofs")
    if where.endswith("encoding_proofs"):
        return (lambda seed: fn(seed, version)), where
    from farmkit.protocol.constants import RECORD_NUM_S_BUCKETS

    return (lambda seed: fn(seed, 0, RECORD_NUM_S_BUCKETS, version)), where


def random_seeds(n: int) -> list[bytes]:
    return [os.urandom(POS_SEED_SIZE) for _ in range(n)]


def rate_one_thread(call: Callable[[int], Any], target_s: float) -> tuple[float, int, float]:
    """(calls/s, calls, seconds) of ``call(i)`` repeated until ``target_s`` (after a warm-up call)."""
    call(0)  # warm-up: numba compilation (cached on disk after the first run) / GPU compilation
    reps, dt, _ = grow_until(lambda r: [call(i) for i in range(r)], 1, target_s)
    return reps / dt, reps, dt


def measure_pos(target_s: float, threads: int, version: str = "v2") -> list[Metric]:
    """PoS table sets per second on the CPU: one thread, then ``threads`` threads (1 record = 1 set)."""
    state: dict[str, Any] = {}
    seeds = random_seeds(64)

    def one(m: Metric) -> None:
        call, where = _pos_cpu_call(version)
        rate, reps, dt = rate_one_thread(lambda i: call(seeds[i % 64]), target_s)
        m.value = rate
        m.detail = {"function": where, "version": version, "calls": reps, "seconds_per_table": dt / reps,
                    "threads": 1}
        state["call"] = call

    single = measured("pos_tables", f"PoS tables {version} (1 thread)", "tables/s", one)
    out = [single]
    if threads > 1:
        def many(m: Metric) -> None:
            if "call" not in state:
                raise Unavailable(single.reason or "single-thread run failed")
            call = state["call"]
            rate, calls = parallel_rate(lambda: call(os.urandom(POS_SEED_SIZE)), threads, target_s)
            m.value = rate
            m.detail = {"version": version, "threads": threads, "calls": calls}

        out.append(measured("pos_tables_parallel", f"PoS tables {version} ({threads} threads)", "tables/s", many))
    return out


# --- record encoding (sector-audit-prove.md §6.3) --------------------------------------------------
def random_record_source(rng=None):
    """A record's 2^15 source chunks: random scalars with the top and bottom byte zeroed, so each
    32-byte chunk is a valid Fr element whichever byte order the erasure code reads."""
    import numpy as np

    from farmkit.protocol.constants import RECORD_NUM_CHUNKS, SCALAR_SIZE

    rng = rng or np.random.default_rng()
    src = rng.integers(0, 256, (RECORD_NUM_CHUNKS, SCALAR_SIZE), dtype=np.uint8)
    src[:, 0] = 0
    src[:, -1] = 0
    return src


def measure_record_encoding(target_s: float, threads: int, version: str = "v2") -> list[Metric]:
    """Records per second of ``farmkit.plotter.encoding.encode_record`` (PoS table + erasure coding
    + BLAKE3 + masking), one thread and ``threads`` threads."""
    state: dict[str, Any] = {}
    seeds = random_seeds(64)

    def one(m: Metric) -> None:
        fn, where = load_function("farmkit.plotter.encoding", "encode_record")
        src = random_record_source()
        timings: dict = {}
        timed = [0]
        if "timings" in inspect.signature(fn).parameters:  # per-stage split, summed over the calls
            def call(i):
                timed[0] += 1
                return fn(src, seeds[i % 64], version, timings=timings)
        else:
            def call(i):
                return fn(src, seeds[i % 64], version)
        rate, reps, dt = rate_one_thread(call, target_s)
        m.value = rate
        m.detail = {"function": where, "version": version, "calls": reps, "seconds_per_record": dt / reps,
                    "threads": 1}
        if timings:  # includes the warm-up call (compilation lands in its first stage)
            m.detail["stage_seconds_per_record"] = {k: v / max(1, timed[0]) for k, v in timings.items()}
        state["call"] = lambda: fn(src, os.urandom(POS_SEED_SIZE), version)

    single = measured("record_encoding_1t", f"record encoding {version} (1 thread)", "records/s", one)
    out = [single]

    def many(m: Metric) -> None:
        if "call" not in state:
            raise Unavailable(single.reason or "single-thread run failed")
        rate, calls = parallel_rate(state["call"], threads, target_s)
        m.value = rate
        m.detail = {"version": version, "threads": threads, "calls": calls}

    out.append(measured("record_encoding", f"record encoding {version} ({threads} threads)", "records/s", many))
    return out


# --- audit hashing (sector-audit-prove.md §9.3) ---------------------------------------------------
def measure_audit_hashing(target_s: float, threads: int) -> list[Metric]:
    """Sectors per second whose s-bucket (500 chunks of 32 B, mean for 1000 pieces) is hashed with
    keyed BLAKE3 (one compression per chunk, key = the sector's slot challenge) into solution
    distances by the auditor's own kernel, 64 sectors per call: the CPU half of an audit."""
    import numpy as np

    from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR, SCALAR_SIZE

    sectors, per_sector = 64, MAX_PIECES_IN_SECTOR // 2
    rng = np.random.default_rng()
    words = rng.integers(0, 2**32, sectors * per_sector * SCALAR_SIZE // 4, dtype=np.uint32)
    starts = np.arange(sectors, dtype=np.int64) * (per_sector * SCALAR_SIZE // 4)
    counts = np.full(sectors, per_sector, np.int64)
    keys = rng.integers(0, 256, (sectors, 32), dtype=np.uint8)
    challenges = [os.urandom(32) for _ in range(16)]
    state: dict[str, Any] = {}

    def one(m: Metric) -> None:
        fn, where = load_function("farmkit.auditor.audit", "solution_distances")
        rate, reps, dt = rate_one_thread(lambda i: fn(words, starts, counts, keys, challenges[i % 16]), target_s)
        m.value = rate * sectors
        m.detail = {"function": where, "chunks_per_sector": per_sector, "sectors_per_call": sectors, "calls": reps,
                    "threads": 1}
        state["call"] = lambda: fn(words, starts, counts, keys, challenges[0])

    single = measured("audit_hashing_1t", "audit hashing (1 thread)", "sectors/s", one)

    def many(m: Metric) -> None:
        if "call" not in state:
            raise Unavailable(single.reason or "single-thread run failed")
        call = state["call"]
        rate, calls = parallel_rate(call, threads, target_s)
        m.value = rate * sectors
        m.detail = {"threads": threads, "calls": calls, "sectors_per_call": sectors}

    return [single, measured("audit_hashing", f"audit hashing ({threads} threads)", "sectors/s", many)]


# --- the whole CPU section -------------------------------------------------------------------------
CPU_PARTS = ("pot", "audit", "pos", "encoding")


def measure_cpu(target_s: float, threads: int | None = None, version: str = "v2",
                skip: tuple[str, ...] = (), on_step: Callable[[str], None] | None = None) -> list[Metric]:
    """Every CPU metric; ``target_s`` is the time one measured call aims for; ``skip`` names parts
    (pot, audit, pos, encoding) to leave out (recorded as unavailable: skipped)."""
    threads = threads or os.cpu_count() or 1
    step = on_step or (lambda _s: None)
    out: list[Metric] = []
    if "pot" in skip:
        out += [skipped("pot_prove", "PoT prove", "iterations/s"), skipped("pot_verify", "PoT verify", "iterations/s")]
    else:
        step("PoT prove")
        prove_m, proof = measure_pot_prove(target_s)
        step("PoT verify")
        out += [prove_m, measure_pot_verify(proof, target_s)]
    if "audit" in skip:
        out.append(skipped("audit_hashing", "audit hashing", "sectors/s"))
    else:
        step("audit hashing")
        out += measure_audit_hashing(target_s, threads)
    if "pos" in skip:
        out.append(skipped("pos_tables", f"PoS tables {version} (1 thread)", "tables/s"))
    else:
        step("PoS tables")
        out += measure_pos(target_s, threads, version)
    if "encoding" in skip:
        out.append(skipped("record_encoding", f"record encoding {version}", "records/s"))
    else:
        step("record encoding")
        out += measure_record_encoding(target_s, threads, version)
    return out


def skipped(name: str, label: str, unit: str) -> Metric:
    return Metric(name, label, unit, None, False, "skipped (--skip)")


CPU_STEPS = 5
