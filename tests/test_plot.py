"""`plotter plot` end to end: round trip (plot -> read every record back -> the original pieces),
V1 cutover, several farms, resume, one-line errors, kill -9 during plotting, CPU vs OpenCL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from farmkit.protocol.farm import PLOT_FILE, SingleDiskFarm
from farmkit.protocol.sector import FarmerProtocolInfo, sector_size

from conftest import cuda_available, opencl_available

PLOTTER = [sys.executable, "-c", "from farmkit.plotter.cli import main; main()"]


def _plotter(*args, check=True, **kw):
    r = subprocess.run(PLOTTER + [str(a) for a in args], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"plotter {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def _check_round_trip(farm_dir: Path, history_size: int, version: str):
    from farmkit.plotter.plot import SyntheticSource

    source = SyntheticSource(history_size)
    with SingleDiskFarm.open(farm_dir) as farm:
        sectors = farm.plotted_sectors()
        assert sectors
        for s in sectors:
            assert s.pos_version == version
            farm.check_sector(s.sector_index)
            idx = s.sector_id.derive_piece_indexes(farm.pieces_in_sector, FarmerProtocolInfo(s.history_size))
            for offset in range(farm.pieces_in_sector):
                assert farm.read_piece(s.sector_index, offset) == source.piece(idx[offset])


def test_plot_round_trip_in_process(tmp_path):
    """Plot one 1-piece V2 sector through the library API, read the record back, get the piece."""
    from farmkit.plotter.encoding import SectorEncoder
    from farmkit.plotter.plot import FarmPlotter, SyntheticSource
    from farmkit.protocol.farm import allocated_space_for_sectors

    farm, ident = SingleDiskFarm.create_or_open(
        tmp_path / "f", genesis_hash=bytes(32), allocated_space=allocated_space_for_sectors(1, 1, 0),
        pieces_in_sector=1, cache_percentage=0,
    )
    FarmPlotter(farm, ident, SyntheticSource(3), SectorEncoder("cpu"), "v2", "none").plot_sector(0)
    farm.close()
    _check_round_trip(tmp_path / "f", 3, "v2")


@pytest.mark.slow
def test_plot_round_trip_two_farms_v2_then_v1(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _plotter("plot", "--farm", a, "--farm", b, "--synthetic-history", 3, "--sectors", 1,
             "--pieces-in-sector", 1, "--backend", "cpu", "--quiet")
    for d in (a, b):
        with SingleDiskFarm.open(d) as f:
            assert f.header.plotted_sector_count == 1 and f.header.cutover is None
            assert (d / PLOT_FILE).stat().st_size == -(-sector_size(1) // 4096) * 4096
    _check_round_trip(a, 3, "v2")
    # a second run has nothing to do (resumable) and keeps the identity
    pk = json.loads((a / "single_disk_farm.json").read_text())["v0"]["publicKey"]
    r = _plotter("plot", "--farm", a, "--synthetic-history", 3, "--sectors", 1, "--pieces-in-sector", 1, "--quiet")
    assert r.returncode == 0
    assert json.loads((a / "single_disk_farm.json").read_text())["v0"]["publicKey"] == pk
    # V1 sectors: a farm plotted with --pos-version v1 records a cutover that reads them as V1
    c = tmp_path / "c"
    _plotter("plot", "--farm", c, "--identity", a / "identity.bin", "--synthetic-history", 4, "--sectors", 1,
             "--pieces-in-sector", 1, "--pos-version", "v1", "--quiet")
    with SingleDiskFarm.open(c) as f:
        assert f.header.cutover == 4
        assert f.info.public_key.hex() == pk
    assert (c / "metadata.bin").read_bytes()[:12] == bytes([1, 1, 0, 1]) + (4).to_bytes(8, "little")
    _check_round_trip(c, 4, "v1")


def test_one_line_errors(tmp_path):
    line = _one_line_error(_plotter("plot", "--farm", tmp_path / "f", "--synthetic-history", 3, "--size", "100MiB", check=False))
    assert "too small" in line
    assert not (tmp_path / "f" / PLOT_FILE).exists()
    line = _one_line_error(_plotter("plot", "--farm", tmp_path / "f", "--piece-store", tmp_path / "nope", "--sectors", 1, check=False))
    assert "nope" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(_plotter("plot", "--farm", blocker / "farm", "--synthetic-history", 3, "--sectors", 1, "--pieces-in-sector", 1, check=False))
    _one_line_error(_plotter("plot", "--farm", tmp_path / "g", "--synthetic-history", 3, "--sectors", 1, "--pieces-in-sector", 1001, check=False))
    _one_line_error(_plotter("info", "--farm", tmp_path / "missing", check=False))
    line = _one_line_error(_plotter("plot", "--farm", tmp_path / "big", "--synthetic-history", 3, "--size", "50TB", check=False))
    assert "not enough free space" in line
    assert not (tmp_path / "big" / PLOT_FILE).exists() or (tmp_path / "big" / PLOT_FILE).stat().st_blocks == 0
    line = _one_line_error(_plotter("plot", "--farm", tmp_path / "h", "--node-rpc-url", "ws://127.0.0.1:1", "--sectors", 1, check=False))
    assert "cannot connect" in line
    _one_line_error(_plotter("plot", "--farm", tmp_path / "i", "--farm", tmp_path / "j", "--identity", tmp_path / "x.bin",
                             "--synthetic-history", 3, "--sectors", 1, check=False))


def test_bad_pieces_are_rejected_and_nothing_is_lost(tmp_path):
    """A piece store whose pieces do not open against their segment commitment."""
    from farmkit.protocol.constants import PIECE_SIZE

    store = tmp_path / "store"
    store.mkdir()
    (store / "index.json").write_text(json.dumps({
        "format": "farmkit-archive/1",
        "segments": [{"index": 0, "commitment": "c0" + "00" * 47, "header_hash": "00" * 32}],
        "genesis_hash": "ab" * 32,
    }))
    with open(store / "segment-0.pieces", "wb") as f:  # sparse: 256 all-zero pieces
        f.truncate(256 * PIECE_SIZE)
    farm = tmp_path / "farm"
    line = _one_line_error(_plotter("plot", "--farm", farm, "--piece-store", store, "--sectors", 1, "--pieces-in-sector", 1, check=False))
    assert "verification" in line
    with SingleDiskFarm.open(farm) as f:
        assert f.header.plotted_sector_count == 0
        assert f.info.genesis_hash == bytes.fromhex("ab" * 32)


@pytest.mark.slow
def test_kill_9_during_plotting_then_resume(tmp_path):
    farm = tmp_path / "farm"
    total = 8
    args = ["plot", "--farm", farm, "--synthetic-history", 3, "--sectors", total, "--pieces-in-sector", 1, "--quiet"]
    proc = subprocess.Popen(PLOTTER + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    meta = farm / "metadata.bin"
    deadline = time.time() + 600
    while time.time() < deadline:  # wait until the first sector is recorded, then kill mid-way
        if meta.exists() and meta.stat().st_size >= 3 and meta.read_bytes()[1] >= 1:
            break
        time.sleep(0.2)
    time.sleep(np.random.default_rng().uniform(0.2, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    with SingleDiskFarm.open(farm) as f:
        n = f.header.plotted_sector_count
        assert 1 <= n < total
        for i in range(n):
            f.check_sector(i)  # every sector that counts is complete
    _plotter(*args)
    with SingleDiskFarm.open(farm) as f:
        assert f.header.plotted_sector_count == total
        for i in range(total):
            f.check_sector(i)
    _check_round_trip(farm, 3, "v2")


_GPU_BACKENDS = [
    pytest.param("opencl", marks=[pytest.mark.opencl, pytest.mark.skipif(not opencl_available(), reason="no OpenCL platform")]),
    pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")]),
]


@pytest.mark.parametrize("backend", _GPU_BACKENDS)
@pytest.mark.parametrize("version", ["v2", pytest.param("v1", marks=pytest.mark.slow)])
def test_cpu_and_gpu_write_identical_sectors(version, backend):
    """Every backend writes the same sector bytes (one record; PoCL: ~10 s idle, ~100 s on a busy box)."""
    from farmkit.plotter.encoding import SectorEncoder
    from farmkit.plotter.plot import SyntheticSource
    from farmkit.protocol.sector import SectorId, public_key_hash

    src = SyntheticSource(60)
    pkh = public_key_hash(bytes(range(32)))
    sid = SectorId.new(pkh, 0, 60)
    idx = sid.derive_piece_indexes(1, FarmerProtocolInfo(60))
    pieces = [src.piece(i) for i in idx]
    cpu = SectorEncoder("cpu").encode_sector(pkh, 0, 60, pieces, idx, version)
    gpu = SectorEncoder(backend).encode_sector(pkh, 0, 60, pieces, idx, version)
    assert np.array_equal(cpu.data, gpu.data)
    assert cpu.metadata.encode_checksummed() == gpu.metadata.encode_checksummed()


@pytest.mark.slow
def test_piece_store_and_node_rpc_give_the_same_sector(tmp_path):
    """Real archived pieces (plotter archive, 1 segment): plot from the piece store and from a dev
    node over RPC with one identity -> identical sectors; every record reads back as the stored piece."""
    import typer

    from farmkit.plotter import piece_store
    from farmkit.plotter.archive import archive_command

    store = tmp_path / "store"
    app = typer.Typer()
    app.command()(archive_command)
    typer.main.get_command(app).main(args=["--synthetic", "11" * 32, "--segments", "1", "--out", str(store)],
                                     standalone_mode=False)
    a, b = tmp_path / "a", tmp_path / "b"
    _plotter("plot", "--farm", a, "--piece-store", store, "--sectors", 1, "--pieces-in-sector", 2, "--quiet")
    node = subprocess.Popen(
        [sys.executable, "-c", "from farmkit.farmerd.cli import main; main()", "dev-node", "--base-path", str(tmp_path / "node"),
         "--rpc-listen-on", "127.0.0.1:0", "--piece-store", str(store), "--pot-iterations", "16000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        url = None
        for line in node.stdout:
            if "ready" in line:
                url = line.split()[3]
                break
        assert url and url.startswith("ws://")
        _plotter("plot", "--farm", b, "--node-rpc-url", url, "--identity", a / "identity.bin", "--sectors", 1,
                 "--pieces-in-sector", 2, "--quiet")
    finally:
        node.kill()
        node.wait()
    with SingleDiskFarm.open(a) as fa, SingleDiskFarm.open(b) as fb:
        assert fa.info.genesis_hash == fb.info.genesis_hash == piece_store.open(store).genesis_hash
        assert fa.read_sector_bytes(0) == fb.read_sector_bytes(0)
        s = fa.plotted_sector(0)
        idx = s.sector_id.derive_piece_indexes(2, FarmerProtocolInfo(1))
        ps = piece_store.open(store)
        for off in range(2):
            assert fa.read_piece(0, off) == ps.read_piece(idx[off])
