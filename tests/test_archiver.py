"""Archiver → pieces → reconstruction, and the `plotter archive|verify-pieces|repair|blocks` CLI.

Oracles: ckzg loaded with the Subspace-τ setup (segment commitment and every segment witness are
recomputed and checked independently; record commitments of small records too), the reference
paths of the kernels (``erasure.recover`` on Python ints vs the batched recovery), the exact
per-piece ``is_piece_valid`` vs the batched validity check, and the original blocks (round trip).
Full-size known answers (TV-SEG0, kzg-erasure-archiving.md §13.2) run in the slow tests.

The default suite archives ONE small synthetic history per session (records of 64 chunks instead
of 32,768, same 128/256 record structure, same code paths) through the real CLI and shares it.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from blake3 import blake3

from farmkit.kernels import erasure, fft, fr
from farmkit.kernels.kzg import default_kzg
from farmkit.protocol.constants import NUM_PIECES, RECORDED_HISTORY_SEGMENT_SIZE
from farmkit.protocol.pieces import (
    RecordGeometry,
    blake3_254_hash_to_scalar,
    find_invalid_pieces,
    is_piece_valid,
)
from farmkit.protocol.reconstruct import (
    PiecesReconstructor,
    Reconstructor,
    ReconstructorError,
    recover_records,
)
from farmkit.protocol.segments import SegmentHeader

MINI_CHUNKS = 64
MINI = RecordGeometry(MINI_CHUNKS)
SEED = "5eed" * 16
MINI_SEGMENTS = 3


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run the plotter CLI in-process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from farmkit.cli import run
    from farmkit.plotter.cli import app

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(app, [str(a) for a in argv])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@functools.lru_cache(maxsize=None)
def build_mini_archive() -> Path:
    """Once per test process: a 3-segment synthetic history with 64-chunk records, via the CLI."""
    root = Path(tempfile.mkdtemp(prefix="farmkit-archive-test-"))
    import atexit

    atexit.register(shutil.rmtree, root, True)
    d = root / "archive"
    code, out, err = run_cli("archive", "--synthetic", SEED, "--segments", MINI_SEGMENTS, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    return d


@pytest.fixture(scope="session")
def mini_archive() -> Path:
    return build_mini_archive()


def copy_archive(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def load_pieces(d: Path, segment: int, geometry=MINI) -> np.ndarray:
    return np.fromfile(d / f"segment-{segment}.pieces", dtype=np.uint8).reshape(NUM_PIECES, geometry.piece_size)


def load_index(d: Path) -> dict:
    return json.loads((d / "index.json").read_text())


@pytest.fixture(scope="module")
def kzg():
    return default_kzg()


@pytest.fixture(scope="module")
def ckzg_setup(shared_dir):
    ckzg = pytest.importorskip("ckzg")
    return ckzg, ckzg.load_trusted_setup(str(shared_dir / "data" / "subspace-tau-ckzg-trusted-setup.txt"), 0)


def ckzg_blob(evaluations: list[int]) -> bytes:
    """Evaluations over ⟨ω_n⟩ (n ≤ 4096) → ckzg blob: the polynomial on the 4096-domain, bit-reversed.

    Uses the Python-int reference FFT only (no numba kernel)."""
    coeffs = fft.ref_ifft(evaluations)
    ev = fft.ref_fft(coeffs + [0] * (4096 - len(coeffs)), 4096)
    rev = fft.bit_reverse_permutation(4096)
    return b"".join(ev[int(i)].to_bytes(32, "big") for i in rev)


def z_bytes(n: int, index: int) -> bytes:
    return pow(fft.root_of_unity(n), index, fr.MODULUS).to_bytes(32, "big")


# --- the archive layout ------------------------------------------------------------------------------


def test_layout_and_index(mini_archive):
    idx = load_index(mini_archive)
    assert [s["index"] for s in idx["segments"]] == list(range(MINI_SEGMENTS))
    from farmkit.plotter.archive import synthetic_genesis_hash

    assert idx["genesis_hash"] == synthetic_genesis_hash(bytes.fromhex(SEED)).hex()
    prev = bytes(32)
    for s in idx["segments"]:
        raw = (mini_archive / f"segment-{s['index']}.header").read_bytes()
        header = SegmentHeader.from_bytes(raw)
        assert header.segment_index == s["index"]
        assert header.segment_commitment.hex() == s["commitment"]
        assert blake3(raw).hexdigest() == s["header_hash"]
        assert header.prev_segment_header_hash == prev
        prev = bytes.fromhex(s["header_hash"])
        assert (mini_archive / f"segment-{s['index']}.pieces").stat().st_size == NUM_PIECES * MINI.piece_size
    # segment 0 holds only the start of the (segment-sized) synthetic genesis block, like mainnet
    assert SegmentHeader.from_bytes((mini_archive / "segment-0.header").read_bytes()).last_archived_block.partial == MINI.segment_size - 6


def test_segment_commitment_and_witnesses_match_ckzg(mini_archive, ckzg_setup):
    """Independent oracle: ckzg recomputes the segment commitment and the witnesses (§9.4 steps 5-7)."""
    ckzg, ts = ckzg_setup
    idx = load_index(mini_archive)
    pieces = load_pieces(mini_archive, 1)
    rs = MINI.record_size
    commitments = [pieces[j, rs : rs + 48].tobytes() for j in range(NUM_PIECES)]
    hashes = [int.from_bytes(blake3_254_hash_to_scalar(c), "big") for c in commitments]
    blob = ckzg_blob(hashes)
    seg_c = bytes.fromhex(idx["segments"][1]["commitment"])
    assert bytes(ckzg.blob_to_kzg_commitment(blob, ts)) == seg_c
    for j in range(NUM_PIECES):
        witness = pieces[j, rs + 48 :].tobytes()
        assert ckzg.verify_kzg_proof(seg_c, z_bytes(256, j), hashes[j].to_bytes(32, "big"), witness, ts), j
    for j in (0, 1, 130, 255):
        proof, _ = ckzg.compute_kzg_proof(blob, z_bytes(256, j), ts)
        assert bytes(proof) == pieces[j, rs + 48 :].tobytes()


def test_record_commitments_match_ckzg(mini_archive, ckzg_setup):
    """Record commitments (§9.4 steps 3-4; parity ones come from extend_commitments) vs ckzg."""
    ckzg, ts = ckzg_setup
    pieces = load_pieces(mini_archive, 2)
    rs = MINI.record_size
    for j in (0, 1, 2, 77, 254, 255):
        values = fr.ints_from_bytes(pieces[j, :rs].reshape(MINI_CHUNKS, 32))
        assert bytes(ckzg.blob_to_kzg_commitment(ckzg_blob(values), ts)) == pieces[j, rs : rs + 48].tobytes(), j


def test_erasure_layout_against_reference(mini_archive):
    """Odd positions = parity of the 128 source records per chunk offset (§9.4 step 2, ref path)."""
    pieces = load_pieces(mini_archive, 1)
    rec = pieces[:, : MINI.record_size].reshape(NUM_PIECES, MINI_CHUNKS, 32)
    assert np.all(rec[0::2, :, 0] == 0)  # source chunks are safe bytes
    for o in (0, 5, MINI_CHUNKS - 1):
        source = fr.ints_from_bytes(rec[0::2, o])
        parity = erasure.ref_extend(source)
        assert fr.ints_from_bytes(rec[1::2, o]) == parity


def test_piece_validity_fast_vs_exact(mini_archive, kzg):
    idx = load_index(mini_archive)
    seg_c = bytes.fromhex(idx["segments"][2]["commitment"])
    pieces = [p.tobytes() for p in load_pieces(mini_archive, 2)]
    assert all(is_piece_valid(kzg, pieces[j], seg_c, j, MINI) for j in (0, 1, 128, 255))
    assert not is_piece_valid(kzg, pieces[1], seg_c, 2, MINI)  # wrong position
    bad = list(pieces)
    rs = MINI.record_size

    def flip(j, off):
        b = bytearray(bad[j])
        b[off] ^= 1
        bad[j] = bytes(b)

    flip(3, 100)  # record byte
    flip(40, rs + 7)  # commitment byte
    flip(41, rs + 60)  # witness byte
    b = bytearray(bad[90])
    b[32:64] = b"\xff" * 32  # a non-canonical chunk (>= r)
    bad[90] = bytes(b)
    b = bytearray(bad[91])
    b[rs : rs + 48] = bad[92][rs : rs + 48]  # another piece's (valid) commitment
    bad[91] = bytes(b)
    bad[200] = None  # absent: skipped
    expected = [3, 40, 41, 90, 91]
    assert find_invalid_pieces(kzg, bad, seg_c, MINI) == expected
    assert find_invalid_pieces(kzg, bad, seg_c, MINI, exact=True) == expected
    assert [j for j in expected if not is_piece_valid(kzg, bad[j], seg_c, j, MINI)] == expected


# --- reconstruction ---------------------------------------------------------------------------------


def test_batched_recovery_matches_reference_port():
    """Segment recovery (all chunk offsets, one present mask) equals ``erasure.ref_recover`` (the
    Python-int port of the rust-kzg algorithm), even on corrupt input."""
    rng = np.random.default_rng(7)
    n, m = 256, 6
    src = np.zeros((n // 2, m, 32), np.uint8)
    src[:, :, 1:] = rng.integers(0, 256, (n // 2, m, 31))
    par = erasure.extend_records(src)
    full = np.empty((n, m, 32), np.uint8)
    full[0::2], full[1::2] = src, par
    present = np.ones(n, bool)
    present[rng.choice(n, 100, replace=False)] = False
    damaged = np.where(present[:, None, None], full, 0).astype(np.uint8)
    assert np.array_equal(recover_records(damaged, present), full)
    damaged[np.flatnonzero(present)[5], 2, 9] ^= 1  # corrupt one present shard
    out = recover_records(damaged, present)
    ref = erasure.ref_recover([int.from_bytes(damaged[i, 2].tobytes(), "big") if present[i] else None for i in range(n)])
    assert fr.ints_from_bytes(out[:, 2]) == ref


def _patterns(rng):
    yield "upstream 100..129", [i for i in range(NUM_PIECES) if not 100 <= i < 130]
    yield "parity only", list(range(1, NUM_PIECES, 2))
    yield "source only", list(range(0, NUM_PIECES, 2))
    yield "upper half", list(range(128, 256))
    for k in range(2):
        yield f"random 128 #{k}", sorted(rng.choice(NUM_PIECES, 128, replace=False).tolist())
    yield "one missing", [i for i in range(NUM_PIECES) if i != 77]


def test_pieces_reconstructor_patterns(mini_archive, kzg):
    original = load_pieces(mini_archive, 1)
    seg_c = bytes.fromhex(load_index(mini_archive)["segments"][1]["commitment"])
    rec = PiecesReconstructor(MINI, kzg=kzg)
    rng = np.random.default_rng(3)
    for name, keep in _patterns(rng):
        pieces = [None] * NUM_PIECES
        for i in keep:
            pieces[i] = original[i].tobytes()
        out, commitment = rec.reconstruct(pieces)
        assert commitment == seg_c, name
        assert np.array_equal(out, original), name
    assert rec.reconstruct_piece([original[i].tobytes() if i % 2 else None for i in range(NUM_PIECES)], 4) == original[4].tobytes()
    with pytest.raises(ReconstructorError, match="127 of 256"):
        rec.reconstruct([original[i].tobytes() if i < 127 else None for i in range(NUM_PIECES)])
    with pytest.raises(ReconstructorError):
        rec.reconstruct_piece([original[i].tobytes() for i in range(NUM_PIECES)], 4000)


def test_reconstructor_partial_data(mini_archive):
    """upstream reconstructor.rs::partial_data: the same segment from even pieces, from 128..255,
    and with 64..191 missing."""
    original = load_pieces(mini_archive, 1)
    full = Reconstructor(MINI).reconstruct_segment([p.tobytes() for p in original])
    for keep in (range(0, 256, 2), range(128, 256), [i for i in range(256) if not 64 <= i < 192]):
        pieces = [original[i].tobytes() if i in set(keep) else None for i in range(NUM_PIECES)]
        assert Reconstructor(MINI).reconstruct_segment(pieces) == full
    with pytest.raises(ReconstructorError):
        Reconstructor(MINI).reconstruct_segment([None] * NUM_PIECES)
    garbage = np.random.default_rng(1).integers(0, 256, original.shape, dtype=np.uint8)
    garbage[:, : MINI.record_size].reshape(NUM_PIECES, MINI_CHUNKS, 32)[:, :, 0] = 0
    with pytest.raises(ReconstructorError, match="decoding"):
        Reconstructor(MINI).reconstruct_segment([p.tobytes() for p in garbage])


# --- round trips through the CLI -------------------------------------------------------------------------


def test_blocks_round_trip_synthetic(mini_archive, tmp_path):
    from farmkit.plotter.archive import synthetic_block

    idx = load_index(mini_archive)
    n_blocks = idx["history"]["synthetic_blocks"]
    code, out, err = run_cli("blocks", mini_archive, "--out", tmp_path / "blocks")
    assert code == 0, err
    files = sorted((tmp_path / "blocks").iterdir(), key=lambda p: int(p.stem.split("-")[1]))
    assert len(files) == n_blocks
    seed = bytes.fromhex(SEED)
    for i, f in enumerate(files):
        assert f.name == f"block-{i}.bin"
        assert f.read_bytes() == synthetic_block(seed, i, MINI)
    code, out, _ = run_cli("blocks", mini_archive, "--out", tmp_path / "seg-only", "--segments-only")
    assert code == 0 and len(list((tmp_path / "seg-only").iterdir())) < n_blocks


def test_blocks_files_archive_in_two_runs_and_round_trip(tmp_path):
    """--blocks: a history split over two runs equals one run; pending bytes carry over; the blocks
    come back byte-exact (also a block spanning several segments and an empty block)."""
    rng = np.random.default_rng(11)
    sizes = [1000, MINI.segment_size // 3, 0, 5, MINI.segment_size * 2 + 17, 333, MINI.segment_size // 2, 64]
    files = []
    for i, n in enumerate(sizes):
        f = tmp_path / f"in-{i}"
        f.write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        files.append(f)
    one, two = tmp_path / "one", tmp_path / "two"
    code, out, err = run_cli("archive", "--blocks", *files, "--out", one, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    code, out, err = run_cli("archive", "--blocks", *files[:2], "--out", two, "--record-chunks", MINI_CHUNKS)
    assert code == 0 and "no segment yet" in out, out
    code, out, err = run_cli("archive", "--out", two, "--record-chunks", MINI_CHUNKS, "--blocks", *files[2:])
    assert code == 0, err
    a, b = load_index(one), load_index(two)
    assert a["segments"] == b["segments"] and len(a["segments"]) == 2
    assert a["archiver"]["pending_bytes"] == b["archiver"]["pending_bytes"]
    for s in a["segments"]:
        assert (one / f"segment-{s['index']}.pieces").read_bytes() == (two / f"segment-{s['index']}.pieces").read_bytes()
    code, out, err = run_cli("blocks", two, "--out", tmp_path / "back")
    assert code == 0, err
    for i, f in enumerate(files):
        assert (tmp_path / "back" / f"block-{i}.bin").read_bytes() == f.read_bytes(), i


def test_synthetic_is_deterministic_and_continues(mini_archive, tmp_path):
    d = tmp_path / "again"
    code, out, err = run_cli("archive", "--synthetic", SEED, "--segments", 1, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    code, out, err = run_cli("archive", "--synthetic", SEED, "--segments", 2, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    ref = load_index(mini_archive)["segments"][:2]
    assert load_index(d)["segments"] == ref
    assert (d / "segment-1.pieces").read_bytes() == (mini_archive / "segment-1.pieces").read_bytes()
    code, _, err = run_cli("archive", "--synthetic", "00" * 32, "--segments", 3, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 2 and "different history" in err


def test_interrupted_run_leaves_previous_archive(tmp_path, monkeypatch):
    """index.json is written last: a crash before it keeps the old, consistent archive."""
    from farmkit.plotter import archive as archive_mod

    d = tmp_path / "crash"
    blk = tmp_path / "b"
    blk.write_bytes(bytes(MINI.segment_size // 2))
    code, _, err = run_cli("archive", "--blocks", blk, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    before = load_index(d)
    real = archive_mod.write_atomic

    def failing(path, data):
        if path.name == "index.json":
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(archive_mod, "write_atomic", failing)
    code, _, _ = run_cli("archive", "--blocks", blk, blk, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 130
    monkeypatch.setattr(archive_mod, "write_atomic", real)
    assert load_index(d) == before
    assert (d / before["archiver"]["state_file"]).is_file()
    code, _, err = run_cli("archive", "--blocks", blk, blk, "--out", d, "--record-chunks", MINI_CHUNKS)
    assert code == 0, err
    assert len(load_index(d)["segments"]) == 1


# --- verify-pieces / repair exit codes ------------------------------------------------------------------


def test_verify_pieces_valid(mini_archive):
    code, out, err = run_cli("verify-pieces", mini_archive)
    assert code == 0, err
    assert f"all {MINI_SEGMENTS * 256} pieces valid" in out


def test_verify_pieces_invalid_and_repair(mini_archive, tmp_path):
    d = copy_archive(mini_archive, tmp_path / "a")
    ps = MINI.piece_size
    raw = bytearray((d / "segment-1.pieces").read_bytes())
    for pos in (3, 4, 200):
        raw[pos * ps + 40] ^= 0x01
    (d / "segment-1.pieces").write_bytes(bytes(raw))
    code, out, err = run_cli("verify-pieces", d)
    assert code == 1
    listed = [line for line in out.splitlines() if line.startswith("invalid:")]
    assert listed == [f"invalid: segment 1 position {p} (piece index {256 + p})" for p in (3, 4, 200)]
    # truncate segment 2 (pieces 150.. missing): verify says bad input, repair recovers
    raw2 = (d / "segment-2.pieces").read_bytes()
    (d / "segment-2.pieces").write_bytes(raw2[: 150 * ps + 9])
    code, out, err = run_cli("verify-pieces", d)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "truncated" in err and "Traceback" not in err
    code, out, err = run_cli("repair", d)
    assert code == 0, err
    assert "segment 1: repaired 3 piece(s) at positions 3-4,200" in out
    assert "segment 2: repaired 106 piece(s) at positions 150-255" in out
    for s in range(MINI_SEGMENTS):
        assert (d / f"segment-{s}.pieces").read_bytes() == (mini_archive / f"segment-{s}.pieces").read_bytes()
    code, out, _ = run_cli("repair", d)
    assert code == 0 and "nothing to repair" in out


def test_repair_unrecoverable_segment(mini_archive, tmp_path):
    d = copy_archive(mini_archive, tmp_path / "a")
    ps = MINI.piece_size
    (d / "segment-0.pieces").write_bytes((d / "segment-0.pieces").read_bytes()[: 127 * ps])
    code, out, _ = run_cli("repair", d)
    assert code == 1 and "segment 0: only 127 valid pieces" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["archive", "--out", "X"], "exactly one of"),
        (["archive", "--blocks", "--synthetic", "00" * 32, "--segments", "1", "--out", "X"], "exactly one of"),
        (["archive", "--synthetic", "zz", "--segments", "1", "--out", "X"], "not valid hex"),
        (["archive", "--synthetic", "00" * 31, "--segments", "1", "--out", "X"], "32 bytes"),
        (["archive", "--synthetic", "00" * 32, "--out", "X"], "--segments"),
        (["archive", "--blocks", "/nonexistent/block", "--out", "X"], "nonexistent"),
        (["archive", "--blocks", "--out", "X"], "at least one FILE"),
        (["verify-pieces", "/nonexistent/dir"], "not a directory"),
        (["repair", "/nonexistent/dir"], "not a directory"),
        (["blocks", "/nonexistent/dir", "--out", "Y"], "not a directory"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, needle, tmp_path):
    argv = [str(tmp_path / a) if a in ("X", "Y") else a for a in argv]
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_verify_pieces_missing_files_exit_2(mini_archive, tmp_path):
    d = copy_archive(mini_archive, tmp_path / "a")
    (d / "segment-1.pieces").unlink()
    code, _, err = run_cli("verify-pieces", d)
    assert code == 2 and "missing" in err and len(err.strip().splitlines()) == 1
    d2 = copy_archive(mini_archive, tmp_path / "b")
    (d2 / "index.json").write_text("{not json")
    code, _, err = run_cli("verify-pieces", d2)
    assert code == 2 and "index.json" in err
    d3 = copy_archive(mini_archive, tmp_path / "c")
    (d3 / "segment-0.header").write_bytes(b"\x00" * 10)
    code, _, err = run_cli("verify-pieces", d3)
    assert code == 2 and "segment-0.header" in err


def test_console_script_exit_codes(mini_archive, tmp_path):
    """The installed `plotter` entry point (subprocess): exit 2 and one line on bad input."""
    exe = shutil.which("plotter")
    if exe is None:
        pytest.skip("plotter console script not installed")
    r = subprocess.run([exe, "verify-pieces", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# --- full size (slow): TV-SEG0 known answers through the CLI --------------------------------------------

TV_SEG0 = {
    "commitment": "992da208df97b3d14e3f9423c1f86364f3ff6b1fc00d8b36813cd1cb42adef861da8d061406e7fe1b4c2814dfd926bd0",
    "header_hash": "892acd29b36904f0e14f34a517f5870d729386cc0cb57ab3479ec873c0ac8b01",
    "pieces": {  # position: (record commitment, witness, BLAKE3(piece), first chunk) — spec §13.2
        0: ("b8029017e2f35e4ba5a686a24a34612b16a0495a4bc54bc68c2a11a52deb020f82906dd2ad368e224ca15e712f777ba1",
            "8a7754771d3762d7b4811a7f74322a7d6f005838026d5dcb094e9d49ec5a47542da8b5df04b527e193f0c65c4de723e6",
            "2131c3e57ab73187c53585154264de020443aa051663f8a7383a10a2d69a4209",
            "000002eaffff1eb48ba288b4a75736794b116bbc7e067fd79b03224476867eff"),
        1: ("8433741b93ebb069e0c8e6af0ae0528e95c85b36f31dde920e631d3f4f6be615e5574b87a2b1374573cd2cd455f1cbe0",
            "a6354e8d6269f7065a5341c2215784f7a9235470176557a58669c7d8ea21c3c7cea999381c62c1830da6c56386b13ea4",
            "79a36a455d7c63e075854f4981c06c22d7b5592fcd350c81cb96d83c1084fba6",
            "221091949dec07afb13365fda101ac1a4e4f20df58603f1f77c4df7c266b1d7f"),
        2: ("a7e8697c6748c3dba033c067dc88b8922f91071a52150d251aa4489526a96387b08c3c73127a1ec058d9d3f459fd0ed6",
            "9888e3e5726b63f18470051ab7ae7e6f8f4fdaa24ac463fb2448cb1994a82e702df7ae6eb066a576d194d27b6e60eade",
            "343c7dac0c6a714ce23f7c406f885149797e6e7e08c218221fc6ea7a44bc1802",
            "0079b83648534abd90b3bd222f0e0c87c878d346ec3f5432d9651676e7aa0e7f"),
        3: ("8a46e1d1348e636b9593f892ccc537324d33d4ec4999e9febd6b524a5e58e1da4e75a2a8bd5823d365c22f2e8b5bd261",
            "8091bdd24659f94d7ffb55d2b4cc203506fd474339d2217fec80c2a1d32fef03ea13b751e97cccece78c54c395775079",
            "89d5cccc7334476a06b64509e1dae365c956e17b4e70c1462c1dea33df7e47ec",
            "44526d8e3f52096e0af4da8c03cc323c267db52d2e75b49433139bce0ffb7d95"),
        254: ("a3fd514c418988dc1f1a19082c36d76f8d1b27191002aac17863251bc5e74c0031fb9a59a01d83e39958c938e0790f3d",
              "98ebf830eb38ccc639ee46c94d217e4862df99683599f56bb2ee5df9ce07a7f62e00e31305672cbbb2000acbc7895e64",
              "b44e96eced06362ff849a8050e1ddbfa486651149ca8462a8399673e6c34d36b",
              "0044b8643630484a8fc2032de117db404bbaf301c874fb85bc90722c56edb4e6"),
        255: ("82b1b25977b0dd4c6274120d2b5b96a2757256eca885c8e03a94c666533a6628838bf006346a2a30bf950e3801d883c8",
              "acea8b397749eb81c749c9691e9ff200a944f7ee4bb1d93a1e4ad2d055100bf7524c3c013956a99c34a80ae9de1eae09",
              "30e335e576ede9724cf09f8215c98a5718056001879e47b7bb64ddb1e86a5fd8",
              "429b7ed65c5c6b3a74c47a80d9da4e62ce386e2f3195757066a68bfb756b92de"),
    },
}


@pytest.fixture(scope="module")
def tv_seg0_archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("tvseg0")
    blk = d / "block-0"
    blk.write_bytes(blake3(b"subspace-spec-block-0").digest(length=RECORDED_HISTORY_SEGMENT_SIZE))
    code, out, err = run_cli("archive", "--blocks", blk, "--out", d / "archive")
    assert code == 0, err
    blk.unlink()
    return d / "archive"


@pytest.mark.slow
def test_tv_seg0_full_size_known_answers(tv_seg0_archive, ckzg_setup):
    """TV-SEG0 (§13.2): header bytes and hash, segment commitment, per-piece commitments, witnesses,
    piece hashes and first chunks; every witness checked by ckzg."""
    d = tv_seg0_archive
    idx = load_index(d)
    assert idx["segments"] == [{"index": 0, **{k: TV_SEG0[k] for k in ("commitment", "header_hash")}}]
    header = (d / "segment-0.header").read_bytes()
    assert header.hex() == "00" + "00" * 8 + TV_SEG0["commitment"] + "00" * 32 + "00000000" + "01faffbf07"
    pieces = np.memmap(d / "segment-0.pieces", dtype=np.uint8, mode="r").reshape(NUM_PIECES, -1)
    rs = 32 * 2**15
    for pos, (commit, witness, piece_hash, first_chunk) in TV_SEG0["pieces"].items():
        p = pieces[pos]
        assert p[rs : rs + 48].tobytes().hex() == commit
        assert p[rs + 48 :].tobytes().hex() == witness
        assert blake3(p.tobytes()).hexdigest() == piece_hash
        assert p[:32].tobytes().hex() == first_chunk
    ckzg, ts = ckzg_setup
    seg_c = bytes.fromhex(TV_SEG0["commitment"])
    for j in range(NUM_PIECES):
        c = pieces[j, rs : rs + 48].tobytes()
        y = blake3_254_hash_to_scalar(c)
        assert ckzg.verify_kzg_proof(seg_c, z_bytes(256, j), y, pieces[j, rs + 48 :].tobytes(), ts), j


@pytest.mark.slow
def test_tv_seg0_verify_and_repair_full_size(tv_seg0_archive, tmp_path):
    code, out, err = run_cli("verify-pieces", tv_seg0_archive)
    assert code == 0, err
    d = copy_archive(tv_seg0_archive, tmp_path / "a")
    ps = 1_048_672
    raw = bytearray((d / "segment-0.pieces").read_bytes())
    original_hash = blake3(bytes(raw)).hexdigest()
    for pos in list(range(100, 130)) + [0, 255]:  # sources and parities, as upstream piece_reconstruction
        raw[pos * ps : (pos + 1) * ps] = bytes(ps)
    (d / "segment-0.pieces").write_bytes(bytes(raw))
    del raw
    code, out, err = run_cli("repair", d)
    assert code == 0, err
    assert blake3((d / "segment-0.pieces").read_bytes()).hexdigest() == original_hash
