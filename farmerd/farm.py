"""The farmer daemon: plot, audit every slot, prove, submit, sign rewards, follow history, replot.

What one :class:`Farmer` does (pot-rpc.md C.5-C.7; sector-audit-prove.md §9-§13):

* **Start-up** — ``subspace_getFarmerAppInfo``; create or open every farm (``path=DIR,size=SIZE``,
  the reference farmer's shape); download all segment headers; subscribe to slot info, reward
  signing and archived segment headers (C.5).
* **Plotting** (§6, in a worker thread: the numba kernels release the GIL, so auditing and proving
  are never blocked by it) — fill each farm to its size; pieces come through a :class:`PieceGetter`
  chain: the local piece cache, ``--piece-store DIR``, then the node (``subspace_piece``). A DSN
  client would be one more getter (shared/spec/dsn-pieces.md: the node only serves genesis and
  the newest segment, so a real farmer needs the DSN for history).
* **Farming** (§9.5, C.5) — one slot at a time: audit every farm with the *voting* solution range
  (all farms at once, one auditing thread each), prove the candidates best first and submit each at once; stop when one proof took
  ``>= farmingTimeout``, when the slot's window is over, or when the node refuses. A slot that
  arrives while the previous one is still being audited/proven is skipped (like upstream's
  zero-buffer channel) and the log says why.
* **Reward signing** (C.7) — sr25519 with context ``subspace_reward`` for the farms' identities.
* **History** (C.6, §12) — for each new archived segment: fill the local piece cache from the
  node, then acknowledge it; recompute sector expiration and replot sectors about to expire
  (soonest first, not audited while being replotted).
* **Resilience** — the :class:`NodeRpcClient` reconnects with capped backoff and resubscribes;
  plotted sectors stay on disk; malformed messages are logged and skipped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import urlparse

from farmkit.errors import FarmkitError
from farmkit.protocol import rpc as R
from farmkit.protocol.constants import MAX_PIECES_IN_SECTOR, NUM_PIECES, PIECE_SIZE
from farmkit.protocol.sector import FarmerProtocolInfo, sector_expiration_check_segment_index
from farmkit.protocol.segments import SegmentHeader

__all__ = [
    "FarmSpec",
    "FarmerConfig",
    "Farmer",
    "parse_farm_spec",
    "check_node_url",
    "PieceGetter",
    "DirectoryPieceCache",
    "PieceStoreGetter",
    "NodePieceGetter",
    "ChainPieceSource",
    "sector_expiration",
]

log = logging.getLogger("farmkit.farmerd.farm")

RECORD_CHUNKS_MODES = {"ConcurrentChunks": "concurrent", "WholeSector": "whole"}  # §10 step 3
DEFAULT_PIECE_CACHE_SEGMENTS = 2  # 2 x 256 MiB
PIECE_CACHE_DIR = "farmkit-piece-cache"  # inside the first farm's directory unless --piece-cache


# --- command-line shapes -----------------------------------------------------------------------
@dataclass(frozen=True)
class FarmSpec:
    """One ``path=DIR,size=SIZE[,record-chunks-mode=ConcurrentChunks|WholeSector]`` argument."""

    path: Path
    size: int
    record_chunks_mode: str = "concurrent"


def parse_farm_spec(text: str) -> FarmSpec:
    """Parse the reference farmer's positional farm argument (anchors.md §3.1)."""
    from farmkit.protocol.farm import parse_size

    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key or not value:
            raise FarmkitError(f"farm {text!r}: expected path=DIR,size=SIZE")
        if key in fields:
            raise FarmkitError(f"farm {text!r}: {key} given twice")
        fields[key] = value.strip()
    unknown = set(fields) - {"path", "size", "record-chunks-mode"}
    if unknown:
        raise FarmkitError(f"farm {text!r}: unknown option {sorted(unknown)[0]}")
    if "path" not in fields or "size" not in fields:
        raise FarmkitError(f"farm {text!r}: expected path=DIR,size=SIZE")
    size = parse_size(fields["size"])
    mode = fields.get("record-chunks-mode", "ConcurrentChunks")
    if mode not in RECORD_CHUNKS_MODES:
        raise FarmkitError(f"farm {text!r}: record-chunks-mode must be ConcurrentChunks or WholeSector")
    return FarmSpec(Path(fields["path"]), size, RECORD_CHUNKS_MODES[mode])


def check_node_url(url: str) -> list[str]:
    """Warnings for an unsafe node URL (pot-rpc.md C.10: the RPC has no authentication and no TLS)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise FarmkitError(f"--node-rpc-url must be ws://HOST:PORT or wss://HOST:PORT, got {url!r}")
    host = parsed.hostname
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parsed.scheme == "ws" and not loopback:
        return [
            f"node RPC {url} is not on loopback and not TLS: anyone on the path can read and alter "
            "challenges and make this farmer sign arbitrary reward hashes; use an SSH tunnel, a VPN "
            "or wss:// (pot-rpc.md C.10)"
        ]
    return []


@dataclass
class FarmerConfig:
    node_rpc_url: str
    reward_address: bytes  # 32-byte account id (decoded from SS58 by the CLI)
    farms: list[FarmSpec]
    piece_store: Path | None = None
    piece_cache: Path | None = None  # None: <first farm>/farmkit-piece-cache
    piece_cache_segments: int = DEFAULT_PIECE_CACHE_SEGMENTS  # 0 disables the cache
    max_pieces_in_sector: int | None = None  # cap below the node's maxPiecesInSector
    cache_percentage: int = 1
    pos_version: str = "v2"
    verify_pieces: str = "commitment"  # plotter piece checks: commitment | full | none
    record_encoding_concurrency: int | None = None
    io_mode: str = "mmap"
    prometheus_listen_on: str | None = None
    reconnect_max_delay: float = 3.0

    def validate(self) -> None:
        if len(self.reward_address) != 32:
            raise FarmkitError("reward address must be a 32-byte account id")
        if not self.farms:
            raise FarmkitError("give at least one farm: path=DIR,size=SIZE")
        paths = [os.path.abspath(f.path) for f in self.farms]
        if len(set(paths)) != len(paths):
            raise FarmkitError("the same farm path is given twice")
        if self.max_pieces_in_sector is not None and not 1 <= self.max_pieces_in_sector <= MAX_PIECES_IN_SECTOR:
            raise FarmkitError(f"--max-pieces-in-sector must be 1..{MAX_PIECES_IN_SECTOR}")
        if self.pos_version not in ("v1", "v2"):
            raise FarmkitError("pos version must be v1 or v2")
        if self.verify_pieces not in ("commitment", "full", "none"):
            raise FarmkitError("piece verification must be commitment, full or none")
        if self.piece_cache_segments < 0:
            raise FarmkitError("--piece-cache-segments must be >= 0")


# --- pieces ------------------------------------------------------------------------------------
class PieceGetter(Protocol):
    """Where plotting gets pieces. ``get_piece`` is called from the plotting thread and returns
    None when this getter does not have the piece (the next getter is tried). A DSN client
    (dsn-pieces.md) is one more implementation of this."""

    name: str

    def get_piece(self, piece_index: int) -> bytes | None: ...


class DirectoryPieceCache:
    """The farmer's local piece cache, one directory in the piece-store file layout
    (``segment-<i>.pieces`` = the segment's 256 pieces in position order, ``segment-<i>.header`` =
    its SCALE header; :mod:`farmkit.plotter.piece_store`), keeping the newest ``keep`` segments.
    Filled from each segment the node announces (C.6) before it is acknowledged."""

    name = "piece-cache"

    def __init__(self, directory: Path, keep: int = DEFAULT_PIECE_CACHE_SEGMENTS) -> None:
        from farmkit.plotter.piece_store import header_path, pieces_path

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._pieces_path = lambda i: pieces_path(self.directory, i)
        self._header_path = lambda i: header_path(self.directory, i)

    def segments(self) -> list[int]:
        out = []
        for p in self.directory.glob("segment-*.pieces"):
            try:
                out.append(int(p.name[len("segment-"):-len(".pieces")]))
            except ValueError:
                continue
        return sorted(out)

    def has_segment(self, segment_index: int) -> bool:
        p = self._pieces_path(segment_index)
        return p.exists() and p.stat().st_size == NUM_PIECES * PIECE_SIZE

    def put_segment(self, header: SegmentHeader, pieces: list[bytes]) -> None:
        if len(pieces) != NUM_PIECES or any(len(p) != PIECE_SIZE for p in pieces):
            raise FarmkitError(f"segment {header.segment_index}: expected {NUM_PIECES} pieces of {PIECE_SIZE} bytes")
        final = self._pieces_path(header.segment_index)
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "wb") as f:
            for p in pieces:
                f.write(p)
        os.replace(tmp, final)
        hp = self._header_path(header.segment_index)
        htmp = hp.with_name(hp.name + ".tmp")
        htmp.write_bytes(header.encode())
        os.replace(htmp, hp)
        for old in self.segments()[: -self.keep or None] if self.keep else []:
            self._pieces_path(old).unlink(missing_ok=True)
            self._header_path(old).unlink(missing_ok=True)

    def get_piece(self, piece_index: int) -> bytes | None:
        seg, pos = divmod(piece_index, NUM_PIECES)
        try:
            with open(self._pieces_path(seg), "rb") as f:
                f.seek(pos * PIECE_SIZE)
                data = f.read(PIECE_SIZE)
        except OSError:
            return None
        return data if len(data) == PIECE_SIZE else None


class PieceStoreGetter:
    """``--piece-store DIR``: an archive written by ``plotter archive`` (re-read when it grows)."""

    name = "piece-store"

    def __init__(self, directory: Path) -> None:
        from farmkit.plotter import piece_store

        self.directory = Path(directory)
        self._open = piece_store.open
        self.store = piece_store.open(self.directory)

    def get_piece(self, piece_index: int) -> bytes | None:
        if piece_index // NUM_PIECES >= self.store.history_size:
            try:
                self.store = self._open(self.directory)
            except FarmkitError:
                return None
            if piece_index // NUM_PIECES >= self.store.history_size:
                return None
        try:
            return bytes(self.store.read_piece(piece_index))
        except FarmkitError:
            return None


class NodePieceGetter:
    """``subspace_piece`` through the daemon's async client, called from a worker thread."""

    name = "node"

    def __init__(self, client, loop: asyncio.AbstractEventLoop, timeout: float = 30.0) -> None:
        self.client = client
        self.loop = loop
        self.timeout = timeout

    def get_piece(self, piece_index: int) -> bytes | None:
        fut = asyncio.run_coroutine_threadsafe(self.client.piece(piece_index, timeout=self.timeout), self.loop)
        try:
            return fut.result(self.timeout + 5)
        except FarmkitError as exc:
            log.debug("node did not serve piece %d: %s", piece_index, exc)
            return None
        except Exception as exc:  # concurrent TimeoutError, cancelled
            fut.cancel()
            log.debug("node did not serve piece %d: %s", piece_index, exc)
            return None


class ChainPieceSource:
    """The plotter's ``PieceSource`` over the daemon's view of the chain: protocol info from the
    node's FarmerAppInfo with the current history size, segment commitments from the segment
    header list, pieces from the first getter that has them."""

    def __init__(self, farmer: "Farmer", getters: list) -> None:
        self.farmer = farmer
        self.getters = getters

    @property
    def genesis_hash(self) -> bytes:
        return self.farmer.app_info.genesis_hash

    def protocol_info(self) -> FarmerProtocolInfo:
        return self.farmer.protocol_info()

    def segment_commitment(self, segment_index: int) -> bytes | None:
        h = self.farmer.segment_header(segment_index)
        return None if h is None else bytes(h.segment_commitment)

    def piece(self, piece_index: int) -> bytes:
        for getter in self.getters:
            piece = getter.get_piece(piece_index)
            if piece is not None:
                if len(piece) != PIECE_SIZE:
                    raise FarmkitError(f"{getter.name}: piece {piece_index} has {len(piece)} bytes")
                return piece
        names = ", ".join(g.name for g in self.getters)
        raise FarmkitError(
            f"piece {piece_index} unavailable from {names} (the node serves only genesis and the newest "
            "segment; give --piece-store, or a DSN client is needed)"
        )

    def close(self) -> None:
        pass


# --- sector expiration (§12) -------------------------------------------------------------------
def sector_expiration(sector_id, history_size: int, segment_commitment: Callable[[int], bytes | None],
                      min_sector_lifetime: int) -> int | None:
    """§12: the history size at which the sector expires, or None while the check segment is not
    archived yet (then it cannot be expired)."""
    check = sector_expiration_check_segment_index(history_size, min_sector_lifetime)
    commitment = segment_commitment(check)
    if commitment is None:
        return None
    return sector_id.derive_expiration_history_size(history_size, commitment, min_sector_lifetime)


def sector_state(expiration: int | None, current_history_size: int) -> str:
    """NotPlotted/Plotted/AboutToExpire/Expired like the reference's metric. About to expire:
    ``expires_at = expiration - 1 <= last archived segment index + 1`` (§12, one segment early)."""
    if expiration is None:
        return "Plotted"
    if expiration <= current_history_size:
        return "Expired"
    if expiration - 1 <= current_history_size:  # last index + 1 = current history size
        return "AboutToExpire"
    return "Plotted"


# --- metrics beyond the reference's farm metrics ----------------------------------------------------
class _DaemonMetrics:
    """The reference's farm metrics (:class:`FarmerMetrics`) plus the daemon's own counters, all on
    one registry. Extra names use the prefix ``farmkit_farmer`` (they have no reference twin)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        from farmkit.farmerd.metrics import FarmerMetrics

        self.farm = FarmerMetrics()
        r = self.farm.registry
        p = "farmkit_farmer"
        self.slots = Counter(f"{p}_slots", "Slot notifications received", registry=r)
        self.skipped_slots = Counter(f"{p}_skipped_slots", "Slots skipped (previous slot still farming)", ["reason"], registry=r)
        self.solutions_found = Counter(f"{p}_solutions_found", "Provable audit candidates (encoded chunks within range)", registry=r)
        self.solutions_proven = Counter(f"{p}_solutions_proven", "Solutions proven", registry=r)
        self.solutions_submitted = Counter(f"{p}_solutions_submitted", "Solution submissions", ["result"], registry=r)
        self.reward_signatures = Counter(f"{p}_reward_signatures_sent", "Reward signatures sent", registry=r)
        self.node_connected = Gauge(f"{p}_node_connected", "1 while the node RPC connection is up", registry=r)
        self.node_reconnects = Counter(f"{p}_node_connections", "Node RPC connections made", registry=r)
        self.sectors_expired = Counter(f"{p}_sectors_expired", "Sectors found expired or about to expire", registry=r)
        self.sectors_replotted = Counter(f"{p}_sectors_replotted", "Sectors replotted", registry=r)
        self.segments_acknowledged = Counter(f"{p}_segments_acknowledged", "Archived segment headers acknowledged", registry=r)
        self.pieces_cached = Counter(f"{p}_pieces_cached", "Pieces written to the local piece cache", registry=r)
        self.history_size = Gauge(f"{p}_history_size", "Current history size (segments)", registry=r)


# --- one farm ----------------------------------------------------------------------------------------
@dataclass
class _Farm:
    index: int
    spec: FarmSpec
    farm: object  # SingleDiskFarm, writable, used by the plotting thread only
    identity: object
    keypair: object
    plotter: object
    auditor: object | None = None  # FarmAuditor over the plotted sectors (farming loop only)
    auditor_dirty: bool = True
    being_modified: set = field(default_factory=set)  # sector indexes being plotted/replotted
    replot_queue: dict = field(default_factory=dict)  # sector index -> expiration history size
    expirations: dict = field(default_factory=dict)  # sector index -> (its history size, expiration or None)
    expired: set = field(default_factory=set)

    @property
    def farm_id(self) -> str:
        return self.farm.info.id


# --- the daemon --------------------------------------------------------------------------------------
class Farmer:
    """``await Farmer(config).run(stop)`` farms until ``stop`` is set. ``on_event(kind, data)`` (optional)
    receives ``connected``, ``disconnected``, ``plotted``, ``slot``, ``audit``, ``solution``,
    ``submitted``, ``rejected``, ``signed``, ``segment``, ``skipped`` events (the demo's display)."""

    def __init__(self, config: FarmerConfig, *, on_event: Callable[[str, dict], None] | None = None) -> None:
        config.validate()
        self.config = config
        self.on_event = on_event
        self.metrics = _DaemonMetrics()
        self.client = None
        self.app_info: R.FarmerAppInfo | None = None
        self.headers: list[SegmentHeader] = []
        self.farms: list[_Farm] = []
        self.stats: dict[str, float] = {
            "warmup_prove_s": 0.0, "warmup_done": False, "slots": 0, "audits": 0, "skipped": 0, "candidates": 0, "proven": 0, "submitted": 0,
            "rejected": 0, "signed": 0, "sectors_plotted": 0, "sectors_replotted": 0, "segments": 0,
            "connections": 0, "last_audit_s": 0.0, "last_prove_s": 0.0,
        }
        self.audit_times: list[float] = []
        self.prove_times: list[float] = []
        self._plot_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farmerd-plot")
        # one auditing thread per farm: every farm's audit (its own disk) runs at once (§9.5)
        self._farm_pool = ThreadPoolExecutor(max_workers=max(1, len(config.farms)), thread_name_prefix="farmerd-farming")
        import multiprocessing

        self._prove_pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
        )
        self._warmed_up = False
        self._plot_wakeup: asyncio.Event | None = None
        self._busy: tuple[str, int, float] | None = None  # (what, slot, started) of the slot being farmed
        self._pending_slot: asyncio.Queue | None = None
        self._headers_lock: asyncio.Lock | None = None
        self._piece_cache: DirectoryPieceCache | None = None
        self._tasks: list[asyncio.Task] = []
        self._metrics_server = None
        self._lock = threading.Lock()

    # -- helpers --
    def _emit(self, kind: str, **data) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, data)
            except Exception:  # a display must never stop farming
                log.exception("event handler failed")

    @property
    def history_size(self) -> int:
        return max(1, len(self.headers))

    def segment_header(self, segment_index: int) -> SegmentHeader | None:
        headers = self.headers
        return headers[segment_index] if 0 <= segment_index < len(headers) else None

    def protocol_info(self) -> FarmerProtocolInfo:
        return self.app_info.protocol_info.with_history_size(self.history_size)

    def _segment_commitment(self, i: int) -> bytes | None:
        h = self.segment_header(i)
        return None if h is None else bytes(h.segment_commitment)

    # -- lifecycle --
    async def run(self, stop: asyncio.Event | None = None) -> None:
        from farmkit.farmerd.rpc_client import NodeRpcClient

        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        self._plot_wakeup = asyncio.Event()
        self._pending_slot = asyncio.Queue(maxsize=1)
        self._headers_lock = asyncio.Lock()
        for warning in check_node_url(self.config.node_rpc_url):
            log.warning("%s", warning)
        if self.config.prometheus_listen_on:
            self._metrics_server = self.metrics.farm.serve(self.config.prometheus_listen_on)
            log.info("Prometheus metrics on http://%s/metrics", self.config.prometheus_listen_on)
        self.client = NodeRpcClient(self.config.node_rpc_url, reconnect_max_delay=self.config.reconnect_max_delay)
        self.client.on_connect.append(self._on_connect)
        await self.client.start()
        self._prove_pool.submit(int)  # start the proving process (imports, KZG setup) right away
        try:
            self.app_info = await self._first_app_info(stop)
            if self.app_info is None:
                return
            await self._download_headers()
            self._open_farms(loop)
            # subscribe before anything slow: slots and reward signing from now on
            slots = self.client.subscribe_slot_info()
            self._tasks = [
                asyncio.create_task(self._supervised(name, fn), name=f"farmerd-{name}")
                for name, fn in (
                    ("slots", lambda: self._slot_reader(slots)),
                    ("farming", self._farming_loop),
                    ("reward-signing", self._reward_signing),
                    ("segment-headers", self._segment_headers_loop),
                    ("plotting", self._plotting_loop),
                    ("connection", self._connection_watch),
                )
            ]
            await stop.wait()
        finally:
            await self.close()

    async def _supervised(self, name: str, fn) -> None:
        """Run one of the daemon's loops; an unexpected error is logged and the loop restarted
        (a bad message or a bug in one part must not stop farming)."""
        while True:
            try:
                await fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s loop failed; restarting it in 1 s", name)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self.client is not None:
            await self.client.close()
        self._plot_pool.shutdown(wait=True, cancel_futures=True)
        self._farm_pool.shutdown(wait=True, cancel_futures=True)
        self._prove_pool.shutdown(wait=False, cancel_futures=True)
        for f in self.farms:
            if f.auditor is not None:
                f.auditor.close()
                f.auditor = None
            f.farm.close()
        if self._metrics_server is not None:
            from farmkit.farmerd.metrics import stop_serving

            stop_serving(self._metrics_server)
            self._metrics_server = None

    async def _first_app_info(self, stop: asyncio.Event) -> R.FarmerAppInfo | None:
        from farmkit.farmerd.rpc_client import ConnectionLost

        while not stop.is_set():
            try:
                info = await self.client.farmer_app_info()
            except ConnectionLost:
                log.info("waiting for the node at %s", self.config.node_rpc_url)
                continue
            except FarmkitError as exc:
                log.warning("subspace_getFarmerAppInfo failed: %s; retrying", exc)
                await asyncio.sleep(1.0)
                continue
            if info.syncing:
                log.info("node is syncing; waiting")
                await asyncio.sleep(2.0)
                continue
            log.info(
                "node %s: genesis %s, history size %d, max pieces in sector %d, farming timeout %.1f s",
                self.config.node_rpc_url, info.genesis_hash.hex()[:16], info.protocol_info.history_size,
                info.protocol_info.max_pieces_in_sector, info.farming_timeout.seconds,
            )
            return info
        return None

    async def _on_connect(self) -> None:
        self.stats["connections"] += 1
        self.metrics.node_reconnects.inc()
        self.metrics.node_connected.set(1)
        if self.stats["connections"] > 1:
            log.info("reconnected to the node at %s (connection %d)", self.config.node_rpc_url, int(self.stats["connections"]))
            asyncio.ensure_future(self._after_reconnect())
        self._emit("connected", connections=int(self.stats["connections"]))

    async def _after_reconnect(self) -> None:
        try:
            info = await self.client.farmer_app_info()
        except FarmkitError as exc:
            log.warning("after reconnect: subspace_getFarmerAppInfo failed: %s", exc)
            return
        if self.app_info is not None and info.genesis_hash != self.app_info.genesis_hash:
            log.error(
                "the node now runs chain %s, not %s: not farming on it", info.genesis_hash.hex()[:16],
                self.app_info.genesis_hash.hex()[:16],
            )
            return
        self.app_info = info
        try:
            await self._download_headers()
        except FarmkitError as exc:
            log.warning("after reconnect: segment headers: %s", exc)

    async def _connection_watch(self) -> None:
        was = self.client.connected
        while True:
            await asyncio.sleep(0.2)
            now = self.client.connected
            if was and not now:
                self.metrics.node_connected.set(0)
                log.warning("lost the connection to the node at %s; reconnecting", self.config.node_rpc_url)
                self._emit("disconnected")
            was = now

    # -- farms --
    def _open_farms(self, loop: asyncio.AbstractEventLoop) -> None:
        from farmkit.kernels import sr25519
        from farmkit.plotter.encoding import SectorEncoder
        from farmkit.plotter.plot import FarmPlotter
        from farmkit.protocol.farm import SingleDiskFarm

        info = self.app_info.protocol_info
        pieces_in_sector = min(info.max_pieces_in_sector, self.config.max_pieces_in_sector or MAX_PIECES_IN_SECTOR)
        getters: list = []
        if self.config.piece_cache_segments:
            cache_dir = self.config.piece_cache or (self.config.farms[0].path / PIECE_CACHE_DIR)
            self._piece_cache = DirectoryPieceCache(cache_dir, self.config.piece_cache_segments)
            getters.append(self._piece_cache)
            log.info("local piece cache: %s (newest %d segments)", cache_dir, self.config.piece_cache_segments)
        if self.config.piece_store is not None:
            getters.append(PieceStoreGetter(self.config.piece_store))
        getters.append(NodePieceGetter(self.client, loop))
        source = ChainPieceSource(self, getters)
        workers = self.config.record_encoding_concurrency or max(1, (os.cpu_count() or 2) // 2)
        encoder = SectorEncoder("cpu", workers=workers)
        for i, spec in enumerate(self.config.farms):
            farm, identity = SingleDiskFarm.create_or_open(
                spec.path, genesis_hash=self.app_info.genesis_hash, allocated_space=spec.size,
                pieces_in_sector=pieces_in_sector, max_pieces_in_sector=info.max_pieces_in_sector,
                cache_percentage=self.config.cache_percentage,
            )
            keypair = sr25519.keypair_from_entropy(identity.entropy)
            if keypair.public != identity.public_key:
                raise FarmkitError(f"{spec.path}: identity.bin gives a different public key than single_disk_farm.json")
            plotter = FarmPlotter(farm, identity, source, encoder, self.config.pos_version, self.config.verify_pieces)
            f = _Farm(i, spec, farm, identity, keypair, plotter)
            self.farms.append(f)
            plotted = farm.header.plotted_sector_count
            log.info(
                "farm %s (%s): public key %s, %d/%d sectors plotted, %d pieces per sector",
                i, spec.path, identity.public_key.hex()[:16], plotted, farm.target_sector_count, farm.pieces_in_sector,
            )
            self._update_expirations(f)

    def _reopen_auditor(self, f: _Farm) -> None:
        """(Re)open the farm's auditor: it reads the plotted sector count and metadata at open."""
        from farmkit.auditor.audit import FarmAuditor

        old = f.auditor
        f.auditor = None
        if old is not None:
            old.close()
        if f.farm.header.plotted_sector_count:
            f.auditor = FarmAuditor(f.spec.path, io_mode=self.config.io_mode, farm_index=f.index)
        f.auditor_dirty = False

    # -- plotting (worker thread) --
    def _next_plotting_job(self) -> tuple[_Farm, int, bool] | None:
        for f in self.farms:  # first fill every farm to its size
            left = f.plotter.sectors_left()
            if left:
                return f, left[0], False
        best = None
        for f in self.farms:  # then replot, soonest expiring first (§12)
            for idx, exp in f.replot_queue.items():
                if best is None or exp < best[0]:
                    best = (exp, f, idx)
        return None if best is None else (best[1], best[2], True)

    async def _plotting_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = self._next_plotting_job()
            if job is None:
                self._plot_wakeup.clear()
                await self._plot_wakeup.wait()
                continue
            f, idx, replot = job
            f.being_modified.add(idx)
            m = self.metrics.farm
            m.sector_counters["plotting"].labels(f.farm_id).inc()
            t0 = time.perf_counter()
            try:
                hs = await loop.run_in_executor(self._plot_pool, f.plotter.plot_sector, idx)
            except FarmkitError as exc:
                m.sector_counters["plotting_error"].labels(f.farm_id).inc()
                log.warning("farm %d: plotting sector %d failed: %s; retrying in 5 s", f.index, idx, exc)
                f.being_modified.discard(idx)
                await asyncio.sleep(5.0)
                continue
            except Exception:
                m.sector_counters["plotting_error"].labels(f.farm_id).inc()
                log.exception("farm %d: plotting sector %d crashed; retrying in 5 s", f.index, idx)
                f.being_modified.discard(idx)
                await asyncio.sleep(5.0)
                continue
            dt = time.perf_counter() - t0
            m.sector_plotting_time.labels(f.farm_id).observe(dt)
            m.sector_counters["plotted"].labels(f.farm_id).inc()
            f.replot_queue.pop(idx, None)
            f.expired.discard(idx)
            f.auditor_dirty = True
            f.being_modified.discard(idx)
            self.stats["sectors_replotted" if replot else "sectors_plotted"] += 1
            if replot:
                self.metrics.sectors_replotted.inc()
            log.info(
                "farm %d: %s sector %d at history size %d in %.1f s", f.index, "replotted" if replot else "plotted",
                idx, hs, dt,
            )
            self._update_expirations(f)
            self._emit("plotted", farm=f.index, sector=idx, history_size=hs, seconds=dt, replot=replot)

    # -- history: segment headers, piece cache, acknowledgement, expiration --
    async def _download_headers(self) -> None:
        async with self._headers_lock:
            for attempt in range(10):
                try:
                    headers = await self.client.all_segment_headers()
                    break
                except FarmkitError as exc:
                    log.warning("downloading segment headers failed (%s); retrying", exc)
                    await asyncio.sleep(min(3.0, 0.3 * (attempt + 1)))
            else:
                raise FarmkitError("could not download the segment headers from the node")
            if len(headers) >= len(self.headers):
                self.headers = headers
            self.metrics.history_size.set(self.history_size)

    async def _segment_headers_loop(self) -> None:
        sub = self.client.subscribe_archived_segment_headers()
        try:
            async for header in sub:
                await self._on_segment_header(header)
        finally:
            await sub.close()

    async def _on_segment_header(self, header: SegmentHeader) -> None:
        idx = header.segment_index
        async with self._headers_lock:
            if idx > len(self.headers):  # fill a gap (headers archived while we were away)
                try:
                    got = await self.client.segment_headers(list(range(len(self.headers), idx)))
                    for h in got:
                        if h is None or h.segment_index != len(self.headers):
                            break
                        self.headers.append(h)
                except FarmkitError as exc:
                    log.warning("filling segment headers before %d failed: %s", idx, exc)
            if idx == len(self.headers):
                self.headers.append(header)
            elif idx < len(self.headers) and self.headers[idx] != header:
                log.warning("segment %d: the node announced a header that differs from the known one; ignored", idx)
        if self._piece_cache is not None and not self._piece_cache.has_segment(idx):
            await self._cache_segment(header)
        await self._acknowledge(idx)
        self.stats["segments"] += 1
        self.metrics.history_size.set(self.history_size)
        log.info("archived segment %d acknowledged; history size %d", idx, self.history_size)
        self._emit("segment", index=idx, history_size=self.history_size)
        for f in self.farms:
            self._update_expirations(f)

    async def _cache_segment(self, header: SegmentHeader) -> None:
        """Fill the local piece cache with the new segment's pieces (C.6: the node holds the newest
        segment only until every acknowledgement arrives, so fetch them first)."""
        first = header.segment_index * NUM_PIECES
        pieces: list[bytes] = []
        t0 = time.perf_counter()
        for pos in range(NUM_PIECES):
            try:
                piece = await self.client.piece(first + pos)
            except FarmkitError as exc:
                log.warning("segment %d: caching stopped at piece %d: %s", header.segment_index, first + pos, exc)
                return
            if piece is None:
                log.warning("segment %d: the node does not serve piece %d; not cached", header.segment_index, first + pos)
                return
            pieces.append(piece)
        try:
            await asyncio.to_thread(self._piece_cache.put_segment, header, pieces)
        except (OSError, FarmkitError) as exc:
            log.warning("segment %d: writing the piece cache failed: %s", header.segment_index, exc)
            return
        self.metrics.pieces_cached.inc(NUM_PIECES)
        log.info("segment %d: %d pieces cached in %.1f s", header.segment_index, NUM_PIECES, time.perf_counter() - t0)

    async def _acknowledge(self, segment_index: int) -> None:
        from farmkit.farmerd.rpc_client import RpcCallError

        for attempt in range(5):
            try:
                await self.client.acknowledge_archived_segment_header(segment_index)
                self.metrics.segments_acknowledged.inc()
                return
            except RpcCallError as exc:
                if exc.code == R.METHOD_NOT_FOUND:  # safe RPC: nothing to acknowledge (C.6)
                    return
                log.warning("acknowledging segment %d failed (%s), retry %d", segment_index, exc, attempt + 1)
            except FarmkitError as exc:
                log.warning("acknowledging segment %d failed (%s), retry %d", segment_index, exc, attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))

    def _update_expirations(self, f: _Farm) -> None:
        """§12: recompute each sector's expiration; queue sectors about to expire for replotting."""
        m = self.app_info.protocol_info.min_sector_lifetime
        current = self.history_size
        counts = {"NotPlotted": max(0, f.farm.target_sector_count - f.farm.header.plotted_sector_count)}
        for s in f.farm.plotted_sectors():
            if s.sector_index in f.being_modified:
                continue
            hs = int(s.metadata.history_size)
            if hs < 1:  # dummy (interrupted replot): replot now
                f.replot_queue.setdefault(s.sector_index, 0)
                continue
            known_hs, exp = f.expirations.get(s.sector_index, (None, None))
            if known_hs != hs or exp is None:
                exp = sector_expiration(s.sector_id, hs, self._segment_commitment, m)
                f.expirations[s.sector_index] = (hs, exp)
            state = sector_state(exp, current)
            counts[state] = counts.get(state, 0) + 1
            if state in ("AboutToExpire", "Expired") and s.sector_index not in f.replot_queue:
                f.replot_queue[s.sector_index] = exp
                self.metrics.sectors_expired.inc()
                log.info(
                    "farm %d: sector %d (history size %d) %s at history size %d (current %d); replotting",
                    f.index, s.sector_index, hs, "expired" if state == "Expired" else "expires", exp, current,
                )
            if state == "Expired":
                f.expired.add(s.sector_index)
        self.metrics.farm.set_sector_states(f.farm_id, counts)
        if f.replot_queue and self._plot_wakeup is not None:
            self._plot_wakeup.set()

    # -- reward signing (C.7) --
    async def _reward_signing(self) -> None:
        from farmkit.farmerd.rpc_client import run_reward_signer

        def on_signed(digest: bytes, public_key: bytes) -> None:
            self.stats["signed"] += 1
            self.metrics.reward_signatures.inc()
            log.info("reward hash %s signed for %s", digest.hex()[:16], public_key.hex()[:16])
            self._emit("signed", hash=digest.hex(), public_key=public_key.hex())

        await run_reward_signer(self.client, [f.keypair for f in self.farms], on_signed=on_signed)

    # -- farming (§9, C.5) --
    async def _slot_reader(self, slots) -> None:
        """Hands each slot to the farming loop, or skips it (and says why) while one is farming."""
        async for slot in slots:
            self.stats["slots"] += 1
            self.metrics.slots.inc()
            self._emit("slot", slot=slot.slot_number)
            if self._busy is not None or self._pending_slot.full():
                self._skip(slot)
                continue
            self._pending_slot.put_nowait(slot)

    def _skip(self, slot: R.SlotInfo) -> None:
        self.stats["skipped"] += 1
        for f in self.farms:
            self.metrics.farm.skipped_slots.labels(f.farm_id).inc()
        busy = self._busy
        if busy is None:
            reason, what = "queue full", "slot queue full"
        else:
            what, busy_slot, started = busy
            took = time.perf_counter() - started
            reason = what
            what = f"{what} of slot {busy_slot} still running ({took:.1f} s > slot)"
        self.metrics.skipped_slots.labels(reason).inc()
        log.warning("slot %d skipped: %s", slot.slot_number, what)
        self._emit("skipped", slot=slot.slot_number, reason=what)

    async def _farming_loop(self) -> None:
        while True:
            slot = await self._pending_slot.get()
            try:
                await self._farm_slot(slot)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("farming slot %d failed", slot.slot_number)
                for f in self.farms:
                    self.metrics.farm.farming_errors.labels(f.farm_id, "farming").inc()
            finally:
                self._busy = None

    async def _farm_slot(self, slot: R.SlotInfo) -> None:
        from farmkit.farmerd.rpc_client import RpcCallError

        loop = asyncio.get_running_loop()
        t_slot = time.perf_counter()
        timeout = self.app_info.farming_timeout.seconds
        self._busy = ("audit", slot.slot_number, t_slot)
        # refresh auditors after plotting (cheap: metadata only)
        for f in self.farms:
            if f.auditor_dirty:
                await loop.run_in_executor(self._farm_pool, self._reopen_auditor, f)
                if not self._warmed_up and f.auditor is not None:
                    self._busy = ("proving warm-up", slot.slot_number, t_slot)
                    await self._warm_up(f)
                    return  # this slot's time went to the warm-up
        candidates = []

        async def audit(f: _Farm):
            t0 = time.perf_counter()
            found = await loop.run_in_executor(self._farm_pool, f.auditor.audit, slot.global_challenge,
                                               slot.voting_solution_range)
            self.metrics.farm.auditing_time.labels(f.farm_id).observe(time.perf_counter() - t0)
            return f, found

        t_audit = time.perf_counter()
        for f, found in await asyncio.gather(*(audit(f) for f in self.farms if f.auditor is not None)):
            skip = f.being_modified | f.expired
            candidates += [(c, f) for c in found if c.encoded and c.sector_index not in skip]
        audit_s = time.perf_counter() - t_audit  # all farms, audited at once
        candidates.sort(key=lambda cf: (cf[0].distance, cf[0].farm_index, cf[0].sector_index, cf[0].chunk_offset))
        self.stats["audits"] += 1
        self.stats["last_audit_s"] = audit_s
        self.audit_times.append(audit_s)
        del self.audit_times[:-1000]
        self.stats["candidates"] += len(candidates)
        self.metrics.solutions_found.inc(len(candidates))
        self._emit("audit", slot=slot.slot_number, seconds=audit_s, candidates=len(candidates))
        if not candidates:
            return
        self._busy = ("proving", slot.slot_number, t_slot)
        for cand, f in candidates:
            if cand.sector_index in f.being_modified or f.auditor is None:
                continue
            if time.perf_counter() - t_slot >= timeout:
                log.info("slot %d: farming window of %.0f s over; %s", slot.slot_number, timeout, "no more proving")
                break
            t0 = time.perf_counter()
            try:
                solution = await asyncio.wrap_future(self._prove(f, cand))
            except Exception as exc:  # noqa: BLE001 - ProvingError, or a broken proving process
                self.metrics.farm.proving_time.labels(f.farm_id, "error").observe(time.perf_counter() - t0)
                self.metrics.farm.farming_errors.labels(f.farm_id, "proving").inc()
                log.warning("slot %d: proving sector %d piece %d failed: %s", slot.slot_number, cand.sector_index, cand.piece_offset, exc)
                continue
            dt = time.perf_counter() - t0
            self.prove_times.append(dt)
            del self.prove_times[:-1000]
            self.stats["last_prove_s"] = dt
            if dt >= timeout:
                self.metrics.farm.proving_time.labels(f.farm_id, "timeout").observe(dt)
                log.warning(
                    "slot %d: proving took %.1f s >= farming timeout %g s; solution dropped, no more proving this slot",
                    slot.slot_number, dt, timeout,
                )
                break
            self.metrics.farm.proving_time.labels(f.farm_id, "success").observe(dt)
            self.stats["proven"] += 1
            self.metrics.solutions_proven.inc()
            self._emit("solution", slot=slot.slot_number, sector=cand.sector_index, distance=cand.distance, seconds=dt)
            try:
                await self.client.submit_solution_response(R.SolutionResponse(slot.slot_number, solution))
            except RpcCallError as exc:
                self.stats["rejected"] += 1
                self.metrics.solutions_submitted.labels("rejected").inc()
                log.info("slot %d: node refused the solution (%s); no more solutions this slot", slot.slot_number, exc.message)
                self._emit("rejected", slot=slot.slot_number, reason=exc.message)
                break
            except FarmkitError as exc:
                self.metrics.solutions_submitted.labels("error").inc()
                log.warning("slot %d: submitting the solution failed: %s", slot.slot_number, exc)
                break
            self.stats["submitted"] += 1
            self.metrics.solutions_submitted.labels("ok").inc()
            log.info(
                "slot %d: solution submitted (farm %d sector %d piece %d, distance %d, audit %.3f s, proving %.2f s)",
                slot.slot_number, f.index, cand.sector_index, cand.piece_offset, cand.distance, audit_s, dt,
            )
            self._emit("submitted", slot=slot.slot_number, sector=cand.sector_index)

    def _prove(self, f: _Farm, cand):
        """Prove in the proving process (a spawned worker): proving holds the GIL in places (KZG),
        and the event loop must stay free to answer reward-signing requests within 500 ms."""
        return self._prove_pool.submit(
            prove_in_worker, str(f.spec.path), cand.sector_index, cand.piece_offset, cand.s_bucket,
            bytes(self.config.reward_address), f.spec.record_chunks_mode,
        )

    async def _warm_up(self, f: _Farm) -> None:
        """One proof nobody submits, right after the farm's first sector exists: loads the kernels
        and the KZG setup into the proving process, and measures proving time once."""
        if self._warmed_up or f.auditor is None or not f.auditor.sectors:
            return
        self._warmed_up = True
        try:
            await self._warm_up_prove(f)
        finally:
            self.stats["warmup_done"] = True  # proven or not: nobody should wait for it any longer

    WARM_UP_CHALLENGES = 16

    async def _warm_up_prove(self, f: _Farm) -> None:
        loop = asyncio.get_running_loop()
        cands = []
        # a challenge whose audited s-buckets hold an encoded chunk: s-buckets past ~52,000 hold
        # none in most records (§6: the encoded chunks come first), so one fixed challenge leaves
        # about one small farm in five without a warm-up proof
        for _ in range(self.WARM_UP_CHALLENGES):
            found = await loop.run_in_executor(self._farm_pool, f.auditor.audit, os.urandom(32), (1 << 64) - 1)
            cands = [c for c in found if c.encoded]
            if cands:
                break
        if not cands:
            log.warning("proving warm-up skipped: no encoded chunk in %d audits of farm %d", self.WARM_UP_CHALLENGES,
                        f.index)
            return
        timeout = self.app_info.farming_timeout.seconds
        for attempt in range(2):  # a second proof when the first (loading kernels) was slow
            t0 = time.perf_counter()
            try:
                await asyncio.wrap_future(self._prove(f, cands[attempt % len(cands)]))
            except Exception as exc:  # noqa: BLE001 - only a warm-up
                log.warning("warm-up proof failed: %s", exc)
                return
            dt = time.perf_counter() - t0
            if dt < timeout / 2:
                break
        self.stats["warmup_prove_s"] = dt
        log.info("proving warmed up: one proof took %.2f s (farming timeout %.1f s)",
                 self.stats["warmup_prove_s"], self.app_info.farming_timeout.seconds)
        self._emit("warmup", seconds=self.stats["warmup_prove_s"])


_WORKER_KZG = None


def _worker_init() -> None:
    """Proving process start-up: import the proving stack and load the KZG setup once."""
    global _WORKER_KZG
    from farmkit.auditor import prove  # noqa: F401
    from farmkit.kernels.kzg import default_kzg

    _WORKER_KZG = default_kzg()


def prove_in_worker(farm_path: str, sector_index: int, piece_offset: int, s_bucket: int,
                    reward_address: bytes, mode: str):
    """§10 in the proving process; the farm is opened read-only for each proof (cheap: metadata
    only), so newly plotted and replotted sectors are seen."""
    from farmkit.auditor.prove import prove_candidate
    from farmkit.protocol.farm import SingleDiskFarm

    with SingleDiskFarm.open(farm_path) as farm:
        return prove_candidate(farm, sector_index, piece_offset, s_bucket, reward_address, mode=mode, kzg=_WORKER_KZG)


def run_farmer(config: FarmerConfig) -> None:
    """Run until SIGINT/SIGTERM (the ``farmerd farm`` command)."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
        await Farmer(config).run(stop)

    asyncio.run(main())
