"""Shared test material for the auditor tests: a small but *valid* archived history and a farm
plotted from it, built once per test session (no tests in this module).

The history is real as far as every check of ``verify_solution`` goes (sector-audit-prove.md §11,
§14.3): each source record is the evaluations of a degree-1 polynomial ``a + b·X`` over the 2^15
roots of unity, so its record commitment ``commit([a, b])`` is a 2-term MSM; parity records are the
column-wise erasure extension, whose polynomials are the extension of the ``a`` and ``b`` vectors
(linearity), and their commitments are cross-checked with ``extend_commitments``; the segment
commitment and record witnesses are the usual KZG objects over ``blake3_254(commitment)`` at 256
points. Only the records' *content* is low-degree, which keeps commitments and witnesses cheap.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from farmkit.kernels import erasure, fft, fr
from farmkit.kernels.kzg import default_kzg, extend_commitments
from farmkit.protocol.constants import NUM_PIECES, RECORD_NUM_CHUNKS
from farmkit.protocol.pieces import record_commitment_hash
from farmkit.protocol.sector import FarmerProtocolInfo

HISTORY_SIZE = 3  # > 1 so that FutureHistorySize can be triggered through the context
PIECES_IN_SECTOR = 2
SECTORS = 2


class TinyHistory:
    """``HISTORY_SIZE`` segments of low-degree records with genuine KZG commitments/witnesses."""

    genesis_hash = bytes(32)

    def __init__(self, history_size: int = HISTORY_SIZE, seed: int = 7):
        kzg = default_kzg()
        rng = np.random.default_rng(seed)
        self._hs = history_size
        self.coeffs = []  # per segment: (256, 2, 32) coefficients [a, b] by position
        self.commitments = []  # per segment: 256 record commitments
        self.segment_polys = []  # per segment: the polynomial the record witnesses open
        self._witnesses: dict[int, bytes] = {}
        self.segment_commitments = []
        for _ in range(history_size):
            src = rng.integers(0, 256, (2, NUM_PIECES // 2, 32), dtype=np.uint8)
            src[:, :, 0] &= 0x3F  # canonical
            parity = erasure.extend_batch(src)  # (2, 128, 32): extension of the a's and of the b's
            ab = np.empty((NUM_PIECES, 2, 32), np.uint8)
            ab[0::2] = src.transpose(1, 0, 2)
            ab[1::2] = parity.transpose(1, 0, 2)
            commitments = [kzg.commit(ab[pos]) for pos in range(NUM_PIECES)]
            assert extend_commitments(commitments[0::2])[1::2] == commitments[1::2]
            values = np.stack([np.frombuffer(record_commitment_hash(c), np.uint8) for c in commitments])
            seg_poly = kzg.poly_from_evaluations(values)
            self.segment_commitments.append(kzg.commit(seg_poly))
            self.segment_polys.append(seg_poly)
            self.coeffs.append(ab)
            self.commitments.append(commitments)

    # -- the plotter's PieceSource protocol --
    def protocol_info(self) -> FarmerProtocolInfo:
        return FarmerProtocolInfo(self._hs)

    def segment_commitment(self, segment_index: int) -> bytes | None:
        return self.segment_commitments[segment_index] if segment_index < self._hs else None

    def record(self, piece_index: int) -> np.ndarray:
        seg, pos = divmod(piece_index, NUM_PIECES)
        return fft.fft(self.coeffs[seg][pos], RECORD_NUM_CHUNKS)  # (32768, 32) evaluations

    def piece(self, piece_index: int) -> bytes:
        seg, pos = divmod(piece_index, NUM_PIECES)
        return self.record(piece_index).tobytes() + self.commitments[seg][pos] + self.record_witness(piece_index)

    def record_witness(self, piece_index: int) -> bytes:
        """Opening of the segment commitment at the piece's position (computed on demand)."""
        if piece_index not in self._witnesses:
            seg, pos = divmod(piece_index, NUM_PIECES)
            self._witnesses[piece_index] = default_kzg().create_witness(self.segment_polys[seg], NUM_PIECES, pos)
        return self._witnesses[piece_index]

    def close(self) -> None:
        pass

    def write_piece_store(self, directory: Path) -> Path:
        """An archive directory with just ``index.json`` (what ``auditor verify`` reads)."""
        directory.mkdir(parents=True, exist_ok=True)
        index = {
            "format": "farmkit-archive/1",
            "segments": [
                {"index": i, "commitment": c.hex(), "header_hash": "00" * 32}
                for i, c in enumerate(self.segment_commitments)
            ],
            "genesis_hash": self.genesis_hash.hex(),
        }
        (directory / "index.json").write_text(json.dumps(index))
        return directory


def _fr_check() -> None:  # the records really are a + b·ω^k
    h = TinyHistory.__new__(TinyHistory)
    h.coeffs = [np.stack([fr.ints_to_bytes([5, 7])] * NUM_PIECES)]
    rec = TinyHistory.record(h, 0)
    w = fft.root_of_unity(RECORD_NUM_CHUNKS)
    assert int.from_bytes(rec[3].tobytes(), "big") == (5 + 7 * pow(w, 3, fr.MODULUS)) % fr.MODULUS


@functools.lru_cache(maxsize=None)
def tiny_history() -> TinyHistory:
    _fr_check()
    return TinyHistory()


_TMP: list[str] = []


def _tmpdir(name: str) -> Path:
    d = tempfile.mkdtemp(prefix=f"farmkit-{name}-")
    _TMP.append(d)
    return Path(d)


@atexit.register
def _cleanup() -> None:
    for d in _TMP:
        shutil.rmtree(d, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def plotted_farm() -> Path:
    """A farm of ``SECTORS`` sectors × ``PIECES_IN_SECTOR`` pieces plotted (V2) from the tiny history.
    Built once per session (4 PoS tables)."""
    from farmkit.plotter.plot import FarmPlotter, _make_encoder
    from farmkit.protocol.farm import Identity, SingleDiskFarm, allocated_space_for_sectors

    history = tiny_history()
    directory = _tmpdir("farm") / "farm"
    farm, identity = SingleDiskFarm.create_or_open(
        directory, genesis_hash=history.genesis_hash,
        allocated_space=allocated_space_for_sectors(SECTORS, PIECES_IN_SECTOR, 0),
        pieces_in_sector=PIECES_IN_SECTOR, cache_percentage=0,
        identity=Identity.from_entropy(bytes(range(32))),  # deterministic sectors
    )
    plotter = FarmPlotter(farm, identity, history, _make_encoder("cpu"), "v2", "none")
    for i in plotter.sectors_left():
        plotter.plot_sector(i)
    farm.close()
    return directory


def copy_farm(dst: Path) -> Path:
    """A private copy of the session farm (for tests that corrupt it)."""
    shutil.copytree(plotted_farm(), dst)
    return dst


@functools.lru_cache(maxsize=None)
def piece_store() -> Path:
    return tiny_history().write_piece_store(_tmpdir("store") / "store")


POT_OUTPUT = bytes(range(16))
REWARD_ADDRESS = bytes(range(100, 132))


@functools.lru_cache(maxsize=None)
def planted():
    """A slot whose PoT-derived global challenge makes an encoded chunk of the farm win with a small
    distance (< 2^54), the audit candidate, a solution range just wide enough, and the proven
    Solution: ``(slot, global_challenge, solution_range, candidate, solution)``."""
    from farmkit.auditor.audit import FarmAuditor
    from farmkit.auditor.prove import prove_candidate
    from farmkit.protocol.pot import derive_global_challenge

    with FarmAuditor(plotted_farm()) as auditor:
        for slot in range(1, 20000):
            gc = derive_global_challenge(POT_OUTPUT, slot)
            enc = [c for c in auditor.audit(gc, (1 << 64) - 1) if c.encoded]
            if enc and enc[0].distance < 1 << 54:
                best = enc[0]
                break
        else:  # pragma: no cover
            raise AssertionError("no planted winner found")
        solution_range = 2 * best.distance + 1
        solution = prove_candidate(auditor.farm, best.sector_index, best.piece_offset, best.s_bucket, REWARD_ADDRESS)
    return slot, gc, solution_range, best, solution


def run_cli(*args: str) -> tuple[int, str, str]:
    """``auditor ARGS`` in-process (same exit codes and one-line errors as the installed script,
    without paying for a new interpreter + numba + KZG load per call): (code, stdout, stderr)."""
    import contextlib
    import io

    from farmkit.auditor.cli import app
    from farmkit.cli import run

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run(app, [str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()
