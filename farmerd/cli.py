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
    pot_iterations: int = typer.Option(1_600_000, "--pot-iterations", help="PoT iterations per slot, a multiple of 16 (mainnet: 206,557,520)."),
    max_pieces_in_sector: int = typer.Option(1000, "--max-pieces-in-sector", help="FarmerProtocolInfo.maxPiecesInSector."),
    solution_range: str = typer.Option("6148914691236495", "--solution-range", help="Solution range (u64) sent in SlotInfo."),
    voting_solution_range: Optional[str] = typer.Option(None, "--voting-solution-range", help="Voting solution range (u64); default = --solution-range."),
    rpc_methods: str = typer.Option("auto", "--rpc-methods", help="auto|safe|unsafe (auto: unsafe only on loopback)."),
    piece_store: Optional[Path] = typer.Option(None, "--piece-store", help="Piece store directory served by subspace_piece."),
    prometheus_listen_on: Optional[str] = typer.Option(None, "--prometheus-listen-on", help="HOST:PORT for Prometheus /metrics."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run a development node: PoT slots, farmer RPC, reward signing, segment headers, pieces."""
    from farmkit.farmerd.devnode import DevNodeConfig, run_dev_node

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
    )
    config.validate()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    run_dev_node(config, announce=lambda line: print(line, flush=True))


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
