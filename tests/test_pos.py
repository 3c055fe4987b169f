"""Proof of space (kernels/pos.py): upstream vectors (pos.md §17.1), derived vectors (pos.md §17.3,
pos-v2.md §7.2), chiapos as an independent oracle (pos.md §18), the readable numpy reference
(kernels/pos_ref.py) at reduced K, and the ``plotter pos`` command.

K = 20 table sets are built once per session (fixtures); everything else uses K <= 18.
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import pos, pos_ref

SEED = bytes.fromhex("23023404333717545b0a6f0c0dde9710e4d3fe2d5cc6cc0a090a0b818bab0f17")  # pos.md §17.1c
PINNED = {
    600426542: "e7a0b6a09787b5b8a2b649f6640a40089dfba1b02f2b60153379068d73ac2ceb238db9e7e8705ee9ea8122ea629c34247085ccf8a5205757b38eb709f350ffe99d587ec81785c55f1924962232c72af0ce4db70fcb5ce246b17537f0e1c0ccd31942c1d65bd3ec70cde72af17ad67f6bda4271cc543e9929612f6f41479abffc60b6ace8edf407849ec9ef85b8bf4863807fcac374315bcf0e866db8e2de7213",
    1011: "1247ba6def525cf9f916f673328a8387cf6c8b389baf106f04b0bb58d19abb47ae4de956d13ae3c0b94958067f3bdea621efce294134ffe97a6bda44674e2828e09db7b99b65227a33b43f5533a6d6b4c884c7411837f4c54e57500bdd91e186f54ca5f55cf30c79f98d649da122863ab17468449d88b2cf580b0cfb0c6a72c3a7b850a1da9aeda4906ce9d3df884031a68f44dd662a5ec71f5fc14c837542a5",
    650: "a303012c3b16f561f216e800682cb09d774d6ab0e2cc42d6b37ccbbca387ac2ce019bbeeafb124f03575ec819ae880b0819e4e66ab6d2d5cd4ebb387990fba64508febb6cc48fcf226b2806ace3fd33a553da86b566fbf6d1198870b6e89a717017eda4575e2a6a946045f2d103279a3fab4e18ae568661991baff81642aed7f1a186d8700c122776dfa2626bb982124932dff75958a327aa00c2cd449db3c1f",
}
NO_PROOF = 1232460437

# pos-v2.md §7.2
V2_VECTORS = {
    "23023404333717545b0a6f0c0dde9710e4d3fe2d5cc6cc0a090a0b818bab0f17": (
        (1048576, 1044519, 1040231, 1031013, 1012716, 978576, 913170), 38101, 56326,
        "ce6d47457dd1f74667a92dc62277c8013aff931942bf0fd7aeafa424faeaec37",
        "4a4a1aeb5bf49eaa70850dadb8d95bfc43f2f864ce8e855a1823352c08073a21",
    ),
    "458011a396540a3891b23e3e90e936aab381bcef2ea6043b064c556cff40d3b2": (
        (1048576, 1044150, 1038426, 1026703, 1002365, 957979, 874595), 37199, 57782,
        "220d24feb5c4d56393ca04b3da5e6dde6ffed17ea881ea0984573eec9517f4bf",
        "fac3815ec1af8cf4d6c1e8f2a5210aca51cc4afd6067c45bc679302ec8d5ee5e",
    ),
    "826d9de57f8342e241ead1994b471ef1bd247614e75a6c2267b9229de365983b": (
        (1048576, 1046834, 1042011, 1033239, 1017840, 986725, 926494), 38599, 55729,
        "84b7bcae4b2020c5d3c639ac121c12d4369ef04cc9f3cb240335231e6b69ada2",
        "b9f0df2f454b334a5625d953894972bc6d67c6673590450dbbb292729c89297d",
    ),
}
V2_FIRST_2302 = {
    3: "25cecb758c4e520449f0d87321e72bf0a7df01cfff8d36625a606e99047b370acec46ab5bc2b670088d6f7cc9adb9cdde9c2da2d570e6e8f61f810de22db56ba0b5f535ad7aff111b1b5cafa38306a406c7879c6a892bfb9a38d601d8039ed0294bd8bebecbec81243b48095b991c8359f91e42a513d3a075068eeaf8d1fdc024fe040fd2194794bff4dde5641d59ffb4bab029404299f57b6dc1ad1cb3e65aa",
    5: "5cf33ce76ec1c4956faf8877995572eb90e1ecff3e57fe04d1a7ea371c76a13794ca8add3040bd7d107793563505e8d46f054c5bc7df0afd6026c1e43ffda27dc19c86be0d26f97aa9fb1f95716bd60758eff21325797ed0fca9da05736ad4e44de173e491a53138d6358da06ea71d857f3e0b78565701e78d114f921275c0029bd9409ed3351677469b8b80149413dd19126db63a900acddd439bc97c22739f",
    7: "1b017afe4f4016e61970423526d324b3deed8c1592bc6a5af35009d9668f1b8bf3f9333345828182420045d9b5d5a5046f3d28c48f4ad34aa8712f2f335ce040bfd785b3f2ff1a320ae558cccd210d3d9b3aac5b48df9f8933ce7c73557b027b9fbe787a0bd2713fbb85f1b3dee843813cba14b1839979be5e990ba33767e407037b3ba1be68bf5c764c2aac25fee5ffdf562675567f8cfc335425346668656a",
    1011: "fc333592c3a0ccba8d2e83f57ec60d6411490d349c756edb366fbf8f361b41260034b5aaeb054dbf63893f802325853f2ce7df19b20fb8ec0120d51426dd377d76c9770d2a68945843dec9fb03419b54dc97b70068a3dd1acafe695c018be4e0d7e47b045e0e7f1d9d528d4fea9b15f2d66a66dc9595d5a68dc47a58056b3246dde0aba895e45bb84ad64db1a2834dca5c49b117a908ad09bd4aa8840e2ac90d",
}


def _blake3(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


@pytest.fixture(scope="session")
def v1_tables():
    return pos.build_tables(SEED, "v1")


@pytest.fixture(scope="session")
def v2_tables():
    return pos.build_tables(SEED, "v2")


def _derived(vectors, seed_hex):
    return next(e for e in vectors("pos-derived.json") if e["seed_hex"] == seed_hex)


# ------------------------------------------------------------------------------------------------
# f1, fx: upstream vectors (pos.md §17.1 a, b)

CHIA_KEY = bytes([1] + [0, 2, 3, 4, 5, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 2, 3, 41, 5, 6, 7, 8, 9, 10, 11, 12, 13, 11, 15])


@pytest.mark.parametrize(
    "k,x,y",
    [(25, 525, 2016650816), (25, 526, 2063162112), (25, 625, 1930299520),
     (22, 1837491, 105738140), (22, 1837492, 192213404), (22, 1837493, 64977628), (22, 1837746, 91711644)],
)
def test_f1_upstream(k, x, y):
    assert pos.f1(CHIA_KEY, x, k) == y


def test_f1_k20_derived_and_reference():
    assert [pos.f1(SEED, x) for x in (0, 1, 2, 3, 2**20 - 1)] == [1736768, 56486144, 40812544, 66378112, 44920127]
    seed = hashlib.sha256(b"f1").digest()
    ref = pos_ref.f1_all(seed, 12)
    fast = np.empty(1 << 12, np.int32)
    pos._f1_all(pos._kw(seed), 12, fast)
    assert np.array_equal(ref, fast)


FX16 = [
    (2, 0x44CB, 0x204F, 0x20A61A, 0x2AF546, 0x44CB204F),
    (2, 0x3C5F, 0xFDA9, 0x3988EC, 0x15293B, 0x3C5FFDA9),
    (3, 0x35BF992D, 0x7CE42C82, 0x31E541, 0xF73B3, 0x35BF992D7CE42C82),
    (3, 0x7204E52D, 0xF1FD42A2, 0x28A188, 0x3FB0B5, 0x7204E52DF1FD42A2),
    (4, 0x5B6E6E307D4BEDC, 0x8A9A021EA648A7DD, 0x30CB4C, 0x11AD5, 0xD4BD0B144FC26138),
    (4, 0xB9D179E06C0FD4F5, 0xF06D3FEF701966A0, 0x1DD5B6, 0xE69A2, 0xD02115F512009D4D),
    (5, 0xC2CD789A380208A9, 0x19999E3FA46D6753, 0x25F01E, 0x1F22BD, 0xABE423040A33),
    (5, 0xBE3EDC0A1EF2A4F0, 0x4DA98F1D3099FDF5, 0x3FEB18, 0x31501E, 0x7300A3A03AC5),
    (6, 0xC965815A47C5, 0xF5E008D6AF57, 0x1F121A, 0x1CABBE, 0xC8CC6947),
    (6, 0xD420677F6CBD, 0x5894AA2CA1AF, 0x2EFDE9, 0xC2121, 0x421BB8EC),
    (7, 0x5FEC898F, 0x82283D15, 0x14F410, 0x24C3C2, 0),
    (7, 0x64AC5DB9, 0x7923986, 0x590FD, 0x1C74A2, 0),
]


@pytest.mark.parametrize("t,ml,mr,y,y_out,meta_out", FX16)
def test_fx_upstream_k16(t, ml, mr, y, y_out, meta_out):
    for impl in (lambda: pos.fx(t, y, ml, mr, k=16), lambda: pos_ref.fx(t, 16, y, ml, mr)):
        got_y, got_meta = impl()
        assert got_y == y_out
        if meta_out:
            assert got_meta == meta_out


def test_fx_fast_vs_reference_random():
    rng = np.random.default_rng(7)
    for k in (16, 20, 22):
        for t in range(2, 8):
            p = pos.META_MULT[t - 1] * k
            for _ in range(25):
                y = int(rng.integers(0, 1 << (k + 6)))
                ml, mr = (int.from_bytes(rng.bytes(16), "big") & ((1 << p) - 1) for _ in range(2))
                assert pos.fx(t, y, ml, mr, k=k) == pos_ref.fx(t, k, y, ml, mr)


# ------------------------------------------------------------------------------------------------
# V1 at K = 20: pinned upstream proofs, no-proof case, derived vector


def test_v1_pinned_proofs(v1_tables):
    for ci, proof_hex in PINNED.items():
        proof = v1_tables.find_proof(ci)
        assert proof is not None and proof.hex() == proof_hex, ci
        assert pos.is_proof_valid(SEED, ci, proof)
        assert not pos.is_proof_valid(SEED, ci + 1, proof)
    assert v1_tables.find_proof(NO_PROOF) is None


def test_v1_derived_vector(v1_tables, vectors):
    e = _derived(vectors, SEED.hex())
    assert v1_tables.table_sizes == tuple(e["table_sizes"][f"t{i}"] for i in range(1, 8))
    found, proofs = v1_tables.find_proofs(0, 65536)
    s_with = np.flatnonzero(found)
    assert len(s_with) == e["sbuckets_0_65535_with_proof"] == v1_tables.n_targets
    assert s_with[32767] == e["sbucket_of_32768th_proof"]
    assert _blake3(proofs[s_with].tobytes()) == e["blake3_of_concat_first_proofs_in_sbucket_order"]
    assert list(s_with[:5]) == e["first_5_sbuckets_with_proof"]
    assert [proofs[s].tobytes().hex() for s in s_with[:5]] == e["first_proof_hex_for_those"]
    s_enc, p_enc = v1_tables.encoding_proofs()
    assert np.array_equal(s_enc, s_with[:32768]) and np.array_equal(p_enc, proofs[s_with[:32768]])


def test_v1_k17_derived_vector(vectors):
    e = _derived(vectors, "01" * 32)
    t = pos.build_tables(bytes([1] * 32), "v1", k=17)
    assert t.table_sizes == tuple(e["table_sizes"][f"t{i}"] for i in range(1, 8))
    found, proofs = t.find_proofs(0, 65536)
    s_with = np.flatnonzero(found)
    assert len(s_with) == e["sbuckets_0_65535_with_proof"]
    assert s_with[32767] == e["sbucket_of_32768th_proof"]
    assert _blake3(proofs[s_with].tobytes()) == e["blake3_of_concat_first_proofs_in_sbucket_order"]
    for s in s_with[:200]:
        assert pos.is_proof_valid(bytes([1] * 32), int(s), proofs[s].tobytes(), k=17)


@pytest.mark.slow
@pytest.mark.parametrize("seed_hex", [
    "458011a396540a3891b23e3e90e936aab381bcef2ea6043b064c556cff40d3b2",
    "826d9de57f8342e241ead1994b471ef1bd247614e75a6c2267b9229de365983b",
])
def test_v1_derived_vector_more_seeds(vectors, seed_hex):
    e = _derived(vectors, seed_hex)
    t = pos.build_tables(bytes.fromhex(seed_hex), "v1")
    assert t.table_sizes == tuple(e["table_sizes"][f"t{i}"] for i in range(1, 8))
    found, proofs = t.find_proofs(0, 65536)
    s_with = np.flatnonzero(found)
    assert s_with[32767] == e["sbucket_of_32768th_proof"]
    assert _blake3(proofs[s_with].tobytes()) == e["blake3_of_concat_first_proofs_in_sbucket_order"]


# ------------------------------------------------------------------------------------------------
# V2 (pos-v2.md §7.2)


def _check_v2(t, seed_hex):
    sizes, n_targets, s32768, concat, bitmap_sha = V2_VECTORS[seed_hex]
    assert t.table_sizes == sizes
    assert t.n_targets == n_targets
    s, proofs = t.encoding_proofs()
    assert len(s) == 32768 and s[-1] == s32768
    assert _blake3(proofs.tobytes()) == concat
    bits = np.zeros(65536, np.uint8)
    bits[s] = 1
    assert hashlib.sha256(np.packbits(bits, bitorder="little").tobytes()).hexdigest() == bitmap_sha
    return s, proofs


def test_v2_derived_vector(v2_tables):
    s, proofs = _check_v2(v2_tables, SEED.hex())
    assert list(s[:10]) == [3, 4, 5, 6, 7, 8, 9, 13, 22, 23]
    for si, hx in V2_FIRST_2302.items():
        assert v2_tables.find_proof(si).hex() == hx
    assert v2_tables.find_proof(650) is None
    assert v2_tables.find_proof(0) is None
    # find_proof(ci) = for_s_bucket(ci as u16); nothing past the 32768th proof
    assert v2_tables.find_proof(1011 + 65536).hex() == V2_FIRST_2302[1011]
    assert v2_tables.find_proof(int(s[-1]) + 1) is None or s[-1] + 1 in s


def test_v2_every_proof_verifies(v2_tables):
    """Every V2 proof passes the consensus verifier (pos-v2.md §5) and the first 16 fail for s+1."""
    s, proofs = v2_tables.encoding_proofs()
    assert all(pos.is_proof_valid(SEED, int(s[i]), proofs[i].tobytes()) for i in range(len(s)))
    assert not any(pos.is_proof_valid(SEED, int(s[i]) + 1, proofs[i].tobytes()) for i in range(16))


@pytest.mark.slow
@pytest.mark.parametrize("seed_hex", list(V2_VECTORS)[1:])
def test_v2_derived_vector_more_seeds(seed_hex):
    _check_v2(pos.build_tables(bytes.fromhex(seed_hex), "v2"), seed_hex)


# ------------------------------------------------------------------------------------------------
# Fast paths vs the readable reference (reduced K, random seeds)


def test_v1_fast_vs_reference_k14():
    seed = hashlib.sha256(b"farmkit pos ref v1").digest()
    k = 14
    tabs = pos_ref.tables_v1(seed, k)
    t = pos.build_tables(seed, "v1", k=k)
    assert t.table_sizes == tuple(len(tabs[i]["y"]) for i in range(1, 8))
    found, proofs = t.find_proofs(0, 65536)
    for ci in range(0, 65536, 5):
        ref = pos_ref.find_proof_v1(tabs, ci, k)
        assert ref == (proofs[ci].tobytes() if found[ci] else None), ci
    # and arbitrary u32 challenge indices (prefix bits beyond the s-bucket range)
    for ci in (600426542, 1232460437, 2**32 - 1, 123456789):
        assert pos_ref.find_proof_v1(tabs, ci, k) == t.find_proof(ci)


def test_v2_fast_vs_reference_k16():
    seed = hashlib.sha256(b"farmkit pos ref v2").digest()
    ref, sizes = pos_ref.proofs_v2(seed, 16)
    t = pos.build_tables(seed, "v2", k=16)
    assert t.table_sizes == tuple(sizes)
    s, proofs = t.encoding_proofs()
    assert list(s) == sorted(ref)
    assert all(ref[int(si)] == proofs[i].tobytes() for i, si in enumerate(s))


def test_verify_fast_vs_reference():
    seed = hashlib.sha256(b"farmkit pos verify").digest()
    t = pos.build_tables(seed, "v1", k=14)
    found, proofs = t.find_proofs(0, 400)
    rng = np.random.default_rng(3)
    checked = 0
    for ci in np.flatnonzero(found)[:6]:
        good = proofs[ci].tobytes()
        bad = bytearray(good)
        bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        for p, c in ((good, ci), (good, ci + 1), (bytes(bad), ci)):
            assert pos.is_proof_valid(seed, int(c), p, k=14) == pos_ref.verify_only(seed, int(c), p, 14)
            checked += 1
    assert checked == 18


def test_threads_give_identical_tables():
    """Builds release the GIL; concurrent builds equal sequential ones."""
    seeds = [hashlib.sha256(b"thread %d" % i).digest() for i in range(3)]
    want = [pos.build_tables(s, "v2", k=16).encoding_proofs() for s in seeds]
    got = [None] * 3

    def work(i):
        got[i] = pos.build_tables(seeds[i], "v2", k=16).encoding_proofs()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    for (s1, p1), (s2, p2) in zip(want, got):
        assert np.array_equal(s1, s2) and np.array_equal(p1, p2)


# ------------------------------------------------------------------------------------------------
# chiapos oracle (pos.md §18): seeds whose first byte is 0x01


@pytest.fixture(scope="session")
def chia_plot_k18(tmp_path_factory):
    chiapos = pytest.importorskip("chiapos")
    d = tmp_path_factory.mktemp("chia")
    plot_id = SEED
    chiapos.DiskPlotter().create_plot_disk(str(d), str(d), str(d), "k18.plot", 18, b"memo", plot_id, 300, 16, 8192, 1, False)
    return chiapos, d / "k18.plot", plot_id


def test_chiapos_oracle_k18(chia_plot_k18):
    chiapos, path, plot_id = chia_plot_k18
    ours_seed = b"\x01" + plot_id[:31]
    t = pos.build_tables(ours_seed, "v1", k=18)
    prover = chiapos.DiskProver(str(path))
    verifier = chiapos.Verifier()
    n_chia = n_ours = 0
    for ci in range(300):
        challenge = ci.to_bytes(4, "little") + bytes(28)
        for i, _q in enumerate(prover.get_qualities_for_challenge(challenge)):
            proof = prover.get_full_proof(challenge, i)
            assert pos.is_proof_valid(ours_seed, ci, proof, k=18)
            n_chia += 1
        ours = t.find_proof(ci)
        if ours is not None:
            assert verifier.validate_proof(plot_id, 18, challenge, ours) is not None
            n_ours += 1
    assert n_chia > 200 and n_ours > 150


def test_chiapos_verifier_k20():
    chiapos = pytest.importorskip("chiapos")
    plot_id = hashlib.sha256(b"farmkit chia k20").digest()
    seed = b"\x01" + plot_id[:31]
    found, proofs = pos.find_proofs(seed, 0, 600, "v1")
    verifier = chiapos.Verifier()
    idx = np.flatnonzero(found)
    assert len(idx) > 300
    for ci in idx:
        challenge = int(ci).to_bytes(4, "little") + bytes(28)
        assert verifier.validate_proof(plot_id, 20, challenge, proofs[ci].tobytes()) is not None


# ------------------------------------------------------------------------------------------------
# Input checks and the CLI


def test_bad_inputs():
    with pytest.raises(FarmkitError):
        pos.build_tables(b"short")
    with pytest.raises(FarmkitError):
        pos.build_tables(SEED, "v3")
    with pytest.raises(FarmkitError):
        pos.is_proof_valid(SEED, 1, bytes(159))
    with pytest.raises(FarmkitError):
        pos.is_proof_valid(SEED, 2**32, bytes(160))


def _cli(argv, capsys):
    from farmkit.cli import run
    from farmkit.plotter.cli import app

    with pytest.raises(SystemExit) as exc:
        run(app, argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_pos_json_and_verify(capsys):
    code, out, _ = _cli(["pos", "--seed", SEED.hex(), "--challenge-index", "649", "--count", "3", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["seed"] == SEED.hex() and doc["version"] == "v1"
    assert [p["challenge_index"] for p in doc["proofs"]] == [649, 650, 651]
    assert doc["proofs"][1]["proof"] == PINNED[650]
    base = ["pos", "--verify", "--seed", SEED.hex(), "--proof", PINNED[650]]
    assert _cli(base + ["--challenge-index", "650"], capsys)[0] == 0
    assert _cli(base + ["--challenge-index", "651"], capsys)[0] == 1


@pytest.mark.parametrize("argv", [
    ["pos", "--seed", "00" * 31, "--challenge-index", "1"],
    ["pos", "--seed", "zz" * 32, "--challenge-index", "1"],
    ["pos", "--seed", "00" * 32, "--challenge-index", "65535", "--count", "2"],
    ["pos", "--seed", "00" * 32, "--challenge-index", "-1"],
    ["pos", "--seed", "00" * 32, "--challenge-index", "1", "--version", "v9"],
    ["pos", "--verify", "--seed", "00" * 32, "--challenge-index", "1", "--proof", "00" * 159],
    ["pos", "--verify", "--seed", "00" * 32, "--challenge-index", "1"],
])
def test_cli_bad_input(argv, capsys):
    code, out, err = _cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_constants_agree_with_protocol():
    from farmkit.protocol import constants as C

    assert pos.K == C.POS_K and pos.proof_size() == C.POS_PROOF_SIZE and pos.SEED_SIZE == C.POS_SEED_SIZE
    assert pos.NUM_S_BUCKETS == C.RECORD_NUM_S_BUCKETS and pos.NUM_CHUNKS == C.RECORD_NUM_CHUNKS
    assert pos.num_buckets() == 4441 and pos.PARAM_BC == 15113
