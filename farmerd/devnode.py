"""An embedded development node: PoT slots, the farmer RPC, reward signing, segment headers, pieces.

It plays the node's side of pot-rpc.md C (methods C.3, payloads C.4, timing C.5, segment headers
and pieces C.6, reward signatures C.7) so a farmer can be run and tested without
``subspace-node``. What it does per slot (A.6-A.8, C.5):

1. prove PoT for slot S from the chained seed (``farmkit.pot.prove``, ``--pot-iterations``), no
   faster than one slot per ``--slot-duration-ms``;
2. send ``SlotInfo{S, global_challenge = derive_global_challenge(output_S, S), solutionRange,
   votingSolutionRange}`` to every ``subspace_subscribeSlotInfo`` subscriber and open the slot's
   solution channel (9 solutions; only the last 4 slots are open, else 9001 "Solution was ignored");
3. when slot S+4 arrives, claim slot S: run every solution of S through :func:`verify_solution`
   (the auditor's independent verifier; **no verifier -> every solution is rejected with reason
   "verifier unavailable"**); the first within ``solutionRange/2`` makes a block, others within
   ``votingSolutionRange/2`` make votes; for each, publish ``RewardSigningInfo{hash, publicKey}``
   and accept a ``subspace_submitRewardSignature`` within 500 ms whose sr25519 signature (context
   ``subspace_reward``) verifies against the solution's public key.

Chain state (genesis hash, last slot, next seed, counters) lives in ``--base-path`` and is written
after every slot, so a restart continues the same chain with increasing slots. Dev-only
differences from a real node: the reward hash is a BLAKE2b-256 of the slot's data rather than a
pre-header hash; ``subspace_piece`` serves whatever the piece store holds; ``dev_status`` reports
counters.

Segment headers come from the piece store (``--piece-store``, ``plotter archive``), from injection
(:meth:`DevNode.archive_segment_header` or the unsafe ``dev_archiveSegmentHeader`` method), and,
with ``--segment-every-slots N``, from growth: every N slots the node continues the store's
synthetic history (``plotter archive --synthetic``) by one segment in a background process
(:func:`grow_synthetic_history`, one core, lowered priority: ~35 CPU-seconds per full-size
segment), then announces the new header exactly like :meth:`DevNode.archive_segment_header` and
persists it in ``--base-path``. Off by default (see :data:`DEFAULT_SEGMENT_EVERY_SLOTS`).

Dev defaults (:data:`DEV_MAX_PIECES_IN_SECTOR`, :data:`DEV_SOLUTION_RANGE`,
:data:`DEV_VOTING_SOLUTION_RANGE`) are small / generous so a demo farm of one small sector wins
quickly on a 2-core box; ``farmerd demo`` and ``farmerd dev-node`` take them from here.

Prometheus metrics (``--prometheus-listen-on``, prefix ``farmkit_dev_node``): among others
``solutions_total{result=received|accepted|rejected|ignored}``,
``solutions_rejected_total{reason=...}`` (the verifier's reason, e.g. ``OutsideSolutionRange``),
``reward_signatures_total{result=valid|invalid|timeout|no_subscriber}`` (``valid`` = verified
sr25519 reward signatures) and ``segments_archived_total{result=ok|failed}`` (growth).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from farmkit.fsutil import write_atomic
from farmkit.errors import FarmkitError
from farmkit.kernels import sr25519
from farmkit.protocol import rpc as R
from farmkit.protocol.constants import (
    ARCHIVED_SEGMENT_ACKNOWLEDGEMENT_TIMEOUT_S,
    BLOCK_AUTHORING_DELAY,
    MIN_SECTOR_LIFETIME,
    NUM_PIECES,
    RECENT_HISTORY_FRACTION,
    RECENT_SEGMENTS,
    REWARD_SIGNING_CONTEXT,
    REWARD_SIGNING_TIMEOUT_MS,
    SLOT_DURATION_MS,
    SOLUTION_CHANNEL_CAPACITY,
)
from farmkit.protocol.pot import check_iterations, derive_global_challenge, derive_next_seed, seed_from_genesis
from farmkit.protocol.sector import FarmerProtocolInfo
from farmkit.protocol.segments import SegmentHeader
from farmkit.protocol.solution import Solution

from farmkit.farmerd.rpc_server import Connection, RpcError, RpcServer, rpc_methods_allow_unsafe

__all__ = [
    "DevNode",
    "DevNodeConfig",
    "VerifySolutionParams",
    "SolutionVerdict",
    "verify_solution",
    "resolve_solution_verifier",
    "VERIFIER_UNAVAILABLE",
    "DEFAULT_DEV_POT_ITERATIONS",
    "DEV_MAX_PIECES_IN_SECTOR",
    "DEV_SOLUTION_RANGE",
    "DEV_VOTING_SOLUTION_RANGE",
    "DEFAULT_SEGMENT_EVERY_SLOTS",
    "grow_synthetic_history",
    "segment_growth_due",
    "rejection_reason_label",
    "STATE_FILE",
    "run_dev_node",
    "warm_up_verifier",
    "open_piece_source",
]

log = logging.getLogger("farmkit.farmerd.devnode")

STATE_FILE = "dev-node-state.json"
SEGMENT_HEADERS_FILE = "dev-node-segment-headers.json"
LOCK_FILE = "dev-node.lock"
DEFAULT_DEV_POT_ITERATIONS = 1_600_000  # ~tens of ms with AES-NI; the real --dev chain uses 100 M
VERIFIER_UNAVAILABLE = "verifier unavailable"

# --- Dev defaults: the one place ``farmerd dev-node`` and ``farmerd demo`` take them from ------------
U64_MAX = (1 << 64) - 1
# pieces per sector: a sector plots in seconds on 2 cores (mainnet: 1000)
DEV_MAX_PIECES_IN_SECTOR = 32
# solution ranges: the full u64 range, so every audit of a small farm finds a solution in range
# (distance <= range/2 always holds) and the first accepted solution of a slot makes a block, later
# ones votes. A mainnet-like range would almost never let a few-dozen-piece farm win, and votes
# alone are refused until the first block ("vote on top of genesis").
DEV_SOLUTION_RANGE = U64_MAX
DEV_VOTING_SOLUTION_RANGE = U64_MAX
# history growth is off unless asked for: a full-size segment costs ~35 CPU-seconds, which on a
# 2-core box competes with plotting and proving, and it needs a synthetic --piece-store.
DEFAULT_SEGMENT_EVERY_SLOTS: int | None = None


# --- The solution-verification hook (sector-audit-prove.md §11) -----------------------------------
@dataclass(frozen=True)
class VerifySolutionParams:
    """What the node knows when it checks a solution (reference ``VerifySolutionParams`` plus
    ``PieceCheckParams``, sector-audit-prove.md §11). ``segment_commitment(i)`` returns the
    48-byte commitment of segment ``i`` or None when the node does not have it."""

    proof_of_time: bytes
    solution_range: int
    max_pieces_in_sector: int
    recent_segments: int
    recent_history_fraction: tuple[int, int]
    min_sector_lifetime: int
    current_history_size: int
    segment_commitment: Callable[[int], bytes | None]


@dataclass(frozen=True)
class SolutionVerdict:
    accepted: bool
    reason: str = ""
    distance: int | None = None


SolutionVerifier = Callable[[Solution, int, VerifySolutionParams], SolutionVerdict]


def _verifier_unavailable(solution: Solution, slot: int, params: VerifySolutionParams) -> SolutionVerdict:
    return SolutionVerdict(False, VERIFIER_UNAVAILABLE)


def resolve_solution_verifier() -> SolutionVerifier:
    """The auditor's independent verifier (``farmkit.auditor.verify.verify_solution``) with the
    node's parameters (sector-audit-prove.md §11 "Where the node gets the parameters"); if the
    auditor cannot be imported, a verifier that rejects everything ("verifier unavailable")."""
    try:
        from farmkit.auditor.verify import PieceCheckParams, verify_solution as auditor_verify
    except Exception as exc:  # ImportError, or a broken auditor module
        log.warning("solution verifier unavailable (%s): every solution will be rejected", exc)
        return _verifier_unavailable
    from farmkit.protocol.sector import SectorId, public_key_hash, sector_expiration_check_segment_index

    def verifier(solution: Solution, slot: int, params: VerifySolutionParams) -> SolutionVerdict:
        sector_id = SectorId.new(public_key_hash(solution.public_key), solution.sector_index, solution.history_size)
        try:
            piece_index = sector_id.derive_piece_index(
                solution.piece_offset, solution.history_size, params.max_pieces_in_sector,
                params.recent_segments, tuple(params.recent_history_fraction),
            )
        except Exception as exc:  # noqa: BLE001 - bad fields: reject
            return SolutionVerdict(False, f"InvalidPieceOffset: {exc}")
        commitment = params.segment_commitment(piece_index // NUM_PIECES)
        if commitment is None:  # the real node skips such a solution (§11)
            return SolutionVerdict(False, "segment commitment not found")
        check = sector_expiration_check_segment_index(solution.history_size, params.min_sector_lifetime)
        piece_check = PieceCheckParams(
            max_pieces_in_sector=params.max_pieces_in_sector,
            segment_commitment=commitment,
            recent_segments=params.recent_segments,
            recent_history_fraction=tuple(params.recent_history_fraction),
            min_sector_lifetime=params.min_sector_lifetime,
            current_history_size=params.current_history_size,
            sector_expiration_check_segment_commitment=params.segment_commitment(check),
        )
        try:
            distance = auditor_verify(solution, slot, params.proof_of_time, params.solution_range, piece_check)
        except Exception as exc:  # noqa: BLE001 - SolutionVerificationError names the reason
            return SolutionVerdict(False, getattr(exc, "reason", None) or " ".join(str(exc).split()))
        return SolutionVerdict(True, "", distance)

    return verifier


def warm_up_verifier() -> float:
    """Load what the first verification needs (KZG setup, the PoS verifier kernel): on a busy or
    fresh machine the first call can take tens of seconds, longer than a slot's claim window."""
    from farmkit.kernels.kzg import default_kzg
    from farmkit.kernels.pos import is_proof_valid

    t0 = time.perf_counter()
    default_kzg()
    is_proof_valid(bytes(32), 0, bytes(160))
    return time.perf_counter() - t0


def verify_solution(
    solution: Solution, slot: int, params: VerifySolutionParams, verifier: SolutionVerifier | None = None
) -> SolutionVerdict:
    """The hook where the auditor's independent verifier plugs in. Never accepts by default:
    ``verifier=None`` resolves the auditor's verifier or rejects with "verifier unavailable"."""
    verifier = verifier or resolve_solution_verifier()
    try:
        verdict = verifier(solution, slot, params)
    except Exception as exc:
        log.exception("solution verifier crashed")
        return SolutionVerdict(False, f"verifier error: {type(exc).__name__}")
    if not isinstance(verdict, SolutionVerdict):
        return SolutionVerdict(False, "verifier returned no verdict")
    if verdict.accepted and (verdict.distance is None or verdict.distance > params.solution_range // 2):
        return SolutionVerdict(False, "OutsideSolutionRange", verdict.distance)
    return verdict


# --- Configuration and persisted chain state --------------------------------------------------------
@dataclass
class DevNodeConfig:
    base_path: Path
    host: str = "127.0.0.1"
    port: int = 9944
    slot_duration_ms: int = SLOT_DURATION_MS
    pot_iterations: int = DEFAULT_DEV_POT_ITERATIONS
    max_pieces_in_sector: int = DEV_MAX_PIECES_IN_SECTOR  # mainnet: MAX_PIECES_IN_SECTOR
    solution_range: int = DEV_SOLUTION_RANGE  # mainnet genesis: INITIAL_SOLUTION_RANGE
    voting_solution_range: int | None = DEV_VOTING_SOLUTION_RANGE  # None: equal to solution_range
    rpc_methods: str = "auto"
    piece_store: Path | None = None
    prometheus_listen_on: str | None = None
    dsn_bootstrap_nodes: tuple[str, ...] = ()
    max_message_size: int | None = None
    segment_every_slots: int | None = DEFAULT_SEGMENT_EVERY_SLOTS  # grow the synthetic history
    growth_workers: int = 1  # processes for record commitments while growing (one core by default)

    def validate(self) -> None:
        try:
            check_iterations(self.pot_iterations)
        except FarmkitError as exc:
            raise FarmkitError(f"--pot-iterations: {exc}") from None
        if not 1 <= self.slot_duration_ms <= 3_600_000:
            raise FarmkitError(f"--slot-duration-ms must be in 1..3600000, got {self.slot_duration_ms}")
        if not 1 <= self.max_pieces_in_sector < 2**16:
            raise FarmkitError(f"--max-pieces-in-sector must be in 1..65535, got {self.max_pieces_in_sector}")
        for name, v in (("--solution-range", self.solution_range), ("voting solution range", self.voting_solution_range)):
            if v is not None and not 0 <= v < 2**64:
                raise FarmkitError(f"{name} must be a u64, got {v}")
        if not 0 <= self.port < 65536:
            raise FarmkitError(f"RPC port must be in 0..65535, got {self.port}")
        rpc_methods_allow_unsafe(self.rpc_methods, self.host)
        if self.segment_every_slots is not None:
            if not 1 <= self.segment_every_slots < 2**32:
                raise FarmkitError(f"--segment-every-slots must be at least 1, got {self.segment_every_slots}")
            if self.piece_store is None:
                raise FarmkitError("--segment-every-slots needs --piece-store DIR (a `plotter archive --synthetic` history)")
        if self.growth_workers < 1:
            raise FarmkitError(f"growth workers must be at least 1, got {self.growth_workers}")


@dataclass
class ChainState:
    """What survives a restart (``<base-path>/dev-node-state.json``)."""

    genesis_hash: bytes
    slot_iterations: int
    last_slot: int = 0  # PoT slot 1 is the first after genesis (A.6)
    next_seed: bytes = b""
    last_output: bytes | None = None
    blocks: int = 0
    votes: int = 0
    created_at: float = field(default_factory=time.time)
    last_segment_slot: int = 0  # slot at which history growth last started (--segment-every-slots)

    def to_json(self) -> dict:
        return {
            "version": 1,
            "genesisHash": self.genesis_hash.hex(),
            "slotIterations": self.slot_iterations,
            "lastSlot": self.last_slot,
            "nextSeed": self.next_seed.hex(),
            "lastOutput": None if self.last_output is None else self.last_output.hex(),
            "blocks": self.blocks,
            "votes": self.votes,
            "createdAt": self.created_at,
            "lastSegmentSlot": self.last_segment_slot,
        }

    @classmethod
    def from_json(cls, obj, where: str) -> "ChainState":
        o = R.expect_object(obj, where)
        if o.get("version") != 1:
            raise FarmkitError(f"{where}: unsupported state version {o.get('version')!r}")
        last = o.get("lastOutput")
        return cls(
            genesis_hash=R.hex_field(o, "genesisHash", 32, where),
            slot_iterations=R.uint_field(o, "slotIterations", 32, where, nonzero=True),
            last_slot=R.uint_field(o, "lastSlot", 64, where),
            next_seed=R.hex_field(o, "nextSeed", 16, where),
            last_output=None if last is None else R.decode_hex(last, 16, f"{where}.lastOutput"),
            blocks=R.uint_field(o, "blocks", 64, where),
            votes=R.uint_field(o, "votes", 64, where),
            created_at=float(o.get("createdAt", 0.0)) if isinstance(o.get("createdAt"), (int, float)) else 0.0,
            last_segment_slot=R.uint_field(o, "lastSegmentSlot", 64, where) if "lastSegmentSlot" in o else 0,
        )


def _atomic_write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, separators=(",", ":")).encode())


# --- Piece store adapter ---------------------------------------------------------------------------
class _NoPieces:
    """No ``--piece-store``: every ``subspace_piece`` answers null, no archived history."""

    genesis_hash = None
    directory = None
    synthetic_seed = None

    def get_piece(self, piece_index: int) -> bytes | None:
        return None

    def segment_headers(self) -> list[SegmentHeader]:
        return []


class _StorePieces:
    """The plotter's archive directory (``farmkit.plotter.piece_store``, written by ``plotter archive``)."""

    def __init__(self, store) -> None:
        self.store = store
        self.genesis_hash = store.genesis_hash  # set for synthetic histories

    @property
    def directory(self) -> Path | None:
        return getattr(self.store, "directory", None)

    @property
    def synthetic_seed(self) -> bytes | None:
        """The seed of a ``plotter archive --synthetic`` history, None for any other store."""
        return synthetic_seed_of(getattr(self.store, "index", None))

    def reload(self) -> None:
        """Re-read the archive after it grew (index.json is written last, so this sees a consistent one)."""
        from farmkit.plotter import piece_store

        self.store = piece_store.open(self.store.directory)

    def get_piece(self, piece_index: int) -> bytes | None:
        if piece_index // NUM_PIECES >= self.store.history_size:
            return None
        try:
            return bytes(self.store.read_piece(piece_index))
        except FarmkitError as exc:
            log.warning("piece %d unavailable: %s", piece_index, exc)
            return None

    def segment_headers(self) -> list[SegmentHeader]:
        return [self.store.segment_header(i) for i in range(self.store.history_size)]


def synthetic_seed_of(index) -> bytes | None:
    """The synthetic seed recorded in an archive's index.json (``history.synthetic_seed``)."""
    hist = index.get("history") if isinstance(index, dict) else None
    seed = hist.get("synthetic_seed") if isinstance(hist, dict) else None
    try:
        value = bytes.fromhex(seed) if isinstance(seed, str) else None
    except ValueError:
        return None
    return value if value is not None and len(value) == 32 else None


# --- History growth (--segment-every-slots) -------------------------------------------------------------
def segment_growth_due(slot: int, last_segment_slot: int, every: int | None) -> bool:
    """Whether slot ``slot`` starts archiving the next segment: growth is on and at least ``every``
    slots passed since the last growth started (so a restarted node keeps the same rhythm)."""
    return every is not None and slot - last_segment_slot >= every


def grow_synthetic_history(directory: Path, workers: int = 1) -> int:
    """Continue the synthetic history in ``directory`` with its next blocks
    (``farmkit.plotter.archive.synthetic_block``, same seed and record geometry) until it holds one
    more segment, and commit it (kzg-erasure-archiving.md §8-11 via ``ArchiveWriter``). Returns the
    new history size. CPU-heavy (~35 CPU-seconds per full-size segment): the dev node runs it in a
    child process (``python -m farmkit.farmerd.devnode grow DIR``)."""
    from farmkit.plotter import piece_store
    from farmkit.plotter.archive import ArchiveWriter, archive_synthetic

    directory = Path(directory)
    store = piece_store.open(directory)
    seed = synthetic_seed_of(store.index)
    if seed is None:
        raise FarmkitError(f"{directory}: not a synthetic history (no synthetic seed recorded); cannot grow it")
    writer = ArchiveWriter(directory, store.geometry, workers=workers)
    archive_synthetic(writer, seed, writer.history_size + 1, show_progress=False)
    return writer.history_size


def _grow_main(argv: list[str]) -> int:
    """``python -m farmkit.farmerd.devnode grow DIR [WORKERS]``: one line ``history_size=N`` or a
    one-line error on stderr (exit 2). Lowered CPU priority so slots keep their pace."""
    import sys

    if len(argv) not in (2, 3) or argv[0] != "grow":
        print("usage: python -m farmkit.farmerd.devnode grow DIR [WORKERS]", file=sys.stderr)
        return 2
    os.environ["FARMKIT_NO_PROGRESS"] = "1"
    try:
        os.nice(10)
    except OSError:
        pass
    try:
        size = grow_synthetic_history(Path(argv[1]), int(argv[2]) if len(argv) == 3 else 1)
    except (FarmkitError, OSError, ValueError) as exc:
        print(" ".join(str(exc).split()), file=sys.stderr)
        return 2
    print(f"history_size={size}", flush=True)
    return 0


def open_piece_source(path: Path | None):
    """``get_piece(index) -> bytes | None``, ``segment_headers()`` and ``genesis_hash`` over the
    archive at ``path`` (:func:`farmkit.plotter.piece_store.open`), or an empty source."""
    if path is None:
        return _NoPieces()
    from farmkit.plotter import piece_store

    try:
        return _StorePieces(piece_store.open(Path(path)))
    except FarmkitError as exc:
        raise FarmkitError(f"--piece-store: {exc}") from None


# --- Metrics ---------------------------------------------------------------------------------------
class _Metrics:
    """Prometheus metrics of the dev node (prefix ``farmkit_dev_node``), on a private registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        p = "farmkit_dev_node"
        self.slot = Gauge(f"{p}_slot_number", "Last PoT slot announced", registry=self.registry)
        self.slots = Counter(f"{p}_slots", "PoT slots announced", registry=self.registry)
        self.pot_time = Histogram(
            f"{p}_pot_proving_time_seconds", "Time to prove one PoT slot",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5), registry=self.registry,
        )
        self.solutions = Counter(f"{p}_solutions", "Solutions received", ["result"], registry=self.registry)
        self.rejected = Counter(f"{p}_solutions_rejected", "Solutions rejected, by reason", ["reason"], registry=self.registry)
        self.blocks = Counter(f"{p}_blocks_authored", "Blocks authored from farmer solutions", registry=self.registry)
        self.votes = Counter(f"{p}_votes", "Votes from farmer solutions", registry=self.registry)
        self.reward_signatures = Counter(f"{p}_reward_signatures", "Reward signature outcomes", ["result"], registry=self.registry)
        self.connections = Gauge(f"{p}_rpc_connections", "Open RPC connections", registry=self.registry)
        self.subscribers = Gauge(f"{p}_slot_info_subscribers", "Slot info subscriptions", registry=self.registry)
        self.segment_headers = Gauge(f"{p}_segment_headers", "Archived segment headers known", registry=self.registry)
        self.acks = Counter(f"{p}_segment_acknowledgements", "Segment header acknowledgements", ["result"], registry=self.registry)
        self.segments_archived = Counter(
            f"{p}_segments_archived", "Segments added by history growth (--segment-every-slots)", ["result"],
            registry=self.registry,
        )
        self.archiving_time = Histogram(
            f"{p}_segment_archiving_time_seconds", "Wall time to archive one grown segment",
            buckets=(1, 5, 10, 30, 60, 120, 300, 600), registry=self.registry,
        )

    def reject(self, reason: str) -> None:
        self.solutions.labels("rejected").inc()
        self.rejected.labels(rejection_reason_label(reason)).inc()

    def serve(self, listen_on: str):
        from prometheus_client import start_http_server

        host, port = _split_host_port(listen_on, "--prometheus-listen-on")
        return start_http_server(port, addr=host, registry=self.registry)


def rejection_reason_label(reason: str) -> str:
    """A bounded Prometheus label for a rejection reason: the verifier's reason name (the text
    before any ``:`` detail), at most 64 characters."""
    label = (reason or "").split(":", 1)[0].strip()[:64]
    return label or "unknown"


def _split_host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise FarmkitError(f"{what}: expected HOST:PORT, got {text!r}")
    return host, int(port)


# --- The node ----------------------------------------------------------------------------------------
@dataclass
class _PendingSignature:
    public_key: bytes
    future: asyncio.Future


class DevNode:
    """The dev node. ``await node.start()`` binds the RPC port and starts producing slots."""

    def __init__(
        self, config: DevNodeConfig, *, solution_verifier: SolutionVerifier | None = None, piece_source=None
    ) -> None:
        config.validate()
        self.config = config
        self.base_path = Path(config.base_path)
        self.voting_solution_range = (
            config.solution_range if config.voting_solution_range is None else config.voting_solution_range
        )
        # the hook is required: default to the auditor's verifier, or reject-all "verifier unavailable"
        self.solution_verifier: SolutionVerifier = solution_verifier or resolve_solution_verifier()
        self.metrics = _Metrics()
        self.server = RpcServer(
            allow_unsafe=rpc_methods_allow_unsafe(config.rpc_methods, config.host),
            **({"max_message_size": config.max_message_size} if config.max_message_size else {}),
        )
        self.server.on_connections_changed = self.metrics.connections.set
        self.pieces = piece_source if piece_source is not None else open_piece_source(config.piece_store)
        self.state: ChainState | None = None
        self.segment_headers: list[SegmentHeader] = []
        self.port: int | None = None
        self._lock_fd: int | None = None
        self._channels: OrderedDict[int, list[Solution]] = OrderedDict()
        self._outputs: dict[int, bytes] = {}
        self._pending_signatures: dict[bytes, _PendingSignature] = {}
        self._pending_acks: dict[int, set[tuple[int, str]]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._slot_task: asyncio.Task | None = None
        self._metrics_server = None
        self.rejections: list[tuple[int, str]] = []  # (slot, reason), most recent last (bounded)
        self._growth_proc: asyncio.subprocess.Process | None = None
        self._growing = False
        self.growth_error: str | None = None  # the last failed growth's one-line reason
        self._register_methods()

    # -- persistence --
    def _open_state(self) -> None:
        self.base_path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.base_path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise FarmkitError(f"--base-path {self.base_path}: another dev node is using it") from None
        state_path = self.base_path / STATE_FILE
        if state_path.exists():
            try:
                obj = json.loads(state_path.read_text())
            except (OSError, ValueError) as exc:
                raise FarmkitError(f"{state_path}: unreadable dev node state ({exc})") from None
            self.state = ChainState.from_json(obj, str(state_path))
            if self.state.slot_iterations != self.config.pot_iterations:
                log.info("PoT iterations change %d -> %d", self.state.slot_iterations, self.config.pot_iterations)
                self.state.slot_iterations = self.config.pot_iterations
            store_genesis = self.pieces.genesis_hash
            if store_genesis is not None and store_genesis != self.state.genesis_hash:
                raise FarmkitError(
                    f"--piece-store: archive genesis {store_genesis.hex()} differs from the chain in "
                    f"--base-path ({self.state.genesis_hash.hex()})"
                )
        else:
            # a fresh dev chain; an archive of a synthetic history brings its own genesis hash
            genesis_hash = self.pieces.genesis_hash or secrets.token_bytes(32)
            self.state = ChainState(
                genesis_hash=genesis_hash,
                slot_iterations=self.config.pot_iterations,
                next_seed=seed_from_genesis(genesis_hash, b""),
            )
            self._save_state()
        headers_path = self.base_path / SEGMENT_HEADERS_FILE
        if headers_path.exists():
            try:
                items = json.loads(headers_path.read_text())
                if not isinstance(items, list):
                    raise FarmkitError("expected an array")
                self.segment_headers = [R.segment_header_from_json(h, f"{headers_path}[{i}]") for i, h in enumerate(items)]
            except (OSError, ValueError) as exc:
                raise FarmkitError(f"{headers_path}: unreadable ({exc})") from None
        archived = self.pieces.segment_headers()
        for i, h in enumerate(archived[: len(self.segment_headers)]):
            if self.segment_headers[i] != h:
                raise FarmkitError(f"--piece-store: segment header {i} differs from the one the dev node has")
        if len(archived) > len(self.segment_headers):
            self.segment_headers.extend(archived[len(self.segment_headers):])
            self._save_segment_headers()
        self.metrics.segment_headers.set(len(self.segment_headers))
        if self.config.segment_every_slots is not None:
            self._check_growth_possible(len(archived))

    def _check_growth_possible(self, archived: int) -> None:
        """``--segment-every-slots`` needs a synthetic store whose segments are the node's headers."""
        if getattr(self.pieces, "synthetic_seed", None) is None or not hasattr(self.pieces, "reload"):
            raise FarmkitError(
                "--segment-every-slots: --piece-store holds no synthetic history (no synthetic seed recorded); "
                "growth needs a `plotter archive --synthetic SEED` store"
            )
        if archived != len(self.segment_headers):
            raise FarmkitError(
                f"--segment-every-slots: the dev node has {len(self.segment_headers)} segment headers but "
                f"--piece-store holds {archived} segments (injected headers?); cannot grow that history"
            )

    def _save_state(self) -> None:
        _atomic_write_json(self.base_path / STATE_FILE, self.state.to_json())

    def _save_segment_headers(self) -> None:
        _atomic_write_json(self.base_path / SEGMENT_HEADERS_FILE, [R.segment_header_to_json(h) for h in self.segment_headers])

    # -- lifecycle --
    async def start(self) -> int:
        """Open the state, bind the RPC port (returned) and start the slot loop."""
        try:
            self._open_state()
        except BaseException:
            self._release_lock()
            raise
        try:
            self.port = await self.server.start(self.config.host, self.config.port)
        except OSError as exc:
            self._release_lock()
            raise FarmkitError(f"--rpc-listen-on {self.config.host}:{self.config.port}: {exc.strerror or exc}") from None
        if self.config.prometheus_listen_on:
            self._metrics_server = self.metrics.serve(self.config.prometheus_listen_on)
        self._slot_task = asyncio.create_task(self._slot_loop(), name="dev-node-slots")
        log.info(
            "dev node: genesis %s, RPC ws://%s:%d (unsafe %s), continuing after slot %d",
            self.state.genesis_hash.hex(), self.config.host, self.port,
            "allowed" if self.server.allow_unsafe else "denied", self.state.last_slot,
        )
        return self.port

    async def stop(self) -> None:
        proc = self._growth_proc
        if proc is not None and proc.returncode is None:
            # the archive stays consistent: every file is renamed into place and index.json is last
            try:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 5)
            except (ProcessLookupError, asyncio.TimeoutError):
                pass
        if self._slot_task is not None:
            self._slot_task.cancel()
            try:
                await self._slot_task
            except (asyncio.CancelledError, Exception):
                pass
            self._slot_task = None
        for t in list(self._tasks):
            t.cancel()
        await self.server.stop()
        if self._metrics_server is not None:
            from farmkit.farmerd.metrics import stop_serving

            stop_serving(self._metrics_server)
            self._metrics_server = None
        if self.state is not None:
            self._save_state()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- protocol info --
    @property
    def history_size(self) -> int:
        """last archived segment index + 1 (C.4); at least 1 (HistorySize is NonZeroU64)."""
        return max(1, len(self.segment_headers))

    def farmer_app_info(self) -> R.FarmerAppInfo:
        timeout_s = self.config.slot_duration_ms * BLOCK_AUTHORING_DELAY / 1000
        return R.FarmerAppInfo(
            genesis_hash=self.state.genesis_hash,
            dsn_bootstrap_nodes=tuple(self.config.dsn_bootstrap_nodes),
            syncing=False,
            farming_timeout=R.Duration.from_seconds(timeout_s),
            protocol_info=FarmerProtocolInfo(
                history_size=self.history_size,
                max_pieces_in_sector=self.config.max_pieces_in_sector,
                recent_segments=RECENT_SEGMENTS,
                recent_history_fraction=RECENT_HISTORY_FRACTION,
                min_sector_lifetime=MIN_SECTOR_LIFETIME,
            ),
        )

    def _segment_commitment(self, segment_index: int) -> bytes | None:
        if 0 <= segment_index < len(self.segment_headers):
            return bytes(self.segment_headers[segment_index].segment_commitment)
        return None

    # -- slots (A.6-A.8, C.5) --
    async def _slot_loop(self) -> None:
        from farmkit.pot import prove

        loop = asyncio.get_running_loop()
        duration = self.config.slot_duration_ms / 1000
        next_time = loop.time()
        while True:
            slot = self.state.last_slot + 1
            t0 = time.perf_counter()
            checkpoints = await asyncio.to_thread(prove, self.state.next_seed, self.state.slot_iterations)
            self.metrics.pot_time.observe(time.perf_counter() - t0)
            output = checkpoints[-1]
            now = loop.time()
            if now < next_time:
                await asyncio.sleep(next_time - now)
            next_time = max(next_time + duration, loop.time())
            await self.on_proof(slot, output)

    async def on_proof(self, slot: int, output: bytes) -> None:
        """PoT output of ``slot`` is known: persist, announce, open its channel, claim slot - 4."""
        self.state.last_slot = slot
        self.state.last_output = output
        self.state.next_seed = derive_next_seed(output)
        self._save_state()
        self._outputs[slot] = output
        self._outputs.pop(slot - BLOCK_AUTHORING_DELAY - 1, None)
        self._channels[slot] = []
        claimed = slot - BLOCK_AUTHORING_DELAY
        solutions = self._channels.pop(claimed, None)
        while len(self._channels) > BLOCK_AUTHORING_DELAY:
            self._channels.popitem(last=False)
        info = R.SlotInfo(slot, derive_global_challenge(output, slot), self.config.solution_range, self.voting_solution_range)
        self.metrics.slot.set(slot)
        self.metrics.slots.inc()
        self.metrics.subscribers.set(len(self.server.subscribers(R.SUBSCRIBE_SLOT_INFO)))
        await self.server.notify(R.SUBSCRIBE_SLOT_INFO, info.to_json())
        if solutions:
            self._spawn(self._claim_slot(claimed, self._outputs.get(claimed), solutions))
        if not self._growing and segment_growth_due(slot, self.state.last_segment_slot, self.config.segment_every_slots):
            self.state.last_segment_slot = slot
            self._save_state()
            self._growing = True
            self._spawn(self._grow_history(slot))

    # -- history growth (--segment-every-slots) --
    async def _grow_history(self, slot: int) -> None:
        """Archive the next segment of the synthetic history in a child process (never in the event
        loop), then announce and persist its header like :meth:`archive_segment_header`."""
        import sys

        t0 = time.perf_counter()
        try:
            log.info("slot %d: archiving segment %d of the synthetic history", slot, len(self.segment_headers))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "farmkit.farmerd.devnode", "grow", str(self.pieces.directory),
                str(self.config.growth_workers),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            self._growth_proc = proc
            out, err = await proc.communicate()
            if proc.returncode != 0:
                lines = err.decode(errors="replace").strip().splitlines()
                raise FarmkitError(lines[-1] if lines else f"archiver exited with status {proc.returncode}")
            await asyncio.to_thread(self.pieces.reload)
            archived = self.pieces.segment_headers()
            if len(archived) <= len(self.segment_headers):
                raise FarmkitError("the archiver produced no new segment")
            self.metrics.archiving_time.observe(time.perf_counter() - t0)
            self.growth_error = None
            for header in archived[len(self.segment_headers):]:
                self.metrics.segments_archived.labels("ok").inc()
                log.info("segment %d archived in %.1f s; announcing it", header.segment_index, time.perf_counter() - t0)
                await self.archive_segment_header(header)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - growth failures must not stop the slots
            self.metrics.segments_archived.labels("failed").inc()
            self.growth_error = " ".join(str(exc).split()) or type(exc).__name__
            log.warning("history growth failed: %s", self.growth_error)
        finally:
            self._growth_proc = None
            self._growing = False

    async def _claim_slot(self, slot: int, output: bytes | None, solutions: list[Solution]) -> None:
        """Slot worker claim (C.5, S-A-P §9.6): verify, then block / votes, each reward-signed."""
        if output is None:
            return
        params = VerifySolutionParams(
            proof_of_time=output,
            solution_range=self.voting_solution_range,
            max_pieces_in_sector=self.config.max_pieces_in_sector,
            recent_segments=RECENT_SEGMENTS,
            recent_history_fraction=RECENT_HISTORY_FRACTION,
            min_sector_lifetime=MIN_SECTOR_LIFETIME,
            current_history_size=self.history_size,
            segment_commitment=self._segment_commitment,
        )
        have_block = False
        for solution in solutions:
            verdict = await asyncio.to_thread(verify_solution, solution, slot, params, self.solution_verifier)
            if not verdict.accepted:
                self.metrics.reject(verdict.reason)
                self._note_rejection(slot, verdict.reason)
                log.info("slot %d: solution rejected: %s", slot, verdict.reason)
                continue
            is_block = not have_block and verdict.distance <= self.config.solution_range // 2
            kind = "block" if is_block else "vote"
            if not is_block and self.state.blocks == 0:
                self.metrics.reject("vote on top of genesis")
                self._note_rejection(slot, "vote on top of genesis")
                continue
            self.metrics.solutions.labels("accepted").inc()
            signed = await self._request_reward_signature(kind, slot, output, solution)
            if not signed:
                continue
            if is_block:
                have_block = True
                self.state.blocks += 1
                self.metrics.blocks.inc()
            else:
                self.state.votes += 1
                self.metrics.votes.inc()
            log.info("slot %d: %s by %s (distance %d)", slot, kind, solution.public_key.hex()[:16], verdict.distance)
        self._save_state()

    def _note_rejection(self, slot: int, reason: str) -> None:
        self.rejections.append((slot, reason))
        del self.rejections[:-64]

    def reward_hash(self, kind: str, slot: int, output: bytes, solution: Solution) -> bytes:
        """Dev-only stand-in for the pre-header / vote hash (C.7): BLAKE2b-256 of what it commits to."""
        h = hashlib.blake2b(digest_size=32)
        for part in (b"farmkit-dev-node", kind.encode(), self.state.genesis_hash, slot.to_bytes(8, "little"), output, solution.encode()):
            h.update(part)
        return h.digest()

    async def _request_reward_signature(self, kind: str, slot: int, output: bytes, solution: Solution) -> bool:
        digest = self.reward_hash(kind, slot, output, solution)
        fut = asyncio.get_running_loop().create_future()
        self._pending_signatures[digest] = _PendingSignature(solution.public_key, fut)
        try:
            sent = await self.server.notify(
                R.SUBSCRIBE_REWARD_SIGNING,
                R.RewardSigningInfo(digest, solution.public_key).to_json(),
                only=lambda c: c.unsafe_allowed,
            )
            if not sent:
                self.metrics.reward_signatures.labels("no_subscriber").inc()
                return False
            await asyncio.wait_for(fut, REWARD_SIGNING_TIMEOUT_MS / 1000)
            self.metrics.reward_signatures.labels("valid").inc()
            return True
        except asyncio.TimeoutError:
            self.metrics.reward_signatures.labels("timeout").inc()
            self._note_rejection(slot, "no valid reward signature within 500 ms")
            return False
        finally:
            self._pending_signatures.pop(digest, None)

    # -- segment headers (C.6) --
    async def archive_segment_header(self, header: SegmentHeader, *, ack_timeout: float = ARCHIVED_SEGMENT_ACKNOWLEDGEMENT_TIMEOUT_S) -> int:
        """Append a new segment header, notify subscribers, wait for acknowledgements from every
        unsafe-allowed subscriber (up to ``ack_timeout``). Returns how many acknowledged."""
        if header.segment_index != len(self.segment_headers):
            raise FarmkitError(
                f"segment header index {header.segment_index} is not the next one ({len(self.segment_headers)})"
            )
        self.segment_headers.append(header)
        self._save_segment_headers()
        self.metrics.segment_headers.set(len(self.segment_headers))
        waiting = {(c.id, s) for c, s in self.server.subscribers(R.SUBSCRIBE_ARCHIVED_SEGMENT_HEADER) if c.unsafe_allowed}
        self._pending_acks[header.segment_index] = set(waiting)
        await self.server.notify(R.SUBSCRIBE_ARCHIVED_SEGMENT_HEADER, R.segment_header_to_json(header))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ack_timeout
        try:
            while self._pending_acks.get(header.segment_index) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            missing = len(self._pending_acks.get(header.segment_index, ()))
            if missing:
                self.metrics.acks.labels("timeout").inc(missing)
                log.info("segment %d: %d acknowledgement(s) timed out", header.segment_index, missing)
            return len(waiting) - missing
        finally:
            self._pending_acks.pop(header.segment_index, None)

    # -- RPC methods (C.3) --
    def _register_methods(self) -> None:
        s = self.server
        s.method(R.GET_FARMER_APP_INFO, lambda conn, params: self.farmer_app_info().to_json())
        s.subscription(R.SUBSCRIBE_SLOT_INFO, R.SLOT_INFO_NOTIFICATION, R.UNSUBSCRIBE_SLOT_INFO)
        s.subscription(
            R.SUBSCRIBE_REWARD_SIGNING, R.REWARD_SIGNING_NOTIFICATION, R.UNSUBSCRIBE_REWARD_SIGNING,
            unsafe=True, silent_when_safe=True,
        )
        s.subscription(
            R.SUBSCRIBE_ARCHIVED_SEGMENT_HEADER, R.ARCHIVED_SEGMENT_HEADER_NOTIFICATION,
            R.UNSUBSCRIBE_ARCHIVED_SEGMENT_HEADER, on_unsubscribe=self._forget_acks,
        )
        s.method(R.SUBMIT_SOLUTION_RESPONSE, self._submit_solution_response, unsafe=True)
        s.method(R.SUBMIT_REWARD_SIGNATURE, self._submit_reward_signature, unsafe=True)
        s.method(R.ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER, self._acknowledge, unsafe=True)
        s.method(R.SEGMENT_HEADERS, self._segment_headers)
        s.method(R.LAST_SEGMENT_HEADERS, self._last_segment_headers)
        s.method(R.PIECE, self._piece, unsafe=True)
        s.method("dev_status", lambda conn, params: self.status())
        s.method("dev_archiveSegmentHeader", self._dev_archive, unsafe=True)

    @staticmethod
    def _params(params: list, n: int, method: str) -> list:
        if len(params) != n:
            raise RpcError(R.INVALID_PARAMS, f"Invalid params: {method} takes {n} positional parameter(s)")
        return params

    def _submit_solution_response(self, conn: Connection, params: list):
        (obj,) = self._params(params, 1, R.SUBMIT_SOLUTION_RESPONSE)
        response = R.SolutionResponse.from_json(obj)
        channel = self._channels.get(response.slot_number)
        if channel is None or len(channel) >= SOLUTION_CHANNEL_CAPACITY:
            self.metrics.solutions.labels("ignored").inc()
            raise RpcError(R.SUBSPACE_ERROR, R.SOLUTION_IGNORED_MESSAGE)
        channel.append(response.solution)
        self.metrics.solutions.labels("received").inc()
        return None

    def _submit_reward_signature(self, conn: Connection, params: list):
        (obj,) = self._params(params, 1, R.SUBMIT_REWARD_SIGNATURE)
        response = R.RewardSignatureResponse.from_json(obj)
        pending = self._pending_signatures.get(response.hash)
        if pending is None or pending.future.done() or response.signature is None:
            return None  # always null; mismatching hashes are ignored silently (C.3)
        if sr25519.verify(pending.public_key, response.hash, response.signature, REWARD_SIGNING_CONTEXT):
            pending.future.set_result(response.signature)
        else:
            self.metrics.reward_signatures.labels("invalid").inc()
        return None

    def _acknowledge(self, conn: Connection, params: list):
        (index,) = self._params(params, 1, R.ACKNOWLEDGE_ARCHIVED_SEGMENT_HEADER)
        index = R.check_uint(index, 64, "segmentIndex")
        waiting = self._pending_acks.get(index)
        if waiting:
            before = len(waiting)
            waiting.difference_update({k for k in waiting if k[0] == conn.id})
            self.metrics.acks.labels("ok").inc(before - len(waiting))
        return None

    def _forget_acks(self, conn: Connection, sub_id: str) -> None:
        for waiting in self._pending_acks.values():
            waiting.discard((conn.id, sub_id))

    def _segment_headers(self, conn: Connection, params: list):
        (indexes,) = self._params(params, 1, R.SEGMENT_HEADERS)
        if not isinstance(indexes, list):
            raise RpcError(R.INVALID_PARAMS, "Invalid params: expected [[segmentIndex, ...]]")
        if len(indexes) > R.MAX_SEGMENT_HEADERS_PER_REQUEST:
            raise RpcError(R.SUBSPACE_ERROR, f"segment_indexes length exceed the limit {R.MAX_SEGMENT_HEADERS_PER_REQUEST}")
        out = []
        for i, index in enumerate(indexes):
            index = R.check_uint(index, 64, f"segmentIndexes[{i}]")
            out.append(R.segment_header_to_json(self.segment_headers[index]) if index < len(self.segment_headers) else None)
        return out

    def _last_segment_headers(self, conn: Connection, params: list):
        (limit,) = self._params(params, 1, R.LAST_SEGMENT_HEADERS)
        limit = R.check_uint(limit, 32, "limit")
        if limit > R.MAX_SEGMENT_HEADERS_PER_REQUEST:
            raise RpcError(
                R.SUBSPACE_ERROR, f"Request limit ({limit}) exceed the server limit: {R.MAX_SEGMENT_HEADERS_PER_REQUEST} "
            )
        # like the node: indexes max(0, last - limit + 1) ..= last, oldest first, null where unknown
        # (so an empty store answers [null] for any limit > 0)
        last = max(0, len(self.segment_headers) - 1)
        first = max(0, last - limit + 1)
        return [
            R.segment_header_to_json(self.segment_headers[i]) if i < len(self.segment_headers) else None
            for i in range(first, last + 1)
        ] if limit else []

    async def _piece(self, conn: Connection, params: list):
        (index,) = self._params(params, 1, R.PIECE)
        index = R.check_uint(index, 64, "pieceIndex")
        piece = await asyncio.to_thread(self.pieces.get_piece, index)
        return R.piece_to_json(piece)

    async def _dev_archive(self, conn: Connection, params: list):
        (obj,) = self._params(params, 1, "dev_archiveSegmentHeader")
        header = R.segment_header_from_json(obj)
        if header.segment_index != len(self.segment_headers):
            raise RpcError(R.SUBSPACE_ERROR, f"segment index {header.segment_index} is not the next one ({len(self.segment_headers)})")
        self._spawn(self.archive_segment_header(header))
        return None

    def status(self) -> dict:
        return {
            "genesisHash": self.state.genesis_hash.hex(),
            "slot": self.state.last_slot,
            "slotIterations": self.state.slot_iterations,
            "blocks": self.state.blocks,
            "votes": self.state.votes,
            "historySize": self.history_size,
            "segmentEverySlots": self.config.segment_every_slots,
            "archiving": self._growing,
            "lastGrowthError": self.growth_error,
            "unsafeAllowed": self.server.allow_unsafe,
            "recentRejections": [{"slot": s, "reason": r} for s, r in self.rejections[-16:]],
        }


def run_dev_node(config: DevNodeConfig, *, announce: Callable[[str], None] | None = print, piece_source=None) -> None:
    """Run until SIGINT/SIGTERM (the ``farmerd dev-node`` command); state is saved on the way out.

    ``announce`` gets one line ``dev node ready: ws://HOST:PORT genesis=<hex> slot=<last>`` once the
    RPC port is bound (scripts and tests wait for it).
    """
    import signal

    from farmkit.pot import prove

    prove(bytes(16), 16)  # compile (or load from numba's cache) the PoT kernel before the first slot

    async def main() -> None:
        node = DevNode(config, piece_source=piece_source)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
        port = await node.start()
        # the first verification is slow (KZG setup, PoS kernel): warm up early, in a daemon thread
        # so that a stop request never waits for it
        threading.Thread(target=warm_up_verifier, name="farmkit-verifier-warm-up", daemon=True).start()
        try:
            if announce is not None:
                announce(
                    f"dev node ready: ws://{config.host}:{port} genesis={node.state.genesis_hash.hex()} "
                    f"slot={node.state.last_slot}"
                )
            await stop.wait()
        finally:
            await node.stop()

    asyncio.run(main())


if __name__ == "__main__":  # the history-growth child process (see DevNode._grow_history)
    import sys

    sys.exit(_grow_main(sys.argv[1:]))
