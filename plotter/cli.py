"""`plotter` command line. Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files)."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("plotter", "Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files).")


@app.callback()
def _root() -> None:
    """Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files)."""


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
