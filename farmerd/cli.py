"""`farmerd` command line. A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("farmerd", "A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node.")


@app.callback()
def _root() -> None:
    """A headless farmer daemon speaking the node's JSON-RPC over WebSocket, plus an embedded dev node."""


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
