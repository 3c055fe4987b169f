"""One kernel source, two GPU runtimes: CUDA (cupy RawModule) and OpenCL (pyopencl).

Kernel files (``kernels/*.cl``) are written in a small common dialect; :data:`PRELUDE_CUDA` or
:data:`PRELUDE_OPENCL` is prepended so the same text compiles for both. The dialect:

=====================  ==============================  ===============================
dialect                CUDA                            OpenCL
=====================  ==============================  ===============================
``KERNEL``             ``extern "C" __global__ void``  ``__kernel void``
``GLOBAL``             (nothing)                       ``__global``
``LOCAL``              ``__shared__``                  ``__local``
``CONSTANT``           ``__constant__``                ``__constant``
``DEVICE``             ``__device__ __forceinline__``  ``inline``
``GID() / LID()``      block/thread index arithmetic   ``get_global_id(0)`` / ``get_local_id(0)``
``GROUP_ID()``         ``blockIdx.x``                  ``get_group_id(0)``
``LOCAL_SIZE()``       ``blockDim.x``                  ``get_local_size(0)``
``BARRIER()``          ``__syncthreads()``             ``barrier(CLK_LOCAL_MEM_FENCE)``
``u8 u16 u32 u64``     fixed-width unsigned types      same
``ROTR32(x, n)``       rotate right, 0 < n < 32        same
``ATOMIC_ADD_U32``     ``atomicAdd``                   ``atomic_add``
``BSWAP32(x)``         byte swap                       same
=====================  ==============================  ===============================

Kernels are 1-D; a launch rounds the global size up to a multiple of the work-group size, so
every kernel must guard ``if (GID() >= n) return;``.

Usage::

    ctx = gpu_context("opencl")                 # or "cuda"
    prog = ctx.program(load_source("aes.cl"))
    x = ctx.to_device(np.zeros(16, np.uint8))
    prog.launch("kernel_name", n, 64, x, np.uint32(n))
    host = ctx.to_host(x)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from farmkit.errors import BackendUnavailable

KERNEL_DIR = Path(__file__).resolve().parent

PRELUDE_CUDA = r"""
#define KERNEL extern "C" __global__ void
#define GLOBAL
#define LOCAL __shared__
#define CONSTANT __constant__
#define DEVICE __device__ __forceinline__
#define GID() ((unsigned long long)blockIdx.x * blockDim.x + threadIdx.x)
#define LID() (threadIdx.x)
#define GROUP_ID() (blockIdx.x)
#define LOCAL_SIZE() (blockDim.x)
#define BARRIER() __syncthreads()
#define ROTR32(x, n) __funnelshift_r((x), (x), (n))
#define ATOMIC_ADD_U32(p, v) atomicAdd((p), (v))
#define BSWAP32(x) __byte_perm((x), 0, 0x0123)
#define FARMKIT_CUDA 1
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
"""

PRELUDE_OPENCL = r"""
#define KERNEL __kernel void
#define GLOBAL __global
#define LOCAL __local
#define CONSTANT __constant
#define DEVICE inline
#define GID() get_global_id(0)
#define LID() get_local_id(0)
#define GROUP_ID() get_group_id(0)
#define LOCAL_SIZE() get_local_size(0)
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define ROTR32(x, n) rotate((uint)(x), (uint)(32 - (n)))
#define ATOMIC_ADD_U32(p, v) atomic_add((p), (v))
#define BSWAP32(x) ((((x) & 0xffu) << 24) | (((x) & 0xff00u) << 8) | (((x) >> 8) & 0xff00u) | ((x) >> 24))
#define FARMKIT_OPENCL 1
typedef uchar u8;
typedef ushort u16;
typedef uint u32;
typedef ulong u64;
"""


def load_source(name: str) -> str:
    """Read a kernel source file shipped in ``kernels/`` (e.g. ``"aes.cl"``)."""
    return (KERNEL_DIR / name).read_text()


class Program:
    """A compiled kernel source; :meth:`launch` runs one of its kernels."""

    def __init__(self, ctx: "GpuContext", source: str, options: tuple[str, ...] = ()):
        self.ctx = ctx
        self._kernels: dict[str, Any] = {}
        if ctx.backend == "cuda":
            import cupy as cp  # type: ignore

            self._module = cp.RawModule(code=PRELUDE_CUDA + source, options=("-std=c++14",) + tuple(options))
        else:
            import pyopencl as cl  # type: ignore

            self._module = cl.Program(ctx.cl_context, PRELUDE_OPENCL + source).build(options=list(options))

    def _kernel(self, name: str):
        k = self._kernels.get(name)
        if k is None:
            k = self._module.get_function(name) if self.ctx.backend == "cuda" else getattr(self._module, name)
            self._kernels[name] = k
        return k

    def launch(self, name: str, global_size: int, local_size: int, *args: Any) -> None:
        """Run kernel ``name`` over ``global_size`` work items (rounded up to ``local_size``)."""
        if global_size <= 0:
            return
        groups = (global_size + local_size - 1) // local_size
        k = self._kernel(name)
        if self.ctx.backend == "cuda":
            k((groups,), (local_size,), tuple(args))
        else:
            conv = [a.data if hasattr(a, "data") and hasattr(a, "queue") else a for a in args]
            k(self.ctx.queue, (groups * local_size,), (local_size,), *conv)


class GpuContext:
    """Device memory and program compilation for one backend (``cuda`` or ``opencl``)."""

    def __init__(self, backend: str):
        self.backend = backend
        if backend == "cuda":
            try:
                import cupy as cp  # type: ignore

                cp.cuda.runtime.getDeviceCount()
            except Exception as exc:
                raise BackendUnavailable(f"backend 'cuda' is not available here: {exc}".splitlines()[0]) from None
            self.cp = cp
        elif backend == "opencl":
            try:
                import pyopencl as cl  # type: ignore
                import pyopencl.array  # noqa: F401
            except Exception:
                raise BackendUnavailable("backend 'opencl' is not available here: pyopencl is not installed") from None
            from farmkit.kernels.backends import opencl_device

            dev = opencl_device()
            self.cl_device = dev
            self.cl_context = cl.Context([dev])
            self.queue = cl.CommandQueue(self.cl_context)
        else:
            raise BackendUnavailable(f"{backend!r} is not a GPU backend (use cuda or opencl)")

    @property
    def device_name(self) -> str:
        if self.backend == "cuda":
            props = self.cp.cuda.runtime.getDeviceProperties(self.cp.cuda.Device().id)
            n = props["name"]
            return n.decode() if isinstance(n, bytes) else str(n)
        return self.cl_device.name.strip()

    @property
    def max_work_group_size(self) -> int:
        if self.backend == "cuda":
            return 1024
        return int(self.cl_device.max_work_group_size)

    def program(self, source: str, options: tuple[str, ...] = ()) -> Program:
        return _compile(self, source, tuple(options))

    def to_device(self, host: np.ndarray):
        host = np.ascontiguousarray(host)
        if self.backend == "cuda":
            return self.cp.asarray(host)
        import pyopencl.array as cla  # type: ignore

        return cla.to_device(self.queue, host)

    def empty(self, shape, dtype):
        if self.backend == "cuda":
            return self.cp.empty(shape, dtype=dtype)
        import pyopencl.array as cla  # type: ignore

        return cla.empty(self.queue, shape, dtype)

    def zeros(self, shape, dtype):
        if self.backend == "cuda":
            return self.cp.zeros(shape, dtype=dtype)
        import pyopencl.array as cla  # type: ignore

        return cla.zeros(self.queue, shape, dtype)

    def to_host(self, arr) -> np.ndarray:
        if self.backend == "cuda":
            return self.cp.asnumpy(arr)
        return arr.get()

    def synchronize(self) -> None:
        if self.backend == "cuda":
            self.cp.cuda.Stream.null.synchronize()
        else:
            self.queue.finish()


@functools.lru_cache(maxsize=None)
def gpu_context(backend: str) -> GpuContext:
    """The (cached) context for ``backend`` ("cuda" or "opencl")."""
    return GpuContext(backend)


_PROGRAMS: dict[tuple[int, str, tuple[str, ...]], Program] = {}


def _compile(ctx: GpuContext, source: str, options: tuple[str, ...]) -> Program:
    key = (id(ctx), source, options)
    prog = _PROGRAMS.get(key)
    if prog is None:
        prog = Program(ctx, source, options)
        _PROGRAMS[key] = prog
    return prog


os.environ.setdefault("PYOPENCL_NO_CACHE", "0")
