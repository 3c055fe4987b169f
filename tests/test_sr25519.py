"""sr25519 (schnorrkel) with any signing context: Keccak/STROBE/Merlin, ristretto255, keys, signatures.

Known answers: FIPS 202 via hashlib (the Keccak permutation), the merlin crate's transcript tests,
RFC 9496 Appendix A (ristretto255), pot-rpc.md C.7 identity vectors, polkadot-js signatures; and
py-sr25519-bindings (Rust schnorrkel) as an independent implementation under context "substrate".
"""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from farmkit.errors import FarmkitError
from farmkit.kernels import ristretto
from farmkit.kernels import sr25519 as sr
from farmkit.kernels.merlin import Transcript, keccak_sponge

bindings = pytest.importorskip("sr25519")  # py-sr25519-bindings

REWARD_CONTEXT = b"subspace_reward"

# --- Keccak-f[1600] through a sponge vs hashlib -------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 135, 136, 137, 167, 168, 169, 400])
def test_keccak_sponge_matches_hashlib(n):
    msg = random.Random(n).randbytes(n)
    assert keccak_sponge(136, 0x06, msg, 32) == hashlib.sha3_256(msg).digest()
    assert keccak_sponge(72, 0x06, msg, 64) == hashlib.sha3_512(msg).digest()
    assert keccak_sponge(168, 0x1F, msg, 200) == hashlib.shake_128(msg).digest(200)
    assert keccak_sponge(136, 0x1F, msg, 300) == hashlib.shake_256(msg).digest(300)


# --- Merlin (merlin crate tests: equivalence_simple / equivalence_complex) ----------------------


def test_merlin_simple_transcript():
    t = Transcript(b"test protocol")
    t.append_message(b"some label", b"some data")
    assert t.challenge_bytes(b"challenge", 32).hex() == (
        "d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615"
    )


def test_merlin_complex_transcript():
    t = Transcript(b"test protocol")
    t.append_message(b"step1", b"some data")
    data = bytes([99]) * 1024
    for _ in range(32):
        chl = t.challenge_bytes(b"challenge", 32)
        t.append_message(b"bigdata", data)
        t.append_message(b"challengedata", chl)
    assert chl.hex() == "a8c933f54fae76e3f9bea93648c1308e7dfa2152dd51674ff3ca438351cf003c"


def test_merlin_copy_is_independent():
    t = Transcript(b"x")
    t.append_message(b"a", b"b")
    u = t.copy()
    assert t.challenge_bytes(b"c", 16) == u.challenge_bytes(b"c", 16)
    t.append_message(b"more", b"1")
    assert t.challenge_bytes(b"c", 16) != u.challenge_bytes(b"c", 16)


# --- ristretto255 (RFC 9496 Appendix A) ---------------------------------------------------------

RFC_MULTIPLES = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
    "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    "e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
    "f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403",
    "44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d",
    "903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c",
    "02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031",
    "20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f",
    "bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42",
    "e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460",
    "aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f",
    "46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e",
    "e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e",
]

RFC_BAD_ENCODINGS = [
    # non-canonical field encodings
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    # negative field elements
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
    "c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
    "47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
    "f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
    "87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
    # non-square x^2
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    "bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
    "2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
    "f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
    "8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
    "2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
    # negative xy value
    "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
    "d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
    "8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
    "32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
    "227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
    "5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
    "445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
    # s = -1, which causes y = 0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]

# RFC 9496 A.3: SHA-512 of these labels -> element derivation -> encoding
RFC_HASH_TO_GROUP = [
    ("Ristretto is traditionally a short shot of espresso coffee",
     "3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46"),
    ("made with the normal amount of ground coffee but extracted with",
     "f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b"),
    ("about half the amount of water in the same amount of time",
     "006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826"),
    ("by using a finer grind.",
     "f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a"),
    ("This produces a concentrated shot of coffee per volume.",
     "ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179"),
    ("Just pulling a normal shot short will produce a weaker shot",
     "e2705652ff9f5e44d3e841bf1c251cf7dddb77d140870d1ab2ed64f1a9ce8628"),
    ("and is not a Ristretto as some believe.",
     "80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065"),
]

RFC_CONVERGENCE = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1200000000000000000000000000000000000000000000000000000000000000",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0000000000000000000000000000000000000000000000000000000000000080ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "00000000000000000000000000000000000000000000000000000000000000001200000000000000000000000000000000000000000000000000000000000080",
]


def test_ristretto_multiples_of_generator():
    acc = ristretto.IDENTITY
    for k, want in enumerate(RFC_MULTIPLES):
        assert ristretto.encode(acc).hex() == want  # by repeated addition
        assert ristretto.encode(ristretto.mul_base_reference(k)).hex() == want
        assert ristretto.encode(ristretto.mul_base(k)).hex() == want  # libsodium fast path
        assert ristretto.encode(ristretto.mul(k, ristretto.BASEPOINT)).hex() == want
        assert ristretto.encode(ristretto.decode(bytes.fromhex(want))) == bytes.fromhex(want)
        acc = ristretto.add(acc, ristretto.BASEPOINT)


@pytest.mark.parametrize("enc", RFC_BAD_ENCODINGS)
def test_ristretto_rejects_bad_encodings(enc):
    with pytest.raises(ristretto.RistrettoError):
        ristretto.decode(bytes.fromhex(enc))


@pytest.mark.parametrize("label,want", RFC_HASH_TO_GROUP)
def test_ristretto_hash_to_group(label, want):
    p = ristretto.from_uniform_bytes(hashlib.sha512(label.encode()).digest())
    assert ristretto.encode(p).hex() == want


def test_ristretto_hash_to_group_convergence():
    outs = {ristretto.encode(ristretto.from_uniform_bytes(bytes.fromhex(h))).hex() for h in RFC_CONVERGENCE}
    assert outs == {"304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f"}


def test_ristretto_fast_base_mult_matches_reference():
    rng = random.Random(7)
    for _ in range(20):
        k = rng.randrange(ristretto.L)
        ref = ristretto.mul_base_reference(k)
        assert ristretto.encode(ristretto.mul_base(k)) == ristretto.encode(ref)
        assert ristretto.equals(ristretto.mul(k, ristretto.BASEPOINT), ref)
    # group order and torsion-free equality
    assert ristretto.encode(ristretto.mul_base_reference(ristretto.L - 1)) == ristretto.encode(ristretto.neg(ristretto.BASEPOINT))


# --- Keys -----------------------------------------------------------------------------------------


def test_identity_vectors_from_spec():
    """pot-rpc.md C.7: entropy 07 x 32 and mini secret 00..1f."""
    assert sr.mini_secret_from_entropy(b"\x07" * 32).hex() == (
        "12c532afaa1c0ffe4d0eae23c7038d9e866e4335a00eaa3f0dbb01661295325d"
    )
    assert sr.keypair_from_entropy(b"\x07" * 32).public.hex() == (
        "ae78b88f68f8a3391cd7d1a8908766e1d068b2c1db6244a373e8b643e49d085f"
    )
    assert sr.public_key(bytes(range(32))).hex() == (
        "e2111779981618705ecacea1af6ff9350bce2b2dccd03e0c3e01eb0c823d2666"
    )


def test_polkadot_js_key_vector():
    mini = bytes.fromhex("fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e")
    assert sr.keypair_from_mini_secret(mini).public.hex() == (
        "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"
    )


def test_keys_match_bindings_on_random_seeds():
    rng = random.Random(1)
    for _ in range(10):
        mini = rng.randbytes(32)
        pub, sec = bindings.pair_from_seed(mini)
        kp = sr.keypair_from_mini_secret(mini)
        assert kp.public == pub
        assert kp.secret_key == sec
        assert sr.keypair_from_secret_key(sec).public == pub
        assert sr.public_key(sec) == pub


def test_uniform_expansion_differs_and_is_consistent():
    mini = bytes(range(32))
    ku = sr.keypair_from_mini_secret(mini, "uniform")
    ke = sr.keypair_from_mini_secret(mini, "ed25519")
    assert ku.public != ke.public
    assert ristretto.encode(ristretto.mul_base_reference(ku.secret_scalar)) == ku.public
    assert sr.verify(ku.public, b"m", sr.sign(ku, b"m", REWARD_CONTEXT), REWARD_CONTEXT)


def test_key_input_errors_are_one_line():
    with pytest.raises(FarmkitError):
        sr.mini_secret_from_entropy(b"\x00" * 15)
    with pytest.raises(FarmkitError):
        sr.keypair_from_mini_secret(b"\x00" * 31)
    with pytest.raises(FarmkitError):
        sr.keypair_from_mini_secret(b"\x00" * 32, "bogus")
    with pytest.raises(FarmkitError):
        sr.sign(b"\x00" * 33, b"m")
    with pytest.raises(FarmkitError):
        sr.keypair_from_secret_key(b"\xff" * 64)  # scalar >= l


# --- Signatures -------------------------------------------------------------------------------------


def test_our_signatures_verify_in_bindings():
    rng = random.Random(2)
    for i in range(5):
        mini = rng.randbytes(32)
        pub, _ = bindings.pair_from_seed(mini)
        msg = rng.randbytes(i * 17)
        sig = sr.sign(mini, msg)  # default context "substrate"
        assert len(sig) == 64 and sig[63] & 0x80
        assert bindings.verify(sig, msg, pub)
        assert not bindings.verify(sig, msg + b"x", pub)
        # the same key under the reward context: not a "substrate" signature
        assert not bindings.verify(sr.sign(mini, msg, REWARD_CONTEXT), msg, pub)


def test_bindings_signatures_verify_with_ours():
    rng = random.Random(3)
    for i in range(5):
        pub, sec = bindings.pair_from_seed(rng.randbytes(32))
        msg = rng.randbytes(32)
        sig = bindings.sign((pub, sec), msg)
        assert sr.verify(pub, msg, sig)
        assert sr.verify(pub, msg, sig, b"substrate")
        assert not sr.verify(pub, msg, sig, REWARD_CONTEXT)
        assert not sr.verify(pub, msg[:-1] + bytes([msg[-1] ^ 1]), sig)


def test_polkadot_js_signatures_verify():
    cases = [
        ("I hereby verify that I control 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
         "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
         "1037eb7e51613d0dcf5930ae518819c87d655056605764840d9280984e1b7063c4566b55bf292fcab07b369d01095879b50517beca4d26e6a65866e25fec0d83"),
        ("<Bytes>message to sign</Bytes>",
         "f84d048da2ddae2d9d8fd6763f469566e8817a26114f39408de15547f6d47805",
         "48ce2c90e08651adfc8ecef84e916f6d1bb51ebebd16150ee12df247841a5437951ea0f9d632ca165e6ab391532e75e701be6a1caa88c8a6bcca3511f55b4183"),
    ]
    for msg, pub, sig in cases:
        assert sr.verify(bytes.fromhex(pub), msg.encode(), bytes.fromhex(sig))
        assert bindings.verify(bytes.fromhex(sig), msg.encode(), bytes.fromhex(pub))
    msg, pub, sig = cases[1]
    assert not sr.verify(bytes.fromhex(pub), b"message to sign", bytes.fromhex(sig))


def test_reward_signature_round_trip_and_tamper():
    kp = sr.keypair_from_entropy(os.urandom(32))
    h = os.urandom(32)
    sig = sr.sign(kp, h, REWARD_CONTEXT)
    assert sr.verify(kp.public, h, sig, REWARD_CONTEXT)
    assert not sr.verify(kp.public, h, sig)  # wrong context
    for pos in (0, 31, 32, 62):
        bad = bytearray(sig)
        bad[pos] ^= 1
        assert not sr.verify(kp.public, h, bytes(bad), REWARD_CONTEXT)
    unmarked = bytearray(sig)
    unmarked[63] &= 0x7F
    assert not sr.verify(kp.public, h, bytes(unmarked), REWARD_CONTEXT)
    # s + l (non-canonical) is rejected
    s = int.from_bytes(sig[32:63] + bytes([sig[63] & 0x7F]), "little") + ristretto.L
    if s < 2**255:
        sb = bytearray(s.to_bytes(32, "little"))
        sb[31] |= 0x80
        assert not sr.verify(kp.public, h, sig[:32] + bytes(sb), REWARD_CONTEXT)


def test_sign_is_deterministic_given_rng_bytes():
    kp = sr.keypair_from_mini_secret(bytes(32))
    a = sr.sign(kp, b"a", REWARD_CONTEXT, rng_bytes=bytes(32))
    assert a == sr.sign(kp, b"a", REWARD_CONTEXT, rng_bytes=bytes(32))
    assert a != sr.sign(kp, b"a", REWARD_CONTEXT, rng_bytes=b"\x01" * 32)
    assert a[:32] != sr.sign(kp, b"b", REWARD_CONTEXT, rng_bytes=bytes(32))[:32]


@pytest.mark.parametrize(
    "pub,msg,sig",
    [
        (b"", b"m", b"\x00" * 64),
        (b"\x00" * 32, b"m", b"\x00" * 63),
        (b"\xff" * 32, b"m", b"\xff" * 64),
        (None, b"m", b"\x00" * 64),
        (b"\x00" * 32, None, b"\x00" * 64),
        ("not bytes", b"m", b"\x00" * 64),
    ],
)
def test_verify_never_raises_on_garbage(pub, msg, sig):
    assert sr.verify(pub, msg, sig, REWARD_CONTEXT) is False


def test_identity_point_public_key_rejected():
    kp = sr.keypair_from_mini_secret(bytes(32))
    sig = sr.sign(kp, b"m")
    assert not sr.verify(bytes(32), b"m", sig)
