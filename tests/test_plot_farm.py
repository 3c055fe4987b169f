"""Farm files (sector-audit-prove.md §8, pos-v2.md §4): allocation, identity, header, crash order."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from farmkit.errors import FarmkitError
from farmkit.protocol import farm as F
from farmkit.protocol.constants import RECORD_NUM_S_BUCKETS
from farmkit.protocol.sector import SectorMetadata, sector_size


def test_sizes_for_1000_pieces():
    assert sector_size(1000) == 1_056_896_064
    # §8.6 with the reference's fixed usage (known_addresses.bin re-derived: 961,284 bytes)
    assert F.FIXED_SPACE_USAGE == 2 * 1024 * 1024 + 33 + 961_284
    d = F.AllocatedSpaceDistribution.new(2 * 10**12, 1000, 1)
    plottable = (2 * 10**12 - F.FIXED_SPACE_USAGE) // 100 * 99
    assert d.target_sector_count == (plottable - 4096) // (1_056_896_064 + 131_116)
    assert d.plot_file_size == -(-d.target_sector_count * 1_056_896_064 // 4096) * 4096
    assert d.metadata_file_size == 1024 * 1024 + 131_116 * d.target_sector_count
    assert d.piece_cache_capacity == (2 * 10**12 - F.FIXED_SPACE_USAGE - d.plot_file_size - 131_116 * d.target_sector_count) // 1_048_712
    # 1 TB holds about 946 sectors at 0 % cache (§7)
    assert F.AllocatedSpaceDistribution.new(10**12, 1000, 0).target_sector_count == 946


def test_exact_sector_counts_and_sizes():
    for n, p, c in [(1, 1000, 0), (3, 2, 0), (7, 1000, 1), (1, 1, 5)]:
        a = F.allocated_space_for_sectors(n, p, c)
        assert F.AllocatedSpaceDistribution.new(a, p, c).target_sector_count == n
        with pytest.raises(FarmkitError) if n == 1 else _nullcontext():
            F.AllocatedSpaceDistribution.new(a - 100, p, c)
    with pytest.raises(FarmkitError, match="too small"):
        F.AllocatedSpaceDistribution.new(F.parse_size("100MiB"), 1000, 1)
    assert F.parse_size("100MiB") == 100 * 2**20
    assert F.parse_size("2GiB") == 2 * 2**30
    assert F.parse_size("1.5TB") == 1_500_000_000_000
    assert F.parse_size("4096") == 4096
    with pytest.raises(FarmkitError):
        F.parse_size("lots")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_identity_derivation():
    import sr25519

    # schnorrkel/substrate test vector: Pair::from_seed (ExpansionMode::Ed25519)
    pub, _ = sr25519.pair_from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert pub.hex() == "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f"
    entropy = bytes(range(32))
    mini = F.mini_secret_from_entropy(entropy)
    assert mini == hashlib.pbkdf2_hmac("sha512", entropy, b"mnemonic", 2048)[:32]
    ident = F.Identity.from_entropy(entropy)
    assert (ident.public_key, ident.secret_key) == tuple(bytes(x) for x in sr25519.pair_from_seed(mini))
    enc = ident.encode()
    assert len(enc) == 33 and enc[0] == 0x80 and enc[1:] == entropy
    assert F.Identity.decode(enc).public_key == ident.public_key
    with pytest.raises(FarmkitError):
        F.Identity.decode(enc[:-1])


def test_metadata_header_versions_and_cutover():
    assert F.PlotMetadataHeader(0, 5).encode() == bytes([0, 5, 0])
    assert F.PlotMetadataHeader(1, 5, None).encode() == bytes([1, 5, 0, 0])
    assert F.PlotMetadataHeader(1, 258, 10).encode() == bytes([1, 2, 1, 1]) + (10).to_bytes(8, "little")
    for h in (F.PlotMetadataHeader(1, 3, None), F.PlotMetadataHeader(1, 3, 77), F.PlotMetadataHeader(0, 9)):
        buf = h.encode() + bytes(12)
        assert F.PlotMetadataHeader.decode(buf[:12]) == h
    with pytest.raises(FarmkitError):
        F.PlotMetadataHeader.decode(bytes([2, 0, 0, 0]))
    # pos-v2.md §4.2 boundary: cutover 10 -> h 9 and 10 are V1, 11 is V2
    assert [F.pos_version_for(10, h) for h in (9, 10, 11)] == ["v1", "v1", "v2"]
    assert F.pos_version_for(None, 1) == "v2"


def _metadata(i, hs=5, p=1):
    sizes = np.zeros(RECORD_NUM_S_BUCKETS, np.uint16)
    sizes[: 32768 * p // p] = 1
    return SectorMetadata(i, p, sizes, hs)


def test_farm_files_and_reopen(tmp_path):
    gen = bytes(range(32))
    alloc = F.allocated_space_for_sectors(2, 1, 0)
    farm, ident = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=alloc,
                                                  pieces_in_sector=1, cache_percentage=0)
    info = json.loads((tmp_path / "f" / "single_disk_farm.json").read_text())
    assert set(info) == {"v0"}
    assert set(info["v0"]) == {"id", "genesisHash", "publicKey", "piecesInSector", "allocatedSpace"}
    assert info["v0"]["genesisHash"] == gen.hex() and info["v0"]["publicKey"] == ident.public_key.hex()
    assert len(info["v0"]["id"]) == 26
    assert (tmp_path / "f" / "plot.bin").stat().st_size == -(-2 * sector_size(1) // 4096) * 4096
    assert (tmp_path / "f" / "metadata.bin").stat().st_size == -(-(2**20 + 2 * 131_116) // 4096) * 4096
    assert (tmp_path / "f" / "metadata.bin").read_bytes()[:4] == bytes([1, 0, 0, 0])
    data = np.zeros(sector_size(1), np.uint8)
    farm.write_sector(0, data, _metadata(0))
    farm.write_sector(1, data, _metadata(1))
    farm.close()
    # wrong chain / wrong identity are one-line errors
    with pytest.raises(FarmkitError, match="chain"):
        F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=bytes(32), allocated_space=alloc, pieces_in_sector=1, cache_percentage=0)
    with pytest.raises(FarmkitError, match="identity"):
        F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=alloc, pieces_in_sector=1,
                                        identity=F.Identity.generate(), cache_percentage=0)
    with pytest.raises(FarmkitError, match="shrink"):
        F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=F.allocated_space_for_sectors(1, 1, 0),
                                        pieces_in_sector=1, cache_percentage=0)
    with F.SingleDiskFarm.open(tmp_path / "f") as ro:
        assert ro.header.plotted_sector_count == 2
        assert ro.target_sector_count == 2
        s = ro.plotted_sectors()[0]
        assert s.history_size == 5 and s.pos_version == "v2"


def test_version0_farm_gets_cutover(tmp_path):
    gen = bytes(32)
    alloc = F.allocated_space_for_sectors(3, 1, 0)
    farm, _ = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=alloc, pieces_in_sector=1, cache_percentage=0)
    farm.write_sector(0, np.zeros(sector_size(1), np.uint8), _metadata(0, hs=7))
    farm.write_sector(1, np.zeros(sector_size(1), np.uint8), _metadata(1, hs=9))
    farm.close()
    # rewrite the header as an old (version 0) farmer would have left it
    with open(tmp_path / "f" / "metadata.bin", "r+b") as fh:
        fh.write(bytes([0, 2, 0]) + bytes(9))
    with F.SingleDiskFarm.open(tmp_path / "f") as ro:
        assert ro.header.cutover == 9
        assert [s.pos_version for s in ro.plotted_sectors()] == ["v1", "v1"]
    farm, _ = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=alloc, pieces_in_sector=1, cache_percentage=0)
    farm.close()
    assert (tmp_path / "f" / "metadata.bin").read_bytes()[:12] == bytes([1, 2, 0, 1]) + (9).to_bytes(8, "little")


@pytest.mark.parametrize("crash_at", range(1, 8))
def test_crash_at_every_write_step(tmp_path, monkeypatch, crash_at):
    """Stop the process model at each write/fsync of write_sector: the farm never claims a sector
    that is not fully written (§8.3 order: bytes, fsync, metadata, fsync, header, fsync)."""
    gen = bytes(32)
    alloc = F.allocated_space_for_sectors(2, 1, 0)
    farm, _ = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=alloc, pieces_in_sector=1, cache_percentage=0)
    good = np.full(sector_size(1), 7, np.uint8)
    farm.write_sector(0, good, _metadata(0, hs=3))  # sector 0 plotted; now re-plot 0 and plot 1 and crash
    calls = {"n": 0}
    real_pwrite, real_fsync = F._pwrite_all, F.os.fsync

    class Crash(Exception):
        pass

    def step():
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise Crash

    def pwrite(fd, data, off):
        step()
        real_pwrite(fd, data, off)

    def fsync(fd):
        step()
        real_fsync(fd)

    monkeypatch.setattr(F, "_pwrite_all", pwrite)
    monkeypatch.setattr(F.os, "fsync", fsync)
    new = np.full(sector_size(1), 9, np.uint8)
    with pytest.raises(Crash):
        farm.write_sector(0, new, _metadata(0, hs=4))
        farm.write_sector(1, new, _metadata(1, hs=4))
    monkeypatch.undo()
    farm.close()
    with F.SingleDiskFarm.open(tmp_path / "f") as ro:
        for s in ro.plotted_sectors():
            data = np.frombuffer(ro.read_sector_bytes(s.sector_index), np.uint8)
            if s.metadata.s_bucket_sizes.any():  # claims to be plotted: bytes must be the ones it describes
                assert data[0] == (9 if s.history_size == 4 else 7)
                assert (data == data[0]).all()


def test_info_command_reports_sectors_and_space(tmp_path):
    import subprocess
    import sys

    gen = bytes(32)
    farm, ident = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=gen, allocated_space=F.allocated_space_for_sectors(2, 1, 0),
                                                  pieces_in_sector=1, cache_percentage=0)
    farm.write_sector(0, np.zeros(sector_size(1), np.uint8), _metadata(0, hs=7))
    farm.close()
    r = subprocess.run([sys.executable, "-c", "from farmkit.plotter.cli import main; main()", "info", "--farm", str(tmp_path / "f"), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["plotted_sector_count"] == 1 and info["target_sector_count"] == 2
    assert info["public_key"] == ident.public_key.hex() and info["cutover"] is None and info["metadata_version"] == 1
    [s] = info["sectors"]
    assert s["history_size"] == 7 and s["pos_version"] == "v2"
    assert s["sector_id"] == F.SectorId.new(F.public_key_hash(ident.public_key), 0, 7).hex()
    assert info["space_used"]["plot.bin"]["size"] == -(-2 * sector_size(1) // 4096) * 4096


class _FakeEncoder:
    """Stands in for SectorEncoder: tests the farm/cutover bookkeeping, not the encoding."""

    def __init__(self):
        self.timings = {}

    def encode_sector(self, pkh, sector_index, hs, pieces, idx, version, progress=None):
        from farmkit.plotter.encoding import PlottedSectorBytes
        from farmkit.protocol.sector import SectorId

        p = len(pieces)
        meta = SectorMetadata(sector_index, p, np.ones(RECORD_NUM_S_BUCKETS, np.uint16), hs)
        return PlottedSectorBytes(sector_index, SectorId.new(pkh, sector_index, hs), np.zeros(sector_size(p), np.uint8), meta, list(idx))


def test_v1_then_v2_cutover_rules(tmp_path):
    """pos-v2.md §4: V1 sectors raise the cutover; V2 needs history above it; no V2 sector flips."""
    from farmkit.plotter.plot import FarmPlotter, SyntheticSource

    farm, ident = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=bytes(32), allocated_space=F.allocated_space_for_sectors(4, 1, 0),
                                                  pieces_in_sector=1, cache_percentage=0)
    src = SyntheticSource(3)
    FarmPlotter(farm, ident, src, _FakeEncoder(), "v1", "none").plot_sector(0)
    assert farm.header.cutover == 3
    with pytest.raises(FarmkitError, match="cutover"):
        FarmPlotter(farm, ident, src, _FakeEncoder(), "v2", "none").plot_sector(1)
    src.set_history_size(5)
    FarmPlotter(farm, ident, src, _FakeEncoder(), "v2", "none").plot_sector(1)
    assert [s.pos_version for s in farm.plotted_sectors()] == ["v1", "v2"]
    src.set_history_size(6)
    with pytest.raises(FarmkitError, match="would then read as V1"):
        FarmPlotter(farm, ident, src, _FakeEncoder(), "v1", "none").plot_sector(2)
    assert farm.header.cutover == 3 and farm.header.plotted_sector_count == 2
    farm.close()
    with F.SingleDiskFarm.open(tmp_path / "f") as ro:
        assert [(s.history_size, s.pos_version) for s in ro.plotted_sectors()] == [(3, "v1"), (5, "v2")]


def test_corrupt_sector_metadata_reads_as_dummy_expired(tmp_path):
    farm, _ = F.SingleDiskFarm.create_or_open(tmp_path / "f", genesis_hash=bytes(32), allocated_space=F.allocated_space_for_sectors(2, 1, 0),
                                              pieces_in_sector=1, cache_percentage=0)
    farm.write_sector(0, np.zeros(sector_size(1), np.uint8), _metadata(0, hs=9))
    farm.close()
    with open(tmp_path / "f" / "metadata.bin", "r+b") as fh:
        fh.seek(1024 * 1024 + 100)
        fh.write(b"\xff")
    with F.SingleDiskFarm.open(tmp_path / "f") as ro:
        [s] = ro.plotted_sectors()
        assert s.history_size == 1 and not s.metadata.s_bucket_sizes.any()
