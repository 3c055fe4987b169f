"""Auditing (sector-audit-prove.md §9): fast path vs the readable reference, I/O modes, bad input."""

from __future__ import annotations

import dataclasses
import os

import blake3
import numpy as np
import pytest

from farmkit.auditor.audit import FarmAuditor, audit_sector_reference, solution_distance
from farmkit.auditor.benchmark import make_synthetic_farm
from farmkit.errors import FarmkitError
from farmkit.protocol.farm import SingleDiskFarm

from test_audit_support import plotted_farm, run_cli

U64 = (1 << 64) - 1


def test_solution_distance_formula():
    """§9.3 against the independent ``blake3`` package and the spec's formula."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        gc, chal, chunk = rng.bytes(32), rng.bytes(32), rng.bytes(32)
        a = int.from_bytes(blake3.blake3(chunk, key=chal).digest()[:8], "little")
        g = int.from_bytes(gc[:8], "little")
        d = solution_distance(gc, chunk, chal)
        assert d == min((g - a) % 2**64, (a - g) % 2**64)
        assert d <= 2**63


def _reference_farm_audit(farm: SingleDiskFarm, gc: bytes, solution_range: int):
    out = []
    for s in farm.plotted_sectors():
        sb, winners = audit_sector_reference(
            farm.sector_view(s.sector_index), s.metadata.s_bucket_sizes, farm.pieces_in_sector, s.sector_id, gc,
            solution_range,
        )
        out += [(s.sector_index, sb, j, d) for j, d in winners]
    return sorted(out, key=lambda r: (r[3], r[0], r[2]))


def test_fast_path_matches_reference_on_plotted_farm():
    rng = np.random.default_rng(11)
    with FarmAuditor(plotted_farm()) as auditor:
        for k in range(12):
            gc = rng.bytes(32)
            sr = U64 if k % 3 == 0 else int(rng.integers(0, 2**63)) * 2
            got = [(c.sector_index, c.s_bucket, c.chunk_offset, c.distance) for c in auditor.audit(gc, sr)]
            assert got == _reference_farm_audit(auditor.farm, gc, sr)


def test_fast_path_matches_reference_on_random_sectors(tmp_path):
    """Random bytes, P = 8, realistic s-bucket sizes: every distance of every audited chunk."""
    d = make_synthetic_farm(tmp_path / "syn", sectors=5, pieces_in_sector=8, fill=True, seed=5)
    rng = np.random.default_rng(12)
    with FarmAuditor(d) as auditor:
        farm = auditor.farm
        for _ in range(8):
            gc = rng.bytes(32)
            s_idx, counts, first, dist = auditor.audit_distances(gc)
            for i, s in enumerate(farm.plotted_sectors()):
                sb, winners = audit_sector_reference(
                    farm.sector_view(s.sector_index), s.metadata.s_bucket_sizes, 8, s.sector_id, gc, U64
                )
                assert sb == s_idx[i] and len(winners) == counts[i]
                expect = dict(winners)
                assert [int(x) for x in dist[first[i] : first[i] + counts[i]]] == [expect[j] for j in range(counts[i])]


def test_mmap_and_direct_io_agree(tmp_path):
    rng = np.random.default_rng(13)
    with FarmAuditor(plotted_farm(), io_mode="mmap") as a, FarmAuditor(plotted_farm(), io_mode="direct") as b:
        for _ in range(10):
            gc = rng.bytes(32)
            assert a.audit(gc, U64) == b.audit(gc, U64)
    d = make_synthetic_farm(tmp_path / "syn", sectors=7, pieces_in_sector=8, fill=True, seed=6)
    with FarmAuditor(d, io_mode="mmap") as a, FarmAuditor(d, io_mode="direct") as b:
        b.PIPELINE_BATCH = 2  # exercise the pipelined direct path (batches of 2 sectors)
        for _ in range(5):
            gc = rng.bytes(32)
            assert all(np.array_equal(x, y) for x, y in zip(a.audit_distances(gc), b.audit_distances(gc)))


def test_candidates_map_to_records():
    """§9.4: a candidate's (piece_offset, encoded) comes from the contents map."""
    rng = np.random.default_rng(14)
    with FarmAuditor(plotted_farm()) as auditor:
        farm = auditor.farm
        for _ in range(5):
            for c in auditor.audit(rng.bytes(32), U64):
                cmap = farm.read_contents_map(c.sector_index)
                present, encoded = cmap.record_presence(c.piece_offset)
                assert present[c.s_bucket] and encoded[c.s_bucket] == c.encoded
                rows = [p for p in range(farm.pieces_in_sector) if cmap.record_presence(p)[0][c.s_bucket]]
                assert rows[c.chunk_offset] == c.piece_offset


def test_bad_input(tmp_path):
    with FarmAuditor(plotted_farm()) as auditor:
        with pytest.raises(FarmkitError, match="32 bytes"):
            auditor.audit(b"\x00" * 31, 5)
        with pytest.raises(FarmkitError):
            auditor.audit(bytes(32), -1)
    with pytest.raises(FarmkitError, match="I/O mode"):
        FarmAuditor(plotted_farm(), io_mode="floppy")
    with pytest.raises(FarmkitError):
        FarmAuditor(tmp_path / "nothing")
    # a truncated plot is a one-line error
    import shutil

    d = tmp_path / "trunc"
    shutil.copytree(plotted_farm(), d)
    size = os.path.getsize(d / "plot.bin")
    os.truncate(d / "plot.bin", size - 2 * 1024 * 1024)
    with pytest.raises(FarmkitError):
        FarmAuditor(d)


def test_cli_audit(tmp_path):
    import json
    import subprocess

    gc = np.random.default_rng(15).bytes(32).hex()
    code, stdout, stderr = run_cli("audit", "--farm", plotted_farm(), "--global-challenge", gc,
                                   "--solution-range", U64, "--json")
    assert code == 0, stderr
    cands = json.loads(stdout)["candidates"]
    assert cands and all(set(c) == {"sector_index", "piece_offset", "s_bucket", "distance", "encoded"} for c in cands)
    assert [c["distance"] for c in cands] == sorted(c["distance"] for c in cands)
    with FarmAuditor(plotted_farm()) as a:
        assert cands == [c.to_json() for c in a.audit(bytes.fromhex(gc), U64)]
    # the installed script: one line on stderr, exit 2
    r = subprocess.run(["auditor", "audit", "--farm", str(plotted_farm()), "--global-challenge", gc[:-2],
                        "--solution-range", "5"], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_audit_farms_all_farms_together():
    from farmkit.auditor.audit import audit_farms

    rng = np.random.default_rng(16)
    with FarmAuditor(plotted_farm(), farm_index=0) as a, FarmAuditor(plotted_farm(), io_mode="direct", farm_index=1) as b:
        for _ in range(3):
            gc = rng.bytes(32)
            both = audit_farms([a, b], gc, U64)
            single = a.audit(gc, U64)
            assert [c for c in both if c.farm_index == 0] == single
            assert [dataclasses.replace(c, farm_index=0) for c in both if c.farm_index == 1] == single
