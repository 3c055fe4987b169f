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


def test_audit_hash_kernel_vs_blake3_package():
    """The vectorised audit hash (64 chunks per pass) on sectors of 0..700 chunks, partial passes
    included: every distance against the ``blake3`` package."""
    from farmkit.auditor.audit import _audit_distances, _audit_distances_serial

    rng = np.random.default_rng(21)
    counts = np.array([0, 1, 63, 64, 65, 130, 700, 3], np.int64)
    gaps = rng.integers(0, 4, len(counts))  # sectors need not be adjacent in the buffer
    starts = np.zeros(len(counts), np.int64)
    starts[1:] = np.cumsum(8 * (counts + gaps))[:-1]
    words = rng.integers(0, 2**32, int(starts[-1] + 8 * counts[-1]), dtype=np.uint32)
    first = np.zeros(len(counts), np.int64)
    first[1:] = np.cumsum(counts)[:-1]
    keys_b = rng.bytes(32 * len(counts))
    keys = np.frombuffer(keys_b, "<u4").reshape(-1, 8).astype(np.int64)
    gc = rng.bytes(32)
    g = int.from_bytes(gc[:8], "little")
    out = np.zeros(int(counts.sum()), np.uint64)
    _audit_distances(words, starts, counts, first, keys, np.uint64(g), out)
    serial = np.zeros_like(out)
    _audit_distances_serial(words, starts, counts, first, keys, np.uint64(g), serial)
    assert np.array_equal(out, serial)
    from farmkit.auditor.audit import solution_distances  # the public entry (hwprofile measures it)

    keys_u8 = np.frombuffer(keys_b, np.uint8).reshape(-1, 32)
    assert np.array_equal(solution_distances(words, starts, counts, keys_u8, gc), out)
    for i, c in enumerate(counts.tolist()):
        key = keys_b[32 * i : 32 * i + 32]
        for j in range(c):
            chunk = words[starts[i] + 8 * j : starts[i] + 8 * j + 8].tobytes()
            a = int.from_bytes(blake3.blake3(chunk, key=key).digest()[:8], "little")
            assert int(out[first[i] + j]) == min((g - a) % 2**64, (a - g) % 2**64), (i, j)


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
        b.RING_BATCHES = 0  # one slot per sector
        for _ in range(5):
            gc = rng.bytes(32)
            assert all(np.array_equal(x, y) for x, y in zip(a.audit_distances(gc), b.audit_distances(gc)))
        b.RING_BATCHES, b.HASH_CHUNK = 2, 1  # a ring of 2 slots: each is read into 3-4 times per audit
        for _ in range(5):
            gc = rng.bytes(32)
            assert all(np.array_equal(x, y) for x, y in zip(a.audit_distances(gc), b.audit_distances(gc)))


def test_ring_of_slots_with_refused_submissions(tmp_path):
    """Native AIO refuses every submission (ENOSYS): with a ring of slots the slow reads still wait
    for their slot to be hashed, and the distances are right."""
    d = make_synthetic_farm(tmp_path / "syn", sectors=9, pieces_in_sector=8, fill=True, seed=7)
    rng = np.random.default_rng(26)
    with FarmAuditor(d) as ref, FarmAuditor(d, io_mode="direct") as b:
        aio = b._io._aio_engine()
        if aio is None:
            pytest.skip("no native AIO here")
        aio._submit = 100_000
        b.PIPELINE_BATCH, b.RING_BATCHES, b.HASH_CHUNK = 2, 2, 2
        for _ in range(3):
            gc = rng.bytes(32)
            assert all(np.array_equal(x, y) for x, y in zip(ref.audit_distances(gc), b.audit_distances(gc)))


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


# --- the I/O engines (issue 6: cold audits at the device's rate) ----------------------------------
def _engines(path, mode="direct"):
    """A _PlotIO per direct engine: native AIO (where the kernel has it) and the pread threads."""
    from farmkit.auditor.audit import _PlotIO

    out = []
    for engine in ("aio", "threads"):
        io = _PlotIO(path, mode, threads=4, depth=8)
        io.engine = engine
        out.append(io)
    return out


def test_gather_matches_plain_reads(tmp_path):
    """Unaligned ranges (and empty ones) read through O_DIRECT page widening, both engines, equal
    the bytes a plain buffered read returns."""
    path = tmp_path / "plot.bin"
    rng = np.random.default_rng(21)
    data = rng.bytes(3 * 1024 * 1024 + 123)
    path.write_bytes(data)
    offsets = rng.integers(0, len(data) - 70000, 300)
    lengths = rng.integers(0, 70000, 300)
    offsets[::7] = len(data) - lengths[::7]  # ranges ending at the file's very end (a short last page)
    lengths[::11] = 0
    import platform

    for io, engine in zip(_engines(path), ("aio", "threads")):
        try:
            buf, at = io.gather(offsets, lengths)
            for o, n, a in zip(offsets.tolist(), lengths.tolist(), at.tolist()):
                assert buf[a : a + n].tobytes() == data[o : o + n]
            if os.path.exists("/proc/sys/fs/aio-max-nr") and platform.machine() in ("x86_64", "aarch64"):
                assert io.engine == engine  # native AIO really ran (no silent fallback) where Linux has it
        finally:
            io.close()


def test_gather_past_the_end_is_one_line_error(tmp_path):
    path = tmp_path / "plot.bin"
    path.write_bytes(bytes(64 * 1024))
    for io in _engines(path):
        try:
            with pytest.raises(FarmkitError, match="short read"):
                io.gather(np.array([4096, 60 * 1024], np.int64), np.array([100, 8192], np.int64))
        finally:
            io.close()


def test_batches_complete_in_order(tmp_path):
    """start_reads / start_prefetch report every batch, and a batch only once all its ranges are in."""
    from farmkit.auditor.audit import _PlotIO, _ReadLayout, _aligned

    path = tmp_path / "plot.bin"
    rng = np.random.default_rng(22)
    data = rng.bytes(2 * 1024 * 1024)
    path.write_bytes(data)
    offsets = rng.integers(0, len(data) - 20000, 97) // 32 * 32
    lengths = rng.integers(0, 600, 97) * 32
    layout = _ReadLayout.of(offsets, lengths)
    for io in _engines(path):
        try:
            buf = _aligned(layout.total)
            batches, futures = io.start_reads(layout, buf, 10)
            assert len(batches.complete) == 10
            for b in range(10):
                batches.wait(b)
                for i in range(10 * b, min(97, 10 * b + 10)):
                    o, n, a = int(offsets[i]), int(lengths[i]), int(layout.data_at[i])
                    assert buf[a : a + n].tobytes() == data[o : o + n]
            for f in futures:
                assert f.result() is None
        finally:
            io.close()
    io = _PlotIO(path, "mmap", threads=3)
    try:
        batches, futures = io.start_prefetch(offsets, lengths, 16)
        for b in range(len(batches.complete)):
            batches.wait(b)
        for f in futures:
            assert f.result() is None
    finally:
        io.close()


def test_fetch_add_is_atomic():
    """The I/O threads' work counter: no claim lost or doubled under contention."""
    from concurrent.futures import ThreadPoolExecutor

    from numba import njit

    from farmkit.auditor.audit import _fetch_add

    @njit(nogil=True)
    def claim_all(counter, seen, n):
        while True:
            i = _fetch_add(counter, 0, 1)
            if i >= n:
                return
            seen[i] += 1

    n = 200_000
    counter = np.zeros(1, np.int64)
    seen = np.zeros(n, np.int64)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: claim_all(counter, seen, n), range(4)))
    assert (seen == 1).all()


def test_all_io_paths_agree_with_reference(tmp_path):
    """mmap (prefetch through the I/O threads; plain and pipelined), direct through native AIO and
    through pread threads (plain and pipelined in batches): every distance equals the readable
    reference's."""
    d = make_synthetic_farm(tmp_path / "syn", sectors=9, pieces_in_sector=8, fill=True, seed=7)
    rng = np.random.default_rng(23)
    auditors = []
    for mode, engine, batch in [("mmap", None, None), ("mmap", None, 2), ("direct", "aio", None),
                                ("direct", "aio", 2), ("direct", "threads", 3)]:
        a = FarmAuditor(d, io_mode=mode, io_threads=3, queue_depth=4)
        if engine:
            a._io.engine = engine
        if batch:
            a.PIPELINE_BATCH = batch
            a.PIPELINE_MMAP = True
        auditors.append(a)
    try:
        farm = auditors[0].farm
        for _ in range(4):
            gc = rng.bytes(32)
            results = [a.audit_distances(gc) for a in auditors]
            s_idx, counts, first, dist = results[0]
            for i, s in enumerate(farm.plotted_sectors()):
                sb, winners = audit_sector_reference(
                    farm.sector_view(s.sector_index), s.metadata.s_bucket_sizes, 8, s.sector_id, gc, U64
                )
                by_offset = dict(winners)
                expect = [by_offset[j] for j in range(len(winners))]
                for r in results:
                    assert r[0][i] == sb and r[1][i] == len(expect)
                    assert [int(x) for x in r[3][r[2][i] : r[2][i] + r[1][i]]] == expect
    finally:
        for a in auditors:
            a.close()


def test_direct_reads_of_two_slots_before_hashing(tmp_path):
    """The reused gather buffer is held from read() to hash(): a second slot read in between gets
    its own buffer, and both hash to the same distances as one-shot audits."""
    d = make_synthetic_farm(tmp_path / "syn", sectors=4, pieces_in_sector=8, fill=True, seed=8)
    rng = np.random.default_rng(24)
    with FarmAuditor(d, io_mode="direct") as a, FarmAuditor(d) as ref:
        g1, g2 = rng.bytes(32), rng.bytes(32)
        p1, p2 = a.plan(g1), a.plan(g2)
        a.read(p1)
        a.read(p2)
        assert p1.holds_buffer and not p2.holds_buffer
        d1, d2 = a.hash(p1), a.hash(p2)
        assert not p1.holds_buffer
        assert np.array_equal(d1, ref.audit_distances(g1)[3]) and np.array_equal(d2, ref.audit_distances(g2)[3])
        p3 = a.plan(g1)
        a.read(p3)  # the buffer is free again
        assert p3.holds_buffer and np.array_equal(a.hash(p3), d1)


def test_aio_refused_falls_back_to_plain_reads(tmp_path):
    """io_submit refused (here: a syscall number the kernel does not know → ENOSYS): every range
    goes the slow way and the bytes are still right."""
    path = tmp_path / "plot.bin"
    rng = np.random.default_rng(25)
    data = rng.bytes(1024 * 1024)
    path.write_bytes(data)
    io = _engines(path)[0]
    try:
        aio = io._aio_engine()
        if aio is None:
            pytest.skip("no native AIO here")
        aio._submit = 100_000
        offsets = rng.integers(0, len(data) - 30000, 20)
        lengths = rng.integers(1, 30000, 20)
        buf, at = io.gather(offsets, lengths)
        for o, n, a in zip(offsets.tolist(), lengths.tolist(), at.tolist()):
            assert buf[a : a + n].tobytes() == data[o : o + n]
    finally:
        io.close()


def test_benchmark_cli_audit_and_prove():
    """`auditor benchmark audit|prove` (like subspace-farmer's): JSON with times and throughput,
    both I/O modes, warm and cold."""
    import json

    d = str(plotted_farm())
    for extra in ([], ["--io", "direct", "--cold", "--random-challenges"]):
        code, out, err = run_cli("benchmark", "audit", "--farm", d, "--samples", "2", *extra)
        assert code == 0, err
        r = json.loads(out)
        assert r["sectors"] == 2 and r["samples"] == 2 and r["audit_time_min_s"] > 0 and r["time_per_tib_s"] > 0
        assert r["mode"] == ("cold" if extra else "warm") and r["io"] == ("direct" if extra else "mmap")
    code, out, err = run_cli("benchmark", "prove", "--farm", d)
    assert code == 0, err
    r = json.loads(out)
    assert r["prove_time_min_s"] > 0 and set(r["parts_s"]) == {"table", "read", "decode", "witness"}
    code, out, err = run_cli("benchmark", "audit", "--farm", d, "--io", "tape")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
