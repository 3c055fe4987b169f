"""`plotter` command line. Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files)."""

from __future__ import annotations

from farmkit.cli import new_app, run

app = new_app("plotter", "Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files).")


@app.callback()
def _root() -> None:
    """Archive history into pieces (KZG, erasure coding) and plot sectors (PoS k=20 tables, masking, plot files)."""


from farmkit.plotter import archive as _archive  # noqa: E402 - archive, verify-pieces, repair, blocks (issue 3)

app.command("archive")(_archive.archive_command)
app.command("verify-pieces")(_archive.verify_pieces_command)
app.command("repair")(_archive.repair_command)
app.command("blocks")(_archive.blocks_command)
__import__("farmkit.plotter.plot", fromlist=["register"]).register(app)  # plot, info, benchmark (issue 5)
__import__("farmkit.plotter.pos", fromlist=["register"]).register(app)  # pos (issue 4)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
