"""`hwprofile` command line: measure a machine for farming, compare and show profiles."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("hwprofile", "Measure a machine for farming (SSD, CPU, GPU) and compare profiles.")


@app.callback()
def _root() -> None:
    """Measure a machine for farming (SSD, CPU, GPU) and compare profiles."""


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
