"""farmerd demo: argument errors are one line; the live view renders; the whole demo (slow) wins."""

from __future__ import annotations

import subprocess

import pytest


def test_demo_bad_arguments_are_one_line():
    for args, needle in ((["--segments", "0"], "--segments"), (["--duration", "0"], "--duration"),
                         (["--pieces-in-sector", "5000"], "--pieces-in-sector")):
        r = subprocess.run(["farmerd", "demo", *args], capture_output=True, text=True, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr


def test_live_view_renders():
    from rich.console import Console

    from farmkit.farmerd.demo import _View

    class FakeFarmer:
        stats = {"sectors_plotted": 1, "slots": 9, "audits": 7, "skipped": 2, "proven": 3, "submitted": 3,
                 "rejected": 1, "signed": 2}
        audit_times = [0.01, 0.02]
        prove_times = [1.5]

    console = Console(record=True, width=100)
    view = _View(console, live=True)
    view.event("slot 5: solution submitted (sector 0)")
    view.farm_t0 = view.t0
    console.print(view.render(FakeFarmer(), None, 60.0))
    text = console.export_text()
    assert "3 proven, 3 submitted, 1 refused" in text and "rewards signed" in text and "slot 5" in text
    assert "15.0 ms" in text and "1.50 s" in text


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """The README's main job: archive 1 segment, plot 1 small sector, farm, win (several minutes)."""
    r = subprocess.run(
        ["farmerd", "demo", "--base-dir", str(tmp_path), "--duration", "30", "--pieces-in-sector", "4", "-v"],
        capture_output=True, text=True, timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "blocks" in r.stdout and "Traceback" not in r.stderr
