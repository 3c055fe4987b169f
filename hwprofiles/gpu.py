"""GPU measurements: the plotting kernels on a GPU backend (``farmkit.kernels.backends``) and the
device memory they use.

* PoS tables/s: ``farmkit.kernels.pos_gpu.encoding_proofs_batch`` (records per launch: the
  module's ``default_batch``, i.e. what fits in half the device memory).
* record encoding/s: ``farmkit.plotter.encoding.encode_records_gpu`` (tables + masking on the
  device, erasure coding on the CPU).
* memory: device total/free (CUDA: ``memGetInfo`` before and after, cupy pool peak; OpenCL: the
  device's global memory; the kernels' own ``memory_per_record`` x batch).

A missing backend is a one-line error from :func:`farmkit.kernels.backends.resolve_backend`.
Missing kernels are recorded as unavailable metrics, as on the CPU side.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .cpu import Metric, Unavailable, grow_until, load_function, measured, random_record_source, random_seeds


def _version_number(version: str) -> int:
    return 2 if str(version).lower() in ("v2", "2") else 1


def device_memory(backend: str) -> dict[str, Any]:
    """Total / free device memory where the runtime tells (bytes)."""
    from farmkit.kernels.gpu import gpu_context

    ctx = gpu_context(backend)
    out: dict[str, Any] = {"device": ctx.device_name}
    if backend == "cuda":
        free, total = ctx.cp.cuda.runtime.memGetInfo()
        out.update(memory_total_bytes=int(total), memory_free_bytes=int(free))
    else:
        dev = ctx.cl_device
        out.update(memory_total_bytes=int(dev.global_mem_size), max_alloc_bytes=int(dev.max_mem_alloc_size),
                   memory_free_bytes=-1)
    return out


def _pool_used(backend: str) -> int:
    if backend != "cuda":
        return -1
    import cupy as cp  # type: ignore

    return int(cp.get_default_memory_pool().total_bytes())


def measure_gpu(backend: str, target_s: float, version: str = "v2",
                on_step: Callable[[str], None] | None = None) -> tuple[list[Metric], dict[str, Any]]:
    """GPU metrics and a memory report for an already-resolved GPU ``backend`` (cuda/opencl)."""
    step = on_step or (lambda _s: None)
    info: dict[str, Any] = {"backend": backend}
    try:
        info.update(device_memory(backend))
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        info["memory_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    vnum = _version_number(version)
    seeds = random_seeds(256)
    state: dict[str, Any] = {}

    def pos(m: Metric) -> None:
        fn, where = load_function("farmkit.kernels.pos_gpu", "encoding_proofs_batch")
        mod = __import__("farmkit.kernels.pos_gpu", fromlist=["default_batch"])
        batch = int(mod.default_batch(backend)) if hasattr(mod, "default_batch") else 1
        fn(seeds[:batch], vnum, backend)  # warm-up: kernel compilation, buffers
        reps, dt, _ = grow_until(lambda r: fn((seeds * (1 + r * batch // 256))[: r * batch], vnum, backend),
                                 1, target_s)
        m.value = reps * batch / dt
        per_rec = int(mod.memory_per_record()) if hasattr(mod, "memory_per_record") else -1
        m.detail = {"function": where, "version": version, "batch": batch, "launches": reps,
                    "kernel_memory_bytes": per_rec * batch if per_rec > 0 else -1}
        state["batch"] = batch
        info["pos_batch"] = batch
        info["pos_kernel_memory_bytes"] = m.detail["kernel_memory_bytes"]

    step(f"PoS tables ({backend})")
    out = [measured("pos_tables_gpu", f"PoS tables {version} ({backend})", "tables/s", pos)]

    def enc(m: Metric) -> None:
        fn, where = load_function("farmkit.plotter.encoding", "encode_records_gpu")
        batch = state.get("batch", 1)
        srcs = [random_record_source() for _ in range(min(batch, 4))]
        sources = [srcs[i % len(srcs)] for i in range(batch)]
        fn(sources, seeds[:batch], version, backend)  # warm-up
        t0 = time.perf_counter()
        reps, dt, _ = grow_until(lambda r: [fn(sources, seeds[:batch], version, backend) for _ in range(r)],
                                 1, target_s)
        m.value = reps * batch / dt
        m.detail = {"function": where, "version": version, "batch": batch, "calls": reps,
                    "wall_seconds": time.perf_counter() - t0}

    step(f"record encoding ({backend})")
    out.append(measured("record_encoding_gpu", f"record encoding {version} ({backend})", "records/s", enc))
    try:
        info["pool_bytes_after"] = _pool_used(backend)
        if backend == "cuda":
            info["memory_free_after_bytes"] = device_memory(backend)["memory_free_bytes"]
    except Exception:  # noqa: BLE001
        pass
    return out, info


def gpu_unavailable(reason: str) -> Metric:
    return Metric("pos_tables_gpu", "PoS tables (GPU)", "tables/s", None, False, reason)


__all__ = ["measure_gpu", "device_memory", "gpu_unavailable", "Unavailable"]
