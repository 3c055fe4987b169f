"""``farmerd demo``: a dev node, a small synthetic history and a small farm, farming live.

Steps (each reused when ``--base-dir`` already holds it):

1. archive ``--segments`` segments of deterministic synthetic history into ``BASE/history``
   (``plotter archive --synthetic`` format; one segment is enough: sectors plotted at history
   size 1 take every piece from segment 0);
2. start the dev node in this process on a free loopback port, chain state in ``BASE/node``,
   serving that history (``subspace_piece``, segment headers), with the dev node's full-range
   solution ranges (``farmkit.farmerd.devnode.DEV_SOLUTION_RANGE``) so a small farm wins every
   slot, ``maxPiecesInSector = --pieces-in-sector``;
3. start the farmer daemon (:class:`farmkit.farmerd.farm.Farmer`) against it over a real
   WebSocket: it plots ``--sectors`` sectors into ``BASE/farm`` (pieces from the node), then
   audits, proves, submits and signs rewards;
4. farm for ``--duration`` seconds and show slots, audits, solutions and rewards live.

Success = the node accepted at least one solution and verified its reward signature (a block or
vote was made from it).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from farmkit.errors import FarmkitError

__all__ = ["DemoConfig", "run_demo", "archive_synthetic_history", "DEMO_SEED"]

log = logging.getLogger("farmkit.farmerd.demo")

DEMO_SEED = bytes.fromhex("11" * 32)  # the synthetic history's seed (any 32 bytes)
U64_MAX = (1 << 64) - 1


@dataclass
class DemoConfig:
    base_dir: Path | None = None
    duration: float = 60.0
    segments: int = 1
    pieces_in_sector: int = 16
    sectors: int = 1
    slot_duration_ms: int = 1000
    prometheus_listen_on: str | None = None
    verbose: bool = False
    setup_timeout: float = 1800.0

    def validate(self) -> None:
        if not 1 <= self.segments <= 64:
            raise FarmkitError("--segments must be 1..64")
        if not 1 <= self.pieces_in_sector <= 1000:
            raise FarmkitError("--pieces-in-sector must be 1..1000")
        if not 1 <= self.sectors <= 64:
            raise FarmkitError("--sectors must be 1..64")
        if self.duration <= 0:
            raise FarmkitError("--duration must be positive")
        if not 50 <= self.slot_duration_ms <= 60_000:
            raise FarmkitError("--slot-duration-ms must be 50..60000")


# --- step 1: history ------------------------------------------------------------------------------
def archive_synthetic_history(directory: Path, segments: int, seed: bytes = DEMO_SEED,
                              progress: Callable[[str], None] | None = None) -> float:
    """Archive synthetic blocks until ``directory`` holds ``segments`` segments (continues a
    previous run). Returns the seconds spent."""
    from farmkit.plotter.archive import ArchiveWriter, archive_synthetic

    t0 = time.perf_counter()
    writer = ArchiveWriter(Path(directory))
    if writer.history_size >= segments:
        return 0.0

    def on_block(number: int, history_size: int) -> None:
        if progress:
            progress(f"archiving block {number} (segment {history_size + 1}/{segments})")

    archive_synthetic(writer, seed, segments, show_progress=False, on_block=on_block)
    return time.perf_counter() - t0


# --- live view -----------------------------------------------------------------------------------
class _View:
    """Counters and the last events, rendered with rich (or plain lines when not a terminal)."""

    def __init__(self, console, live: bool) -> None:
        self.console = console
        self.live = live
        self.events: collections.deque[str] = collections.deque(maxlen=10)
        self.phase = "starting"
        self.t0 = time.perf_counter()
        self.farm_t0: float | None = None

    def event(self, line: str, important: bool = False) -> None:
        stamp = f"{time.perf_counter() - self.t0:6.1f}s"
        self.events.append(f"{stamp}  {line}")
        if not self.live and important:
            self.console.print(f"[{stamp}] {line}", highlight=False)

    def render(self, farmer, node, duration: float):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        st = farmer.stats if farmer is not None else {}
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        left = ""
        if self.farm_t0 is not None:
            left = f"  ({max(0.0, duration - (time.perf_counter() - self.farm_t0)):.0f} s left)"
        table.add_row("phase", self.phase + left)
        if node is not None and node.state is not None:
            table.add_row("node", f"slot {node.state.last_slot}, blocks {node.state.blocks}, votes {node.state.votes}, "
                                  f"history size {node.history_size}")
        if st:
            audits = farmer.audit_times[-20:]
            proves = farmer.prove_times[-20:]
            avg = lambda xs: (sum(xs) / len(xs)) if xs else 0.0  # noqa: E731
            table.add_row("sectors plotted", str(int(st["sectors_plotted"])))
            table.add_row("slots", f"{int(st['slots'])} seen, {int(st['audits'])} audited, {int(st['skipped'])} skipped")
            table.add_row("audit time", f"{avg(audits) * 1000:.1f} ms (mean of last {len(audits)})")
            table.add_row("proving time", f"{avg(proves):.2f} s (mean of last {len(proves)})")
            table.add_row("solutions", f"{int(st['proven'])} proven, {int(st['submitted'])} submitted, {int(st['rejected'])} refused")
            table.add_row("rewards signed", str(int(st["signed"])))
        events = "\n".join(self.events) or "-"
        return Group(Panel(table, title="farmerd demo"), Panel(events, title="events"))


# --- the demo -------------------------------------------------------------------------------------
def run_demo(config: DemoConfig) -> tuple[bool, str]:
    """Run the demo; returns (success, one-line reason)."""
    from rich.console import Console

    console = Console(stderr=False)
    live = console.is_terminal and not config.verbose
    logging.basicConfig(
        level=logging.INFO if config.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    temp = config.base_dir is None
    base = Path(tempfile.mkdtemp(prefix="farmerd-demo-")) if temp else Path(config.base_dir)
    base.mkdir(parents=True, exist_ok=True)
    view = _View(console, live)
    try:
        return asyncio.run(_demo(config, base, view))
    finally:
        if temp:
            shutil.rmtree(base, ignore_errors=True)


async def _demo(config: DemoConfig, base: Path, view: _View) -> tuple[bool, str]:
    from contextlib import nullcontext

    from rich.live import Live

    from farmkit.farmerd.devnode import DEV_SOLUTION_RANGE, DEV_VOTING_SOLUTION_RANGE, DevNode, DevNodeConfig
    from farmkit.farmerd.devnode import resolve_solution_verifier, warm_up_verifier
    from farmkit.farmerd.farm import Farmer, FarmerConfig, FarmSpec
    from farmkit.protocol.farm import allocated_space_for_sectors

    t_start = time.perf_counter()
    node = farmer = None
    state = {"done_setup": None}

    live_ctx = Live(view.render(None, None, config.duration), console=view.console, refresh_per_second=4) if view.live else nullcontext()
    with live_ctx as live:
        refresh = (lambda: live.update(view.render(farmer, node, config.duration))) if view.live else (lambda: None)

        # 1. history
        view.phase = f"archiving {config.segments} segment(s) of synthetic history"
        view.event(view.phase + f" into {base / 'history'}", important=True)
        refresh()
        archive_task = asyncio.create_task(asyncio.to_thread(
            archive_synthetic_history, base / "history", config.segments, DEMO_SEED, None
        ))
        while not archive_task.done():
            await asyncio.sleep(0.25)
            refresh()
        took = archive_task.result()
        view.event(f"history ready ({config.segments} segment(s), archived in {took:.1f} s)", important=True)

        # 2. dev node
        node_config = DevNodeConfig(
            base_path=base / "node", host="127.0.0.1", port=0, slot_duration_ms=config.slot_duration_ms,
            max_pieces_in_sector=config.pieces_in_sector, solution_range=DEV_SOLUTION_RANGE,
            voting_solution_range=DEV_VOTING_SOLUTION_RANGE,
            piece_store=base / "history",
        )
        node = DevNode(node_config, solution_verifier=resolve_solution_verifier())
        port = await node.start()
        verifier_warm_up = asyncio.create_task(asyncio.to_thread(warm_up_verifier))  # overlaps plotting
        url = f"ws://127.0.0.1:{port}"
        view.event(f"dev node on {url}, genesis {node.state.genesis_hash.hex()[:16]}", important=True)

        # 3. farmer
        reward_address = bytes(32)  # replaced by the farm's public key once the farm exists

        def on_event(kind: str, data: dict) -> None:
            if kind == "plotted":
                view.event(f"sector {data['sector']} plotted in {data['seconds']:.1f} s (history size {data['history_size']})", True)
            elif kind == "audit":
                view.event(f"slot {data['slot']}: audit {data['seconds'] * 1000:.1f} ms, {data['candidates']} candidate(s)")
            elif kind == "submitted":
                view.event(f"slot {data['slot']}: solution submitted (sector {data['sector']})", True)
            elif kind == "rejected":
                view.event(f"slot {data['slot']}: node refused: {data['reason']}")
            elif kind == "signed":
                view.event(f"reward hash {data['hash'][:16]} signed", True)
            elif kind == "skipped":
                view.event(f"slot {data['slot']} skipped: {data['reason']}")
            elif kind in ("connected", "disconnected"):
                view.event(f"node {kind}")

        farm_config = FarmerConfig(
            node_rpc_url=url, reward_address=reward_address,
            farms=[FarmSpec(base / "farm", allocated_space_for_sectors(config.sectors, config.pieces_in_sector, 1))],
            piece_cache_segments=0, verify_pieces="commitment", prometheus_listen_on=config.prometheus_listen_on,
            record_encoding_concurrency=max(1, (os.cpu_count() or 2)),
        )
        farmer = Farmer(farm_config, on_event=on_event)
        stop = asyncio.Event()
        view.phase = f"plotting {config.sectors} sector(s) of {config.pieces_in_sector} pieces"
        view.event(view.phase, important=True)
        farm_task = asyncio.create_task(farmer.run(stop))
        try:
            # reward address = the farm's public key once it exists (any 32 bytes would do)
            while not farmer.farms and not farm_task.done():
                await asyncio.sleep(0.1)
                refresh()
            if farmer.farms:
                farm_config.reward_address = farmer.farms[0].identity.public_key
            deadline = t_start + config.setup_timeout
            while not farm_task.done() and any(f.plotter.sectors_left() for f in farmer.farms):
                if time.perf_counter() > deadline:
                    return False, f"set-up took longer than {config.setup_timeout:.0f} s"
                await asyncio.sleep(0.25)
                refresh()
            if farm_task.done():
                farm_task.result()
                return False, "the farmer stopped during set-up"
            view.phase = "warming up the prover (first proof, not submitted)"
            refresh()
            while not farm_task.done() and not farmer.stats["warmup_done"] and time.perf_counter() < deadline:
                await asyncio.sleep(0.25)
                refresh()
            view.phase = "warming up the dev node's verifier"
            refresh()
            while not verifier_warm_up.done():
                await asyncio.sleep(0.25)
                refresh()
            prove_s = farmer.stats["warmup_prove_s"]
            timeout_s = 4 * config.slot_duration_ms / 1000
            if prove_s > timeout_s / 2:
                # slow machine: give the farmer a farming window twice its proving time
                slot_ms = int(-(-prove_s * 2 / 4 * 1000 // 100) * 100)
                view.event(
                    f"one proof takes {prove_s:.1f} s here (farming timeout {timeout_s:.0f} s): restarting the dev "
                    f"node with {slot_ms / 1000:.1f} s slots (farming timeout {4 * slot_ms / 1000:.0f} s)", True,
                )
                await node.stop()
                node_config.port = port
                node_config.slot_duration_ms = slot_ms
                node = DevNode(node_config, solution_verifier=resolve_solution_verifier())
                await node.start()
            setup_s = time.perf_counter() - t_start
            state["done_setup"] = setup_s
            view.phase = "farming"
            view.farm_t0 = time.perf_counter()
            view.event(f"set-up done in {setup_s:.1f} s; farming for {config.duration:.0f} s", important=True)
            while time.perf_counter() - view.farm_t0 < config.duration and not farm_task.done():
                await asyncio.sleep(0.25)
                refresh()
            if farmer.stats["submitted"] and not node.state.blocks + node.state.votes:
                # solutions of slot S are claimed when slot S+4 arrives: wait for those in flight
                view.phase = "waiting for the node to claim the submitted solutions"
                grace = time.perf_counter() + 6 * node.config.slot_duration_ms / 1000 + 10
                while time.perf_counter() < grace and not node.state.blocks + node.state.votes and not farm_task.done():
                    await asyncio.sleep(0.25)
                    refresh()
        finally:
            stop.set()
            try:
                await asyncio.wait_for(farm_task, 30)
            except Exception as exc:  # noqa: BLE001 - report below
                log.warning("farmer stopped with %s", exc)
            blocks, votes = node.state.blocks, node.state.votes
            rejections = list(node.rejections)
            await node.stop()
            refresh()

    st = farmer.stats
    audits, proves = farmer.audit_times, farmer.prove_times
    summary = (
        f"set-up {state['done_setup'] or 0:.1f} s; {int(st['slots'])} slots, {int(st['audits'])} audits "
        f"(mean {1000 * sum(audits) / max(1, len(audits)):.1f} ms), {int(st['proven'])} proven "
        f"(mean {sum(proves) / max(1, len(proves)):.2f} s), {int(st['submitted'])} submitted, "
        f"{blocks} blocks + {votes} votes accepted with verified reward signatures, {int(st['signed'])} signed"
    )
    view.console.print(summary, highlight=False)
    if blocks + votes >= 1 and st["signed"] >= 1:
        return True, summary
    if st["submitted"] == 0:
        return False, f"no solution was submitted ({summary})"
    reason = rejections[-1][1] if rejections else "no reward signature verified"
    return False, f"no solution accepted: {reason}"

