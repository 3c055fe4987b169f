"""farmkit.kernels: pure math, backend-neutral (fields, FFT, MSM, ChaCha8, BLAKE3, AES, PoS tables).

Each algorithm has a readable reference path (plain numpy/Python, named after the spec) and fast
paths (numba on CPU, one kernel source compiled for CUDA and OpenCL) that tests compare against it.
Nothing here imports a tool (pot, plotter, auditor, farmerd).
"""
