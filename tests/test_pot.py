"""Proof-of-Time: AES kernels, prove/verify, protocol derivations (pot-rpc.md A, B).

Known answers come from shared/vectors/pot.json and pot-rpc.md A.10 (reproduced upstream-side by a
Rust port of the x86-64 prover); independent cross-checks use pycryptodome (AES-ECB per block and
the CBC-of-zero-blocks trick of B.1).
"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from Crypto.Cipher import AES

from farmkit.errors import FarmkitError
from farmkit.kernels import aes
from farmkit.pot import create_checkpoints, prove, verify, verify_batch, verify_checkpoints
from farmkit.protocol import pot as P

from conftest import opencl_available

NATIVE = [i for i in aes.available_impls() if i != "portable"]
ALL_IMPLS = list(aes.available_impls())
RNG = random.Random(20261123)

# pot-rpc.md A.10, mainnet size: prove(SEED, 206,557,520)
MAINNET_CHECKPOINTS = [
    "ea4f9ed2767f060bd8fc0b28608ff591", "cdb6e3fe0d0af4ab2a9cc10722084d0a",
    "d7d81cd65a24a36f9d8ead6197e8226a", "1e034277f01c6229a6605ccf9803abfd",
    "7d5408346e2bee4081abeafa3084782f", "e6358f8d1a261e945c46cd1280645d55",
    "eabc604a5339eb7a3e38818ee737bbdf", "c3771b36c4285ab3d831cea64d64334d",
]  # fmt: skip


def rbytes(n: int) -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(n))


def hexes(xs):
    return [x.hex() for x in xs]


@pytest.fixture(scope="module")
def v(vectors):
    return vectors("pot.json")


# --- reference AES against FIPS-197 and pycryptodome ---------------------------------------------


def test_fips197_known_answers():
    rk = aes.expand_key(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))  # FIPS-197 A.1
    assert rk[10].hex() == "d014f9a8c9ee2589e13f0cc8b6630ca6"
    rk = aes.expand_key(bytes(range(16)))  # FIPS-197 C.1
    ct = aes.encrypt_block(rk, bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert ct.hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert aes.decrypt_block(rk, ct).hex() == "00112233445566778899aabbccddeeff"


def test_reference_matches_pycryptodome():
    for _ in range(8):
        key, block = rbytes(16), rbytes(16)
        ecb = AES.new(key, AES.MODE_ECB)
        rk = aes.expand_key(key)
        assert aes.encrypt_block(rk, block) == ecb.encrypt(block)
        assert aes.decrypt_block(rk, block) == ecb.decrypt(block)
    key, block = rbytes(16), rbytes(16)
    n = RNG.randrange(1, 60)
    assert aes.reference_chain(key, block, n) == aes.cbc_chain(key, block, n)
    assert aes.reference_inverse_chain(key, aes.reference_chain(key, block, n), n) == block


# --- fast chains against the reference / pycryptodome --------------------------------------------


@pytest.mark.parametrize("impl", ["aesni", "portable"])
def test_encrypt_chain_matches_reference(impl):
    if impl not in aes.available_impls():
        pytest.skip(f"{impl} not supported here")
    for n in (0, 1, 2, 37):
        key, block = rbytes(16), rbytes(16)
        assert aes.encrypt_chain(key, block, n, impl) == aes.reference_chain(key, block, n)
    key, block = rbytes(16), rbytes(16)
    n = aes._CBC_CHUNK_BLOCKS * 2 + 123  # crosses the portable path's chunk boundary
    expected = AES.new(key, AES.MODE_CBC, iv=block).encrypt(bytes(16 * n))[-16:]
    assert aes.encrypt_chain(key, block, n, impl) == expected


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_verify_segments_random(impl):
    """Every backend agrees with pycryptodome's chain: valid segments pass, any tampered one fails."""
    for _ in range(3):
        key = rbytes(16)
        ci = 2 * RNG.randrange(1, 40)
        inputs = [rbytes(16) for _ in range(8)]
        outputs = [aes.cbc_chain(key, x, ci) for x in inputs]
        assert aes.verify_segments(key, inputs, outputs, ci, impl)
        j = RNG.randrange(8)
        bad = list(outputs)
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        assert not aes.verify_segments(key, inputs, bad, ci, impl)
        assert not aes.verify_segments(key, inputs, outputs, ci + 2, impl)


def test_kernels_emit_aes_instructions():
    if "aesni" not in aes.available_impls():
        pytest.skip("no AES-NI")
    asm = aes.kernel_asm("aesni")
    assert "aesenc" in asm and "aesenclast" in asm and "aesdec" in asm
    for impl, reg in (("vaes256", "ymm"), ("vaes512", "zmm")):
        if impl in aes.available_impls():
            text = aes.kernel_asm(impl)
            assert any(line.strip().startswith("vaesenc") and reg in line for line in text.splitlines()), impl
            assert any(line.strip().startswith("vaesdec") and reg in line for line in text.splitlines()), impl


def test_kernels_release_the_gil():
    for kernel in (aes.aesni_chain_kernel, aes.aesni_mitm_kernel, aes.vaes256_mitm_kernel, aes.vaes512_mitm_kernel):
        assert kernel.targetoptions.get("nogil") is True
        assert type(kernel._cache).__name__ != "NullCache"  # cache=True


def test_impl_resolution():
    assert aes.resolve_impl(None) == aes.available_impls()[0]
    with pytest.raises(FarmkitError):
        aes.resolve_impl("sse9000")
    assert aes.prove_impl("portable") == "portable"


# --- prove / verify known answers -------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["aesni", "portable"])
def test_prove_known_answers(v, impl):
    if impl not in aes.available_impls():
        pytest.skip(f"{impl} not supported here")
    seed = bytes.fromhex(v["SEED"])
    assert P.derive_pot_key(seed).hex() == v["key(SEED)=blake3(SEED)[:16]"]
    assert hexes(create_checkpoints(seed, bytes.fromhex(v["KEY"]), 20, impl=impl)) == v["create(SEED,KEY,20)"]
    out1 = prove(seed, 512, impl=impl)
    assert hexes(out1) == v["prove(SEED,512)"]
    assert hexes(prove(P.derive_next_seed(out1[-1]), 512, impl=impl)) == v["prove(output1.seed(),512)"]
    injected = P.derive_next_seed(out1[-1], bytes([1]) * 32)
    assert injected.hex() == v["seed_with_entropy(output1, [1;32])"]
    out2 = prove(injected, 1024, impl=impl)
    assert hexes(out2) == v["prove(seed_with_entropy,1024)"]
    assert hexes(prove(P.derive_next_seed(out2[-1]), 1024, impl=impl)) == v["prove(output2.seed(),1024)"]


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_verify_known_answers_and_upstream_negatives(v, impl):
    seed, seed_1 = bytes.fromhex(v["SEED"]), bytes.fromhex(v["SEED_1"])
    key, key_1 = bytes.fromhex(v["KEY"]), bytes.fromhex(v["KEY_1"])
    cps = [bytes.fromhex(h) for h in v["create(SEED,KEY,20)"]]
    assert verify_checkpoints(seed, key, 20, cps, impl=impl)
    assert verify_checkpoints(seed, key, 20, b"".join(cps), impl=impl)  # 128-byte SCALE form
    bad = [bytes([22]) * 16] + cps[1:]  # upstream BAD_CIPHER
    assert not verify_checkpoints(seed, key, 20, bad, impl=impl)
    assert not verify_checkpoints(seed, key, 22, cps, impl=impl)
    assert not verify_checkpoints(seed, key, 18, cps, impl=impl)
    assert not verify_checkpoints(seed_1, key, 20, cps, impl=impl)
    assert not verify_checkpoints(seed, key_1, 20, cps, impl=impl)
    proof = [bytes.fromhex(h) for h in v["prove(SEED,512)"]]
    assert verify(seed, 512, proof, impl=impl)
    assert not verify(seed, 1024, proof, impl=impl)
    for name, s, n in (("prove(seed_with_entropy,1024)", v["seed_with_entropy(output1, [1;32])"], 1024),):
        assert verify(bytes.fromhex(s), n, [bytes.fromhex(h) for h in v[name]], impl=impl)


@pytest.mark.parametrize("impl", NATIVE)
def test_verify_mainnet_vector(v, impl):
    """A.10's mainnet-size checkpoints (206,557,520 iterations) verify in well under a second."""
    seed = bytes.fromhex(v["SEED"])
    cps = [bytes.fromhex(h) for h in MAINNET_CHECKPOINTS]
    assert verify(seed, 206_557_520, cps, impl=impl)
    cps[5] = bytes(16)
    assert not verify(seed, 206_557_520, cps, impl=impl)


@pytest.mark.slow
def test_prove_mainnet_vector(v):
    assert hexes(prove(bytes.fromhex(v["SEED"]), 206_557_520)) == MAINNET_CHECKPOINTS


def test_prove_random_against_pycryptodome():
    for _ in range(4):
        seed = rbytes(16)
        iterations = 16 * RNG.randrange(1, 200)
        ci = iterations // 8
        ecb_key = P.derive_pot_key(seed)
        chain = AES.new(ecb_key, AES.MODE_CBC, iv=seed).encrypt(bytes(16 * iterations))
        expected = [chain[16 * ((j + 1) * ci - 1) : 16 * (j + 1) * ci] for j in range(8)]
        cps = prove(seed, iterations)
        assert cps == expected
        for impl in ALL_IMPLS:
            assert verify(seed, iterations, cps, impl=impl)
            for j in range(8):
                bad = list(cps)
                bad[j] = rbytes(16)
                assert not verify(seed, iterations, bad, impl=impl)


def test_prove_reports_progress_and_runs_in_threads():
    seed = rbytes(16)
    seen = []
    cps = prove(seed, 1 << 10, progress=seen.append)
    assert seen[-1] == 1 << 10 and len(seen) >= 8 and seen == sorted(seen)
    results = {}

    def work(i):
        results[i] = verify(seed, 1 << 10, cps)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] for i in range(4))


@pytest.mark.parametrize("iterations", [0, -16, 8, 1000, 2**32])
def test_bad_iterations_raise(iterations):
    with pytest.raises(FarmkitError):
        prove(bytes(16), iterations)
    with pytest.raises(FarmkitError):
        verify(bytes(16), iterations, [bytes(16)] * 8)


def test_bad_shapes_raise():
    with pytest.raises(FarmkitError):
        prove(bytes(15), 16)
    with pytest.raises(FarmkitError):
        verify(bytes(16), 16, [bytes(16)] * 7)
    with pytest.raises(FarmkitError):
        verify(bytes(16), 16, [bytes(16)] * 7 + [bytes(15)])
    with pytest.raises(FarmkitError):
        verify(bytes(16), 16, bytes(127))


# --- batches: cpu threads and the GPU kernel --------------------------------------------------------


def _batch_cases():
    cases, expected = [], []
    for i in range(6):
        seed = rbytes(16)
        iterations = 16 * RNG.choice([3, 5, 8])
        cps = prove(seed, iterations)
        if i % 3 == 1:
            cps[RNG.randrange(8)] = rbytes(16)
        cases.append((seed, iterations, cps))
        expected.append(i % 3 != 1)
    return cases, expected


def test_verify_batch_cpu():
    cases, expected = _batch_cases()
    assert verify_batch(cases, backend="cpu", threads=2) == expected
    assert verify_batch(cases, backend="cpu", impl="portable") == expected


@pytest.mark.opencl
def test_verify_batch_opencl_matches_cpu(v):
    if not opencl_available():
        pytest.skip("no OpenCL platform")
    cases, expected = _batch_cases()
    seed = bytes.fromhex(v["SEED"])
    cases.append((seed, 512, [bytes.fromhex(h) for h in v["prove(SEED,512)"]]))
    expected.append(True)
    cases.append((seed, 1024, [bytes.fromhex(h) for h in v["prove(SEED,512)"]]))
    expected.append(False)
    assert verify_batch(cases, backend="opencl") == expected
    assert verify_batch(cases, backend="cpu") == expected


@pytest.mark.opencl
def test_gpu_kernel_crosses_launch_boundaries(monkeypatch):
    if not opencl_available():
        pytest.skip("no OpenCL platform")
    monkeypatch.setattr(aes, "GPU_ITERATIONS_PER_LAUNCH", 7)
    key = rbytes(16)
    inputs = np.frombuffer(rbytes(2 * 8 * 16), np.uint8).reshape(2, 8, 16)
    outputs = np.array([[np.frombuffer(aes.cbc_chain(key, x.tobytes(), 30), np.uint8) for x in row] for row in inputs])
    outputs[1, 7, 15] ^= 0x80
    assert aes.gpu_verify_segments_many("opencl", [key, key], inputs, outputs, 30).tolist() == [True, False]


# --- protocol derivations (A.6, A.7) ----------------------------------------------------------------


def test_global_challenge_known_answers(v):
    out1 = bytes.fromhex(v["prove(SEED,512)"][-1])
    assert P.derive_global_randomness(out1).hex() == v["global_randomness(prove(SEED,512).output)"]
    assert P.derive_global_challenge(out1, 1).hex() == v["global_challenge(.., slot=1)"]
    out_mainnet = bytes.fromhex(MAINNET_CHECKPOINTS[-1])  # pot-rpc.md A.10 derived hashes
    assert P.derive_global_randomness(out_mainnet).hex() == "411b43d4c4a3601a24a9c40917a7ba4c56ad3ce6f1ce538303ca1149d6553b1b"
    assert P.derive_global_challenge(out_mainnet, 1).hex() == "a827f3d17f09984bf9af172ebea0ad0af60f579e7c9efe424fd8348758cca176"


def test_genesis_seed_and_entropy_known_answers(v):
    assert P.seed_from_genesis(bytes(32)).hex() == "2ada83c1819a5372dae1238fc1ded123"
    chronos = b"000000000000000000002d7e53dd67e5db28b6d07e3a4b301b1fd9c8865da8c7"
    assert P.seed_from_genesis(bytes(32), chronos).hex() == "331eb36828b36692cb06dca5f5de69c6"
    entropy = P.derive_pot_entropy(bytes([8]) * 32, bytes.fromhex(v["SEED"]))
    assert entropy.hex() == "0352993662e2e6076e5c55757417e780de456ddf6b4ee39e5d4c8d3f8c8ccec3"


def test_next_slot_input_derive(v):
    out = bytes.fromhex(v["prove(SEED,512)"][-1])
    entropy = bytes([1]) * 32
    injected = bytes.fromhex(v["seed_with_entropy(output1, [1;32])"])
    assert P.PotNextSlotInput.derive(512, 1, out) == P.PotNextSlotInput(2, 512, out)
    change = P.PotParametersChange(slot=2, slot_iterations=1024, entropy=entropy)
    assert P.PotNextSlotInput.derive(512, 1, out, change) == P.PotNextSlotInput(2, 1024, injected)
    # change already in effect: new iterations, no injection
    assert P.PotNextSlotInput.derive(512, 5, out, change) == P.PotNextSlotInput(6, 1024, out)
    # change still in the future: nothing changes
    assert P.PotNextSlotInput.derive(512, 0, out, change) == P.PotNextSlotInput(1, 512, out)
    # upstream verifier test: the chain with a change at slot 2 verifies only with the change
    slot2 = P.PotNextSlotInput.derive(512, 1, out, change)
    assert verify(slot2.seed, slot2.slot_iterations, [bytes.fromhex(h) for h in v["prove(seed_with_entropy,1024)"]])
    plain = P.PotNextSlotInput.derive(512, 1, out)
    assert not verify(plain.seed, plain.slot_iterations, [bytes.fromhex(h) for h in v["prove(seed_with_entropy,1024)"]])


def test_derivation_input_checks():
    with pytest.raises(FarmkitError):
        P.derive_pot_key(bytes(15))
    with pytest.raises(FarmkitError):
        P.derive_next_seed(bytes(16), bytes(31))
    with pytest.raises(FarmkitError):
        P.derive_global_challenge(bytes(16), -1)
