"""Merlin transcripts: Keccak-f[1600], STROBE-128 (the subset Merlin uses) and the transcript API.

This is what schnorrkel (sr25519) hashes with (pot-rpc.md C.7). Written from the public
definitions: FIPS 202 (Keccak-f[1600]), STROBE v1.0.2 (Hamburg), and Merlin v1.0 (de Valence,
Lovecruft): every message is framed as ``meta-AD(label) || meta-AD(u32_le(len), more) ||
AD(message)`` and every challenge as ``meta-AD(label) || meta-AD(u32_le(len), more) ||
PRF(len)``.

Speed: a signature runs only a few permutations, so plain Python integers on 64-bit lanes are
plenty (under 1 ms per permutation; sign + verify take a few ms against the node's 500 ms window). Checked against ``hashlib`` SHA3/SHAKE (a sponge
built on :func:`keccak_f1600`) and the Merlin crate's published transcript vectors.
"""

from __future__ import annotations

import struct

__all__ = [
    "keccak_f1600",
    "keccak_sponge",
    "Strobe128",
    "Transcript",
    "TranscriptRng",
]

_MASK64 = (1 << 64) - 1

# FIPS 202 §3.2.5 round constants (iota), computed from the rc(t) LFSR rather than tabulated.
def _round_constants() -> tuple[int, ...]:
    def rc(t: int) -> int:
        if t % 255 == 0:
            return 1
        r = 1
        for _ in range(t % 255):
            r <<= 1
            if r & 0x100:
                r ^= 0x171
        return r & 1

    out = []
    for ir in range(24):
        c = 0
        for j in range(7):
            c |= rc(j + 7 * ir) << ((1 << j) - 1)
        out.append(c)
    return tuple(out)


def _rotation_offsets() -> tuple[int, ...]:
    """FIPS 202 §3.2.2 rho offsets, indexed by lane x + 5y."""
    off = [0] * 25
    x, y = 1, 0
    for t in range(24):
        off[x + 5 * y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return tuple(off)


_RC = _round_constants()
_ROT = _rotation_offsets()
# pi: lane (x, y) moves to (y, 2x + 3y); as a gather: B[y + 5*((2x+3y)%5)] = rot(A[x+5y])
_PI_DEST = tuple((y + 5 * ((2 * x + 3 * y) % 5)) for y in range(5) for x in range(5))
_PI_SRC = tuple(x + 5 * y for y in range(5) for x in range(5))


def _keccak_lanes(a: list[int]) -> None:
    """Keccak-f[1600] on 25 little-endian 64-bit lanes (lane index x + 5y), in place."""
    rot, dest, src = _ROT, _PI_DEST, _PI_SRC
    b = [0] * 25
    for rc in _RC:
        # theta
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & _MASK64) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        # rho + pi
        for k in range(25):
            i = src[k]
            v = a[i]
            r = rot[i]
            b[dest[k]] = ((v << r) | (v >> (64 - r))) & _MASK64 if r else v
        # chi
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        # iota
        a[0] ^= rc


def keccak_f1600(state: bytearray) -> None:
    """Apply Keccak-f[1600] to a 200-byte state in place (FIPS 202 §3.3)."""
    if len(state) != 200:
        raise ValueError("Keccak-f[1600] state must be 200 bytes")
    lanes = list(struct.unpack("<25Q", state))
    _keccak_lanes(lanes)
    state[:] = struct.pack("<25Q", *lanes)


def keccak_sponge(rate: int, suffix: int, data: bytes, out_len: int) -> bytes:
    """A FIPS 202 sponge over :func:`keccak_f1600` (pad10*1 with domain ``suffix``).

    ``keccak_sponge(136, 0x06, m, 32)`` is SHA3-256, ``keccak_sponge(168, 0x1F, m, n)`` is
    SHAKE128; used only to test the permutation against ``hashlib``.
    """
    st = bytearray(200)
    padded = bytearray(data)
    padded.append(suffix)
    while len(padded) % rate:
        padded.append(0)
    padded[-1] |= 0x80
    for off in range(0, len(padded), rate):
        for i in range(rate):
            st[i] ^= padded[off + i]
        keccak_f1600(st)
    out = bytearray()
    while True:
        out += st[:rate]
        if len(out) >= out_len:
            return bytes(out[:out_len])
        keccak_f1600(st)


# --- STROBE-128, the operations Merlin uses ------------------------------------------------------
_FLAG_I, _FLAG_A, _FLAG_C, _FLAG_T, _FLAG_M, _FLAG_K = 1, 2, 4, 8, 16, 32
STROBE_R = 166  # 200 - 128/4 - 2: the STROBE-128 rate


class Strobe128:
    """STROBE v1.0.2 at 128-bit security, limited to meta-AD, AD, PRF and KEY (what Merlin uses)."""

    __slots__ = ("state", "pos", "pos_begin", "cur_flags")

    def __init__(self, protocol_label: bytes | None = None) -> None:
        self.state = bytearray(200)
        if protocol_label is None:  # used by copy()
            return
        self.state[0:6] = bytes([1, STROBE_R + 2, 1, 0, 1, 96])
        self.state[6:18] = b"STROBEv1.0.2"
        keccak_f1600(self.state)
        self.pos = 0
        self.pos_begin = 0
        self.cur_flags = 0
        self.meta_ad(protocol_label, False)

    def copy(self) -> "Strobe128":
        s = Strobe128(None)
        s.state[:] = self.state
        s.pos, s.pos_begin, s.cur_flags = self.pos, self.pos_begin, self.cur_flags
        return s

    # -- primitive duplex steps --
    def _run_f(self) -> None:
        self.state[self.pos] ^= self.pos_begin
        self.state[self.pos + 1] ^= 0x04
        self.state[STROBE_R + 1] ^= 0x80
        keccak_f1600(self.state)
        self.pos = 0
        self.pos_begin = 0

    def _absorb(self, data: bytes) -> None:
        st = self.state
        for byte in data:
            st[self.pos] ^= byte
            self.pos += 1
            if self.pos == STROBE_R:
                self._run_f()

    def _overwrite(self, data: bytes) -> None:
        st = self.state
        for byte in data:
            st[self.pos] = byte
            self.pos += 1
            if self.pos == STROBE_R:
                self._run_f()

    def _squeeze(self, n: int) -> bytes:
        st = self.state
        out = bytearray(n)
        for i in range(n):
            out[i] = st[self.pos]
            st[self.pos] = 0
            self.pos += 1
            if self.pos == STROBE_R:
                self._run_f()
        return bytes(out)

    def _begin_op(self, flags: int, more: bool) -> None:
        if more:
            if self.cur_flags != flags:
                raise ValueError("STROBE: 'more' continues a different operation")
            return
        if flags & _FLAG_T:
            raise ValueError("STROBE: transport operations are not supported")
        old_begin = self.pos_begin
        self.pos_begin = self.pos + 1
        self.cur_flags = flags
        self._absorb(bytes([old_begin, flags]))
        force_f = flags & (_FLAG_C | _FLAG_K)
        if force_f and self.pos != 0:
            self._run_f()

    # -- operations --
    def meta_ad(self, data: bytes, more: bool) -> None:
        self._begin_op(_FLAG_M | _FLAG_A, more)
        self._absorb(data)

    def ad(self, data: bytes, more: bool) -> None:
        self._begin_op(_FLAG_A, more)
        self._absorb(data)

    def prf(self, n: int, more: bool) -> bytes:
        self._begin_op(_FLAG_I | _FLAG_A | _FLAG_C, more)
        return self._squeeze(n)

    def key(self, data: bytes, more: bool) -> None:
        self._begin_op(_FLAG_A | _FLAG_C, more)
        self._overwrite(data)


def _u32_le(n: int) -> bytes:
    if not 0 <= n < 1 << 32:
        raise ValueError("Merlin: message longer than 2^32 - 1 bytes")
    return struct.pack("<I", n)


class Transcript:
    """A Merlin v1.0 transcript (``Transcript::new`` / ``append_message`` / ``challenge_bytes``)."""

    __slots__ = ("strobe",)

    def __init__(self, label: bytes | None) -> None:
        if label is None:  # used by copy()
            return
        self.strobe = Strobe128(b"Merlin v1.0")
        self.append_message(b"dom-sep", label)

    def copy(self) -> "Transcript":
        t = Transcript(None)
        t.strobe = self.strobe.copy()
        return t

    def append_message(self, label: bytes, message: bytes) -> None:
        self.strobe.meta_ad(label, False)
        self.strobe.meta_ad(_u32_le(len(message)), True)
        self.strobe.ad(bytes(message), False)

    def append_u64(self, label: bytes, x: int) -> None:
        self.append_message(label, struct.pack("<Q", x))

    def challenge_bytes(self, label: bytes, n: int) -> bytes:
        self.strobe.meta_ad(label, False)
        self.strobe.meta_ad(_u32_le(n), True)
        return self.strobe.prf(n, False)

    def build_rng(self) -> "TranscriptRngBuilder":
        """Merlin's ``build_rng``: a witness-keyed RNG forked from the transcript state."""
        return TranscriptRngBuilder(self.strobe.copy())


class TranscriptRngBuilder:
    """``rekey_with_witness_bytes`` then ``finalize(random32)`` -> :class:`TranscriptRng`."""

    __slots__ = ("strobe",)

    def __init__(self, strobe: Strobe128) -> None:
        self.strobe = strobe

    def rekey_with_witness_bytes(self, label: bytes, witness: bytes) -> "TranscriptRngBuilder":
        self.strobe.meta_ad(label, False)
        self.strobe.meta_ad(_u32_le(len(witness)), True)
        self.strobe.key(bytes(witness), False)
        return self

    def finalize(self, random_bytes: bytes) -> "TranscriptRng":
        """Key with 32 bytes from an external RNG (``os.urandom(32)`` in production)."""
        if len(random_bytes) != 32:
            raise ValueError("TranscriptRng needs 32 external random bytes")
        self.strobe.meta_ad(b"rng", False)
        self.strobe.key(bytes(random_bytes), False)
        return TranscriptRng(self.strobe)


class TranscriptRng:
    """Merlin's ``TranscriptRng``: each ``fill_bytes(n)`` is ``meta-AD(u32_le(n)) || PRF(n)``."""

    __slots__ = ("strobe",)

    def __init__(self, strobe: Strobe128) -> None:
        self.strobe = strobe

    def fill_bytes(self, n: int) -> bytes:
        self.strobe.meta_ad(_u32_le(n), False)
        return self.strobe.prf(n, False)
