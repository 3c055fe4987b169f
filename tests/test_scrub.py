"""Scrub (reference ``SingleDiskFarm::scrub``): a flipped byte in any region is found; corrupt sectors
become "dummy expired" (never audited) unless --dry-run."""

from __future__ import annotations

import json

import numpy as np

from farmkit.auditor.audit import FarmAuditor
from farmkit.auditor.scrub import scrub_farm
from farmkit.protocol.constants import RESERVED_PLOT_METADATA
from farmkit.protocol.farm import SingleDiskFarm
from farmkit.protocol.sector import SECTOR_METADATA_SIZE, sector_checksum

from test_audit_support import copy_farm, plotted_farm, run_cli


def _flip_at(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x10]))


def test_clean_farm_is_clean():
    r = scrub_farm(plotted_farm(), dry_run=True)
    assert r.corrupt == [] and r.plotted_sectors == 2 and not r.farm_problems


def test_flipped_byte_in_every_region(tmp_path):
    with SingleDiskFarm.open(plotted_farm()) as farm:
        lay, ss = farm.layout, farm.sector_size
    sector = 1
    regions = {
        "contents map": lay.contents_map_offset + 100,
        "s-buckets": lay.s_buckets_offset + 12345,
        "record metadata": lay.record_metadata_offset + 7,
        "sector checksum": lay.checksum_offset + 3,
    }
    for name, off in regions.items():
        d = copy_farm(tmp_path / name.replace(" ", "-"))
        _flip_at(d / "plot.bin", sector * ss + off)
        r = scrub_farm(d, dry_run=True)
        assert r.corrupt == [sector], name
        assert any("checksum" in p for p in r.sectors[sector].problems), name
    for name, off in {"metadata s_bucket_sizes": 1000, "metadata checksum": SECTOR_METADATA_SIZE - 1,
                      "metadata sector index": 0}.items():
        d = copy_farm(tmp_path / name.replace(" ", "-"))
        _flip_at(d / "metadata.bin", RESERVED_PLOT_METADATA + sector * SECTOR_METADATA_SIZE + off)
        r = scrub_farm(d, dry_run=True)
        assert r.corrupt == [sector], name
        assert r.sectors[sector].problems[0].startswith("metadata"), name


def test_scrub_marks_corrupt_sector_dummy_expired(tmp_path):
    d = copy_farm(tmp_path / "farm")
    with SingleDiskFarm.open(d) as farm:
        lay, ss = farm.layout, farm.sector_size
    _flip_at(d / "plot.bin", 0 * ss + lay.s_buckets_offset + 999)
    before = (d / "plot.bin").read_bytes()
    r = scrub_farm(d, dry_run=True)
    assert r.corrupt == [0] and not r.sectors[0].marked
    assert (d / "plot.bin").read_bytes() == before  # dry run changes nothing
    # through the CLI, for real
    code, stdout, stderr = run_cli("scrub", "--farm", d, "--json")
    assert code == 0, stderr
    rep = json.loads(stdout)[0]
    assert rep["corrupt_sectors"] == [0] and rep["sectors"][0]["marked_for_replotting"]
    with SingleDiskFarm.open(d) as farm:
        m = farm.read_sector_metadata(0)
        assert m.history_size == 1 and not m.s_bucket_sizes.any() and m.sector_index == 0
        data = farm.read_sector_bytes(0)
        assert data[: lay.checksum_offset] == bytes(lay.checksum_offset)
        assert data[lay.checksum_offset :] == sector_checksum(bytes(lay.checksum_offset))
    # the marked sector is clean now, and never audited
    assert scrub_farm(d, dry_run=True).corrupt == []
    with FarmAuditor(d) as a:
        rng = np.random.default_rng(1)
        for _ in range(5):
            assert all(c.sector_index == 1 for c in a.audit(rng.bytes(32), (1 << 64) - 1))
