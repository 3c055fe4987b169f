"""GPU erasure coding (kernels/fr.cl + kernels/erasure.cl via kernels/erasure_gpu.py) on OpenCL (PoCL
here) and on CUDA where a GPU is present (each test runs once per available GPU backend).

Every output is compared byte for byte with the CPU path (kernels/fr.py, fft.py, erasure.py) on
random inputs, and with the readable references: Python-int field arithmetic, ``erasure.ref_extend``
(parity_i = p(ω_2n^(2i+1)), kzg-erasure-archiving.md §7), direct evaluation of p at spot points of a
full 2^15-chunk record (sector-audit-prove.md §14.2), and the literal §6.3 masking loop
(``plotter.encoding.encode_record_reference``, BLAKE3 from the ``blake3`` package).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from conftest import cuda_available, opencl_available

from farmkit.errors import FarmkitError
from farmkit.kernels import erasure, fft, fr

pytestmark = pytest.mark.opencl
needs_gpu = pytest.mark.skipif(not opencl_available() and not cuda_available(), reason="no GPU backend: no OpenCL platform (install pocl-opencl-icd) and no CUDA")


@pytest.fixture(params=["opencl", "cuda"], scope="module")
def gpu(request):
    """Each GPU backend that runs here (PoCL on this machine; CUDA where a GPU is lent)."""
    if not (opencl_available() if request.param == "opencl" else cuda_available()):
        pytest.skip(f"backend {request.param} not available")
    return request.param

R = fr.MODULUS


def _rand_scalars(rng, shape) -> np.ndarray:
    a = rng.integers(0, 256, size=shape + (32,), dtype=np.uint8)
    a[..., 0] &= 0x73  # mostly canonical; the rest fixed below
    ints = [int.from_bytes(x.tobytes(), "big") % R for x in a.reshape(-1, 32)]
    return fr.ints_to_bytes(ints).reshape(a.shape)


@pytest.fixture(scope="module")
def ctx(gpu):
    from farmkit.kernels.gpu import gpu_context

    return gpu_context(gpu)


@needs_gpu
def test_fr_kernels_match_python_ints(ctx):
    from farmkit.kernels.erasure_gpu import program

    rng = np.random.default_rng(11)
    edge = [0, 1, 2, R - 1, R - 2, (1 << 255) % R, (1 << 64) - 1, 1 << 64, (1 << 192) + 5]
    xs = edge + [int.from_bytes(rng.bytes(32), "big") % R for _ in range(200)]
    ys = [int.from_bytes(rng.bytes(32), "big") % R for _ in xs[:-len(edge)]] + edge[::-1]
    n = len(xs)
    a_m = fr.scalars_from_ints(xs)
    b_m = fr.scalars_from_ints(ys)
    prog = program(ctx)
    d_a = ctx.to_device(a_m.T.copy())
    d_b = ctx.to_device(b_m.T.copy())
    for op, ref in ((0, fr.ref_add), (1, fr.ref_sub), (2, fr.ref_mul)):
        d_o = ctx.empty((4, n), np.uint64)
        prog.launch("fr_binop", n, 64, d_a, d_b, d_o, np.uint64(n), np.uint32(op))
        got = fr.scalars_to_ints(np.ascontiguousarray(ctx.to_host(d_o).T))
        assert got == [ref(x, y) for x, y in zip(xs, ys)], op
    # bytes <-> Montgomery, with the canonical check (§2: reject >= r, never reduce)
    raw = fr.ints_to_bytes(xs)
    raw = np.concatenate([raw, np.frombuffer(R.to_bytes(32, "big") + b"\xff" * 32, np.uint8).reshape(2, 32)])
    m = len(raw)
    d_mont = ctx.empty((4, m), np.uint64)
    d_bad = ctx.empty(m, np.uint32)
    prog.launch("fr_from_bytes", m, 64, ctx.to_device(raw), d_mont, d_bad, np.uint64(m))
    bad = ctx.to_host(d_bad)
    assert bad.tolist() == [0] * n + [1, 1]
    assert np.array_equal(ctx.to_host(d_mont).T[:n], a_m)
    d_back = ctx.empty((m, 32), np.uint8)
    prog.launch("fr_to_bytes", n, 64, d_mont, d_back, np.uint64(m))
    assert np.array_equal(ctx.to_host(d_back)[:n], raw[:n])


@needs_gpu
@pytest.mark.parametrize("n", [1, 2, 4, 8, 32])
def test_extend_small_matches_reference(n, gpu):
    from farmkit.kernels import erasure_gpu

    rng = np.random.default_rng(n)
    src = _rand_scalars(rng, (3, n))
    got = erasure_gpu.extend_batch(src, gpu)
    for b in range(3):
        ref = erasure.ref_extend(fr.ints_from_bytes(src[b]))
        assert fr.ints_from_bytes(got[b]) == ref
    assert np.array_equal(erasure_gpu.extend(src[0], gpu), got[0])


@needs_gpu
@pytest.mark.parametrize("n,b", [(64, 5), (1024, 3), (2048, 2), (8192, 3)])
def test_extend_batch_matches_cpu(n, b, gpu):
    from farmkit.kernels import erasure_gpu

    rng = np.random.default_rng(1000 + n)
    src = _rand_scalars(rng, (b, n))
    cpu = erasure.extend_batch(src)
    assert np.array_equal(erasure_gpu.extend_batch(src, gpu), cpu)
    assert np.array_equal(erasure_gpu.extend_batch(src, gpu, max_batch=2), cpu)  # several launches
    assert np.array_equal(erasure_gpu.extend_batch(src, gpu, interleaved=True), erasure.interleave(src, cpu))


@needs_gpu
def test_extend_full_record_batch(gpu):
    """A batch of two full records (2^15 chunks, §14.2): CPU bytes, and spot parities evaluated
    directly as p(ω_2^16^(2i+1)) from the coefficients (Horner on Python ints)."""
    from farmkit.kernels import erasure_gpu

    n = 2**15
    rng = np.random.default_rng(15)
    src = _rand_scalars(rng, (2, n))
    src[1, :, 0] = 0  # source chunks of real records start with 0x00 (§2)
    ext = erasure_gpu.extend_batch(src, gpu, interleaved=True)
    parity = ext[:, 1::2]
    assert np.array_equal(ext[:, 0::2], src)
    assert np.array_equal(parity, erasure.extend_batch(src))
    coeffs = fr.ints_from_bytes(fft.ifft(src[1]))
    w = fft.root_of_unity(2 * n)
    for i in (0, 12345, n - 1):
        x = pow(w, 2 * i + 1, R)
        acc = 0
        for c in reversed(coeffs):
            acc = (acc * x + c) % R
        assert fr.ints_from_bytes(parity[1, i : i + 1]) == [acc]


@needs_gpu
@pytest.mark.parametrize("n,b", [(1, 2), (16, 3), (2048, 2), (2**16, 1)])
def test_fft_batch_matches_cpu(n, b, gpu):
    from farmkit.kernels import erasure_gpu

    rng = np.random.default_rng(7 * n + b)
    x = _rand_scalars(rng, (b, n))
    assert np.array_equal(erasure_gpu.fft_batch(x, gpu), fft.fft(x))
    assert np.array_equal(erasure_gpu.fft_batch(x, gpu, inverse=True), fft.ifft(x))
    if n <= 16:
        assert fr.ints_from_bytes(erasure_gpu.fft_batch(x, gpu)[0]) == fft.ref_fft(fr.ints_from_bytes(x[0]))


@needs_gpu
def test_non_canonical_source_is_rejected(gpu):
    from farmkit.kernels import erasure_gpu

    src = np.zeros((3, 64, 32), np.uint8)
    src[2, 17] = np.frombuffer(R.to_bytes(32, "big"), np.uint8)
    with pytest.raises(FarmkitError, match="source 2"):
        erasure_gpu.extend_batch(src, gpu)
    with pytest.raises(FarmkitError, match="source 2"):
        erasure_gpu.extend_batch(src, gpu, max_batch=1)
    with pytest.raises(FarmkitError):
        erasure_gpu.fft_batch(src, gpu)
    with pytest.raises(FarmkitError):
        erasure_gpu.extend_batch(np.zeros((1, 3, 32), np.uint8), gpu)
    with pytest.raises(FarmkitError):
        erasure_gpu.extend_batch(np.zeros((1, 2**16, 32), np.uint8), gpu)  # 2n > 2^16
    with pytest.raises(FarmkitError, match="cuda or opencl"):
        erasure_gpu.extend_batch(src, "cpu")


def _proofs_and_masks(rng, count):
    from blake3 import blake3

    s = np.sort(rng.choice(2**16, size=count, replace=False)).astype(np.int64)
    proofs = rng.integers(0, 256, size=(count, 160), dtype=np.uint8)
    masks = np.stack([np.frombuffer(blake3(p.tobytes()).digest(), np.uint8) for p in proofs]) if count else np.zeros((0, 32), np.uint8)
    return s, proofs, masks


@needs_gpu
def test_mask_and_fill_matches_section_6_3_reference(gpu):
    """Records with 2^15 proofs, fewer (unencoded fill), none, and an all-zero masked chunk."""
    from farmkit.kernels import erasure_gpu
    from farmkit.plotter.encoding import encode_record_reference

    rng = np.random.default_rng(63)
    counts = [2**15, 20000, 0]
    ext = rng.integers(0, 256, size=(len(counts), 2**16, 32), dtype=np.uint8)
    found, refs = [], []
    for r, c in enumerate(counts):
        s, proofs, masks = _proofs_and_masks(rng, c)
        if c:
            ext[r, s[7]] = masks[7]  # masked chunk all zero: not encoded (§6.3)
        found.append((s, masks))
        refs.append((s, proofs))
    got = erasure_gpu.mask_and_fill(ext, found, gpu)
    for r in range(len(counts)):
        ref = encode_record_reference(ext[r], *refs[r])
        bitfield, present, chunks = got[r]
        assert np.array_equal(bitfield, ref.bitfield)
        assert np.array_equal(present, ref.present)
        assert np.array_equal(chunks, ref.chunks)
    assert got[0][1].sum() == 2**15 and np.unpackbits(got[1][0]).sum() == 19999


@needs_gpu
def test_encode_records_on_device_matches_cpu_encoding(gpu):
    """extend + mask + fill without leaving the device equals the CPU record encoder's parts."""
    from farmkit.kernels import erasure_gpu
    from farmkit.plotter.encoding import encode_record_from_parts, extend_record

    rng = np.random.default_rng(64)
    src = _rand_scalars(rng, (2, 2**15))
    found = []
    for c in (2**15, 30000):
        s, _, masks = _proofs_and_masks(rng, c)
        found.append((s, masks))
    got = erasure_gpu.encode_records(src, found, gpu)
    for r in range(2):
        ref = encode_record_from_parts(extend_record(src[r]), *found[r])
        bitfield, present, chunks = got[r]
        assert np.array_equal(bitfield, ref.bitfield)
        assert np.array_equal(present, ref.present)
        assert np.array_equal(chunks, ref.chunks)


@needs_gpu
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_pos_masks_feed_encode_records_device(gpu, version):
    """The GPU plotter's hand-off: ``pos_gpu.encoding_masks_device`` (device s-buckets, H(proof)
    masks, counts) goes straight into ``encode_records_device``; two records per launch, one with
    an all-zero masked chunk (its source chunk is H(proof) of an even s-bucket), against the
    §6.3 reference on the CPU PoS's proofs (K = 17 keeps PoCL fast; fewer than 2^15 proofs, so
    the unencoded fill is exercised too)."""
    from blake3 import blake3

    from farmkit.kernels import erasure_gpu, pos, pos_gpu
    from farmkit.kernels.gpu import gpu_context
    from farmkit.plotter.encoding import encode_record_reference, extend_record

    seeds = [bytes([7 + r]) * 32 for r in range(2)]
    rng = np.random.default_rng(65)
    src = _rand_scalars(rng, (2, 2**15))
    cpu = [pos.build_tables(sd, version, k=17).encoding_proofs() for sd in seeds]
    s0, p0 = cpu[0]
    zeroed = None
    for i in np.flatnonzero(s0 % 2 == 0):
        h = np.frombuffer(blake3(p0[i].tobytes()).digest(), np.uint8)
        if int.from_bytes(h.tobytes(), "big") < R:
            src[0, s0[i] // 2] = h
            zeroed = int(s0[i])
            break
    assert zeroed is not None
    ctx = gpu_context(gpu)
    sb_d, masks_d, counts_d = pos_gpu.encoding_masks_device(seeds, version, gpu, k=17)
    chunks, present, bitfield, _ = erasure_gpu.encode_records_device(ctx, ctx.to_device(src), sb_d, masks_d,
                                                                     counts_d, 2)
    chunks, present, bitfield = ctx.to_host(chunks), ctx.to_host(present), ctx.to_host(bitfield)
    for r in range(2):
        ref = encode_record_reference(extend_record(src[r]), *cpu[r])
        assert np.array_equal(bitfield[r], ref.bitfield)
        assert np.array_equal(present[r], ref.present)
        assert np.array_equal(chunks[r], ref.chunks)
    bits0 = np.unpackbits(bitfield[0], bitorder="little")
    assert bits0[zeroed] == 0  # has a proof, but its masked chunk is all zero: not encoded (§6.3)
    assert zeroed in ctx.to_host(sb_d)[0, : int(ctx.to_host(counts_d)[0])]
    assert bits0.sum() == len(s0) - 1 < 2**15


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_cuda_source_compiles_with_nvcc(tmp_path):
    """The same source with the CUDA prelude compiles (syntax check of the CUDA path without a GPU)."""
    from farmkit.kernels.gpu import PRELUDE_CUDA, load_source

    cu = tmp_path / "erasure.cu"
    cu.write_text(PRELUDE_CUDA + load_source("fr.cl") + load_source("erasure.cl"))
    res = subprocess.run(["nvcc", "--ptx", "-std=c++14", "-arch=sm_80", str(cu), "-o", str(tmp_path / "erasure.ptx")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ptx = (tmp_path / "erasure.ptx").read_text()
    for name in ("dif_columns", "fft_block", "dit_columns", "mark_encoded", "count_encoded", "place_chunks"):
        assert f".entry {name}(" in ptx
