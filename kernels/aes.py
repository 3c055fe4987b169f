"""AES-128 for Proof-of-Time: iterated encryption (proving) and meet-in-the-middle verification.

Spec: pot-rpc.md A.3 (what is iterated), A.5 (verification), B.1-B.2 (CBC trick, numba intrinsics).

Paths, all giving identical bytes (tests compare them):

* reference: FIPS-197 AES-128 in plain Python (:func:`expand_key`, :func:`encrypt_block`,
  :func:`decrypt_block`, :func:`reference_chain`) - readable, slow;
* ``aesni``: numba kernels that emit ``llvm.x86.aesni.aesenc``/``aesdec`` (128-bit, xmm);
* ``vaes256`` / ``vaes512``: the same loop on ``<4 x i64>`` / ``<8 x i64>`` registers with the VAES
  intrinsics ``llvm.x86.aesni.aes*.256`` / ``.512`` (2 / 4 AES blocks per instruction);
* ``portable``: pycryptodome, proving with the CBC-of-zero-blocks trick (B.1) and verifying every
  segment forward (no inverse chain exists in CBC).

The numba kernels are built as LLVM IR by :func:`_aes_lanes_intrinsic`: ``L`` independent lane
states are kept in registers and every AES round is issued for all lanes before the next round
(interleaving, A.5 step 4). Round keys use the whitening-folding trick of A.3: round key 0 is XORed
in once before the loop and the last round uses ``k10 ^ k0``, which also applies the next
iteration's whitening, so an iteration is exactly 9 ``aesenc`` + 1 ``aesenclast``. Decryption lanes
use the equivalent inverse cipher (``aesdec`` with InvMixColumns'ed keys) folded the same way.

Kernels are compiled lazily, and only the ones the compiling CPU supports are ever compiled
(:func:`available_impls`); numba's on-disk cache keys entries by CPU name and features, so a cache
built on one CPU is never loaded on another.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

import numpy as np

from farmkit.errors import FarmkitError

BLOCK_SIZE = 16
KEY_SIZE = 16
NUM_ROUNDS = 10
#: The order in which CPU implementations are preferred (best first).
IMPLS = ("vaes512", "vaes256", "aesni", "portable")
#: 8 segments verified as 8 forward + 8 backward chains (pot-rpc.md A.5 step 3).
VERIFY_SEGMENTS = 8

# ------------------------------------------------------------------------------------------------
# Reference path: FIPS-197 AES-128, plain Python.
# ------------------------------------------------------------------------------------------------


def _xtime(b: int) -> int:
    """Multiply by x (i.e. 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 4.2.1)."""
    b <<= 1
    return (b ^ 0x11B) & 0xFF if b & 0x100 else b


def gf_mul(a: int, b: int) -> int:
    """Multiplication in GF(2^8) (FIPS-197 4.2)."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        a = _xtime(a)
        b >>= 1
    return result


def _make_sbox() -> tuple[bytes, bytes]:
    """S-box = affine transform of the multiplicative inverse (FIPS-197 5.1.1); and its inverse."""
    exp, log = [0] * 255, [0] * 256  # powers of the generator 3
    a = 1
    for i in range(255):
        exp[i], log[a] = a, i
        a ^= _xtime(a)  # a * 3
    sbox = bytearray(256)
    for x in range(256):
        inv = 0 if x == 0 else exp[(255 - log[x]) % 255]
        s = inv
        for shift in range(1, 5):
            s ^= ((inv << shift) | (inv >> (8 - shift))) & 0xFF
        sbox[x] = s ^ 0x63
    inv_sbox = bytearray(256)
    for x, s in enumerate(sbox):
        inv_sbox[s] = x
    return bytes(sbox), bytes(inv_sbox)


SBOX, INV_SBOX = _make_sbox()


def expand_key(key: bytes) -> list[bytes]:
    """AES-128 key expansion (FIPS-197 5.2): the 11 round keys k0..k10, 16 bytes each."""
    if len(key) != KEY_SIZE:
        raise FarmkitError(f"AES-128 key must be {KEY_SIZE} bytes, got {len(key)}")
    words = [list(key[i : i + 4]) for i in range(0, 16, 4)]
    rcon = 1
    for i in range(4, 4 * (NUM_ROUNDS + 1)):
        temp = list(words[i - 1])
        if i % 4 == 0:
            temp = [SBOX[b] for b in temp[1:] + temp[:1]]  # SubWord(RotWord(temp))
            temp[0] ^= rcon
            rcon = _xtime(rcon)
        words.append([a ^ b for a, b in zip(words[i - 4], temp)])
    return [bytes(sum(words[4 * r : 4 * r + 4], [])) for r in range(NUM_ROUNDS + 1)]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _shift_rows(s: bytes, inverse: bool = False) -> bytes:
    # state byte (row r, column c) is s[4c + r]; row r is rotated left by r (right for the inverse)
    d = -1 if inverse else 1
    return bytes(s[4 * ((c + d * r) % 4) + r] for c in range(4) for r in range(4))


def _mix_column(col: Sequence[int], m: Sequence[int]) -> list[int]:
    return [
        gf_mul(col[0], m[(0 - r) % 4]) ^ gf_mul(col[1], m[(1 - r) % 4]) ^ gf_mul(col[2], m[(2 - r) % 4]) ^ gf_mul(col[3], m[(3 - r) % 4])
        for r in range(4)
    ]


def mix_columns(s: bytes) -> bytes:
    """MixColumns (FIPS-197 5.1.3)."""
    return bytes(b for c in range(4) for b in _mix_column(s[4 * c : 4 * c + 4], (2, 3, 1, 1)))


def inv_mix_columns(s: bytes) -> bytes:
    """InvMixColumns (FIPS-197 5.3.3); also turns round keys into equivalent-inverse-cipher keys (5.3.5)."""
    return bytes(b for c in range(4) for b in _mix_column(s[4 * c : 4 * c + 4], (14, 11, 13, 9)))


def encrypt_block(round_keys: list[bytes], block: bytes) -> bytes:
    """AES-128 Cipher (FIPS-197 5.1) of one 16-byte block."""
    s = _xor(block, round_keys[0])
    for r in range(1, NUM_ROUNDS + 1):
        s = _shift_rows(bytes(SBOX[b] for b in s))
        if r != NUM_ROUNDS:
            s = mix_columns(s)
        s = _xor(s, round_keys[r])
    return s


def decrypt_block(round_keys: list[bytes], block: bytes) -> bytes:
    """AES-128 InvCipher (FIPS-197 5.3) of one 16-byte block."""
    s = _xor(block, round_keys[NUM_ROUNDS])
    for r in range(NUM_ROUNDS - 1, -1, -1):
        s = bytes(INV_SBOX[b] for b in _shift_rows(s, inverse=True))
        s = _xor(s, round_keys[r])
        if r != 0:
            s = inv_mix_columns(s)
    return s


def reference_chain(key: bytes, block: bytes, iterations: int) -> bytes:
    """``x_{n} = AES128_Encrypt(key, x_{n-1})`` applied ``iterations`` times (pot-rpc.md A.3). Slow."""
    rks = expand_key(key)
    for _ in range(iterations):
        block = encrypt_block(rks, block)
    return block


def reference_inverse_chain(key: bytes, block: bytes, iterations: int) -> bytes:
    """``iterations`` AES-128 decryptions: the backward half of verification (A.5 step 3). Slow."""
    rks = expand_key(key)
    for _ in range(iterations):
        block = decrypt_block(rks, block)
    return block


# ------------------------------------------------------------------------------------------------
# Folded key schedules for the fast paths (A.3 whitening folding).
# ------------------------------------------------------------------------------------------------


def folded_encrypt_keys(key: bytes) -> np.ndarray:
    """``uint8[11, 16]``: ``[k0, k1 .. k9, k10 ^ k0]`` (row 0 whitens, row 10 is the folded last key)."""
    rk = expand_key(key)
    rows = [rk[0], *rk[1:NUM_ROUNDS], _xor(rk[NUM_ROUNDS], rk[0])]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(NUM_ROUNDS + 1, BLOCK_SIZE).copy()


def folded_decrypt_keys(key: bytes) -> np.ndarray:
    """``uint8[11, 16]``: ``[k10, imc(k9) .. imc(k1), k0 ^ k10]`` (equivalent inverse cipher, folded)."""
    rk = expand_key(key)
    rows = [rk[NUM_ROUNDS], *(inv_mix_columns(rk[r]) for r in range(NUM_ROUNDS - 1, 0, -1)), _xor(rk[0], rk[NUM_ROUNDS])]
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(NUM_ROUNDS + 1, BLOCK_SIZE).copy()


@functools.lru_cache(maxsize=256)
def _tiled_keys(key: bytes, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Folded schedules with each round key repeated ``width`` times (one VAES register = width blocks)."""
    ek = np.ascontiguousarray(np.tile(folded_encrypt_keys(key), (1, width)))
    dk = np.ascontiguousarray(np.tile(folded_decrypt_keys(key), (1, width)))
    ek.setflags(write=False)
    dk.setflags(write=False)
    return ek, dk


# ------------------------------------------------------------------------------------------------
# CPU feature detection and implementation choice.
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def numba_cpu_features() -> frozenset[str]:
    """CPU features numba compiles for: ``NUMBA_CPU_FEATURES`` if set, none for a generic
    ``NUMBA_CPU_NAME``, else the host's (as LLVM reports them)."""
    from numba.core import config

    if config.CPU_FEATURES is not None:
        text = config.CPU_FEATURES
    elif config.CPU_NAME not in (None, "", "host"):
        return frozenset()
    else:
        import llvmlite.binding as llvm

        text = llvm.get_host_cpu_features().flatten()
    return frozenset(f[1:] for f in text.split(",") if f.startswith("+"))


def _pycryptodome_available() -> bool:
    try:
        from Crypto.Cipher import AES  # noqa: F401
    except Exception:  # pragma: no cover - pycryptodome is a dependency
        return False
    return True


@functools.lru_cache(maxsize=None)
def available_impls() -> tuple[str, ...]:
    """CPU implementations usable here, best first (VAES-512 > VAES-256 > AES-NI > pycryptodome)."""
    import platform

    feats = numba_cpu_features() if platform.machine().lower() in ("x86_64", "amd64") else frozenset()
    impls = []
    if {"aes", "vaes", "avx512f"} <= feats:
        impls.append("vaes512")
    if {"aes", "vaes", "avx2"} <= feats:
        impls.append("vaes256")
    if "aes" in feats:
        impls.append("aesni")
    if _pycryptodome_available():
        impls.append("portable")
    return tuple(impls)


def resolve_impl(impl: str | None) -> str:
    """Validate an implementation name (None/"auto" = ``FARMKIT_POT_IMPL`` or the best available)."""
    if impl in (None, "", "auto"):
        impl = os.environ.get("FARMKIT_POT_IMPL") or available_impls()[0]
    impl = impl.lower()
    if impl not in IMPLS:
        raise FarmkitError(f"unknown AES implementation {impl!r}; choose one of: auto, {', '.join(IMPLS)}")
    if impl not in available_impls():
        raise FarmkitError(f"AES implementation {impl!r} is not supported by this CPU (have: {', '.join(available_impls())})")
    return impl


def prove_impl(impl: str | None) -> str:
    """Proving is one latency-bound chain: every native implementation proves with 128-bit AES-NI."""
    impl = resolve_impl(impl)
    return "portable" if impl == "portable" else "aesni"


# ------------------------------------------------------------------------------------------------
# numba kernels: the AES loop as LLVM IR with AES-NI / VAES intrinsics.
# ------------------------------------------------------------------------------------------------

_WIDTH_SUFFIX = {1: "", 2: ".256", 4: ".512"}


def _aes_lanes_intrinsic(width: int, n_enc: int, n_dec: int):
    """Build ``kernel(enc_keys, dec_keys, states, n)``: advance ``n_enc`` encryption and ``n_dec``
    decryption registers (``width`` AES blocks each) by ``n`` iterations, in place.

    ``states`` is ``uint8[(n_enc + n_dec) * width, 16]`` (encryption lanes first); key arrays are the
    folded schedules tiled ``width`` times (``uint8[11, 16 * width]``).
    """
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    vec = ir.VectorType(ir.IntType(64), 2 * width)
    suffix = _WIDTH_SUFFIX[width]

    def codegen(context, builder, signature, args):
        ek_arr = context.make_array(signature.args[0])(context, builder, args[0])
        dk_arr = context.make_array(signature.args[1])(context, builder, args[1])
        st_arr = context.make_array(signature.args[2])(context, builder, args[2])
        n = args[3]
        i64 = ir.IntType(64)

        def rows(data, count):
            ptr = builder.bitcast(data, vec.as_pointer())
            return ptr, [builder.load(builder.gep(ptr, [ir.Constant(i64, r)]), align=1) for r in range(count)]

        _, ek = rows(ek_arr.data, NUM_ROUNDS + 1)
        _, dk = rows(dk_arr.data, NUM_ROUNDS + 1) if n_dec else (None, None)
        fnty = ir.FunctionType(vec, [vec, vec])

        def aes(name):
            return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.x86.aesni.{name}{suffix}")

        enc, enc_last, dec, dec_last = aes("aesenc"), aes("aesenclast"), aes("aesdec"), aes("aesdeclast")
        st_ptr = builder.bitcast(st_arr.data, vec.as_pointer())
        lanes = []  # (alloca, round keys, round op, last-round op, memory slot)
        for j in range(n_enc + n_dec):
            keys, op, last = (ek, enc, enc_last) if j < n_enc else (dk, dec, dec_last)
            slot = builder.gep(st_ptr, [ir.Constant(i64, j)])
            var = cgutils.alloca_once(builder, vec)
            builder.store(builder.xor(builder.load(slot, align=1), keys[0]), var)  # whitening, once
            lanes.append((var, keys, op, last, slot))
        with cgutils.for_range(builder, n):
            values = [builder.load(lane[0]) for lane in lanes]
            for r in range(1, NUM_ROUNDS):  # rounds interleaved across lanes
                values = [builder.call(op, [v, keys[r]]) for v, (_, keys, op, _, _) in zip(values, lanes)]
            values = [builder.call(last, [v, keys[NUM_ROUNDS]]) for v, (_, keys, _, last, _) in zip(values, lanes)]
            for v, lane in zip(values, lanes):
                builder.store(v, lane[0])
        for var, keys, _, _, slot in lanes:
            builder.store(builder.xor(builder.load(var), keys[0]), slot, align=1)  # undo whitening
        return context.get_dummy_value()

    @intrinsic
    def aes_lanes(typingctx, enc_keys, dec_keys, states, n):
        return types.void(enc_keys, dec_keys, states, types.int64), codegen

    return aes_lanes


# One intrinsic per register layout; each njit wrapper below is compiled only when first called.
_chain_x1 = _aes_lanes_intrinsic(width=1, n_enc=1, n_dec=0)  # proving: one latency-bound chain
_mitm_x16 = _aes_lanes_intrinsic(width=1, n_enc=8, n_dec=8)  # 16 xmm lanes
_mitm_y8 = _aes_lanes_intrinsic(width=2, n_enc=4, n_dec=4)  # 8 ymm registers x 2 blocks
_mitm_z4 = _aes_lanes_intrinsic(width=4, n_enc=2, n_dec=2)  # 4 zmm registers x 4 blocks


def _njit(fn):
    from numba import njit

    return njit(cache=True, nogil=True)(fn)


@_njit
def aesni_chain_kernel(enc_keys, dec_keys, states, n):
    """One AES-NI encryption chain, ``n`` iterations (A.3)."""
    _chain_x1(enc_keys, dec_keys, states, n)


@_njit
def aesni_mitm_kernel(enc_keys, dec_keys, states, n):
    """8 forward + 8 backward chains in 16 xmm registers (A.5)."""
    _mitm_x16(enc_keys, dec_keys, states, n)


@_njit
def vaes256_mitm_kernel(enc_keys, dec_keys, states, n):
    """8 forward + 8 backward chains in 8 ymm registers, VAES (A.5)."""
    _mitm_y8(enc_keys, dec_keys, states, n)


@_njit
def vaes512_mitm_kernel(enc_keys, dec_keys, states, n):
    """8 forward + 8 backward chains in 4 zmm registers, VAES + AVX-512F (A.5)."""
    _mitm_z4(enc_keys, dec_keys, states, n)


_MITM_KERNELS = {"aesni": (aesni_mitm_kernel, 1), "vaes256": (vaes256_mitm_kernel, 2), "vaes512": (vaes512_mitm_kernel, 4)}

# ------------------------------------------------------------------------------------------------
# Public operations.
# ------------------------------------------------------------------------------------------------

#: Zero blocks fed to CBC at once by the portable path (>= 64 KiB avoids per-call overhead, B.3).
_CBC_CHUNK_BLOCKS = 4096


def cbc_chain(key: bytes, block: bytes, iterations: int) -> bytes:
    """Portable forward chain: CBC encryption of zero blocks with IV = block (pot-rpc.md B.1)."""
    from Crypto.Cipher import AES

    zeros = bytes(BLOCK_SIZE * min(_CBC_CHUNK_BLOCKS, max(iterations, 1)))
    left = iterations
    while left > 0:
        n = min(left, _CBC_CHUNK_BLOCKS)
        block = AES.new(key, AES.MODE_CBC, iv=block).encrypt(zeros[: BLOCK_SIZE * n])[-BLOCK_SIZE:]
        left -= n
    return block


def encrypt_chain(key: bytes, block: bytes, iterations: int, impl: str | None = None) -> bytes:
    """``iterations`` repeated AES-128 encryptions of ``block`` (A.3) with the fastest path for ``impl``.

    Releases the GIL while it runs (numba ``nogil``; pycryptodome calls through ctypes).
    """
    if iterations < 0:
        raise FarmkitError("iterations must be non-negative")
    if prove_impl(impl) == "portable":
        return cbc_chain(key, block, iterations)
    ek, dk = _tiled_keys(bytes(key), 1)
    state = np.frombuffer(bytes(block), dtype=np.uint8).reshape(1, BLOCK_SIZE).copy()
    aesni_chain_kernel(ek, dk, state, np.int64(iterations))
    return state.tobytes()


def verify_segments(key: bytes, inputs: Sequence[bytes], outputs: Sequence[bytes], segment_iterations: int, impl: str | None = None) -> bool:
    """True iff ``AES^segment_iterations(inputs[j]) == outputs[j]`` for all 8 segments (A.5).

    Native paths meet in the middle: each input is encrypted ``segment_iterations / 2`` times and
    each output decrypted as often, 16 chains interleaved (VAES packs 2 or 4 chains per register).
    The portable path recomputes every segment forward. ``segment_iterations`` must be even.
    """
    if len(inputs) != VERIFY_SEGMENTS or len(outputs) != VERIFY_SEGMENTS:
        raise FarmkitError(f"verification needs {VERIFY_SEGMENTS} segments")
    if segment_iterations % 2:
        raise FarmkitError("segment iterations must be even")
    impl = resolve_impl(impl)
    if impl == "portable":
        return all(cbc_chain(key, x, segment_iterations) == y for x, y in zip(inputs, outputs))
    kernel, width = _MITM_KERNELS[impl]
    ek, dk = _tiled_keys(bytes(key), width)
    states = np.frombuffer(b"".join(inputs) + b"".join(outputs), dtype=np.uint8).reshape(2 * VERIFY_SEGMENTS, BLOCK_SIZE).copy()
    kernel(ek, dk, states, np.int64(segment_iterations // 2))
    return bool(np.array_equal(states[:VERIFY_SEGMENTS], states[VERIFY_SEGMENTS:]))


def warm_up(impl: str | None = None) -> None:
    """Compile (or load from cache) the kernels ``impl`` uses, so timings exclude compilation."""
    impl = resolve_impl(impl)
    key = bytes(KEY_SIZE)
    encrypt_chain(key, bytes(BLOCK_SIZE), 2, impl)
    verify_segments(key, [bytes(BLOCK_SIZE)] * 8, [bytes(BLOCK_SIZE)] * 8, 2, impl)


def kernel_asm(impl: str) -> str:
    """Assembly of the compiled kernels of ``impl`` (tests check that AES instructions are emitted)."""
    from numba import njit

    impl = resolve_impl(impl)
    if impl == "portable":
        return ""
    kernel, width = _MITM_KERNELS[impl]
    texts = []
    for k, w in ((aesni_chain_kernel, 1), (kernel, width)):
        fresh = njit(nogil=True)(k.py_func)  # uncached twin: numba cannot inspect cached code
        e, d = _tiled_keys(bytes(KEY_SIZE), w)
        fresh(e, d, np.zeros((16, BLOCK_SIZE), np.uint8), np.int64(1))
        texts.extend(fresh.inspect_asm().values())
    return "\n".join(texts)


# ------------------------------------------------------------------------------------------------
# GPU path (kernels/aes.cl, one source for CUDA and OpenCL): many proofs' segments at once.
# ------------------------------------------------------------------------------------------------

#: Iterations per kernel launch (keeps each launch well under display-driver watchdogs).
GPU_ITERATIONS_PER_LAUNCH = 1 << 18
GPU_LOCAL_SIZE = 64


def _word(b: bytes) -> int:
    return int.from_bytes(b, "big")


@functools.lru_cache(maxsize=None)
def gpu_tables() -> np.ndarray:
    """``u32[1024]``: Te0 | Td0 | S | InvS, big-endian column words (FIPS-197 5.1 / 5.3 as tables)."""
    te0 = [_word(bytes((gf_mul(s, 2), s, s, gf_mul(s, 3)))) for s in SBOX]
    td0 = [_word(bytes((gf_mul(s, 14), gf_mul(s, 9), gf_mul(s, 13), gf_mul(s, 11)))) for s in INV_SBOX]
    return np.array(te0 + td0 + list(SBOX) + list(INV_SBOX), dtype=np.uint32)


def gpu_round_keys(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(encryption, decryption) round keys as ``u32[44]`` big-endian words; decryption keys are
    ``[k10, imc(k9) .. imc(k1), k0]`` (equivalent inverse cipher, FIPS-197 5.3.5)."""
    rk = expand_key(key)
    dec = [rk[NUM_ROUNDS], *(inv_mix_columns(rk[r]) for r in range(NUM_ROUNDS - 1, 0, -1)), rk[0]]
    enc_words = np.frombuffer(b"".join(rk), dtype=">u4").astype(np.uint32)
    dec_words = np.frombuffer(b"".join(dec), dtype=">u4").astype(np.uint32)
    return enc_words, dec_words


def gpu_verify_segments_many(
    backend: str,
    keys: Sequence[bytes],
    inputs: np.ndarray,
    outputs: np.ndarray,
    segment_iterations: int,
    progress=None,
) -> np.ndarray:
    """Verify many proofs that share ``segment_iterations`` on ``backend`` ("cuda"/"opencl").

    ``inputs``/``outputs``: ``uint8[P, 8, 16]`` segment inputs and expected outputs; returns
    ``bool[P]``. Meet in the middle as :func:`verify_segments` (A.5): 8P forward + 8P backward lanes.
    ``progress(done_iterations)`` is called after each launch.
    """
    from farmkit.kernels.gpu import gpu_context, load_source

    if segment_iterations % 2:
        raise FarmkitError("segment iterations must be even")
    n_proofs = len(keys)
    if n_proofs == 0:
        return np.zeros(0, dtype=bool)
    ctx = gpu_context(backend)
    prog = ctx.program(load_source("aes.cl"))
    enc_keys = np.empty((n_proofs, 44), np.uint32)
    dec_keys = np.empty((n_proofs, 44), np.uint32)
    for p, key in enumerate(keys):
        enc_keys[p], dec_keys[p] = gpu_round_keys(bytes(key))
    half = VERIFY_SEGMENTS
    lanes = np.concatenate([inputs.reshape(-1, BLOCK_SIZE), outputs.reshape(-1, BLOCK_SIZE)])
    words = np.frombuffer(lanes.tobytes(), dtype=">u4").astype(np.uint32)
    n_lanes = 2 * half * n_proofs
    d_states = ctx.to_device(words)
    d_enc, d_dec, d_tab = ctx.to_device(enc_keys.ravel()), ctx.to_device(dec_keys.ravel()), ctx.to_device(gpu_tables())
    left = segment_iterations // 2
    done = 0
    while left > 0:
        step = min(left, GPU_ITERATIONS_PER_LAUNCH)
        prog.launch(
            "pot_aes_lanes", n_lanes, GPU_LOCAL_SIZE, d_states, d_enc, d_dec, d_tab,
            np.uint32(step), np.uint32(half * n_proofs), np.uint32(n_lanes), np.uint32(half),
        )
        ctx.synchronize()
        left -= step
        done += step
        if progress is not None:
            progress(done)
    result = ctx.to_host(d_states).astype(">u4").tobytes()
    states = np.frombuffer(result, dtype=np.uint8).reshape(2, n_proofs, half * BLOCK_SIZE)
    return np.all(states[0] == states[1], axis=1)
