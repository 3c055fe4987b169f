"""KZG over BLS12-381 as in ``subspace-kzg`` (kzg-erasure-archiving.md §3, §4, §6).

* Polynomials are committed in **coefficient form** against the monomial powers G1[k] = [τ^k]G1
  (§6, §12.2); evaluation form is over ⟨ω_n⟩ in natural order, so ``poly_from_evaluations`` is an IFFT.
* Points travel as bytes: 48-byte compressed G1 (commitments, witnesses), 96-byte compressed G2.
* Group arithmetic (MSM, pairings) is done by py-arkworks-bls12381 — no curve code lives here.

The parameters (32,768 G1 + 65 G2 powers, compressed) ship in ``kernels/data`` and are checked
against their sha256 on load.  ``commit_evaluations`` can use Lagrange-basis points (the G1-IFFT of
the powers), computed once and cached under the user cache dir; bytes are identical either way.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from farmkit.errors import FarmkitError
from farmkit.kernels import fft as _fft
from farmkit.kernels import fr
from farmkit.kernels.fr import MODULUS, fr_add, fr_load, fr_mul, fr_store

# --- parameters (§4) --------------------------------------------------------------------------------
G1_SIZE = 48  # compressed G1
G2_SIZE = 96  # compressed G2
NUM_G1_POWERS = 2**15
NUM_G2_POWERS = 65
PARAMETERS_FILE = Path(__file__).resolve().parent / "data" / "eth-public-parameters.bin"
PARAMETERS_SHA256 = "f3ead1a6249527aa503d6c56578325c01d19b3365cc59905be2bba64ae322925"
PARAMETERS_SIZE = NUM_G1_POWERS * G1_SIZE + NUM_G2_POWERS * G2_SIZE  # 1,579,104 bytes

# §3: generators and the canonical identity encoding
G1_GENERATOR = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
G2_GENERATOR = bytes.fromhex(
    "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
    "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
)
G1_IDENTITY = b"\xc0" + bytes(47)

# The segment-level polynomial (§9.4) and record polynomials (§8) use these domain sizes.
SEGMENT_DOMAIN = 256
RECORD_DOMAIN = 2**15
CHUNK_WITNESS_DOMAIN = 2**16  # s-bucket openings: x = ω_65536^s over the record polynomial (§11)


def cache_dir() -> Path:
    """User cache dir for derived KZG data (``$FARMKIT_CACHE`` or ``$XDG_CACHE_HOME/farmkit``)."""
    env = os.environ.get("FARMKIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "farmkit"


def _scalar_list(values: np.ndarray) -> list[Scalar]:
    """ScalarBytes (n, 32) (canonical) → arkworks scalars."""
    raw = np.ascontiguousarray(values, dtype=np.uint8).tobytes()
    return [Scalar.from_be_bytes(raw[i : i + 32]) for i in range(0, len(raw), 32)]


def _scalar(v: int) -> Scalar:
    return Scalar.from_be_bytes((v % MODULUS).to_bytes(32, "big"))


def _as_scalars(values, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != fr.SCALAR_BYTES:
        raise FarmkitError(f"{what}: expected uint8 scalars of shape (n, 32), got {arr.dtype} {arr.shape}")
    return arr


def _check_pow2(n: int, what: str) -> None:
    if n < 1 or n & (n - 1):
        raise FarmkitError(f"{what}: number of values must be a power of two, got {n}")


# --- synthetic division (§6 create_witness) --------------------------------------------------------
@njit(cache=True, nogil=True)
def _quotient_kernel(c, x, q):
    """q(X) = (p(X) − p(x)) / (X − x): q = c[1:], then q[i−1] += q[i]·x for i = len−2 … 1."""
    m = c.shape[0]
    for i in range(m - 1):
        fr_store(q, i, fr_load(c, i + 1))
    xx = (x[0], x[1], x[2], x[3])
    for i in range(m - 2, 0, -1):
        fr_store(q, i - 1, fr_add(fr_load(q, i - 1), fr_mul(fr_load(q, i), xx)))


def quotient(coeffs: np.ndarray, x: int) -> np.ndarray:
    """Coefficients (len−1, 32) of (p(X) − p(x)) / (X − x) (§6)."""
    c = fr.scalars_from_bytes(coeffs)
    q = np.empty((max(len(c) - 1, 0), fr.LIMBS), dtype=np.uint64)
    if len(c) > 1:
        _quotient_kernel(c, fr.from_int(x), q)
    return fr.scalars_to_bytes(q)


def ref_quotient(coeffs: list[int], x: int) -> list[int]:
    """Readable synthetic division on Python ints (§6)."""
    q = [c % MODULUS for c in coeffs[1:]]
    for i in range(len(q) - 1, 0, -1):
        q[i - 1] = (q[i - 1] + q[i] * x) % MODULUS
    return q


class Kzg:
    """``subspace_kzg::Kzg`` over the shipped Ethereum-ceremony powers (§4, §6)."""

    def __init__(self, path: str | os.PathLike | None = None, check_sha256: bool = True):
        p = Path(path) if path is not None else PARAMETERS_FILE
        try:
            data = p.read_bytes()
        except OSError as e:
            raise FarmkitError(f"cannot read KZG parameters {p}: {e.strerror}") from None
        if len(data) != PARAMETERS_SIZE:
            raise FarmkitError(f"KZG parameters {p}: expected {PARAMETERS_SIZE} bytes, got {len(data)}")
        if check_sha256 and hashlib.sha256(data).hexdigest() != PARAMETERS_SHA256:
            raise FarmkitError(f"KZG parameters {p}: sha256 mismatch (corrupt or wrong file)")
        self._data = data
        self._g1_end = NUM_G1_POWERS * G1_SIZE
        self._g1: list[G1Point] | None = None
        self._lock = threading.Lock()
        try:
            self.g2_tau = G2Point.from_compressed_bytes_unchecked(self.g2_power_bytes(1))
            self.g2_gen = G2Point.from_compressed_bytes_unchecked(G2_GENERATOR)
            self.g1_gen = G1Point.from_compressed_bytes_unchecked(G1_GENERATOR)
        except Exception as e:  # noqa: BLE001 - arkworks raises plain exceptions
            raise FarmkitError(f"KZG parameters {p}: bad G2 point ({e})") from None
        self._lagrange: dict[int, list[G1Point]] = {}
        self._workers = max(1, os.cpu_count() or 1)

    # -- raw parameters ------------------------------------------------------------------------
    def g1_power_bytes(self, k: int) -> bytes:
        """48-byte compressed [τ^k]G1, k < 32768."""
        return self._data[k * G1_SIZE : (k + 1) * G1_SIZE]

    def g2_power_bytes(self, k: int) -> bytes:
        """96-byte compressed [τ^k]G2, k < 65."""
        off = self._g1_end + k * G2_SIZE
        return self._data[off : off + G2_SIZE]

    def g1_powers(self) -> list[G1Point]:
        """All 32,768 G1 powers, decompressed once (on curve, no subgroup check, like blst)."""
        if self._g1 is None:
            with self._lock:
                if self._g1 is None:
                    d = self._data
                    try:
                        self._g1 = [
                            G1Point.from_compressed_bytes_unchecked(d[i : i + G1_SIZE])
                            for i in range(0, self._g1_end, G1_SIZE)
                        ]
                    except Exception as e:  # noqa: BLE001
                        raise FarmkitError(f"KZG parameters: bad G1 point ({e})") from None
        return self._g1

    def g1_powers_xy_bytes(self, n: int = NUM_G1_POWERS) -> bytes:
        """G1[0..n) as uncompressed affine x‖y (96 bytes each, big-endian): for uploading to a GPU MSM."""
        return b"".join(bytes(p.to_xy_bytes_be()) for p in self.g1_powers()[:n])

    def lagrange_basis_xy_bytes(self, n: int) -> bytes:
        """The Lagrange-basis points for ⟨ω_n⟩ as uncompressed x‖y bytes (see ``lagrange_basis``)."""
        return b"".join(bytes(p.to_xy_bytes_be()) for p in self.lagrange_basis(n))

    # -- polynomials --------------------------------------------------------------------------------
    def poly_from_evaluations(self, values) -> np.ndarray:
        """§6 ``Kzg::poly``: evaluations over ⟨ω_n⟩ (natural order) → coefficients = IFFT_n (n, 32)."""
        v = _as_scalars(values, "poly")
        _check_pow2(len(v), "poly")
        return _fft.ifft(v)

    def polys_from_evaluations(self, values) -> np.ndarray:
        """Batched ``poly_from_evaluations``: (b, n, 32) → (b, n, 32)."""
        v = np.asarray(values)
        if v.dtype != np.uint8 or v.ndim != 3 or v.shape[2] != fr.SCALAR_BYTES:
            raise FarmkitError(f"poly: expected uint8 (b, n, 32), got {v.dtype} {v.shape}")
        _check_pow2(v.shape[1], "poly")
        return _fft.ifft(v)

    # -- commitments ----------------------------------------------------------------------------------
    def _msm(self, bases: list[G1Point], scalars: np.ndarray) -> bytes:
        """Σ scalars[k]·bases[k] → compressed bytes. Every MSM goes through here (GPU hook)."""
        if len(scalars) == 0:
            return G1_IDENTITY
        pt = G1Point.multiexp_unchecked(bases[: len(scalars)], _scalar_list(scalars))
        return bytes(pt.to_compressed_bytes())

    def commit(self, coeffs) -> bytes:
        """§6 ``commit``: Σ c_k·G1[k] (at most 32,768 coefficients) → 48-byte compressed G1."""
        c = _as_scalars(coeffs, "commit")
        if len(c) > NUM_G1_POWERS:
            raise FarmkitError(f"commit: {len(c)} coefficients, more than the {NUM_G1_POWERS} G1 powers")
        if not fr.is_canonical(c).all():
            raise FarmkitError("commit: invalid scalar (>= modulus)")
        return self._msm(self.g1_powers(), c)

    def _map(self, fn, items) -> list:
        items = list(items)
        if len(items) <= 1 or self._workers <= 1:
            return [fn(x) for x in items]
        self.g1_powers()  # load once before fanning out
        with ThreadPoolExecutor(max_workers=self._workers) as ex:
            return list(ex.map(fn, items))

    def commit_many(self, coeffs_batch) -> list[bytes]:
        """``commit`` of each polynomial in (b, m, 32), spread over all cores."""
        b = np.asarray(coeffs_batch)
        return self._map(self.commit, list(b))

    def commit_evaluations(self, values, use_lagrange: bool | None = None) -> bytes:
        """commit(poly(values)) for a power-of-two number of evaluations (records: §8, segment: §9.4).

        With ``use_lagrange`` (default: when the basis for n is already in memory or on disk) this is
        one MSM of the values over the Lagrange-basis points and skips the IFFT; bytes are identical.
        """
        v = _as_scalars(values, "commit_evaluations")
        n = len(v)
        _check_pow2(n, "commit_evaluations")
        if n > NUM_G1_POWERS:
            raise FarmkitError(f"commit_evaluations: {n} values, more than the {NUM_G1_POWERS} G1 powers")
        basis = self.lagrange_basis(n) if use_lagrange else None
        if use_lagrange is None:
            basis = self.cached_lagrange_basis(n)  # never computes it implicitly
        if basis is not None:
            if not fr.is_canonical(v).all():
                raise FarmkitError("commit_evaluations: invalid scalar (>= modulus)")
            return self._msm(basis, v)
        return self.commit(self.poly_from_evaluations(v))

    def commit_evaluations_many(self, values_batch, use_lagrange: bool | None = None) -> list[bytes]:
        """``commit_evaluations`` of each row of (b, n, 32); IFFTs batched, MSMs over all cores."""
        v = np.asarray(values_batch)
        if v.dtype != np.uint8 or v.ndim != 3 or v.shape[2] != fr.SCALAR_BYTES:
            raise FarmkitError(f"commit_evaluations_many: expected uint8 (b, n, 32), got {v.dtype} {v.shape}")
        n = v.shape[1]
        _check_pow2(n, "commit_evaluations_many")
        if use_lagrange is None:
            use_lagrange = self.cached_lagrange_basis(n) is not None
        if use_lagrange:
            self.lagrange_basis(n)
            return self._map(lambda row: self.commit_evaluations(row, True), list(v))
        return self.commit_many(self.polys_from_evaluations(v))

    # -- Lagrange basis (derived, cached) ----------------------------------------------------------
    def _lagrange_path(self, n: int) -> Path:
        return cache_dir() / f"kzg-lagrange-g1-{PARAMETERS_SHA256[:16]}-{n}.bin"

    def has_lagrange_basis(self, n: int) -> bool:
        """True when the basis for n is in memory or a cache file exists (not yet validated)."""
        return n in self._lagrange or self._lagrange_path(n).is_file()

    def cached_lagrange_basis(self, n: int) -> list[G1Point] | None:
        """The basis for n from memory or a valid cache file, else None (never computes it)."""
        if n in self._lagrange:
            return self._lagrange[n]
        path = self._lagrange_path(n)
        if not path.is_file():
            return None
        with self._lock:
            if n not in self._lagrange:
                pts = self._load_lagrange(path, n)
                if pts is None:
                    return None
                self._lagrange[n] = pts
        return self._lagrange[n]

    def lagrange_basis(self, n: int, progress=None) -> list[G1Point]:
        """[L_i(τ)]G1 for ⟨ω_n⟩: the G1-IFFT of G1[0..n) (computed once, cached on disk as xy bytes).

        Computing it for n = 32768 takes about a minute (≈2·10^5 arkworks scalar multiplications).
        """
        _check_pow2(n, "lagrange_basis")
        if n > NUM_G1_POWERS:
            raise FarmkitError(f"lagrange_basis: n = {n} exceeds the {NUM_G1_POWERS} G1 powers")
        pts = self.cached_lagrange_basis(n)
        if pts is None:
            pts = g1_ifft(self.g1_powers()[:n], progress=progress)
            self._save_lagrange(self._lagrange_path(n), pts)
            self._lagrange[n] = pts
        return pts

    def _load_lagrange(self, path: Path, n: int) -> list[G1Point] | None:
        raw = path.read_bytes()
        if len(raw) != 96 * n:
            return None
        try:
            pts = [G1Point.from_xy_bytes_unchecked_be(raw[i : i + 96]) for i in range(0, len(raw), 96)]
        except Exception:  # noqa: BLE001
            return None
        # Σ_i L_i(X) = 1, so the basis points must sum to the generator.
        acc = G1Point.identity()
        for p in pts:
            acc = acc + p
        if bytes(acc.to_compressed_bytes()) != self.g1_power_bytes(0):
            return None
        return pts

    @staticmethod
    def _save_lagrange(path: Path, pts: list[G1Point]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(b"".join(bytes(p.to_xy_bytes_be()) for p in pts))
            os.replace(tmp, path)
        except OSError:
            pass  # cache is an optimisation only

    # -- witnesses -------------------------------------------------------------------------------------
    @staticmethod
    def evaluation_point(num_values: int, index: int) -> int:
        """x = ω_N^index, N = next_pow2(num_values) (§6). index ≤ N (index N gives x = 1)."""
        num_values, index = int(num_values), int(index)
        if num_values < 1:
            raise FarmkitError("num_values must be positive")
        n = 1 << (num_values - 1).bit_length()
        if not 0 <= index <= n:
            raise FarmkitError(f"index {index} out of range for a domain of {n} values")
        return pow(_fft.root_of_unity(n), index, MODULUS)

    def create_witness(self, coeffs, num_values: int, index: int) -> bytes:
        """§6 ``create_witness``: commit((p(X) − p(x))/(X − x)), x = ω_N^index → 48 bytes.

        Covers chunk witnesses (§11): ``create_witness(record_coeffs, 65536, s_bucket)``, where the
        record polynomial has at most 32,768 coefficients (``erasure.recover_poly`` or ``poly``).
        """
        c = _as_scalars(coeffs, "create_witness")
        if len(c) == 0:
            raise FarmkitError("create_witness: empty polynomial")
        if len(c) - 1 > NUM_G1_POWERS:
            raise FarmkitError(f"create_witness: polynomial of {len(c)} coefficients is too large")
        x = self.evaluation_point(num_values, index)
        q = quotient(c, x)
        return self._msm(self.g1_powers(), q)

    def create_witnesses(self, coeffs, num_values: int, indices) -> list[bytes]:
        """``create_witness`` for many indices (e.g. all 256 segment positions, §9.4 step 7)."""
        return self._map(lambda i: self.create_witness(coeffs, num_values, int(i)), list(indices))

    # -- verification -----------------------------------------------------------------------------------
    def verify(self, commitment: bytes, num_values: int, index: int, value, witness: bytes) -> bool:
        """§6 ``verify``: e(C − y·G1, G2) == e(π, [τ]G2 − x·G2). Any decoding error → False."""
        try:
            x = self.evaluation_point(num_values, index)
        except FarmkitError:
            return False
        yb = bytes(np.asarray(value, dtype=np.uint8).reshape(-1).tobytes()) if not isinstance(value, bytes) else value
        if len(yb) != fr.SCALAR_BYTES:
            return False
        y = int.from_bytes(yb, "big")
        if y >= MODULUS:
            return False
        try:
            c = G1Point.from_compressed_bytes_unchecked(bytes(commitment))
            w = G1Point.from_compressed_bytes_unchecked(bytes(witness))
        except Exception:  # noqa: BLE001
            return False
        lhs = c - self.g1_gen * _scalar(y)
        rhs_g2 = self.g2_tau - self.g2_gen * _scalar(x)
        # one multi-pairing: e(C − yG1, G2)·e(−π, [τ − x]G2) == 1
        return bool(GT.multi_pairing([lhs, -w], [self.g2_gen, rhs_g2]) == GT.one())


def extend_commitments(commitments) -> list[bytes]:
    """§7 ``ErasureCoding::extend_commitments``: n commitments → 2n, interleaved (even = inputs).

    Odd output 2i+1 = Σ_r M[i, r]·C_r with M the erasure-extension matrix (linearity of KZG);
    byte-identical to upstream's G1 IFFT → zero-pad → G1 FFT.
    """
    from farmkit.kernels import erasure  # local: erasure does not depend on kzg

    items = [bytes(c) for c in commitments]
    n = len(items)
    _check_pow2(n, "extend_commitments")
    if any(len(c) != G1_SIZE for c in items):
        raise FarmkitError("extend_commitments: commitments must be 48 bytes")
    try:
        pts = [G1Point.from_compressed_bytes_unchecked(c) for c in items]
    except Exception as e:  # noqa: BLE001
        raise FarmkitError(f"extend_commitments: invalid commitment ({e})") from None
    m = erasure.extension_matrix(n)
    out: list[bytes] = []
    for i in range(n):
        parity = G1Point.multiexp_unchecked(pts, _scalar_list(m[i]))
        out.append(items[i])
        out.append(bytes(parity.to_compressed_bytes()))
    return out


def _scale_points(pairs: list[tuple[G1Point, Scalar]]) -> list[G1Point]:
    """[p·s] for each pair; single-point MSMs release the GIL, so chunks run on all cores."""
    if len(pairs) < 256 or (os.cpu_count() or 1) < 2:
        return [p * s for p, s in pairs]

    def work(chunk):
        return [G1Point.multiexp_unchecked([p], [s]) for p, s in chunk]

    step = 128
    chunks = [pairs[i : i + step] for i in range(0, len(pairs), step)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as ex:
        return [p for part in ex.map(work, chunks) for p in part]


def g1_ifft(points: list[G1Point], progress=None) -> list[G1Point]:
    """G1 inverse FFT over ⟨ω_n⟩ (natural order), driven from Python with arkworks point ops."""
    n = len(points)
    _check_pow2(n, "g1_ifft")
    w = pow(_fft.root_of_unity(n), MODULUS - 2, MODULUS)
    rev = _fft.bit_reverse_permutation(n)
    a = [points[int(j)] for j in rev]
    length = 2
    while length <= n:
        half = length // 2
        wl = pow(w, n // length, MODULUS)
        tw = [_scalar(pow(wl, k, MODULUS)) for k in range(half)]
        idx = [(start + k, k) for start in range(0, n, length) for k in range(1, half)]
        scaled = _scale_points([(a[i + half], tw[k]) for i, k in idx])
        for (i, _), v in zip(idx, scaled):
            a[i + half] = v
        for start in range(0, n, length):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half]
                a[start + k] = u + v
                a[start + k + half] = u - v
        if progress is not None:
            progress(length)
        length *= 2
    ninv = _scalar(pow(n, MODULUS - 2, MODULUS))
    return _scale_points([(p, ninv) for p in a])


def g1_fft(points: list[G1Point], inverse: bool = False) -> list[G1Point]:
    """G1 FFT over ⟨ω_n⟩ natural order (``fft_g1``, §7); used for small n (commitment extension)."""
    if inverse:
        return g1_ifft(points)
    n = len(points)
    _check_pow2(n, "g1_fft")
    # forward = inverse with ω instead of ω^-1 and without 1/n: reuse by conjugating the index
    # out[i] = Σ_j in[j] ω^(ij) = n · IFFT(in)[(−i) mod n]
    inv = g1_ifft(points)
    nn = _scalar(n)
    return [inv[(-i) % n] * nn for i in range(n)]


_DEFAULT: Kzg | None = None
_DEFAULT_LOCK = threading.Lock()


def default_kzg() -> Kzg:
    """The process-wide Kzg over the shipped parameters (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Kzg()
    return _DEFAULT
