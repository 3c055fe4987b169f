"""GPU proof of space (kernels/pos.cl via kernels/pos_gpu.py) on OpenCL (PoCL here).

Known answers: pos.md §17 (derived K = 17 / K = 20 vectors, pinned upstream proofs),
pos-v2.md §7.2 (V2 vectors), chiapos' Verifier (independent C++ oracle, pos.md §18), and the CPU
version (kernels/pos.py) on fixed random seeds.  K = 17 / 18 keep the default run short on PoCL;
the K = 20 cases (30-60 s each on PoCL) are marked slow.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import numpy as np
import pytest
from conftest import cuda_available, opencl_available

from farmkit.errors import FarmkitError

pytestmark = pytest.mark.opencl
needs_opencl = pytest.mark.skipif(not opencl_available(), reason="no OpenCL platform (install pocl-opencl-icd)")

UPSTREAM_SEED = bytes.fromhex("23023404333717545b0a6f0c0dde9710e4d3fe2d5cc6cc0a090a0b818bab0f17")
GPU_SEED_0 = bytes.fromhex("458011a396540a3891b23e3e90e936aab381bcef2ea6043b064c556cff40d3b2")
GPU_SEED_1 = bytes.fromhex("826d9de57f8342e241ead1994b471ef1bd247614e75a6c2267b9229de365983b")
RANDOM_SEEDS = [hashlib.sha256(b"farmkit pos gpu test %d" % i).digest() for i in range(3)]

# pos-v2.md §7.2 (derived V2 vectors): table sizes, s-buckets with a target, 32768th s,
# BLAKE3 of the 32768 proofs concatenated, SHA-256 of the found_proofs bitmap.
V2_VECTORS = {
    UPSTREAM_SEED: (
        [1048576, 1044519, 1040231, 1031013, 1012716, 978576, 913170], 38101, 56326,
        "ce6d47457dd1f74667a92dc62277c8013aff931942bf0fd7aeafa424faeaec37",
        "4a4a1aeb5bf49eaa70850dadb8d95bfc43f2f864ce8e855a1823352c08073a21",
    ),
    GPU_SEED_0: (
        [1048576, 1044150, 1038426, 1026703, 1002365, 957979, 874595], 37199, 57782,
        "220d24feb5c4d56393ca04b3da5e6dde6ffed17ea881ea0984573eec9517f4bf",
        "fac3815ec1af8cf4d6c1e8f2a5210aca51cc4afd6067c45bc679302ec8d5ee5e",
    ),
    GPU_SEED_1: (
        [1048576, 1046834, 1042011, 1033239, 1017840, 986725, 926494], 38599, 55729,
        "84b7bcae4b2020c5d3c639ac121c12d4369ef04cc9f3cb240335231e6b69ada2",
        "b9f0df2f454b334a5625d953894972bc6d67c6673590450dbbb292729c89297d",
    ),
}
V2_S1011_UPSTREAM = (
    "fc333592c3a0ccba8d2e83f57ec60d6411490d349c756edb366fbf8f361b41260034b5aaeb054dbf63893f802325853f"
    "2ce7df19b20fb8ec0120d51426dd377d76c9770d2a68945843dec9fb03419b54dc97b70068a3dd1acafe695c018be4e0"
    "d7e47b045e0e7f1d9d528d4fea9b15f2d66a66dc9595d5a68dc47a58056b3246dde0aba895e45bb84ad64db1a2834dca"
    "5c49b117a908ad09bd4aa8840e2ac90d"
)
# pos.md §17.1c: pinned upstream V1 proofs for the upstream seed.
V1_PINNED = {
    600426542: (
        "e7a0b6a09787b5b8a2b649f6640a40089dfba1b02f2b60153379068d73ac2ceb238db9e7e8705ee9ea8122ea629c3424"
        "7085ccf8a5205757b38eb709f350ffe99d587ec81785c55f1924962232c72af0ce4db70fcb5ce246b17537f0e1c0ccd3"
        "1942c1d65bd3ec70cde72af17ad67f6bda4271cc543e9929612f6f41479abffc60b6ace8edf407849ec9ef85b8bf4863"
        "807fcac374315bcf0e866db8e2de7213"
    ),
    1011: (
        "1247ba6def525cf9f916f673328a8387cf6c8b389baf106f04b0bb58d19abb47ae4de956d13ae3c0b94958067f3bdea6"
        "21efce294134ffe97a6bda44674e2828e09db7b99b65227a33b43f5533a6d6b4c884c7411837f4c54e57500bdd91e186"
        "f54ca5f55cf30c79f98d649da122863ab17468449d88b2cf580b0cfb0c6a72c3a7b850a1da9aeda4906ce9d3df884031"
        "a68f44dd662a5ec71f5fc14c837542a5"
    ),
    650: (
        "a303012c3b16f561f216e800682cb09d774d6ab0e2cc42d6b37ccbbca387ac2ce019bbeeafb124f03575ec819ae880b0"
        "819e4e66ab6d2d5cd4ebb387990fba64508febb6cc48fcf226b2806ace3fd33a553da86b566fbf6d1198870b6e89a717"
        "017eda4575e2a6a946045f2d103279a3fab4e18ae568661991baff81642aed7f1a186d8700c122776dfa2626bb982124"
        "932dff75958a327aa00c2cd449db3c1f"
    ),
}


def _blake3(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


def _derived(vectors, seed: bytes) -> dict:
    return next(e for e in vectors("pos-derived.json") if e["seed_hex"] == seed.hex())


# ------------------------------------------------------------------------------------------------
# Always-run checks (no device needed)


def test_bad_input_is_one_line_error():
    from farmkit.kernels import pos_gpu

    with pytest.raises(FarmkitError):
        pos_gpu._check_version("v3")
    with pytest.raises(FarmkitError):
        pos_gpu._seed(b"short")
    assert pos_gpu._check_version("v1") == 1 and pos_gpu._check_version(2) == 2
    assert pos_gpu.num_buckets() == 4441 and pos_gpu.proof_size() == 160
    # challenge prefix (pos.md §2.2): c20 = ((ci & 0xFF) << 12) | ((ci >> 8) << 4) for s-buckets
    ci = np.array([0, 1, 650, 1011, 65535], np.uint32)
    assert list(pos_gpu.challenge_prefix(ci)) == [((c & 0xFF) << 12) | ((c >> 8) << 4) for c in ci.tolist()]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("version,all_prefixes", [(1, 0), (1, 1), (2, 0)])
def test_cuda_source_compiles(tmp_path, version, all_prefixes):
    """The same source through the CUDA prelude compiles (no GPU needed; cupy uses NVRTC)."""
    from farmkit.kernels.gpu import PRELUDE_CUDA, load_source

    src = tmp_path / "pos.cu"
    src.write_text(f"#define POS_VERSION {version}\n#define POS_ALL_PREFIXES {all_prefixes}\n"
                   + PRELUDE_CUDA + load_source("pos.cl"))
    res = subprocess.run(["nvcc", "-std=c++14", "-arch=sm_90", "-ptx", str(src), "-o", str(tmp_path / "pos.ptx")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ptx = (tmp_path / "pos.ptx").read_text()
    for name in ("chacha8_keystream", "f1_stage", "sort_buckets", "match_fx", "cand_best", "rank_sbuckets",
                 "write_proofs"):
        assert f".entry {name}" in ptx


# ------------------------------------------------------------------------------------------------
# PoCL: known answers


@needs_opencl
def test_v1_k17_derived_vector(vectors):
    """pos.md §17.3, seed [1;32], K = 17: table sizes, proof count, first s-buckets, BLAKE3 of all."""
    from farmkit.kernels import pos_gpu

    seed = bytes([1] * 32)
    want = _derived(vectors, seed)
    assert pos_gpu.table_sizes(seed, "v1", "opencl", k=17) == [want["table_sizes"][f"t{i}"] for i in range(1, 8)]
    found, proofs = pos_gpu.find_proofs(seed, 0, 65536, "v1", "opencl", k=17)
    s = np.flatnonzero(found)
    assert len(s) == want["sbuckets_0_65535_with_proof"]
    assert list(s[:5]) == want["first_5_sbuckets_with_proof"]
    assert s[32767] == want["sbucket_of_32768th_proof"]
    assert _blake3(proofs[found].tobytes()) == want["blake3_of_concat_first_proofs_in_sbucket_order"]
    assert [p.tobytes().hex() for p in proofs[s[:5]]] == want["first_proof_hex_for_those"]


@needs_opencl
@pytest.mark.slow
def test_v2_k20_derived_vector():
    """pos-v2.md §7.2, upstream seed: sizes, targets, 32768th s, BLAKE3(concat), bitmap, s = 1011 / 650."""
    from farmkit.kernels import pos_gpu

    sizes, targets, last_s, concat, bitmap = V2_VECTORS[UPSTREAM_SEED]
    eng = pos_gpu._engine("opencl", "v2", 1)
    eng.build([UPSTREAM_SEED])
    eng.check()
    assert [int(v) for v in eng.table_sizes()[0]] == sizes
    assert int(eng.totals()[0]) == targets
    out, sb = eng.proofs()
    assert sb[0, -1] == last_s
    assert _blake3(out[0].tobytes()) == concat
    proofs, found = eng.proofs(np.arange(65536, dtype=np.uint32))
    found = found[0].astype(bool)
    assert hashlib.sha256(np.packbits(found, bitorder="little").tobytes()).hexdigest() == bitmap
    assert proofs[0, 1011].tobytes().hex() == V2_S1011_UPSTREAM
    assert not found[650]
    assert np.array_equal(np.flatnonzero(found), sb[0])


@needs_opencl
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_k18_proofs_pass_chiapos_verifier(version):
    """Independent oracle (pos.md §18): for a seed starting 0x01, Chia's C++ Verifier accepts our
    proofs with plot_id = seed[1:] + any byte and challenge LE4(ci) + 28 zero bytes (k = 18)."""
    chiapos = pytest.importorskip("chiapos")
    from farmkit.kernels import pos_gpu

    seed = bytes.fromhex("0123023404333717545b0a6f0c0dde9710e4d3fe2d5cc6cc0a090a0b818bab0f")
    plot_id = seed[1:] + b"\x00"
    found, proofs = pos_gpu.find_proofs(seed, 0, 400, version, "opencl", k=18)
    assert found.sum() > 150
    verifier = chiapos.Verifier()
    for ci in np.flatnonzero(found):
        ch = int(ci).to_bytes(4, "little") + bytes(28)
        assert verifier.validate_proof(plot_id, 18, ch, proofs[ci].tobytes()) is not None, ci
        bad = int(ci + 1).to_bytes(4, "little") + bytes(28)
        assert verifier.validate_proof(plot_id, 18, bad, proofs[ci].tobytes()) is None


# ------------------------------------------------------------------------------------------------
# PoCL: same bytes as the CPU version


@needs_opencl
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_k17_matches_cpu(version):
    """Encoding proofs, all s-buckets, and challenge indices above 2^16 equal kernels/pos.py."""
    pos = pytest.importorskip("farmkit.kernels.pos")
    from farmkit.kernels import pos_gpu

    seed = RANDOM_SEEDS[0]
    cpu = pos.build_tables(seed, version, k=17)
    s_gpu, p_gpu = pos_gpu.encoding_proofs(seed, version, "opencl", k=17)
    s_cpu, p_cpu = cpu.encoding_proofs()
    assert np.array_equal(s_gpu, s_cpu) and np.array_equal(p_gpu, p_cpu)
    assert pos_gpu.table_sizes(seed, version, "opencl", k=17) == list(cpu.table_sizes)
    for first, count in ((0, 65536), (600_425_000, 3000)):  # the second range: V1 all-prefix mode
        f_gpu, pr_gpu = pos_gpu.find_proofs(seed, first, count, version, "opencl", k=17)
        f_cpu, pr_cpu = cpu.find_proofs(first, count)
        assert np.array_equal(f_gpu, f_cpu) and np.array_equal(pr_gpu, pr_cpu)


@needs_opencl
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_batch_equals_single_records(version):
    """Several records per launch give the same proofs as one record at a time (and as the CPU)."""
    pos = pytest.importorskip("farmkit.kernels.pos")
    from farmkit.kernels import pos_gpu

    seeds = RANDOM_SEEDS[1:3]
    batch = pos_gpu.encoding_proofs_batch(seeds, version, "opencl", batch=2, k=17)
    for seed, (s, p) in zip(seeds, batch):
        s_cpu, p_cpu = pos.build_tables(seed, version, k=17).encoding_proofs()
        assert np.array_equal(s, s_cpu) and np.array_equal(p, p_cpu)


@needs_opencl
def test_masks_are_blake3_of_proofs():
    """Device BLAKE3(proof) masks equal the blake3 package on the same proofs (K = 17 and K = 20
    sizes: 136- and 160-byte proofs both span 3 blocks)."""
    from farmkit.kernels import pos_gpu

    seed = RANDOM_SEEDS[1]
    [(s_m, masks)] = pos_gpu.encoding_masks_batch([seed], "v2", "opencl", k=17)
    s_p, proofs = pos_gpu.encoding_proofs(seed, "v2", "opencl", k=17)
    assert np.array_equal(s_m, s_p)
    for i in list(range(0, len(s_p), 997)) + [len(s_p) - 1]:
        assert masks[i].tobytes().hex() == _blake3(proofs[i].tobytes())
    # the device-resident form the GPU plotter uses
    sb_d, masks_d, counts_d = pos_gpu.encoding_masks_device([seed], "v2", "opencl", k=17)
    ctx_ = pos_gpu.gpu_context("opencl")
    n = int(ctx_.to_host(counts_d)[0])
    assert n == len(s_p) and np.array_equal(ctx_.to_host(sb_d)[0, :n], s_p)
    assert np.array_equal(ctx_.to_host(masks_d)[0, :n], masks)
    # the K = 20 kernel on random 160-byte inputs
    from farmkit.kernels.gpu import gpu_context, load_source

    ctx = gpu_context("opencl")
    prog = ctx.program(load_source("pos.cl"), ("-DPOS_K=20", "-DPOS_VERSION=2", "-DPOS_ALL_PREFIXES=0"))
    data = np.random.default_rng(7).integers(0, 256, (100, 160), dtype=np.uint8)
    out = ctx.empty(100 * 32, np.uint8)
    prog.launch("proof_masks", 100, 64, ctx.to_device(data.ravel()), out, np.uint64(100))
    got = ctx.to_host(out).reshape(100, 32)
    assert all(got[i].tobytes().hex() == _blake3(data[i].tobytes()) for i in range(100))


@pytest.mark.skipif(not cuda_available(), reason="no CUDA device (cupy)")
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cuda_matches_cpu(version):
    """The CUDA build of the same source: K = 17 batch and one K = 20 record equal the CPU version."""
    pos = pytest.importorskip("farmkit.kernels.pos")
    from farmkit.kernels import pos_gpu

    seeds = RANDOM_SEEDS[:2]
    for seed, (s, p) in zip(seeds, pos_gpu.encoding_proofs_batch(seeds, version, "cuda", batch=2, k=17)):
        s_cpu, p_cpu = pos.build_tables(seed, version, k=17).encoding_proofs()
        assert np.array_equal(s, s_cpu) and np.array_equal(p, p_cpu)
    s, p = pos_gpu.encoding_proofs(UPSTREAM_SEED, version, "cuda")
    s_cpu, p_cpu = pos.encoding_proofs(UPSTREAM_SEED, version)
    assert np.array_equal(s, s_cpu) and np.array_equal(p, p_cpu)


# ------------------------------------------------------------------------------------------------
# Slow: K = 20 V1 (PoCL ~1 min per table set), more seeds


@needs_opencl
@pytest.mark.slow
def test_v1_k20_upstream_pins_and_vector(vectors):
    """pos.md §17.1c pinned proofs (incl. the y7 tie-break at 1011 and the 3-duplicate rmap at
    650), 'no proof' at 1232460437, and the §17.3 derived vector, from one K = 20 build."""
    from farmkit.kernels import pos_gpu

    want = _derived(vectors, UPSTREAM_SEED)
    eng = pos_gpu._engine("opencl", "v1", 1)
    eng.build([UPSTREAM_SEED])
    eng.check()
    assert [int(v) for v in eng.table_sizes()[0]] == [want["table_sizes"][f"t{i}"] for i in range(1, 8)]
    proofs, found = eng.proofs(np.arange(65536, dtype=np.uint32))
    found = found[0].astype(bool)
    assert found.sum() == want["sbuckets_0_65535_with_proof"]
    assert _blake3(proofs[0][found].tobytes()) == want["blake3_of_concat_first_proofs_in_sbucket_order"]
    for ci in (1011, 650):
        assert proofs[0, ci].tobytes().hex() == V1_PINNED[ci]
    assert pos_gpu.find_proof(UPSTREAM_SEED, 600426542, "v1", "opencl").hex() == V1_PINNED[600426542]
    assert pos_gpu.find_proof(UPSTREAM_SEED, 1232460437, "v1", "opencl") is None


@needs_opencl
@pytest.mark.slow
@pytest.mark.parametrize("seed", [GPU_SEED_0, GPU_SEED_1], ids=["pos_seed0", "pos_seed1"])
def test_k20_gpu_test_seeds_both_versions(vectors, seed):
    """The upstream GPU-test records (pos.md §2.1): V1 §17.3 vector and V2 §7.2 vector."""
    from farmkit.kernels import pos_gpu

    want = _derived(vectors, seed)
    found, proofs = pos_gpu.find_proofs(seed, 0, 65536, "v1", "opencl")
    assert found.sum() == want["sbuckets_0_65535_with_proof"]
    assert _blake3(proofs[found].tobytes()) == want["blake3_of_concat_first_proofs_in_sbucket_order"]
    sizes, targets, last_s, concat, _bitmap = V2_VECTORS[seed]
    s, p = pos_gpu.encoding_proofs(seed, "v2", "opencl")
    assert len(s) == 32768 and s[-1] == last_s and _blake3(p.tobytes()) == concat
    [(s_m, masks)] = pos_gpu.encoding_masks_batch([seed], "v2", "opencl")  # 160-byte proofs
    assert np.array_equal(s_m, s) and all(masks[i].tobytes().hex() == _blake3(p[i].tobytes()) for i in (0, 32767))


@needs_opencl
@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_k20_matches_cpu(version):
    """Full K = 20 record encoding equals the CPU version on a random seed."""
    pos = pytest.importorskip("farmkit.kernels.pos")
    from farmkit.kernels import pos_gpu

    seed = RANDOM_SEEDS[2]
    s_gpu, p_gpu = pos_gpu.encoding_proofs(seed, version, "opencl")
    s_cpu, p_cpu = pos.encoding_proofs(seed, version)
    assert np.array_equal(s_gpu, s_cpu) and np.array_equal(p_gpu, p_cpu)
    for i in range(0, len(s_gpu), 4099):
        assert pos.is_proof_valid(seed, int(s_gpu[i]), p_gpu[i].tobytes())
