"""`auditor` command line. Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("auditor", "Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms.")


@app.callback()
def _root() -> None:
    """Audit plots, prove winning chunks, verify solutions, scrub and benchmark farms."""


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
