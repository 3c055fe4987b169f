"""``plotter archive | verify-pieces | repair | blocks``: history → segments → pieces on disk and back.

Spec: kzg-erasure-archiving.md §8-11. The directory layout is described in
:mod:`farmkit.plotter.piece_store`. Every file is written to a temp name and renamed; ``index.json``
is written last, so an interrupted run leaves the previous consistent archive in place.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import typer
from blake3 import blake3

from farmkit.fsutil import write_atomic
from farmkit.cli import parse_hex
from farmkit.errors import FarmkitError
from farmkit.protocol.archiver import Archiver, KzgSegmentEncoder, NewArchivedSegment
from farmkit.protocol.constants import NUM_PIECES
from farmkit.protocol.pieces import FULL_GEOMETRY, RecordGeometry, find_invalid_pieces
from farmkit.protocol.reconstruct import PiecesReconstructor, Reconstructor, ReconstructorError
from farmkit.protocol.segments import Block, BlockContinuation, LastArchivedBlock, ParentSegmentHeader
from farmkit.plotter.piece_store import (
    FORMAT,
    INDEX_FILE,
    PieceStore,
    SegmentInfo,
    geometry_of_index,
    header_path,
    pieces_path,
    read_index,
)

__all__ = [
    "ArchiveWriter",
    "synthetic_block",
    "synthetic_genesis_hash",
    "archive_command",
    "verify_pieces_command",
    "repair_command",
    "blocks_command",
]

# --- synthetic history ---------------------------------------------------------------------------
SYNTHETIC_BLOCKS_PER_SEGMENT = 32  # later blocks are 1 .. segment_size/32 bytes (≈ 4 MiB at full size)
_SYNTHETIC_DOMAIN = b"farmkit-synthetic-history-v1"
MAX_BLOCK_SIZE = 2**32 - 1  # the reference requires block lengths to fit u32


def synthetic_genesis_hash(seed: bytes) -> bytes:
    """Deterministic 32-byte genesis hash of the synthetic history ``seed``."""
    return blake3(_SYNTHETIC_DOMAIN + b"/genesis-hash", key=seed).digest()


def synthetic_block_size(seed: bytes, number: int, geometry: RecordGeometry = FULL_GEOMETRY) -> int:
    """Block 0 fills one recorded-history segment (like the node's padded genesis, §9.7); later
    blocks are 1 .. segment_size/32 bytes, sizes drawn from the seed."""
    if number == 0:
        return geometry.segment_size
    h = blake3(_SYNTHETIC_DOMAIN + b"/size" + number.to_bytes(8, "little"), key=seed).digest()
    return 1 + int.from_bytes(h[:4], "little") % (geometry.segment_size // SYNTHETIC_BLOCKS_PER_SEGMENT)


def synthetic_block(seed: bytes, number: int, geometry: RecordGeometry = FULL_GEOMETRY) -> bytes:
    """The bytes of synthetic block ``number``: a keyed BLAKE3 XOF stream (same seed → same block)."""
    return blake3(_SYNTHETIC_DOMAIN + b"/block" + number.to_bytes(8, "little"), key=seed).digest(
        length=synthetic_block_size(seed, number, geometry)
    )


# --- crash-safe writes ---------------------------------------------------------------------------------


def _lock_directory(directory: Path):
    """An exclusive advisory lock on DIR/.archive.lock for the life of the writer (one archiver per DIR)."""
    import fcntl

    f = (directory / ".archive.lock").open("a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise FarmkitError(f"{directory}: another `plotter archive` is writing to this directory") from None
    return f


# --- the archive directory (writer side) --------------------------------------------------------


class ArchiveWriter:
    """Adds blocks to the history stored in a directory; :meth:`commit` makes them durable."""

    def __init__(self, directory: Path, geometry: RecordGeometry = FULL_GEOMETRY, workers: int | None = None):
        self.directory = Path(directory)
        self.geometry = geometry
        if self.directory.exists() and not self.directory.is_dir():
            raise FarmkitError(f"{self.directory}: exists and is not a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_directory(self.directory)
        encoder = KzgSegmentEncoder(geometry, workers=workers)
        self.encoder = encoder
        if (self.directory / INDEX_FILE).exists():
            self.index = read_index(self.directory)
            if self.index.get("format") != FORMAT:
                raise FarmkitError(f"{self.directory / INDEX_FILE}: unknown format {self.index.get('format')!r}")
            if geometry_of_index(self.index) != geometry:
                raise FarmkitError(f"{self.directory}: was archived with a different record size")
            state_name = self.index.get("archiver", {}).get("state_file")
            if not state_name:
                raise FarmkitError(f"{self.directory / INDEX_FILE}: no archiver state recorded")
            try:
                state = (self.directory / state_name).read_bytes()
            except OSError as exc:
                raise FarmkitError(f"{self.directory / state_name}: {exc.strerror}") from None
            self.archiver = Archiver.from_state_bytes(state, geometry=geometry, encoder=encoder)
            if self.archiver.segment_index != len(self.index["segments"]):
                raise FarmkitError(f"{self.directory}: archiver state and index.json disagree on the segment count")
        else:
            # no index.json: a new archive. Leftover segment/state files of an interrupted first run
            # are not part of any history and get overwritten.
            for stale in self.directory.glob(".*.tmp*"):
                stale.unlink(missing_ok=True)
            self.index = {"format": FORMAT, "segments": [], "history": {}, "archiver": {}}
            if not geometry.is_full:
                self.index["record_num_chunks"] = geometry.record_num_chunks
            self.archiver = Archiver(geometry=geometry, encoder=encoder)
        self.new_segments: list[SegmentInfo] = []

    @property
    def history_size(self) -> int:
        return len(self.index["segments"]) + len(self.new_segments)

    def add_block(self, data: bytes, progress: Callable[[str, int, int], None] | None = None) -> list[SegmentInfo]:
        """Archive one block; segment files are written as produced (not yet indexed)."""
        if len(data) > MAX_BLOCK_SIZE:
            raise FarmkitError(f"block of {len(data)} bytes is too large (blocks must fit a u32 length)")
        produced = []
        for seg in self.archiver.add_block_iter(data, (), progress):
            produced.append(self._write_segment(seg))
        return produced

    def _write_segment(self, seg: NewArchivedSegment) -> SegmentInfo:
        header = seg.segment_header
        idx = header.segment_index
        write_atomic(pieces_path(self.directory, idx), seg.pieces)
        seg.pieces = None
        write_atomic(header_path(self.directory, idx), header.encode())
        info = SegmentInfo(idx, header.segment_commitment, header.hash())
        self.new_segments.append(info)
        return info

    def commit(self) -> None:
        """Write the archiver state (new file), then index.json, then drop the old state file."""
        old_state = self.index.get("archiver", {}).get("state_file")
        seq = int(self.index.get("archiver", {}).get("state_seq", 0)) + 1
        state_name = f"archiver-state-{seq}.bin"
        write_atomic(self.directory / state_name, self.archiver.state_bytes())
        lab = self.archiver.last_archived_block
        self.index["segments"] = self.index["segments"] + [s.to_json() for s in self.new_segments]
        self.index["history_size"] = len(self.index["segments"])
        self.index["archiver"] = {
            "state_file": state_name,
            "state_seq": seq,
            "blocks_added": self.archiver.blocks_added,
            "next_segment_index": self.archiver.segment_index,
            "pending_bytes": self.pending_bytes,
            "last_archived_block": {"number": lab.number, "partial": lab.partial},
        }
        write_atomic(self.directory / INDEX_FILE, (json.dumps(self.index, indent=1) + "\n").encode())
        self.new_segments = []
        if old_state and old_state != state_name:
            (self.directory / old_state).unlink(missing_ok=True)

    @property
    def pending_bytes(self) -> int:
        """Block bytes buffered for the next segment (not counting the parent header item)."""
        return sum(len(item.data) for item in self.archiver.buffer if not isinstance(item, ParentSegmentHeader))


# --- progress display --------------------------------------------------------------------------------


class _Progress:
    """Rich progress bars on stderr: an overall bar and one for the segment being encoded."""

    def __init__(self, overall_label: str, overall_total: int | None, enabled: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self.overall = self.progress.add_task(overall_label, total=overall_total)
        self.stage = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.overall, n)

    def set_total(self, total: int | None) -> None:
        self.progress.update(self.overall, total=total)

    def stage_cb(self, label_prefix: str) -> Callable[[str, int, int], None]:
        def cb(stage: str, done: int, total: int) -> None:
            desc = f"{label_prefix}{stage}"
            if self.stage is None:
                self.stage = self.progress.add_task(desc, total=total)
            self.progress.update(self.stage, description=desc, total=total, completed=done)

        return cb


def _progress_enabled() -> bool:
    return os.environ.get("FARMKIT_NO_PROGRESS", "") == "" and sys.stderr.isatty()


# --- plotter archive ----------------------------------------------------------------------------------


def archive_command(
    files: list[Path] = typer.Argument(None, metavar="FILE", show_default=False, help="Block files (with --blocks)."),
    blocks: bool = typer.Option(False, "--blocks", help="Archive FILE ...: each file is one block's raw bytes, in chain order."),
    synthetic: str = typer.Option(None, "--synthetic", metavar="SEED_HEX", help="Archive deterministic synthetic blocks from a 32-byte seed (64 hex)."),
    segments: int = typer.Option(None, "--segments", metavar="N", help="With --synthetic: stop once the history has N segments."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Archive directory (created, or continued if it exists)."),
    workers: int = typer.Option(None, "--workers", help="Processes for record commitments (default: all cores)."),
    record_chunks: int = typer.Option(None, "--record-chunks", hidden=True, help="Testing only: chunks per record (power of two < 32768) for tiny segments."),
) -> None:
    """Archive history into segments of 256 pieces: plotter archive --blocks FILE [FILE ...] --out DIR | --synthetic SEED_HEX --segments N --out DIR."""
    files = list(files or [])
    if blocks == (synthetic is not None):
        raise FarmkitError("give exactly one of --blocks FILE [FILE ...] or --synthetic SEED_HEX")
    if blocks and not files:
        raise FarmkitError("--blocks needs at least one FILE")
    if synthetic is not None and files:
        raise FarmkitError(f"unexpected FILE arguments with --synthetic: {files[0]}")
    if synthetic is not None and segments is None:
        raise FarmkitError("--synthetic needs --segments N")
    if segments is not None and segments < 1:
        raise FarmkitError("--segments must be at least 1")
    if segments is not None and synthetic is None:
        raise FarmkitError("--segments is only valid with --synthetic")
    if workers is not None and workers < 1:
        raise FarmkitError("--workers must be at least 1")
    geometry = FULL_GEOMETRY
    if record_chunks is not None:
        try:
            geometry = RecordGeometry(record_chunks)
        except ValueError as exc:
            raise FarmkitError(f"--record-chunks: {exc}") from None
    t0 = time.perf_counter()
    if blocks:
        sizes = []
        for f in files:
            try:
                st = f.stat()
            except OSError as exc:
                raise FarmkitError(f"{f}: {exc.strerror}") from None
            if not f.is_file():
                raise FarmkitError(f"{f}: not a regular file")
            sizes.append(st.st_size)
        writer = ArchiveWriter(out, geometry, workers=workers)
        produced = _archive_files(writer, files, sizes)
    else:
        seed = parse_hex(synthetic, 32, "--synthetic SEED_HEX")
        writer = ArchiveWriter(out, geometry, workers=workers)
        produced = archive_synthetic(writer, seed, segments)
    _report(writer, produced, time.perf_counter() - t0)


def _archive_files(writer: ArchiveWriter, files: list[Path], sizes: list[int]) -> list[SegmentInfo]:
    produced: list[SegmentInfo] = []
    expected = (writer.pending_bytes + sum(sizes)) // writer.geometry.segment_size
    with _Progress("segments", max(expected, 1), _progress_enabled()) as bar:
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise FarmkitError(f"{path}: {exc.strerror}") from None
            segs = writer.add_block(data, bar.stage_cb(f"segment {writer.history_size}: "))
            produced += segs
            bar.advance(len(segs))
        writer.commit()  # one run = one atomic update of the archive
    return produced


def archive_synthetic(
    writer: ArchiveWriter,
    seed: bytes,
    target: int,
    *,
    show_progress: bool | None = None,
    on_block: Callable[[int, int], None] | None = None,
) -> list[SegmentInfo]:
    """Archive the synthetic history of ``seed`` until ``writer`` holds ``target`` segments,
    continuing what the directory already holds (the same seed always gives the same blocks).

    ``on_block(block_number, history_size)`` is called before each block; ``show_progress``
    (default: when stderr is a terminal) draws rich progress bars. Commits after every segment.
    """
    hist = writer.index.get("history") or {}
    if writer.index["segments"] or writer.archiver.blocks_added:
        if hist.get("synthetic_seed") != seed.hex():
            raise FarmkitError(f"{writer.directory}: holds a different history (not synthetic seed {seed.hex()[:16]}…)")
        if hist.get("synthetic_blocks") != writer.archiver.blocks_added:
            raise FarmkitError(f"{writer.directory}: other blocks were added to this synthetic history; cannot continue it")
    writer.index["history"] = {"synthetic_seed": seed.hex(), "synthetic_blocks": writer.archiver.blocks_added}
    writer.index["genesis_hash"] = synthetic_genesis_hash(seed).hex()
    produced: list[SegmentInfo] = []
    have = writer.history_size
    enabled = _progress_enabled() if show_progress is None else show_progress
    with _Progress("segments", target, enabled) as bar:
        bar.advance(min(have, target))
        while writer.history_size < target:
            number = writer.archiver.blocks_added
            if on_block is not None:
                on_block(number, writer.history_size)
            segs = writer.add_block(synthetic_block(seed, number, writer.geometry), bar.stage_cb(f"segment {writer.history_size}: "))
            writer.index["history"]["synthetic_blocks"] = writer.archiver.blocks_added
            if segs:
                produced += segs
                bar.advance(len(segs))
                writer.commit()
        if not produced:
            writer.commit()
    return produced


def _report(writer: ArchiveWriter, produced: list[SegmentInfo], elapsed: float) -> None:
    lab = writer.archiver.last_archived_block
    pending = writer.pending_bytes
    if produced:
        first, last = produced[0].index, produced[-1].index
        span = f"{first}" if first == last else f"{first}..{last}"
        print(f"archived {len(produced)} segment(s) ({span}) into {writer.directory} in {elapsed:.1f} s")
    else:
        print(
            f"no segment yet: {pending:,} bytes pending, a segment needs {writer.geometry.segment_size:,} bytes of encoded history"
        )
    print(f"history size {writer.history_size} segment(s); {pending:,} bytes pending; last archived block {lab}")


# --- plotter verify-pieces -----------------------------------------------------------------------------


def _open_store(directory: Path) -> PieceStore:
    return PieceStore(directory)


def verify_pieces_command(
    directory: Path = typer.Argument(..., metavar="DIR", help="Archive directory written by `plotter archive`."),
    exact: bool = typer.Option(False, "--exact", help="Recommit every record (the reference path; slow) instead of the batched check."),
) -> None:
    """Check every piece as the reference's is_piece_valid does (exit 0 all valid, 1 some invalid, 2 bad input)."""
    store = _open_store(directory)
    if store.history_size == 0:
        raise FarmkitError(f"{directory}: the archive holds no segment")
    headers = []
    for info in store.segments():  # bad input (missing/truncated/mismatched files) first: exit 2
        store.check_segment_file(info.index)
        headers.append(store.segment_header(info.index))
    from farmkit.kernels.kzg import default_kzg

    kzg = default_kzg()
    bad: list[tuple[int, int]] = []
    chain_errors: list[int] = []
    prev_hash = bytes(32)
    with _Progress("segments", store.history_size, _progress_enabled()) as bar:
        for info, header in zip(store.segments(), headers):
            if header.prev_segment_header_hash != prev_hash:
                chain_errors.append(info.index)
            prev_hash = info.header_hash
            pieces = store.segment_pieces(info.index)
            invalid = find_invalid_pieces(
                kzg, [pieces[i] for i in range(NUM_PIECES)], info.commitment, store.geometry, exact=exact,
                progress=bar.stage_cb(f"segment {info.index}: "),
            )
            bad += [(info.index, pos) for pos in invalid]
            bar.advance()
    for seg, pos in bad:
        print(f"invalid: segment {seg} position {pos} (piece index {seg * NUM_PIECES + pos})")
    for seg in chain_errors:
        print(f"invalid: segment {seg} header does not chain to segment {seg - 1}'s header hash")
    total = store.history_size * NUM_PIECES
    if bad or chain_errors:
        print(f"{len(bad)} of {total} pieces invalid in {directory}")
        raise typer.Exit(1)
    print(f"all {total} pieces valid ({store.history_size} segment(s)) in {directory}")


# --- plotter repair ------------------------------------------------------------------------------------


def _load_segment_pieces(store: PieceStore, index: int) -> list:
    """The pieces present in a (possibly truncated or missing) segment file; None where absent."""
    path = pieces_path(store.directory, index)
    size = store.geometry.piece_size
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        return [None] * NUM_PIECES
    count = min(len(data) // size, NUM_PIECES)
    pieces: list = [None] * NUM_PIECES
    for i in range(count):
        pieces[i] = data[i * size : (i + 1) * size]
    return pieces


def repair_command(
    directory: Path = typer.Argument(..., metavar="DIR", help="Archive directory written by `plotter archive`."),
) -> None:
    """Recover missing or invalid pieces of each segment from any 128 valid ones."""
    store = _open_store(directory)
    from farmkit.kernels.kzg import default_kzg

    kzg = default_kzg()
    reconstructor = PiecesReconstructor(store.geometry, kzg=kzg)
    failed: list[str] = []
    repaired_total = 0
    with _Progress("segments", store.history_size, _progress_enabled()) as bar:
        for info in store.segments():
            store.segment_header(info.index)  # header must be intact: it names the commitment
            pieces = _load_segment_pieces(store, info.index)
            cb = bar.stage_cb(f"segment {info.index}: ")
            invalid = set(find_invalid_pieces(kzg, pieces, info.commitment, store.geometry, progress=cb))
            missing = [i for i, p in enumerate(pieces) if p is None]
            broken = sorted(set(missing) | invalid)
            bar.advance()
            if not broken:
                continue
            good = [None if (p is None or i in invalid) else p for i, p in enumerate(pieces)]
            n_good = sum(p is not None for p in good)
            if n_good < NUM_PIECES // 2:
                failed.append(f"segment {info.index}: only {n_good} valid pieces, need {NUM_PIECES // 2}")
                continue
            try:
                new_pieces, commitment = reconstructor.reconstruct(good, cb)
            except ReconstructorError as exc:
                failed.append(f"segment {info.index}: {exc}")
                continue
            if commitment != info.commitment:
                failed.append(f"segment {info.index}: reconstructed segment commitment does not match the index")
                continue
            write_atomic(pieces_path(store.directory, info.index), new_pieces)
            repaired_total += len(broken)
            print(f"segment {info.index}: repaired {len(broken)} piece(s) at positions {_ranges(broken)}")
    for line in failed:
        print(f"cannot repair: {line}")
    if failed:
        raise typer.Exit(1)
    if repaired_total == 0:
        print(f"nothing to repair: all pieces valid ({store.history_size} segment(s))")
    else:
        print(f"repaired {repaired_total} piece(s) in {directory}")


def _ranges(positions: list[int]) -> str:
    out, i = [], 0
    while i < len(positions):
        j = i
        while j + 1 < len(positions) and positions[j + 1] == positions[j] + 1:
            j += 1
        out.append(str(positions[i]) if i == j else f"{positions[i]}-{positions[j]}")
        i = j + 1
    return ",".join(out)


# --- plotter blocks ---------------------------------------------------------------------------------------


def block_file_name(number: int) -> str:
    return f"block-{number}.bin"


def blocks_command(
    directory: Path = typer.Argument(..., metavar="DIR", help="Archive directory written by `plotter archive`."),
    out: Path = typer.Option(..., "--out", metavar="DIR2", help="Where to write block-<number>.bin files."),
    segments_only: bool = typer.Option(False, "--segments-only", help="Only blocks completed inside archived segments (skip the archiver's pending buffer)."),
) -> None:
    """Rebuild the original blocks (block-<number>.bin) from the archived segments (and the pending buffer)."""
    store = _open_store(directory)
    out.mkdir(parents=True, exist_ok=True)
    reconstructor = Reconstructor(store.geometry, upstream_numbering=False)
    written: list[int] = []
    from_segments = 0
    with _Progress("segments", store.history_size, _progress_enabled()) as bar:
        for info in store.segments():
            pieces = _load_segment_pieces(store, info.index)
            try:
                contents = reconstructor.add_segment(pieces, bar.stage_cb(f"segment {info.index}: "))
            except ReconstructorError as exc:
                raise FarmkitError(f"segment {info.index}: {exc}") from None
            for number, data in contents.blocks:
                write_atomic(out / block_file_name(number), data)
                written.append(number)
            bar.advance()
    from_segments = len(written)
    if not segments_only:
        written += _write_pending_blocks(store, reconstructor, out)
    if not written:
        print(f"no complete block in {directory} yet")
        return
    print(
        f"wrote {len(written)} block(s) #{min(written)}..#{max(written)} to {out} "
        f"({from_segments} from segments, {len(written) - from_segments} from the archiver's pending buffer)"
    )


def _write_pending_blocks(store: PieceStore, reconstructor: Reconstructor, out: Path) -> list[int]:
    """Blocks still buffered in the archiver state (not in any segment yet), with their numbers."""
    state_name = store.index.get("archiver", {}).get("state_file")
    if not state_name:
        return []
    try:
        archiver = Archiver.from_state_bytes((store.directory / state_name).read_bytes(), geometry=store.geometry)
    except OSError as exc:
        raise FarmkitError(f"{store.directory / state_name}: {exc.strerror}") from None
    if archiver.segment_index != store.history_size:
        raise FarmkitError(f"{store.directory}: archiver state does not match the archived segments")
    lab = archiver.last_archived_block
    if lab == LastArchivedBlock.INITIAL and store.history_size == 0:  # type: ignore[attr-defined]
        number = 0
    else:
        number = lab.number + 1 if lab.partial is None else lab.number
    written = []
    partial = reconstructor.partial_block
    for item in archiver.buffer:
        if isinstance(item, BlockContinuation):
            data = (partial or b"") + item.data
            if partial is None:
                continue  # a continuation whose start we never saw
            partial = None
        elif isinstance(item, Block):
            data = item.data
        else:
            continue
        write_atomic(out / block_file_name(number), data)
        written.append(number)
        number += 1
    return written
