"""``auditor scrub``: check a farm's files and mark corrupt sectors for replotting.

Follows the reference ``SingleDiskFarm::scrub`` (subspace-farmer ``single_disk_farm.rs``):

* header: a plot file shorter than ``plotted_sector_count · sector_size`` shrinks the count;
* per sector metadata entry: unreadable, bad checksum (sector-audit-prove.md §6.6), wrong sector index
  or wrong pieces-in-sector → replaced by "dummy expired" metadata (all s-buckets empty, history
  size 1), which is never audited and gets replotted;
* per sector: BLAKE3 of regions 1-3 against the stored sector checksum (§6.5 region 4). On mismatch
  the metadata becomes dummy expired and the sector bytes are zeroed with a matching checksum.

Beyond the reference (reported the same way): the contents-map checksum (§6.4), metadata
``s_bucket_sizes`` against the contents map, and optionally (``--pieces``, one PoS table per record)
every piece read back against its piece checksum (``read_piece``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import RESERVED_PLOT_METADATA
from farmkit.protocol.farm import METADATA_FILE, PLOT_FILE, SingleDiskFarm
from farmkit.protocol.sector import (
    SECTOR_METADATA_SIZE,
    SectorContentsMap,
    SectorMetadata,
    read_piece_from_sector,
    sector_checksum,
)

__all__ = ["SectorReport", "ScrubReport", "scrub_farm"]


@dataclass
class SectorReport:
    sector_index: int
    problems: list[str] = field(default_factory=list)
    marked: bool = False  # metadata replaced by dummy expired

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"sector_index": self.sector_index, "ok": self.ok, "problems": self.problems, "marked_for_replotting": self.marked}


@dataclass
class ScrubReport:
    farm: str
    plotted_sectors: int
    sectors: list[SectorReport]
    farm_problems: list[str]
    dry_run: bool

    @property
    def corrupt(self) -> list[int]:
        return [s.sector_index for s in self.sectors if not s.ok]

    def to_json(self) -> dict:
        return {
            "farm": self.farm,
            "plotted_sectors": self.plotted_sectors,
            "dry_run": self.dry_run,
            "farm_problems": self.farm_problems,
            "corrupt_sectors": self.corrupt,
            "sectors": [s.to_json() for s in self.sectors],
        }


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def scrub_farm(directory: str | os.PathLike, *, dry_run: bool = False, check_pieces: bool = False,
               progress=None) -> ScrubReport:
    """Check every plotted sector; unless ``dry_run``, mark corrupt ones as the reference does."""
    directory = Path(directory)
    farm = SingleDiskFarm.open(directory)
    try:
        p = farm.pieces_in_sector
        lay = farm.layout
        count = farm.header.plotted_sector_count
        farm_problems: list[str] = []
        plot_size = (directory / PLOT_FILE).stat().st_size
        if plot_size < count * farm.sector_size:
            fits = plot_size // farm.sector_size
            farm_problems.append(f"plot file holds {fits} sectors but the header says {count} are plotted")
            if not dry_run:
                farm.header.plotted_sector_count = fits
                fd = os.open(directory / METADATA_FILE, os.O_RDWR)
                try:
                    _write_all(fd, farm.header.encode(), 0)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            count = fits
        meta_fd = os.open(directory / METADATA_FILE, os.O_RDONLY if dry_run else os.O_RDWR)
        plot_fd = os.open(directory / PLOT_FILE, os.O_RDONLY if dry_run else os.O_RDWR)
        reports = []
        try:
            for i in range(count):
                rep = SectorReport(i)
                zero_sector = False
                raw = os.pread(meta_fd, SECTOR_METADATA_SIZE, RESERVED_PLOT_METADATA + i * SECTOR_METADATA_SIZE)
                meta = None
                try:
                    meta = SectorMetadata.decode_checksummed(raw)
                except FarmkitError as exc:
                    rep.problems.append(f"metadata: {exc}")
                if meta is not None and meta.sector_index != i:
                    rep.problems.append(f"metadata: sector index {meta.sector_index}, expected {i}")
                    meta = None
                if meta is not None and meta.pieces_in_sector != p:
                    rep.problems.append(f"metadata: {meta.pieces_in_sector} pieces in sector, expected {p}")
                    meta = None
                if meta is not None:
                    data = os.pread(plot_fd, farm.sector_size, i * farm.sector_size)
                    if len(data) != farm.sector_size:
                        rep.problems.append("sector: short read (truncated plot)")
                    elif sector_checksum(memoryview(data)[: lay.checksum_offset]) != data[lay.checksum_offset :]:
                        rep.problems.append("sector checksum mismatch")
                        zero_sector = True
                    if rep.ok and meta.s_bucket_sizes.any():
                        try:
                            cmap = SectorContentsMap.from_bytes(data[: lay.contents_map_size], p)
                        except FarmkitError as exc:
                            rep.problems.append(f"contents map: {exc}")
                            cmap = None
                        if cmap is not None and not np.array_equal(cmap.s_bucket_sizes(), meta.s_bucket_sizes):
                            rep.problems.append("metadata s-bucket sizes do not match the contents map")
                        if rep.ok and check_pieces:
                            sector = np.frombuffer(data, np.uint8)
                            sid = meta.sector_id(farm.public_key_hash)
                            for offset in range(p):
                                try:
                                    read_piece_from_sector(sector, meta, sid, offset, farm.pos_version(meta.history_size))
                                except FarmkitError as exc:
                                    rep.problems.append(f"piece {offset}: {exc}")
                if not rep.ok and not dry_run:
                    dummy = SectorMetadata.dummy_expired(i, p)
                    _write_all(meta_fd, dummy.encode_checksummed(), RESERVED_PLOT_METADATA + i * SECTOR_METADATA_SIZE)
                    if zero_sector:
                        zeros = bytes(lay.checksum_offset)
                        _write_all(plot_fd, zeros + sector_checksum(zeros), i * farm.sector_size)
                    rep.marked = True
                reports.append(rep)
                if progress:
                    progress(i + 1, count)
            if not dry_run:
                os.fsync(meta_fd)
                os.fsync(plot_fd)
        finally:
            os.close(meta_fd)
            os.close(plot_fd)
        return ScrubReport(str(directory), count, reports, farm_problems, dry_run)
    finally:
        farm.close()
