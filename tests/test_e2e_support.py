"""Support for the end-to-end tests (no tests here): a dev node process serving the tiny *valid*
history of ``test_audit_support`` (real KZG commitments and witnesses, 3 segments), with the
auditor's verifier, and helpers to run processes and talk to the node.

Run as a script: ``python tests/test_e2e_support.py --base-path DIR [--port N] [--max-pieces-in-sector 2]``
prints ``dev node ready: ws://127.0.0.1:PORT ...`` once listening.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

U64_MAX = (1 << 64) - 1


class TinyHistoryPieces:
    """The dev node's piece-source interface over ``TinyHistory`` (pieces computed on demand)."""

    def __init__(self) -> None:
        from test_audit_support import tiny_history

        from farmkit.protocol.segments import LastArchivedBlock, SegmentHeader

        self.history = tiny_history()
        self.genesis_hash = self.history.genesis_hash
        headers = []
        prev = bytes(32)
        for i, c in enumerate(self.history.segment_commitments):
            h = SegmentHeader(i, c, prev, LastArchivedBlock(i + 1, None))
            headers.append(h)
            prev = h.hash()
        self._headers = headers

    def get_piece(self, piece_index: int) -> bytes | None:
        if piece_index // 256 >= len(self._headers):
            return None
        return self.history.piece(piece_index)

    def segment_headers(self):
        return list(self._headers)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-path", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-pieces-in-sector", type=int, default=2)
    ap.add_argument("--slot-duration-ms", type=int, default=1000)
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from farmkit.farmerd.devnode import run_dev_node
    from farmkit.farmerd.devnode import DevNodeConfig

    config = DevNodeConfig(
        base_path=Path(args.base_path), host="127.0.0.1", port=args.port, slot_duration_ms=args.slot_duration_ms,
        max_pieces_in_sector=args.max_pieces_in_sector, solution_range=U64_MAX, voting_solution_range=U64_MAX,
    )
    run_dev_node(config, announce=lambda line: print(line, flush=True), piece_source=TinyHistoryPieces())


# --- helpers for the tests -------------------------------------------------------------------------------
def start_node(base_path: Path, port: int = 0, log_path: Path | None = None, timeout: float = 300.0,
               slot_ms: int = 1000):
    """Start the node process; returns (process, port) once it announced itself."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "test_e2e_support.py"), "--base-path", str(base_path), "--port", str(port),
         "--slot-duration-ms", str(slot_ms)],
        stdout=subprocess.PIPE, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"dev node exited with {proc.returncode}")
            continue
        if line.startswith("dev node ready: ws://"):
            url = line.split()[3]
            return proc, int(url.rsplit(":", 1)[1])
    proc.kill()
    raise RuntimeError("dev node did not start")


def node_status(port: int) -> dict:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}", open_timeout=5) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "dev_status", "params": []}))
        while True:
            msg = json.loads(ws.recv(timeout=5))
            if msg.get("id") == 1:
                return msg["result"]


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.time() + timeout
    last_exc = None
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc})")


if __name__ == "__main__":
    main()
