"""KZG (kzg-erasure-archiving.md §3, §4, §6, §13.2): spec vectors, ckzg and py_ecc as oracles."""

import hashlib

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import erasure, fft, fr, kzg

R = fr.MODULUS


def spec_values(tag: bytes, n: int):
    """§13.2 recipe: v_i = int(00 || SHA-256(tag || u32le(i))[0:31])."""
    return [int.from_bytes(b"\0" + hashlib.sha256(tag + i.to_bytes(4, "little")).digest()[:31], "big") for i in range(n)]


TV_K8_COMMIT = "b1771f08c68011753b19e06dac8c5258318e6fa2922e083e30614163e48d14290d6c48fd3cffa5fedc777cde32b2333a"
TV_K8_W0 = "802adebdaeacfc63bd3851d472f8ca3827c4500df34bd7214005926f3e94605ec082a7e33fb1f541c8ef0194571220ba"
TV_K8_W7 = "a4a91ca48fcff2af1c1abcc3151c56a5495bae8e7026972e193632aeafe552b462f816fd136a9c1d179a47142e3c6cba"
TV_REC_COMMIT = "9139b8512bf9cd49b297f58a75a6cbf3b4f32d1bfb518400015c7ecdbf5835dab748a16a91150d87f01ee4f2783d9492"


@pytest.fixture(scope="module")
def K():
    return kzg.default_kzg()


@pytest.fixture(scope="module")
def ckzg_setup(shared_dir):
    ckzg = pytest.importorskip("ckzg")
    path = shared_dir / "data" / "subspace-tau-ckzg-trusted-setup.txt"
    return ckzg, ckzg.load_trusted_setup(str(path), 0)


@pytest.fixture(scope="module")
def record():
    """TV-REC: 32,768 values with tag b"record"."""
    vals = fr.ints_to_bytes(spec_values(b"record", 2**15))
    return vals, kzg.default_kzg().poly_from_evaluations(vals)


def z_bytes(n, index):
    return pow(fft.root_of_unity(n), index, R).to_bytes(32, "big")


# --- parameters (§4) ---------------------------------------------------------------------------------
def test_shipped_parameters(shared_dir, K):
    data = kzg.PARAMETERS_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == kzg.PARAMETERS_SHA256
    assert data == (shared_dir / "data" / "eth-public-parameters.bin").read_bytes()
    assert K.g1_power_bytes(0) == kzg.G1_GENERATOR
    assert K.g2_power_bytes(0) == kzg.G2_GENERATOR
    from py_arkworks_bls12381 import GT, G1Point, G2Point

    g1 = [G1Point.from_compressed_bytes(K.g1_power_bytes(i)) for i in (0, 1, 32766, 32767)]
    g2 = [G2Point.from_compressed_bytes(K.g2_power_bytes(j)) for j in (0, 1)]
    assert GT.pairing(g1[1], g2[0]) == GT.pairing(g1[0], g2[1])  # same τ in G1 and G2
    assert GT.pairing(g1[3], g2[0]) == GT.pairing(g1[2], g2[1])


def test_corrupt_parameters_rejected(tmp_path):
    data = bytearray(kzg.PARAMETERS_FILE.read_bytes())
    data[1000] ^= 1
    p = tmp_path / "params.bin"
    p.write_bytes(bytes(data))
    with pytest.raises(FarmkitError, match="sha256"):
        kzg.Kzg(p)
    p.write_bytes(bytes(data[:-1]))
    with pytest.raises(FarmkitError, match="bytes"):
        kzg.Kzg(p)


# --- TV-K8 (§13.2) --------------------------------------------------------------------------------------
def test_tv_k8_commit_and_witnesses(K):
    vals = spec_values(b"subspace-spec-tv", 8)
    assert vals[0] == int("0003d7de9fc7baca206c5589eb06a244548697d56efc09f8b51cac36572ae2a2", 16)
    vb = fr.ints_to_bytes(vals)
    c = K.poly_from_evaluations(vb)
    assert fr.ints_from_bytes(c) == fft.ref_ifft(vals)
    C = K.commit(c)
    assert C.hex() == TV_K8_COMMIT
    assert K.commit_evaluations(vb, use_lagrange=False) == C
    assert K.create_witness(c, 8, 0).hex() == TV_K8_W0
    assert K.create_witness(c, 8, 7).hex() == TV_K8_W7
    for i in range(8):
        w = K.create_witness(c, 8, i)
        assert K.verify(C, 8, i, vb[i], w)
        assert not K.verify(C, 8, i, vb[(i + 1) % 8], w)


def test_commit_recomputed_with_py_ecc(K):
    """Fully independent: py_ecc decompression, scalar multiplication and compression."""
    from py_ecc.bls.point_compression import compress_G1, decompress_G1
    from py_ecc.optimized_bls12_381 import Z1, add, multiply

    vals = spec_values(b"subspace-spec-tv", 8)
    coeffs = fft.ref_ifft(vals)
    acc = Z1
    for k, ck in enumerate(coeffs):
        g = decompress_G1(int.from_bytes(K.g1_power_bytes(k), "big"))
        acc = add(acc, multiply(g, ck))
    assert compress_G1(acc).to_bytes(48, "big").hex() == TV_K8_COMMIT
    assert K.commit(fr.ints_to_bytes(coeffs)).hex() == TV_K8_COMMIT


def test_quotient_matches_reference():
    rng = np.random.default_rng(1)
    coeffs = [int(x) for x in rng.integers(0, 2**62, 40)]
    x = fft.root_of_unity(64) ** 5 % R
    got = fr.ints_from_bytes(kzg.quotient(fr.ints_to_bytes(coeffs), x))
    assert got == kzg.ref_quotient(coeffs, x)
    # (p(X) − p(x)) = q(X)(X − x) at a random point
    t = 123456789
    p = lambda cs, u: sum(c * pow(u, k, R) for k, c in enumerate(cs)) % R  # noqa: E731
    assert (p(coeffs, t) - p(coeffs, x)) % R == p(got, t) * (t - x) % R


# --- ckzg as oracle (segment-size polynomials, §15) -----------------------------------------------
def test_segment_size_commitment_and_witnesses_match_ckzg(K, ckzg_setup):
    ckzg, s = ckzg_setup
    rng = np.random.default_rng(2)
    h = rng.integers(0, 256, (256, 32), dtype=np.uint8)
    h[:, 0] &= 0x3F  # like blake3_254 hashes (§2)
    c = K.poly_from_evaluations(h)
    # blob = evaluations on ckzg's 4096-domain, bit-reversed order (§15)
    ev = fft.fft(c, 4096)
    blob = ev[fft.bit_reverse_permutation(4096)].tobytes()
    C = K.commit(c)
    assert bytes(ckzg.blob_to_kzg_commitment(blob, s)) == C
    for j in (0, 1, 77, 255):
        proof, y = ckzg.compute_kzg_proof(blob, z_bytes(256, j), s)
        assert bytes(y) == h[j].tobytes()
        assert bytes(proof) == K.create_witness(c, 256, j)


def test_record_commitment_and_witnesses(K, ckzg_setup, record):
    """TV-REC: record commitment (§13.2) and record-level witnesses accepted by ckzg."""
    ckzg, s = ckzg_setup
    vals, c = record
    C = K.commit(c)
    assert C.hex() == TV_REC_COMMIT
    for i in (0, 1, 32767):
        w = K.create_witness(c, 2**15, i)
        assert ckzg.verify_kzg_proof(C, z_bytes(2**15, i), vals[i].tobytes(), w, s)
        assert K.verify(C, 2**15, i, vals[i], w)
        if i == 1:  # §11: a (32768, i) witness is the (65536, 2i) witness
            assert K.create_witness(c, 2**16, 2 * i) == w
            assert K.verify(C, 2**16, 2 * i, vals[i], w)


def test_chunk_witness_on_extended_record(K, ckzg_setup, record):
    """Chunk witnesses (§11, sector-audit-prove.md §10): odd s-buckets open to record parity."""
    ckzg, s = ckzg_setup
    vals, c = record
    C = bytes.fromhex(TV_REC_COMMIT)
    parity = erasure.extend(vals)
    for sb in (1, 4001, 65535):
        w = K.create_witness(c, 2**16, sb)
        y = parity[(sb - 1) // 2]
        assert ckzg.verify_kzg_proof(C, z_bytes(2**16, sb), y.tobytes(), w, s)
        assert K.verify(C, 2**16, sb, y, w)
        assert not K.verify(C, 2**16, sb, vals[0], w)


def test_commit_evaluations_batched(K, record):
    vals, _ = record
    got = K.commit_evaluations_many(np.stack([vals, vals[::-1]]), use_lagrange=False)
    assert got[0].hex() == TV_REC_COMMIT
    assert got[1] == K.commit(K.poly_from_evaluations(np.ascontiguousarray(vals[::-1])))


# --- extend_commitments (§7) ----------------------------------------------------------------------------
def test_extend_commitments_equals_commitments_of_parity_records(K):
    rng = np.random.default_rng(5)
    n_rec, n_chunks = 4, 16
    recs = np.zeros((n_rec, n_chunks, 32), dtype=np.uint8)
    recs[:, :, 1:] = rng.integers(0, 256, (n_rec, n_chunks, 31), dtype=np.uint8)
    parity = erasure.extend_records(recs)
    src_c = [K.commit_evaluations(r) for r in recs]
    ext = kzg.extend_commitments(src_c)
    assert ext[0::2] == src_c
    assert ext[1::2] == [K.commit_evaluations(p) for p in parity]
    # upstream's construction: G1-IFFT, pad with identity, G1-FFT
    from py_arkworks_bls12381 import G1Point

    pts = [G1Point.from_compressed_bytes_unchecked(x) for x in src_c]
    coeffs = kzg.g1_ifft(pts) + [G1Point.identity()] * n_rec
    assert [bytes(p.to_compressed_bytes()) for p in kzg.g1_fft(coeffs)] == ext


# --- Lagrange basis ---------------------------------------------------------------------------------------
def test_lagrange_basis_commitments_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("FARMKIT_CACHE", str(tmp_path))
    k1 = kzg.Kzg()
    vals = fr.ints_to_bytes(spec_values(b"subspace-spec-tv", 8))
    assert not k1.has_lagrange_basis(8)
    assert k1.commit_evaluations(vals, use_lagrange=True).hex() == TV_K8_COMMIT
    k2 = kzg.Kzg()
    assert k2.has_lagrange_basis(8)  # from the disk cache
    assert k2.commit_evaluations(vals).hex() == TV_K8_COMMIT
    rng = np.random.default_rng(1)
    v = rng.integers(0, 256, (256, 32), dtype=np.uint8)
    v[:, 0] &= 0x3F
    assert k2.commit_evaluations(v, use_lagrange=True) == k2.commit(k2.poly_from_evaluations(v))
    # a corrupt cache file is recomputed, not trusted
    path = next(tmp_path.glob("*-8.bin"))
    raw = bytearray(path.read_bytes())
    raw[5] ^= 1
    path.write_bytes(bytes(raw))
    assert kzg.Kzg().commit_evaluations(vals, use_lagrange=True).hex() == TV_K8_COMMIT


# --- verify edge cases and encodings (§3, §6) -----------------------------------------------------------------
def test_verify_rejects_garbage(K):
    vals = fr.ints_to_bytes(spec_values(b"subspace-spec-tv", 8))
    C = bytes.fromhex(TV_K8_COMMIT)
    w = bytes.fromhex(TV_K8_W7)
    assert K.verify(C, 8, 7, vals[7].tobytes(), w)
    assert not K.verify(b"\x00" * 48, 8, 7, vals[7], w)
    assert not K.verify(C, 8, 7, vals[7], b"\xff" * 48)
    assert not K.verify(C, 8, 9, vals[7], w)  # index beyond the domain
    assert not K.verify(C, 8, 7, R.to_bytes(32, "big"), w)  # non-canonical value
    assert not K.verify(C, 8, 7, b"\x00" * 31, w)


def test_encodings_and_errors(K):
    assert kzg.G1_IDENTITY == b"\xc0" + bytes(47)
    assert K.commit(np.zeros((0, 32), dtype=np.uint8)) == kzg.G1_IDENTITY
    assert K.commit(fr.ints_to_bytes([1])) == kzg.G1_GENERATOR
    assert K.create_witness(fr.ints_to_bytes([9]), 8, 3) == kzg.G1_IDENTITY  # constant: zero quotient
    with pytest.raises(FarmkitError):
        K.commit(np.zeros((2**15 + 1, 32), dtype=np.uint8))
    with pytest.raises(FarmkitError):
        K.poly_from_evaluations(np.zeros((6, 32), dtype=np.uint8))
    with pytest.raises(FarmkitError):
        K.create_witness(fr.ints_to_bytes([1, 2]), 8, 9)
    bad = np.full((2, 32), 0xFF, dtype=np.uint8)
    with pytest.raises(FarmkitError):
        K.commit(bad)
