"""End to end over real sockets: a dev node process serving a small *valid* history, and
``farmerd farm`` in another process. The farmer plots from the node, its solutions are accepted
by the node's verifier (the auditor's ``verify_solution`` with piece checks) and its reward
signatures verify (the node only counts a block after checking the sr25519 signature with context
``subspace_reward``). Then the node is killed with SIGKILL and restarted on the same base path
and port: the farmer reconnects and gets solutions accepted again, without replotting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

from farmkit.protocol.farm import allocated_space_for_sectors
from farmkit.protocol.ss58 import ss58_encode

from test_e2e_support import node_status, start_node, wait_for

SLOT_MS = 3000  # farming timeout 12 s: proving takes seconds on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_farmer_and_dev_node_processes_with_node_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    base = tmp_path / "node"
    node_log = tmp_path / "node.log"
    farmer_log = tmp_path / "farmer.log"
    node, port = start_node(base, 0, node_log, slot_ms=SLOT_MS)
    metrics_port = _free_port()
    farm_dir, farm_dir2 = tmp_path / "farm", tmp_path / "farm2"  # two farms, audited at once every slot
    size = allocated_space_for_sectors(1, 2, 1)
    reward = ss58_encode(bytes(range(32)))
    with open(farmer_log, "wb") as log:
        farmer = subprocess.Popen(
            ["farmerd", "farm", "--node-rpc-url", f"ws://127.0.0.1:{port}", "--reward-address", reward,
             f"path={farm_dir},size={size}", f"path={farm_dir2},size={size}",
             "--prometheus-listen-on", f"127.0.0.1:{metrics_port}", "-v"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        def log_text() -> str:
            return farmer_log.read_text(errors="replace")

        # 1. plotted from the node, solutions accepted, reward signatures verified by the node
        first = wait_for(lambda: node_status(port)["blocks"] >= 1 and node_status(port), 420, 1.0, "a first block")
        text = log_text()
        assert "plotted sector 0" in text and "solution submitted" in text and "signed for" in text, text[-3000:]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        for name in ("subspace_farmer_farm_auditing_time_seconds_count", "subspace_farmer_farm_proving_time_seconds_sum",
                     "farmkit_farmer_solutions_submitted_total", "farmkit_farmer_reward_signatures_sent_total",
                     "farmkit_farmer_node_connected 1.0", "subspace_farmer_farm_sector_plotted_counter_Sectors_total"):
            assert name in metrics, name
        audited = [ln for ln in metrics.splitlines() if ln.startswith("subspace_farmer_farm_auditing_time_seconds_count{")]
        assert len(audited) == 2 and all(not ln.endswith(" 0.0") for ln in audited), audited  # both farms audited

        # 2. kill -9 the node; the farmer keeps running and says so
        os.kill(node.pid, signal.SIGKILL)
        node.wait(30)
        wait_for(lambda: "lost the connection to the node" in log_text(), 30, 0.5, "the farmer to notice")
        time.sleep(2.0)
        assert farmer.poll() is None

        # 3. restart on the same base path and port: the chain continues, the farmer reconnects
        node, port2 = start_node(base, port, node_log, slot_ms=SLOT_MS)
        assert port2 == port
        baseline = node_status(port)
        assert baseline["slot"] >= first["slot"] and baseline["genesisHash"] == first["genesisHash"]
        wait_for(lambda: "reconnected to the node" in log_text(), 60, 0.5, "the farmer to reconnect")
        wait_for(lambda: node_status(port)["blocks"] > baseline["blocks"], 300, 1.0, "a block after the restart")
        text = log_text()
        assert text.count("plotted sector 0") == 2  # one per farm, nothing replotted
        assert "Traceback" not in text, text[-3000:]
        assert farmer.poll() is None
    finally:
        for p in (farmer, node):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
