"""hwprofile: quick profile run (HDF5 + PNGs), IOPS checked against an independent os.preadv loop,
projections checked against the spec's sizes, one-line errors with no temp file left behind."""

from __future__ import annotations

import mmap
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from farmkit.hwprofiles import ssd
from farmkit.hwprofiles.cpu import Metric, Unavailable, load_function, measured
from farmkit.hwprofiles.profile import (
    SECTORS_PER_TIB,
    Profile,
    load_profile,
    new_meta,
    project,
    save_profile,
    sector_size,
)

QUICK_ARGS = ["--quick", "--file-size", "16M", "--budget-seconds", "2", "--cpu-seconds", "0.05",
              "--skip", "pos,encoding", "--backend", "cpu"]


def hwprofile(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "farmkit.hwprofiles.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(r, code=2):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def no_temp_files(directory: Path) -> bool:
    return not ssd.leftover_temp_files(directory) and not list(Path(directory).glob(".*.h5.*.tmp"))


# --- the quick run ------------------------------------------------------------------------------------
def test_quick_run_writes_profile_and_plots(tmp_path):
    data = tmp_path / "drive"
    data.mkdir()
    out = tmp_path / "p.h5"
    t0 = time.perf_counter()
    r = hwprofile("run", "--path", data, "--out", out, "--threads", "1,2", "--modes", "mmap,mmap_prefetch,direct",
                  *QUICK_ARGS)
    assert r.returncode == 0, r.stderr
    assert time.perf_counter() - t0 < 120
    assert no_temp_files(data) and no_temp_files(tmp_path)

    import h5py

    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "farmkit-hwprofile"
        m = f["machine"].attrs
        for key in ("cpu_model", "logical_cpus", "cpu_flags", "memory_bytes", "gpus", "drive_model",
                    "filesystem", "os", "farmkit_version"):
            assert key in m, key
        runs = f["ssd/runs"]
        names = set(runs)
        for shape in ("4k", "audit"):
            assert any(n.startswith(f"{shape}_mmap_t") for n in names), names
            assert any(n.startswith(f"{shape}_direct_t") or n.startswith(f"{shape}_buffered_t") for n in names)
        assert "audit_mmap_prefetch_t2" in names and "4k_mmap_prefetch_t1" not in names  # prefetch: audit reads only
        for n in names:
            d = runs[n]
            assert d.dtype == np.uint32 and d.shape[0] > 0  # raw latency samples
            assert d.attrs["iops"] > 0 and d.attrs["p50_us"] <= d.attrs["p99_us"]
        assert "pot_prove" in f["compute"]
        assert "audit_max_tib" in f["projections"].attrs
        assert "audit_max_tib" in f["projections/formulas"].attrs
        assert "TiB" in f["summary"][()].decode()

    for png in ("p-latency.png", "p-throughput.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "farming projections" in (tmp_path / "p-summary.txt").read_text()

    # show re-reads the profile and writes the plots elsewhere; compare puts profiles side by side
    plots = tmp_path / "plots"
    plots.mkdir()
    r = hwprofile("show", out, "--plots-dir", plots)
    assert r.returncode == 0, r.stderr
    assert "audit" in r.stdout and (plots / "p-latency.png").exists()
    r = hwprofile("compare", out, out)
    assert r.returncode == 0, r.stderr
    assert "PoT prove" in r.stdout


# --- IOPS against an independent measurement -----------------------------------------------------------
def _plain_pread_iops(path: Path, size: int, direct: bool, seconds: float) -> float:
    """Independent figure: a plain Python os.preadv loop, one thread, random distinct 4 KiB pages."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
    buf = mmap.mmap(-1, ssd.PAGE)  # page-aligned for O_DIRECT
    try:
        if not direct:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        pages = np.random.default_rng(7).permutation(size // ssd.PAGE)
        n = 0
        t0 = time.perf_counter()
        stop = t0 + seconds
        while n < pages.size:
            os.preadv(fd, [buf], int(pages[n]) * ssd.PAGE)
            n += 1
            if time.perf_counter() >= stop:
                break
        return n / (time.perf_counter() - t0)
    finally:
        buf.close()
        os.close(fd)


def test_iops_matches_plain_pread_loop(tmp_path):
    with ssd.TestFile(tmp_path, 64 * 2**20) as tf:
        direct, _ = ssd.probe_direct_io(tf.path)
        mode = "direct" if direct else "buffered"
        ours = ssd.run_reads(tf.path, tf.size, mode, "4k", threads=1, seconds=1.0)
        plain = _plain_pread_iops(tf.path, tf.size, direct, 1.0)
        assert tf.path.exists()
    assert not tf.path.exists()
    # one read in flight: reads/s x mean latency ~= 1 (Little's law)
    assert 0.5 < ours.iops * ours.mean_us / 1e6 <= 1.05
    ratio = ours.iops / plain
    slow_device = ours.p50_us > 20  # a real device (not RAM): both loops are I/O bound
    assert 0.4 < ratio < (3.0 if slow_device else 50.0), (ours.iops, plain)


def test_no_direct_io_falls_back_to_buffered(tmp_path, monkeypatch):
    """Where O_DIRECT is refused (tmpfs on older kernels) the run measures buffered pread and says so."""
    monkeypatch.setattr(ssd, "probe_direct_io", lambda path: (False, "O_DIRECT refused by the filesystem (EINVAL)"))
    res = ssd.measure_ssd(tmp_path, 4 * 2**20, [1], 0.1, shapes=("4k",))
    assert res.modes == ["mmap", "buffered"] and not res.direct_io
    assert {r.mode for r in res.runs} == {"mmap", "buffered"}
    assert any("direct I/O unavailable" in n for n in res.notes)
    assert no_temp_files(tmp_path)


def test_read_offsets_are_fresh_and_aligned():
    rng = np.random.default_rng(1)
    offs, lens = ssd.fresh_offsets(rng, 100 * ssd.AUDIT_SLOT, 1000, "audit", aligned=True)
    assert offs.size == 100  # capped at the number of slots
    assert np.all(offs % ssd.PAGE == 0) and np.all(lens % ssd.PAGE == 0)
    assert np.all(lens >= ssd.AUDIT_READ_SIZE) and np.unique(offs // ssd.AUDIT_SLOT).size == 100
    offs, lens = ssd.fresh_offsets(rng, 100 * ssd.AUDIT_SLOT, 50, "audit", aligned=False)
    assert np.all(lens == 16_000)
    assert np.all(offs // ssd.AUDIT_SLOT == (offs + lens - 1) // ssd.AUDIT_SLOT)  # stays in its slot


# --- projections (spec numbers) -------------------------------------------------------------------------
def _fake_run(shape, mode, threads, iops):
    return ssd.ReadRun(mode, shape, threads, 4096, 4096.0, 100, 1.0, iops, 1.0, 1, 2, 3, 4, 1.5, 5, False,
                       np.arange(10, dtype=np.uint32))


def test_projections_follow_the_spec_sizes(tmp_path):
    assert sector_size(1000) == 1_056_896_064  # sector-audit-prove.md §7
    assert SECTORS_PER_TIB == pytest.approx(1040.3, abs=0.05)  # anchors.md §0: ~1040 per TiB
    p = Profile(new_meta(True, "t", "", "test"), {"cpu_model": "x"})
    p.ssd = ssd.SsdResult("/x", 2**20, True, "ok", ["direct"], [1, 8],
                          [_fake_run("audit", "direct", 8, 10_403.0), _fake_run("4k", "direct", 8, 32_768.0)],
                          0.1, [])
    p.compute = [Metric("pot_prove", "PoT prove", "iterations/s", 206_557_520.0, True),
                 Metric("pos_tables", "PoS", "tables/s", 2.0, True),
                 Metric("record_encoding", "enc", "records/s", 1040.3 * 1000 / 3600, True)]
    proj, formulas = project(p)
    assert proj["audit_max_tib"] == pytest.approx(10.0, rel=1e-3)  # 10,403 reads/s -> 10 TiB
    assert proj["plot_hours_per_tib"] == pytest.approx(1.0, rel=1e-3)
    assert proj["pot_keeps_up"] is True and proj["pot_slot_seconds"] == pytest.approx(1.0)
    assert proj["proving_seconds_estimate"] == pytest.approx(0.5 + 1.0)  # 1/2 + 2^15/32768
    assert "audit_max_tib" in formulas and "1 s slot" in formulas["audit_max_tib"]
    p.projections, p.formulas = proj, formulas
    save_profile(p, tmp_path / "x.h5")
    q = load_profile(tmp_path / "x.h5")
    assert [m.name for m in q.compute] == ["pot_prove", "pos_tables", "record_encoding"]
    assert q.projections["audit_max_tib"] == pytest.approx(proj["audit_max_tib"])
    assert q.ssd.runs[0].samples_ns.tolist() == list(range(10))


def test_missing_module_is_recorded_not_raised():
    with pytest.raises(Unavailable, match="farmkit.no_such_module"):
        load_function("farmkit.no_such_module", "prove")

    def boom(m):
        raise RuntimeError("kernel exploded\nsecond line")

    m = measured("x", "X", "ops/s", boom)
    assert m.available is False and m.value is None and m.reason == "failed: RuntimeError: kernel exploded"
    m = measured("y", "Y", "ops/s", lambda m: load_function("farmkit.no_such_module", "f"))
    assert m.available is False and "not importable" in m.reason


# --- bad input -----------------------------------------------------------------------------------------
def test_nonexistent_path(tmp_path):
    r = hwprofile("run", "--path", tmp_path / "nope", "--out", tmp_path / "p.h5", *QUICK_ARGS)
    assert_one_line_error(r)
    assert "no such directory" in r.stderr and not (tmp_path / "p.h5").exists()


@pytest.fixture
def read_only_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:  # root ignores permission bits: make the directory immutable instead
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(d)]).returncode != 0:
            pytest.skip("running as root and chattr +i is not available")
        yield d
        subprocess.run(["chattr", "-i", str(d)])
    else:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)


def test_read_only_dir(read_only_dir, tmp_path):
    r = hwprofile("run", "--path", read_only_dir, "--out", tmp_path / "p.h5", *QUICK_ARGS)
    assert_one_line_error(r)
    assert "cannot create a test file" in r.stderr or "read-only" in r.stderr
    assert no_temp_files(read_only_dir) and not (tmp_path / "p.h5").exists()
    r = hwprofile("run", "--path", tmp_path, "--out", read_only_dir / "p.h5", *QUICK_ARGS)
    assert_one_line_error(r)
    assert "--out" in r.stderr and no_temp_files(tmp_path) and no_temp_files(read_only_dir)


def test_full_disk(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    r = hwprofile("run", "--path", tmp_path, "--out", tmp_path / "p.h5", *QUICK_ARGS[:1],
                  "--file-size", str(free + 2**30), *QUICK_ARGS[3:])
    assert_one_line_error(r)
    assert "not enough free space" in r.stderr
    assert no_temp_files(tmp_path) and not (tmp_path / "p.h5").exists()


def test_disk_full_while_writing_removes_the_file(tmp_path, monkeypatch):
    import errno

    from farmkit.errors import FarmkitError

    calls = []

    def full(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        os.write(fd, data)

    monkeypatch.setattr(ssd, "_write_chunk", full)
    with pytest.raises(FarmkitError, match="disk full"):
        with ssd.TestFile(tmp_path, 16 * 2**20):
            pass
    assert len(calls) == 2 and no_temp_files(tmp_path)


def test_missing_backend(tmp_path):
    from conftest import cuda_available

    if cuda_available():
        pytest.skip("CUDA is available here")
    args = [a if a != "cpu" else "cuda" for a in QUICK_ARGS]
    r = hwprofile("run", "--path", tmp_path, "--out", tmp_path / "p.h5", *args)
    assert_one_line_error(r)
    assert "cuda" in r.stderr
    assert no_temp_files(tmp_path) and not (tmp_path / "p.h5").exists()


def test_bad_options_and_files(tmp_path):
    for extra in (["--file-size", "lots"], ["--threads", "0"], ["--skip", "disk"]):
        r = hwprofile("run", "--path", tmp_path, *QUICK_ARGS, *extra)
        assert_one_line_error(r)
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert_one_line_error(hwprofile("show", junk))
    assert_one_line_error(hwprofile("compare", junk, tmp_path / "missing.h5"))
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_removes_test_file(tmp_path, sig):
    data = tmp_path / "drive"
    data.mkdir()
    out = tmp_path / "p.h5"
    proc = subprocess.Popen([sys.executable, "-m", "farmkit.hwprofiles.cli", "run", "--path", str(data),
                             "--out", str(out), "--quick", "--file-size", "1G", "--backend", "cpu",
                             "--skip", "pos,encoding"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a runner started in the background ignores SIGINT; undo that for the child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        while not ssd.leftover_temp_files(data):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "test file never appeared"
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert_one_line_error(subprocess.CompletedProcess([], proc.returncode, "", err), code=130)
    assert "interrupted" in err
    assert no_temp_files(data) and not out.exists()


@pytest.mark.slow
@pytest.mark.opencl
def test_gpu_section_on_opencl(tmp_path):
    """The GPU part runs the plotting kernels on a GPU backend and records device memory."""
    from conftest import opencl_available

    if not opencl_available():
        pytest.skip("no OpenCL platform")
    out = tmp_path / "g.h5"
    r = hwprofile("run", "--path", tmp_path, "--out", out, "--quick", "--skip", "ssd,cpu", "--backend", "opencl",
                  "--cpu-seconds", "0.05", timeout=900)
    assert r.returncode == 0, r.stderr
    p = load_profile(out)
    assert p.gpu["backend"] == "opencl" and p.gpu["memory_total_bytes"] > 0
    m = p.metric("pos_tables_gpu")
    assert m is not None and (m.available or m.reason)
    if m.available:
        assert m.value > 0 and p.gpu["pos_kernel_memory_bytes"] > 0


def test_shipped_profiles_load():
    """The profiles in hwprofiles/ are valid and carry their machine identity and projections."""
    from farmkit.hwprofiles import shipped_profiles

    paths = shipped_profiles()
    assert paths, "no measured profile shipped in hwprofiles/"
    for path in paths:
        p = load_profile(path)
        assert p.meta["format_version"] == 1 and not p.meta["quick"]
        assert p.machine["cpu_model"] and p.ssd is not None and p.ssd.runs
        assert p.projections["sectors_per_tib"] == pytest.approx(SECTORS_PER_TIB)
        assert "audit_max_tib" in p.projections and p.summary
