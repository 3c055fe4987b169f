"""`farmerd` command line. A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node."""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from farmkit.cli import new_app, run
from farmkit.errors import FarmkitError
from farmkit.farmerd import devnode as _DEV  # the dev node's defaults live there, once

app = new_app("farmerd", "A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node.")


@app.callback()
def _root() -> None:
    """A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node."""


def _one_line_errors(fn):
    """Report FarmkitError/OSError as one line and exit 2 from inside the command.

    Works around farmkit.cli.run evaluating ``click.exceptions.Abort``, which typer >= 0.2x's
    vendored click lacks (an AttributeError turns every FarmkitError into a traceback).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (FarmkitError, OSError) as exc:
            prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "farmerd"
            text = str(exc) if isinstance(exc, FarmkitError) else f"{exc.strerror or exc}"
            print(f"{prog}: error: {' '.join(text.split())}", file=sys.stderr)
            raise typer.Exit(getattr(exc, "exit_code", 2))

    return wrapper


def _parse_listen(text: str, what: str) -> tuple[str, int]:
    from farmkit.farmerd.devnode import _split_host_port

    return _split_host_port(text, what)


def _parse_u64(text: str, what: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise FarmkitError(f"{what}: not an integer: {text!r}") from None
    if not 0 <= value < 2**64:
        raise FarmkitError(f"{what}: must be a u64, got {value}")
    return value


@app.command("dev-node")
@_one_line_errors
def dev_node(
    rpc_listen_on: str = typer.Option("127.0.0.1:9944", "--rpc-listen-on", help="HOST:PORT of the JSON-RPC WebSocket (port 0 picks a free one)."),
    base_path: Path = typer.Option(..., "--base-path", help="Directory holding the dev chain's state; a restart continues it."),
    slot_duration_ms: int = typer.Option(1000, "--slot-duration-ms", help="Slot duration in milliseconds (mainnet: 1000)."),
    pot_iterations: int = typer.Option(_DEV.DEFAULT_DEV_POT_ITERATIONS, "--pot-iterations", help="PoT iterations per slot, a multiple of 16 (mainnet: 206,557,520)."),
    max_pieces_in_sector: int = typer.Option(_DEV.DEV_MAX_PIECES_IN_SECTOR, "--max-pieces-in-sector", help="FarmerProtocolInfo.maxPiecesInSector: small so a demo sector plots in seconds (mainnet: 1000)."),
    solution_range: str = typer.Option(str(_DEV.DEV_SOLUTION_RANGE), "--solution-range", help="Solution range (u64) sent in SlotInfo; default the full u64 range so a small farm wins every slot (mainnet genesis: 6148914691236495)."),
    voting_solution_range: Optional[str] = typer.Option(str(_DEV.DEV_VOTING_SOLUTION_RANGE), "--voting-solution-range", help="Voting solution range (u64); default the full u64 range (generous: later solutions of a slot become votes)."),
    rpc_methods: str = typer.Option("auto", "--rpc-methods", help="auto|safe|unsafe (auto: unsafe only on loopback)."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Piece store directory served by subspace_piece."),
    segment_every_slots: Optional[int] = typer.Option(_DEV.DEFAULT_SEGMENT_EVERY_SLOTS, "--segment-every-slots", metavar="N", help="Grow the --piece-store's synthetic history (`plotter archive --synthetic`) by one segment every N slots, archived in a background process (one core, ~35 CPU-s per segment), and announce it to farmers. Default off: it competes with plotting on small machines."),
    prometheus_listen_on: Optional[str] = typer.Option(None, "--prometheus-listen-on", help="HOST:PORT for Prometheus /metrics (solutions accepted/rejected by reason, reward signatures verified, segments archived, ...)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run a development node: PoT slots, farmer RPC, reward signing, segment headers, pieces.

    Defaults are small (a few dozen pieces per sector, full-range solution ranges) so a demo farm wins quickly; all are overridable."""
    from farmkit.farmerd.devnode import run_dev_node
    from farmkit.farmerd.devnode import DevNodeConfig

    host, port = _parse_listen(rpc_listen_on, "--rpc-listen-on")
    if prometheus_listen_on is not None:
        _parse_listen(prometheus_listen_on, "--prometheus-listen-on")
    config = DevNodeConfig(
        base_path=base_path,
        host=host,
        port=port,
        slot_duration_ms=slot_duration_ms,
        pot_iterations=pot_iterations,
        max_pieces_in_sector=max_pieces_in_sector,
        solution_range=_parse_u64(solution_range, "--solution-range"),
        voting_solution_range=None if voting_solution_range is None else _parse_u64(voting_solution_range, "--voting-solution-range"),
        rpc_methods=rpc_methods,
        piece_store=piece_store,
        prometheus_listen_on=prometheus_listen_on,
        segment_every_slots=segment_every_slots,
    )
    config.validate()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # run_dev_node verifies solutions with the auditor's verify_solution (resolve_solution_verifier)
    # and warms the verifier up in the background
    run_dev_node(config, announce=lambda line: print(line, flush=True))


def _setup_logging(verbose: bool, log_json: bool = False) -> None:
    """farmkit's loggers at DEBUG with -v; third-party ones (numba's compiler, websockets' frames)
    stay at INFO/WARNING so the log remains readable."""
    for name, level in (("numba", logging.WARNING), ("websockets", logging.INFO), ("asyncio", logging.INFO)):
        logging.getLogger(name).setLevel(level)
    if log_json:
        import json as _json

        class _Json(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return _json.dumps({
                    "ts": self.formatTime(record), "level": record.levelname, "target": record.name,
                    "msg": record.getMessage(),
                })

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Json())
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )


@app.command("farm")
@_one_line_errors
def farm(
    farms: list[str] = typer.Argument(..., metavar="path=DIR,size=SIZE", help="Farms: path=DIR,size=SIZE[,record-chunks-mode=ConcurrentChunks|WholeSector] (sizes like 100MiB, 2GiB, 1.5TB); one per disk."),
    node_rpc_url: str = typer.Option("ws://127.0.0.1:9944", "--node-rpc-url", help="Node WebSocket RPC URL (keep it on loopback or a private network: no TLS, no auth)."),
    reward_address: str = typer.Option(..., "--reward-address", help="SS58 address that receives the rewards."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Archive directory (`plotter archive`) to plot from before asking the node."),
    piece_cache: Optional[Path] = typer.Option(None, "--piece-cache", help="Local piece cache directory (default: <first farm>/farmkit-piece-cache)."),
    piece_cache_segments: int = typer.Option(2, "--piece-cache-segments", help="Newest archived segments kept in the piece cache, 256 MiB each (0 disables it)."),
    max_pieces_in_sector: Optional[int] = typer.Option(None, "--max-pieces-in-sector", help="Pieces per sector for new farms (default: the node's maxPiecesInSector)."),
    cache_percentage: int = typer.Option(1, "--cache-percentage", help="Share of each farm's size kept for piece_cache.bin (reference default 1)."),
    prometheus_listen_on: Optional[str] = typer.Option(None, "--prometheus-listen-on", help="HOST:PORT for Prometheus /metrics."),
    cpu_record_encoding_concurrency: Optional[int] = typer.Option(None, "--cpu-record-encoding-concurrency", help="Records encoded at once while plotting (default: half the cores)."),
    verify_pieces: str = typer.Option("commitment", "--verify-pieces", help="Piece checks before plotting: commitment (default), full, none."),
    io_mode: str = typer.Option("mmap", "--io-mode", help="Audit reads: mmap (page cache) or direct (O_DIRECT, like the reference farmer: faster once plots outgrow the page cache)."),
    log_json: bool = typer.Option(False, "--log-json", help="One JSON object per log line."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Farm: plot the farms, audit every slot, prove and submit solutions, sign rewards, replot."""
    from farmkit.farmerd.farm import FarmerConfig, check_node_url, parse_farm_spec, run_farmer
    from farmkit.protocol.ss58 import ss58_decode

    specs = [parse_farm_spec(text) for text in farms]
    try:
        account, _network = ss58_decode(reward_address)
    except FarmkitError as exc:
        raise FarmkitError(f"--reward-address: {exc}") from None
    check_node_url(node_rpc_url)
    if prometheus_listen_on is not None:
        _parse_listen(prometheus_listen_on, "--prometheus-listen-on")
    if io_mode not in ("mmap", "direct"):
        raise FarmkitError("--io-mode must be mmap or direct")
    if not 0 <= cache_percentage < 100:
        raise FarmkitError("--cache-percentage must be 0..99")
    if cpu_record_encoding_concurrency is not None and cpu_record_encoding_concurrency < 1:
        raise FarmkitError("--cpu-record-encoding-concurrency must be at least 1")
    if piece_store is not None and not piece_store.is_dir():
        raise FarmkitError(f"--piece-store {piece_store}: not a directory")
    config = FarmerConfig(
        node_rpc_url=node_rpc_url, reward_address=account, farms=specs, piece_store=piece_store,
        piece_cache=piece_cache, piece_cache_segments=piece_cache_segments,
        max_pieces_in_sector=max_pieces_in_sector, cache_percentage=cache_percentage,
        verify_pieces=verify_pieces, record_encoding_concurrency=cpu_record_encoding_concurrency,
        io_mode=io_mode, prometheus_listen_on=prometheus_listen_on,
    )
    config.validate()
    _setup_logging(verbose, log_json)
    run_farmer(config)


@app.command("demo")
@_one_line_errors
def demo(
    base_dir: Optional[Path] = typer.Option(None, "--base-dir", help="Where the history, dev node and farm live (default: a temp dir, removed at the end). Reused on a second run."),
    duration: float = typer.Option(60.0, "--duration", help="Seconds of farming after set-up."),
    segments: int = typer.Option(1, "--segments", help="Archived segments of synthetic history (1 is enough)."),
    pieces_in_sector: int = typer.Option(16, "--pieces-in-sector", help="Pieces per sector (a few dozen at most on small machines)."),
    sectors: int = typer.Option(1, "--sectors", help="Sectors to plot."),
    slot_duration_ms: int = typer.Option(1000, "--slot-duration-ms", help="Dev node slot duration."),
    prometheus_listen_on: Optional[str] = typer.Option(None, "--prometheus-listen-on", help="HOST:PORT for the farmer's /metrics."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log lines instead of the live view."),
) -> None:
    """One command: dev node + synthetic history + small farm; farm for --duration, show it live.

    Exit 0 when at least one solution was accepted and its reward signature verified by the node."""
    from farmkit.farmerd.demo import DemoConfig, run_demo

    config = DemoConfig(
        base_dir=base_dir, duration=duration, segments=segments, pieces_in_sector=pieces_in_sector,
        sectors=sectors, slot_duration_ms=slot_duration_ms, prometheus_listen_on=prometheus_listen_on,
        verbose=verbose,
    )
    config.validate()
    ok, reason = run_demo(config)
    if not ok:
        print(f"farmerd demo: failed: {reason}", file=sys.stderr)
        raise typer.Exit(1)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
