"""The compute-backend registry: ``cpu`` (numba), ``cuda`` (cupy), ``opencl`` (pyopencl).

A backend is chosen at run time (``--backend``); the default is the best one available, in the
order cuda > opencl > cpu.  Set ``FARMKIT_BACKEND`` to change the default, and
``FARMKIT_OPENCL_DEVICE`` (``platform:device`` indices, or a substring of the device name) to
pick an OpenCL device.  Every backend must give identical bytes; tests prove it where a backend
can run.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from farmkit.errors import BackendUnavailable

BACKENDS = ("cpu", "cuda", "opencl")
PREFERENCE = ("cuda", "opencl", "cpu")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    available: bool
    device: str  # human-readable device description, or why it is unavailable


@functools.lru_cache(maxsize=None)
def _probe_cpu() -> BackendInfo:
    try:
        import numba  # noqa: F401
    except Exception as exc:  # pragma: no cover - numba is a hard dependency
        return BackendInfo("cpu", False, f"numba not importable: {exc}")
    import platform

    return BackendInfo("cpu", True, f"{platform.processor() or platform.machine()}, {os.cpu_count()} threads")


@functools.lru_cache(maxsize=None)
def _probe_cuda() -> BackendInfo:
    try:
        import cupy  # type: ignore
    except Exception:
        return BackendInfo("cuda", False, "cupy is not installed (pip install 'farmkit[cuda]')")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            return BackendInfo("cuda", False, "no CUDA device found")
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return BackendInfo("cuda", True, name)
    except Exception as exc:
        return BackendInfo("cuda", False, f"CUDA unusable: {exc}".splitlines()[0])


@functools.lru_cache(maxsize=None)
def _probe_opencl() -> BackendInfo:
    try:
        import pyopencl as cl  # type: ignore
    except Exception:
        return BackendInfo("opencl", False, "pyopencl is not installed (pip install 'farmkit[opencl]')")
    try:
        dev = opencl_device()
        return BackendInfo("opencl", True, f"{dev.name.strip()} ({dev.platform.name.strip()})")
    except BackendUnavailable as exc:
        return BackendInfo("opencl", False, str(exc))
    except Exception as exc:
        return BackendInfo("opencl", False, f"OpenCL unusable: {exc}".splitlines()[0])


_PROBES = {"cpu": _probe_cpu, "cuda": _probe_cuda, "opencl": _probe_opencl}


def probe(name: str) -> BackendInfo:
    if name not in _PROBES:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return _PROBES[name]()


def available_backends() -> list[str]:
    """Names of the backends that can run here, best first."""
    return [b for b in PREFERENCE if probe(b).available]


def best_backend() -> str:
    env = os.environ.get("FARMKIT_BACKEND")
    if env:
        return resolve_backend(env)
    return available_backends()[0] if available_backends() else "cpu"


def resolve_backend(name: str | None) -> str:
    """Validate a ``--backend`` value (None = best available); raise a one-line error if unusable."""
    if name is None or name == "" or name == "auto":
        return best_backend()
    name = name.lower()
    info = probe(name)
    if not info.available:
        raise BackendUnavailable(f"backend {name!r} is not available here: {info.device}")
    return name


@functools.lru_cache(maxsize=None)
def opencl_device():
    """The OpenCL device to use (``FARMKIT_OPENCL_DEVICE`` or the first GPU, else the first device)."""
    import pyopencl as cl  # type: ignore

    try:
        platforms = cl.get_platforms()
    except Exception as exc:
        raise BackendUnavailable(f"no OpenCL platform: {exc}".splitlines()[0]) from None
    devices = [(p, d) for p in platforms for d in p.get_devices()]
    if not devices:
        raise BackendUnavailable("no OpenCL device found (install pocl-opencl-icd or a GPU driver)")
    want = os.environ.get("FARMKIT_OPENCL_DEVICE")
    if want:
        if ":" in want and all(part.isdigit() for part in want.split(":")):
            pi, di = (int(x) for x in want.split(":"))
            try:
                return platforms[pi].get_devices()[di]
            except IndexError:
                raise BackendUnavailable(f"FARMKIT_OPENCL_DEVICE={want}: no such device") from None
        for _, d in devices:
            if want.lower() in d.name.lower():
                return d
        raise BackendUnavailable(f"FARMKIT_OPENCL_DEVICE={want}: no matching device")
    for _, d in devices:
        if d.type & cl.device_type.GPU:
            return d
    return devices[0][1]


def describe() -> list[BackendInfo]:
    return [probe(b) for b in BACKENDS]
