"""``plotter plot``, ``plotter info``, ``plotter benchmark`` (sector-audit-prove.md §6-§8, §12).

Pieces come from a local piece store (``plotter archive`` output) or from a node over RPC
(``subspace_piece``; pot-rpc.md part C). A sector's history size is the source's history size at the
moment the sector is plotted. Sectors are written crash-safely through
:meth:`farmkit.protocol.farm.SingleDiskFarm.write_sector`; a run can be interrupted and resumed.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Protocol

import numpy as np
import typer

from farmkit.cli import backend_option
from farmkit.errors import FarmkitError
from farmkit.protocol.rpc import loads_untrusted
from farmkit.protocol.constants import (
    MAX_PIECES_IN_SECTOR,
    PIECE_SIZE,
    RECORD_NUM_CHUNKS,
    RECORD_SIZE,
    SCALAR_SIZE,
)
from farmkit.protocol.farm import (
    AllocatedSpaceDistribution,
    Identity,
    SingleDiskFarm,
    SingleDiskFarmInfo,
    allocated_space_for_sectors,
    is_post_cutover,
    parse_size,
)
from farmkit.protocol.sector import (
    FarmerProtocolInfo,
    SectorId,
    piece_position,
    piece_segment_index,
    sector_expiration_check_segment_index,
    sector_size,
)

MIB = 1024 * 1024


# --- piece sources -----------------------------------------------------------------------------
class PieceSource(Protocol):
    genesis_hash: bytes

    def protocol_info(self) -> FarmerProtocolInfo: ...

    def piece(self, piece_index: int) -> bytes: ...

    def segment_commitment(self, segment_index: int) -> bytes | None: ...

    def close(self) -> None: ...


class LocalPieceStore:
    """A directory written by ``plotter archive`` (read through :mod:`farmkit.plotter.piece_store`)."""

    def __init__(self, directory: Path, protocol: FarmerProtocolInfo):
        from farmkit.plotter import piece_store

        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FarmkitError(f"{directory}: piece store not found")
        self._store = piece_store.open(self.directory)
        self.genesis_hash = self._store.genesis_hash or bytes(32)
        self._protocol = protocol

    def history_size(self) -> int:
        return int(self._store.history_size)

    def protocol_info(self) -> FarmerProtocolInfo:
        hs = self.history_size()
        if hs < 1:
            raise FarmkitError(f"{self.directory}: the piece store holds no archived segment")
        return self._protocol.with_history_size(hs)

    def segment_commitment(self, segment_index: int) -> bytes | None:
        if not 0 <= segment_index < self.history_size():
            return None
        return bytes(self._store.segment_commitment(segment_index))

    def piece(self, piece_index: int) -> bytes:
        return bytes(self._store.read_piece(piece_index))

    def close(self) -> None:
        pass


class NodeRpcSource:
    """Pieces and protocol info from a node (JSON-RPC over WebSocket, pot-rpc.md C.3)."""

    def __init__(self, url: str):
        try:
            from websockets.sync.client import connect
        except ImportError:  # pragma: no cover
            raise FarmkitError("the websockets package is needed for --node-rpc-url") from None
        self.url = url
        try:
            self._ws = connect(url, max_size=32 * MIB, open_timeout=10)
        except Exception as exc:
            raise FarmkitError(f"cannot connect to node {url}: {exc}") from None
        self._id = 0
        self._lock = threading.Lock()
        info = self._call("subspace_getFarmerAppInfo", [])
        self.genesis_hash = bytes.fromhex(info["genesisHash"])
        self._commitments: dict[int, bytes] = {}

    def _call(self, method: str, params: list):
        with self._lock:
            self._id += 1
            req = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
            try:
                self._ws.send(json.dumps(req))
                while True:
                    msg = loads_untrusted(self._ws.recv(timeout=60))
                    if isinstance(msg, dict) and msg.get("id") == self._id:
                        break
            except FarmkitError:
                raise
            except Exception as exc:
                raise FarmkitError(f"node {self.url}: {method} failed: {exc}") from None
        if "error" in msg:
            err = msg["error"]
            raise FarmkitError(f"node {self.url}: {method}: {err.get('message', err) if isinstance(err, dict) else err}")
        return msg.get("result")

    def protocol_info(self) -> FarmerProtocolInfo:
        p = self._call("subspace_getFarmerAppInfo", [])["protocolInfo"]
        return FarmerProtocolInfo(
            history_size=int(p["historySize"]),
            max_pieces_in_sector=int(p["maxPiecesInSector"]),
            recent_segments=int(p["recentSegments"]),
            recent_history_fraction=tuple(int(x) for x in p["recentHistoryFraction"]),
            min_sector_lifetime=int(p["minSectorLifetime"]),
        )

    def segment_commitment(self, segment_index: int) -> bytes | None:
        if segment_index not in self._commitments:
            headers = self._call("subspace_segmentHeaders", [[segment_index]])
            h = headers[0] if headers else None
            if h is None:
                return None
            self._commitments[segment_index] = bytes.fromhex(h["v0"]["segmentCommitment"])
        return self._commitments[segment_index]

    def piece(self, piece_index: int) -> bytes:
        result = self._call("subspace_piece", [piece_index])
        if result is None:
            raise FarmkitError(
                f"node {self.url} does not serve piece {piece_index} (subspace_piece serves only the "
                "genesis and the newest segment; use --piece-store)"
            )
        data = bytes.fromhex(result)
        if len(data) != PIECE_SIZE:
            raise FarmkitError(f"node {self.url}: piece {piece_index} has {len(data)} bytes")
        return data

    def close(self) -> None:
        try:
            self._ws.close()
        except Exception:
            pass


class SyntheticSource:
    """Deterministic made-up pieces (canonical scalars; commitment/witness are filler): benchmarks
    and tests only — such sectors are not valid on any chain."""

    def __init__(self, history_size: int, protocol: FarmerProtocolInfo | None = None, seed: int = 0):
        self.genesis_hash = bytes(32)
        self._hs = history_size
        self._protocol = protocol or FarmerProtocolInfo(history_size)
        self._seed = seed

    def protocol_info(self) -> FarmerProtocolInfo:
        return self._protocol.with_history_size(self._hs)

    def set_history_size(self, hs: int) -> None:
        self._hs = hs

    def segment_commitment(self, segment_index: int) -> bytes | None:
        return bytes(48) if segment_index < self._hs else None

    def piece(self, piece_index: int) -> bytes:
        rng = np.random.default_rng([self._seed, piece_index])
        record = rng.integers(0, 256, RECORD_SIZE, dtype=np.uint8).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
        record[:, 0] &= 0x3F  # below the BLS12-381 modulus
        tail = rng.integers(0, 256, PIECE_SIZE - RECORD_SIZE, dtype=np.uint8)
        return record.tobytes() + tail.tobytes()

    def close(self) -> None:
        pass


# --- piece checks (§6.2 step 3) -------------------------------------------------------------------
def verify_piece(source: PieceSource, piece_index: int, piece: bytes, mode: str) -> None:
    """``none``; ``commitment``: chunks canonical and the record commitment opens the segment
    commitment at the piece's position; ``full``: also recompute the record commitment (slow)."""
    if mode == "none":
        return
    from farmkit.kernels import fr
    from farmkit.kernels.kzg import default_kzg
    from farmkit.protocol import pieces as P

    seg, pos = piece_segment_index(piece_index), piece_position(piece_index)
    commitment = source.segment_commitment(seg)
    if commitment is None:
        raise FarmkitError(f"piece {piece_index}: no segment commitment for segment {seg} to verify it against")
    kzg = default_kzg()
    if mode == "full":
        ok = P.is_piece_valid(kzg, piece, commitment, pos)
    else:
        chunks = np.frombuffer(piece, np.uint8, count=RECORD_SIZE).reshape(RECORD_NUM_CHUNKS, SCALAR_SIZE)
        ok = bool(np.all(fr.is_canonical(chunks))) and P.is_record_commitment_hash_valid(
            kzg, P.piece_commitment(piece), commitment, P.piece_witness(piece), pos
        )
    if not ok:
        raise FarmkitError(f"piece {piece_index} failed verification against segment {seg}; nothing was written")


def download_sector_pieces(
    source: PieceSource, piece_indexes: list[int], verify: str, workers: int = 4
) -> list[bytes]:
    """§6.2 step 3: fetch each distinct piece once (in parallel), check it, return per offset."""
    distinct = sorted(set(piece_indexes))

    def fetch(i: int) -> bytes:
        piece = source.piece(i)
        verify_piece(source, i, piece, verify)
        return piece

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        got = dict(zip(distinct, pool.map(fetch, distinct)))
    finally:  # the first bad piece stops the rest
        pool.shutdown(wait=True, cancel_futures=True)
    return [got[i] for i in piece_indexes]


# --- plotting one farm ------------------------------------------------------------------------
def _pos_version_check(farm: SingleDiskFarm, history_size: int, version: str) -> None:
    """pos-v2.md §4: make the farm's cutover say ``version`` for a sector at ``history_size``."""
    cutover = farm.header.cutover
    if version == "v2":
        if not is_post_cutover(cutover, history_size):
            raise FarmkitError(
                f"history size {history_size} is at or below this farm's cutover {cutover}: a V2 sector "
                f"needs a history size above it (wait for more history, or plot with --pos-version v1)"
            )
        return
    if not is_post_cutover(cutover, history_size):
        return  # already read as V1
    # raising the cutover to history_size must not turn existing V2 sectors into V1
    for sector in farm.plotted_sectors():
        if sector.pos_version == "v2" and sector.history_size <= history_size and sector.metadata.s_bucket_sizes.any():
            raise FarmkitError(
                f"cannot plot a V1 sector at history size {history_size}: V2 sector {sector.sector_index} "
                f"(history size {sector.history_size}) would then read as V1"
            )
    farm.set_cutover(history_size)


class FarmPlotter:
    """Plots the missing sectors of one farm from one piece source on one encoder."""

    def __init__(self, farm: SingleDiskFarm, identity: Identity, source: PieceSource, encoder,
                 version: str, verify: str, max_sectors: int | None = None):
        self.farm = farm
        self.identity = identity
        self.source = source
        self.encoder = encoder
        self.version = version
        self.verify = verify
        self.max_sectors = max_sectors

    def sectors_left(self) -> list[int]:
        start = self.farm.header.plotted_sector_count
        end = self.farm.target_sector_count
        if self.max_sectors is not None:
            end = min(end, start + self.max_sectors)
        return list(range(start, end))

    def download_sector(self, sector_index: int) -> tuple[int, list[int], list[bytes]]:
        """§6.2: history size now, the piece for every offset, downloaded and checked."""
        info = self.source.protocol_info()
        hs = info.history_size
        if self.farm.pieces_in_sector > info.max_pieces_in_sector:
            raise FarmkitError(
                f"farm has {self.farm.pieces_in_sector} pieces per sector, the chain allows {info.max_pieces_in_sector}"
            )
        sector_id = SectorId.new(self.identity.public_key_hash, sector_index, hs)
        piece_indexes = sector_id.derive_piece_indexes(self.farm.pieces_in_sector, info)
        t0 = time.perf_counter()
        pieces = download_sector_pieces(self.source, piece_indexes, self.verify)
        self.encoder.timings["download"] = self.encoder.timings.get("download", 0.0) + time.perf_counter() - t0
        return hs, piece_indexes, pieces

    def plot_sector(self, sector_index: int, on_records=None, downloaded=None) -> int:
        """Download (unless ``downloaded`` is given), encode and durably write one sector;
        returns its history size."""
        hs, piece_indexes, pieces = downloaded if downloaded is not None else self.download_sector(sector_index)
        _pos_version_check(self.farm, hs, self.version)  # may record a cutover before any V1 write
        plotted = self.encoder.encode_sector(
            self.identity.public_key_hash, sector_index, hs, pieces, piece_indexes, self.version, on_records
        )
        t1 = time.perf_counter()
        self.farm.write_sector(sector_index, plotted.data, plotted.metadata)
        self.encoder.timings["io"] = self.encoder.timings.get("io", 0.0) + time.perf_counter() - t1
        return hs


# --- CLI helpers --------------------------------------------------------------------------------
def _make_encoder(backend: str | None):
    from farmkit.kernels.backends import resolve_backend
    from farmkit.plotter.encoding import SectorEncoder

    if backend:
        name = resolve_backend(backend)
    else:  # default: a real GPU if there is one; OpenCL on a CPU (PoCL) is slower than numba
        from farmkit.kernels.backends import probe

        name = "cuda" if probe("cuda").available else ("opencl" if _opencl_is_gpu() else "cpu")
    return SectorEncoder(name)


def _opencl_is_gpu() -> bool:
    try:
        from farmkit.kernels.backends import opencl_device, probe

        if not probe("opencl").available:
            return False
        import pyopencl as cl  # type: ignore

        return bool(opencl_device().type & cl.device_type.GPU)
    except Exception:
        return False


def _open_source(piece_store: Optional[Path], node_rpc_url: Optional[str], synthetic: Optional[int]) -> PieceSource:
    chosen = [x is not None for x in (piece_store, node_rpc_url, synthetic)]
    if sum(chosen) != 1:
        raise FarmkitError("give exactly one of --piece-store or --node-rpc-url")
    if piece_store is not None:
        return LocalPieceStore(piece_store, FarmerProtocolInfo(history_size=1))
    if node_rpc_url is not None:
        return NodeRpcSource(node_rpc_url)
    return SyntheticSource(int(synthetic))


def _allocation(size: Optional[str], sectors: Optional[int], pieces_in_sector: int, cache_percentage: int) -> int:
    if (size is None) == (sectors is None):
        raise FarmkitError("give exactly one of --size or --sectors")
    if sectors is not None:
        return allocated_space_for_sectors(sectors, pieces_in_sector, cache_percentage)
    allocated = parse_size(size)
    AllocatedSpaceDistribution.new(allocated, pieces_in_sector, cache_percentage)  # one-line error if too small
    return allocated


def plot_command(
    farm: list[Path] = typer.Option(..., "--farm", help="Farm directory (repeat for several farms)."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Piece store directory made by `plotter archive`."),
    node_rpc_url: Optional[str] = typer.Option(None, "--node-rpc-url", help="Node WebSocket RPC URL (subspace_piece)."),
    size: Optional[str] = typer.Option(None, "--size", help="Allocated space per farm, e.g. 100MiB, 2GiB, 1.5TB (reference allocation rules)."),
    sectors: Optional[int] = typer.Option(None, "--sectors", help="Make plot.bin hold exactly N sectors."),
    pieces_in_sector: int = typer.Option(MAX_PIECES_IN_SECTOR, "--pieces-in-sector", help="Pieces per sector, 1..1000 (new farms)."),
    pos_version: str = typer.Option("v2", "--pos-version", help="Proof-of-space for new sectors: v2 (today's farmer) or v1."),
    identity_file: Optional[Path] = typer.Option(None, "--identity", help="Reuse this identity.bin."),
    backend: Optional[str] = backend_option(),
    cache_percentage: Optional[int] = typer.Option(None, "--cache-percentage", help="Share of --size for piece_cache.bin (reference default 1; 0 with --sectors)."),
    verify: str = typer.Option("commitment", "--verify", help="Piece checks: commitment (default), full, none."),
    max_sectors: Optional[int] = typer.Option(None, "--max-sectors", help="Stop after plotting this many sectors per farm (resume later)."),
    synthetic: Optional[int] = typer.Option(None, "--synthetic-history", hidden=True, help="Tests: synthetic pieces with this history size."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Plot sectors into one or more farm directories (resumable; crash-safe)."""
    if pos_version not in ("v1", "v2"):
        raise FarmkitError("--pos-version must be v1 or v2")
    if not 1 <= pieces_in_sector <= MAX_PIECES_IN_SECTOR:
        raise FarmkitError(f"--pieces-in-sector must be 1..{MAX_PIECES_IN_SECTOR}")
    if verify not in ("commitment", "full", "none"):
        raise FarmkitError("--verify must be commitment, full or none")
    if cache_percentage is None:
        cache_percentage = 0 if sectors is not None else 1
    if identity_file is not None and len(farm) > 1:
        raise FarmkitError("--identity with several --farm would plot the same sectors twice; each farm needs its own identity")
    identity = Identity.open(identity_file) if identity_file is not None else None
    source = _open_source(piece_store, node_rpc_url, synthetic)
    try:
        if synthetic is not None:
            verify = "none"
        info = source.protocol_info()
        encoder = _make_encoder(backend)
        plotters: list[FarmPlotter] = []
        try:
            _open_farms(plotters, farm, source, info, encoder, size, sectors, pieces_in_sector, cache_percentage,
                        identity, pos_version, verify, max_sectors)
            _run_plotters(plotters, quiet)
        finally:
            for p in plotters:
                p.farm.close()
    finally:
        source.close()


def _open_farms(plotters, farm, source, info, encoder, size, sectors, pieces_in_sector, cache_percentage,
                identity, pos_version, verify, max_sectors) -> None:
    """Create or check every farm (one-line errors before anything is plotted)."""
    for directory in farm:
        existing = SingleDiskFarmInfo.load_from(Path(directory)) if Path(directory).is_dir() else None
        p = existing.pieces_in_sector if existing else pieces_in_sector
        allocated = _allocation(size, sectors, p, cache_percentage)
        f, ident = SingleDiskFarm.create_or_open(
            directory, genesis_hash=source.genesis_hash, allocated_space=allocated,
            pieces_in_sector=pieces_in_sector, max_pieces_in_sector=info.max_pieces_in_sector,
            identity=identity, cache_percentage=cache_percentage,
        )
        plotters.append(FarmPlotter(f, ident, source, encoder, pos_version, verify, max_sectors))


def _run_plotters(plotters: list[FarmPlotter], quiet: bool) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    work = [(p, i) for p in plotters for i in p.sectors_left()]
    console = Console(stderr=True)
    if not work:
        if not quiet:
            console.print("all sectors already plotted")
        return
    total_records = sum(p.farm.pieces_in_sector for p, _ in work)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console, disable=quiet or not console.is_terminal, transient=False,
    )
    plain = not quiet and not console.is_terminal  # logs: one line per sector on stdout
    started = time.perf_counter()
    written_bytes = 0
    done = 0
    with progress:
        t_sectors = progress.add_task("sectors", total=len(work), rate="")
        t_records = progress.add_task("records", total=total_records, rate="")
        # the next sector's pieces download while this one is encoded (like the reference farmer)
        with ThreadPoolExecutor(max_workers=1) as downloader:
            pending = downloader.submit(work[0][0].download_sector, work[0][1])
            for k, (plotter, sector_index) in enumerate(work):
                downloaded = pending.result()
                if k + 1 < len(work):
                    nxt_plotter, nxt_index = work[k + 1]
                    pending = downloader.submit(nxt_plotter.download_sector, nxt_index)
                desc = f"{plotter.farm.directory.name}#{sector_index}"
                progress.update(t_records, description=f"records ({desc})")

                def on_records(n: int) -> None:
                    progress.advance(t_records, n)

                plotter.plot_sector(sector_index, on_records, downloaded)
                done, written_bytes = _sector_done(progress, t_sectors, plotter, desc, done, written_bytes, started, len(work), plain)


def _sector_done(progress, t_sectors, plotter, desc, done, written_bytes, started, total, plain):
    """Advance the sectors bar (MiB/s, s/sector; ETA from rich) or print one plain line."""
    written_bytes += plotter.farm.sector_size
    done += 1
    elapsed = max(1e-9, time.perf_counter() - started)
    rate = f"{written_bytes / MIB / elapsed:.1f} MiB/s, {elapsed / done:.1f} s/sector"
    progress.update(t_sectors, advance=1, rate=rate)
    if plain:
        eta = elapsed / done * (total - done)
        print(f"plotted {desc} ({done}/{total} sectors, {rate}, ETA {eta:.0f} s)", flush=True)
    return done, written_bytes


def info_command(
    farm: list[Path] = typer.Option(..., "--farm", help="Farm directory (repeat for several)."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Piece store, to compute expirations."),
    node_rpc_url: Optional[str] = typer.Option(None, "--node-rpc-url", help="Node RPC, to compute expirations."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sectors, history sizes, PoS versions, expirations and space used of farms."""
    from rich.console import Console
    from rich.table import Table

    store = None
    if piece_store is not None or node_rpc_url is not None:
        store = _open_source(piece_store, node_rpc_url, None)
    reports = []
    for directory in farm:
        with SingleDiskFarm.open(directory) as f:
            current = store.protocol_info().history_size if store else None
            sectors = []
            for s in f.plotted_sectors():
                expiration = None
                if store is not None and s.metadata.s_bucket_sizes.any():
                    check_segment = sector_expiration_check_segment_index(s.history_size)
                    c = store.segment_commitment(check_segment) if check_segment < current else None
                    if c is not None:
                        expiration = s.sector_id.derive_expiration_history_size(s.history_size, c)
                sectors.append({
                    "sector_index": s.sector_index,
                    "history_size": s.history_size,
                    "pos_version": s.pos_version,
                    "sector_id": s.sector_id.hex(),
                    "empty": not bool(s.metadata.s_bucket_sizes.any()),
                    "expiration_history_size": expiration,
                    "expired": None if expiration is None or current is None else expiration <= current,
                })
            reports.append({
                "farm": str(directory),
                "id": f.info.id,
                "genesis_hash": f.info.genesis_hash.hex(),
                "public_key": f.info.public_key.hex(),
                "pieces_in_sector": f.pieces_in_sector,
                "allocated_space": f.info.allocated_space,
                "sector_size": f.sector_size,
                "target_sector_count": f.target_sector_count,
                "plotted_sector_count": f.header.plotted_sector_count,
                "metadata_version": f.header.version,
                "cutover": f.header.cutover,
                "piece_cache_capacity": f.distribution.piece_cache_capacity,
                "current_history_size": current,
                "space_used": f.space_used(),
                "sectors": sectors,
            })
    if store:
        store.close()
    if as_json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
        return
    console = Console()
    for r in reports:
        used = sum(v["on_disk"] for v in r["space_used"].values())
        console.print(
            f"[bold]{r['farm']}[/bold] id {r['id']} public key {r['public_key']}\n"
            f"  {r['plotted_sector_count']}/{r['target_sector_count']} sectors of {r['pieces_in_sector']} pieces "
            f"({r['sector_size']} bytes each), allocated {r['allocated_space'] / MIB:.1f} MiB, on disk {used / MIB:.1f} MiB, "
            f"metadata v{r['metadata_version']}, cutover {r['cutover']}"
        )
        table = Table("sector", "history size", "PoS", "expires at", "sector id")
        for s in r["sectors"]:
            exp = "empty" if s["empty"] else ("?" if s["expiration_history_size"] is None else str(s["expiration_history_size"]) + (" (expired)" if s["expired"] else ""))
            table.add_row(str(s["sector_index"]), str(s["history_size"]), s["pos_version"], exp, s["sector_id"][:16] + "…")
        console.print(table)


def benchmark_command(
    sectors: int = typer.Option(1, "--sectors", help="Sectors to plot per backend."),
    pieces_in_sector: int = typer.Option(8, "--pieces-in-sector", help="Pieces per sector (1..1000)."),
    backend: list[str] = typer.Option(["cpu"], "--backend", help="Backends to compare (repeat)."),
    pos_version: str = typer.Option("v2", "--pos-version"),
    workers: Optional[int] = typer.Option(None, "--workers", help="CPU threads (records in flight)."),
    directory: Optional[Path] = typer.Option(None, "--dir", help="Scratch directory (default: a temp dir)."),
) -> None:
    """Plot N sectors of synthetic pieces per backend; seconds per sector/record and hours per TiB."""
    import tempfile

    from farmkit.kernels.backends import resolve_backend
    from farmkit.plotter.encoding import SectorEncoder

    results = []
    for name in backend:
        name = resolve_backend(name)
        encoder = SectorEncoder(name, workers=workers)
        source = SyntheticSource(history_size=60)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            f, ident = SingleDiskFarm.create_or_open(
                Path(tmp) / "farm", genesis_hash=bytes(32),
                allocated_space=allocated_space_for_sectors(sectors, pieces_in_sector, 0),
                pieces_in_sector=pieces_in_sector, cache_percentage=0,
            )
            plotter = FarmPlotter(f, ident, source, encoder, pos_version, "none")
            # warm up (numba compilation, GPU program build) on one record outside the timing
            warm = SectorEncoder(name, workers=1)
            warm.encode_sector(ident.public_key_hash, 0, 60, [source.piece(0)], [0], pos_version)
            t0 = time.perf_counter()
            for i in range(sectors):
                plotter.plot_sector(i)
            elapsed = time.perf_counter() - t0
            f.close()
        per_sector = elapsed / sectors
        per_record = per_sector / pieces_in_sector
        tib_sectors = (1 << 40) / sector_size(MAX_PIECES_IN_SECTOR)
        results.append({
            "backend": name,
            "device": encoder.device_name(),
            "workers": encoder.workers,
            "pos_version": pos_version,
            "sectors": sectors,
            "pieces_in_sector": pieces_in_sector,
            "seconds_per_sector": round(per_sector, 3),
            "seconds_per_record": round(per_record, 4),
            "hours_per_tib": round(per_record * MAX_PIECES_IN_SECTOR * tib_sectors / 3600, 2),
            "stage_seconds_per_record": {k: round(v / (sectors * pieces_in_sector), 4) for k, v in encoder.timings.items()},
        })
    print(json.dumps(results if len(results) > 1 else results[0], indent=2))


def register(app: typer.Typer) -> None:
    """Add ``plot``, ``info`` and ``benchmark`` to the plotter app."""
    app.command("plot")(plot_command)
    app.command("info")(info_command)
    app.command("benchmark")(benchmark_command)
