"""`pot` command line. Proof-of-Time: repeated AES-128 at AES-NI speed, checkpoint verification, global challenges."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("pot", "Proof-of-Time: repeated AES-128 at AES-NI speed, checkpoint verification, global challenges.")


@app.callback()
def _root() -> None:
    """Proof-of-Time: repeated AES-128 at AES-NI speed, checkpoint verification, global challenges."""


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
