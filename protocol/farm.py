"""The farm on disk, like subspace-farmer's single disk farm (sector-audit-prove.md §8, pos-v2.md §4).

```
<farm>/single_disk_farm.json   {"v0":{"id","genesisHash","publicKey","piecesInSector","allocatedSpace"}}
<farm>/identity.bin            SCALE Vec<u8>: 0x80 ‖ 32 bytes of entropy -> sr25519 keypair
<farm>/metadata.bin            header (version 1: u8 ‖ u16 plotted_sector_count ‖ Option<u64> cutover)
                               in the first 1 MiB, then SectorMetadataChecksummed per sector
<farm>/plot.bin                sectors back to back, sector i at i · sector_size(P)
<farm>/piece_cache.bin         room for the DSN piece cache (cache_percentage of the allocation)
```

Writing order (crash safety): sector bytes -> fsync(plot.bin) -> sector metadata -> fsync ->
header (plotted_sector_count) -> fsync. A sector counts as plotted only when the header covers it,
and a sector being re-plotted in place is first marked "dummy expired" (empty s-buckets).

Reading (what the auditor uses): :meth:`SingleDiskFarm.open`, :meth:`SingleDiskFarm.plotted_sectors`,
:meth:`SingleDiskFarm.sector_view`, :meth:`SingleDiskFarm.read_piece` (reference ``reading.rs``).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from farmkit.kernels import sr25519 as _sr25519
from farmkit.fsutil import write_atomic
from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    DISK_SECTOR_SIZE,
    IDENTITY_FILE_SIZE,
    KNOWN_PEERS_FILE_SIZE,
    MAX_PIECES_IN_SECTOR,
    PIECE_CACHE_ELEMENT_SIZE,
    PLOT_METADATA_HEADER_SIZE,
    RESERVED_FARM_INFO,
    RESERVED_PLOT_METADATA,
)
from farmkit.protocol.sector import (
    SECTOR_METADATA_SIZE,
    SectorContentsMap,
    SectorId,
    SectorLayout,
    SectorMetadata,
    public_key_hash,
    sector_size,
)

__all__ = [
    "FARM_INFO_FILE",
    "IDENTITY_FILE",
    "METADATA_FILE",
    "PLOT_FILE",
    "PIECE_CACHE_FILE",
    "SingleDiskFarmInfo",
    "Identity",
    "PlotMetadataHeader",
    "AllocatedSpaceDistribution",
    "allocated_space_for_sectors",
    "is_post_cutover",
    "PlottedSector",
    "SingleDiskFarm",
    "parse_size",
]

FARM_INFO_FILE = "single_disk_farm.json"
IDENTITY_FILE = "identity.bin"
METADATA_FILE = "metadata.bin"
PLOT_FILE = "plot.bin"
PIECE_CACHE_FILE = "piece_cache.bin"

ENTROPY_LENGTH = 32
SUPPORTED_PLOT_VERSION = 1  # pos-v2.md §4.1
MAX_SECTOR_COUNT = 0xFFFF - 1  # SectorIndex::MAX is reserved (single_disk_farm.rs)


def _roundup(x: int, to: int = DISK_SECTOR_SIZE) -> int:
    return -(-x // to) * to


# --- sizes like "100MiB", "1.5TB" ------------------------------------------------------------
_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4, "p": 1000**5, "pb": 1000**5,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
    "ti": 1024**4, "tib": 1024**4, "pi": 1024**5, "pib": 1024**5,
}


def parse_size(text: str) -> int:
    """Parse a byte size like the reference CLI (``bytesize``): ``100MiB``, ``2GiB``, ``1.5TB``, ``4096``."""
    s = text.strip().replace("_", "").replace(" ", "")
    i = 0
    while i < len(s) and (s[i].isdigit() or s[i] == "."):
        i += 1
    number, unit = s[:i], s[i:].lower()
    if not number or unit not in _UNITS:
        raise FarmkitError(f"size: cannot parse {text!r} (use e.g. 100MiB, 2GiB, 1.5TB)")
    try:
        value = float(number) if "." in number else int(number)
    except ValueError:
        raise FarmkitError(f"size: cannot parse {text!r}") from None
    return int(value * _UNITS[unit])


# --- single_disk_farm.json (§8.1) --------------------------------------------------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    """A ULID (48-bit ms timestamp ‖ 80 random bits, Crockford base32), like ``FarmId::new()``."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


@dataclass
class SingleDiskFarmInfo:
    """``SingleDiskFarmInfo::V0`` (serde JSON, externally tagged ``v0``, camelCase)."""

    id: str
    genesis_hash: bytes
    public_key: bytes
    pieces_in_sector: int
    allocated_space: int

    def to_json(self) -> bytes:
        body = {
            "id": self.id,
            "genesisHash": self.genesis_hash.hex(),
            "publicKey": self.public_key.hex(),
            "piecesInSector": self.pieces_in_sector,
            "allocatedSpace": self.allocated_space,
        }
        return json.dumps({"v0": body}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "SingleDiskFarmInfo":
        try:
            body = json.loads(data)["v0"]
            return cls(
                id=str(body["id"]),
                genesis_hash=bytes.fromhex(body["genesisHash"]),
                public_key=bytes.fromhex(body["publicKey"]),
                pieces_in_sector=int(body["piecesInSector"]),
                allocated_space=int(body["allocatedSpace"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FarmkitError(f"{FARM_INFO_FILE}: not a single disk farm info file ({exc})") from None

    @classmethod
    def load_from(cls, directory: Path) -> "SingleDiskFarmInfo | None":
        path = Path(directory) / FARM_INFO_FILE
        if not path.exists():
            return None
        return cls.from_json(path.read_bytes())

    def store_to(self, directory: Path) -> None:
        write_atomic(Path(directory) / FARM_INFO_FILE, self.to_json())


# --- identity.bin (§8.2) -----------------------------------------------------------------------
# substrate-bip39 mini secret (PBKDF2) and schnorrkel expansion: farmkit.kernels.sr25519
mini_secret_from_entropy = _sr25519.mini_secret_from_entropy


@dataclass(frozen=True)
class Identity:
    """Farmer identity: 32 bytes of entropy -> sr25519 keypair (``ExpansionMode::Ed25519``)."""

    entropy: bytes
    public_key: bytes
    secret_key: bytes  # 64 bytes: schnorrkel secret key ‖ nonce (py-sr25519-bindings format)

    @classmethod
    def from_entropy(cls, entropy: bytes) -> "Identity":
        keypair = _sr25519.keypair_from_entropy(bytes(entropy))  # MiniSecretKey::expand_to_keypair(Ed25519)
        return cls(bytes(entropy), keypair.public, keypair.secret_key)

    @classmethod
    def generate(cls) -> "Identity":
        return cls.from_entropy(secrets.token_bytes(ENTROPY_LENGTH))

    def encode(self) -> bytes:
        """SCALE ``Vec<u8>``: compact(32) = 0x80, then the entropy."""
        return bytes([len(self.entropy) << 2]) + self.entropy

    @classmethod
    def decode(cls, data: bytes, where: str = IDENTITY_FILE) -> "Identity":
        data = bytes(data)
        if len(data) != IDENTITY_FILE_SIZE or data[0] != (ENTROPY_LENGTH << 2):
            raise FarmkitError(f"{where}: not an identity file (expected 33 bytes: 0x80 then 32 bytes of entropy)")
        return cls.from_entropy(data[1:])

    @classmethod
    def open(cls, path: Path) -> "Identity":
        path = Path(path)
        if path.is_dir():
            path = path / IDENTITY_FILE
        if not path.exists():
            raise FarmkitError(f"{path}: identity file not found")
        return cls.decode(path.read_bytes(), str(path))

    @property
    def public_key_hash(self) -> bytes:
        return public_key_hash(self.public_key)


# --- metadata.bin header (§8.3, pos-v2.md §4.1) ----------------------------------------------
@dataclass
class PlotMetadataHeader:
    """``PlotMetadataHeader``: version 0 = ``u8 ‖ u16``, version 1 adds ``cutover: Option<HistorySize>``."""

    version: int = SUPPORTED_PLOT_VERSION
    plotted_sector_count: int = 0
    cutover: int | None = None

    def encode(self) -> bytes:
        out = bytes([self.version]) + self.plotted_sector_count.to_bytes(2, "little")
        if self.version == 0:
            return out
        if self.cutover is None:
            return out + b"\x00"
        return out + b"\x01" + int(self.cutover).to_bytes(8, "little")

    @classmethod
    def decode(cls, data: bytes) -> "PlotMetadataHeader":
        data = bytes(data)
        if len(data) < 3 or data[0] not in (0, 1):
            raise FarmkitError(f"{METADATA_FILE}: unsupported metadata header version {data[:1].hex() or 'none'}")
        version, count = data[0], int.from_bytes(data[1:3], "little")
        if version == 0:
            return cls(0, count, None)
        tag = data[3] if len(data) > 3 else None
        if tag == 0:
            return cls(1, count, None)
        if tag == 1 and len(data) >= 12:
            cutover = int.from_bytes(data[4:12], "little")
            if cutover == 0:
                raise FarmkitError(f"{METADATA_FILE}: cutover history size is zero")
            return cls(1, count, cutover)
        raise FarmkitError(f"{METADATA_FILE}: corrupt metadata header")


def is_post_cutover(cutover: int | None, history_size: int) -> bool:
    """pos-v2.md §4.2: V2 iff ``cutover is None or history_size > cutover``."""
    return cutover is None or history_size > cutover


def pos_version_for(cutover: int | None, history_size: int) -> str:
    return "v2" if is_post_cutover(cutover, history_size) else "v1"


# --- space allocation (§8.6) -------------------------------------------------------------------
FIXED_SPACE_USAGE = RESERVED_PLOT_METADATA + RESERVED_FARM_INFO + IDENTITY_FILE_SIZE + KNOWN_PEERS_FILE_SIZE


@dataclass(frozen=True)
class AllocatedSpaceDistribution:
    """``AllocatedSpaceDistribution::new`` (single_disk_farm.rs)."""

    piece_cache_file_size: int
    piece_cache_capacity: int
    plot_file_size: int
    target_sector_count: int
    metadata_file_size: int

    @classmethod
    def new(cls, allocated_space: int, pieces_in_sector: int, cache_percentage: int = 1) -> "AllocatedSpaceDistribution":
        if not 0 <= cache_percentage < 100:
            raise FarmkitError("cache percentage must be 0..99")
        ss = sector_size(pieces_in_sector)
        overhead = ss + SECTOR_METADATA_SIZE
        plottable = max(0, allocated_space - FIXED_SPACE_USAGE) // 100 * (100 - cache_percentage)
        target = max(0, plottable - DISK_SECTOR_SIZE) // overhead
        if target == 0:
            single = -(-overhead // (100 - cache_percentage)) * 100
            if single - overhead < PIECE_CACHE_ELEMENT_SIZE:
                single = overhead + PIECE_CACHE_ELEMENT_SIZE
            raise FarmkitError(
                f"allocated space {allocated_space} bytes is too small: the lowest acceptable value "
                f"for {pieces_in_sector} pieces per sector is {FIXED_SPACE_USAGE + single} bytes"
            )
        plot_file_size = _roundup(target * ss)
        capacity = 0
        if cache_percentage > 0:
            cache_space = allocated_space - FIXED_SPACE_USAGE - plot_file_size - SECTOR_METADATA_SIZE * target
            capacity = max(0, cache_space) // PIECE_CACHE_ELEMENT_SIZE
        if target >= 0xFFFF:
            raise FarmkitError(f"farm is too large: {target} sectors, at most {MAX_SECTOR_COUNT}")
        return cls(
            piece_cache_file_size=capacity * PIECE_CACHE_ELEMENT_SIZE,
            piece_cache_capacity=capacity,
            plot_file_size=plot_file_size,
            target_sector_count=target,
            metadata_file_size=RESERVED_PLOT_METADATA + SECTOR_METADATA_SIZE * target,
        )


def allocated_space_for_sectors(sectors: int, pieces_in_sector: int, cache_percentage: int = 0) -> int:
    """The smallest allocated space whose distribution holds exactly ``sectors`` sectors."""
    if sectors < 1 or sectors > MAX_SECTOR_COUNT:
        raise FarmkitError(f"--sectors must be 1..{MAX_SECTOR_COUNT}")
    overhead = sector_size(pieces_in_sector) + SECTOR_METADATA_SIZE
    q = -(-(sectors * overhead + DISK_SECTOR_SIZE) // (100 - cache_percentage))
    allocated = FIXED_SPACE_USAGE + 100 * q
    assert AllocatedSpaceDistribution.new(allocated, pieces_in_sector, cache_percentage).target_sector_count == sectors
    return allocated


# --- the farm ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlottedSector:
    """One plotted sector as the auditor sees it."""

    sector_index: int
    metadata: SectorMetadata
    sector_id: SectorId
    pos_version: str  # "v1" or "v2" (from the farm's cutover)
    offset: int  # byte offset of the sector in plot.bin

    @property
    def history_size(self) -> int:
        return self.metadata.history_size


def _pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data).cast("B")
    while len(view):
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _check_free_space(directory: Path, sizes: dict[str, int]) -> None:
    """One-line error before any file grows if the farm's files do not fit on the disk."""
    needed = 0
    for name, size in sizes.items():
        p = directory / name
        have = p.stat().st_blocks * 512 if p.exists() else 0
        needed += max(0, size - have)
    vfs = os.statvfs(directory)
    free = vfs.f_bavail * vfs.f_frsize
    if needed > free:
        raise FarmkitError(
            f"{directory}: not enough free space for this farm: needs {needed / 2**30:.2f} GiB more, "
            f"{free / 2**30:.2f} GiB free"
        )


def _preallocate(fd: int, size: int, path: Path) -> None:
    """Grow (or shrink) a file to ``size`` bytes with real blocks, like the reference's preallocate.

    Checks free space first and gives the blocks back if allocation fails, so a too-large
    ``--size`` is a one-line error that leaves the disk as it was."""
    st = os.fstat(fd)
    current = st.st_size
    if current >= size:
        if current > size:
            os.ftruncate(fd, size)
        return
    vfs = os.fstatvfs(fd)
    free = vfs.f_bavail * vfs.f_frsize
    needed = size - st.st_blocks * 512
    if needed > free:
        raise FarmkitError(
            f"{path}: not enough free space: needs {needed / 2**30:.2f} GiB more, {free / 2**30:.2f} GiB free"
        )
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (95, 22):  # not supported by this filesystem: grow sparsely
            os.ftruncate(fd, size)
        else:
            os.ftruncate(fd, current)
            raise FarmkitError(f"{path}: cannot preallocate {size} bytes ({exc.strerror})") from None


def _lock_farm(directory: Path) -> int:
    """Exclusive lock on single_disk_farm.json while plotting (the reference uses fs4 the same way)."""
    import fcntl

    fd = os.open(Path(directory) / FARM_INFO_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise FarmkitError(f"{directory}: farm is in use by another process") from None
    return fd


class SingleDiskFarm:
    """A farm directory. ``open`` for reading; ``create_or_open`` + ``write_sector`` for plotting."""

    def __init__(self, directory: Path, info: SingleDiskFarmInfo, header: PlotMetadataHeader,
                 distribution: AllocatedSpaceDistribution, writable: bool):
        self.directory = Path(directory)
        self.info = info
        self.header = header
        self.distribution = distribution
        self.writable = writable
        self.pieces_in_sector = info.pieces_in_sector
        self.sector_size = sector_size(info.pieces_in_sector)
        self.layout = SectorLayout(info.pieces_in_sector)
        self.public_key_hash = public_key_hash(info.public_key)
        flags = os.O_RDWR if writable else os.O_RDONLY
        self._metadata_fd = os.open(self.directory / METADATA_FILE, flags)
        self._plot_fd = os.open(self.directory / PLOT_FILE, flags)
        self._mmap: mmap.mmap | None = None
        self._lock_fd = -1

    # -- opening --------------------------------------------------------------------------------
    @property
    def target_sector_count(self) -> int:
        return self.distribution.target_sector_count

    @property
    def cutover(self) -> int | None:
        return self.header.cutover

    @classmethod
    def open(cls, directory: Path | str) -> "SingleDiskFarm":
        """Open an existing farm read-only (a version-0 header is read with its implied cutover)."""
        directory = Path(directory)
        info = SingleDiskFarmInfo.load_from(directory)
        if info is None:
            raise FarmkitError(f"{directory}: not a farm (no {FARM_INFO_FILE})")
        for name in (METADATA_FILE, PLOT_FILE):
            if not (directory / name).exists():
                raise FarmkitError(f"{directory}: farm has no {name}")
        # the cache percentage is a run-time option of the reference farmer; the files' sizes tell
        # how this farm was laid out (plot.bin = roundup_4096(target · sector_size))
        plot_size = (directory / PLOT_FILE).stat().st_size
        target = plot_size // sector_size(info.pieces_in_sector)
        cache_path = directory / PIECE_CACHE_FILE
        cache_size = cache_path.stat().st_size if cache_path.exists() else 0
        distribution = AllocatedSpaceDistribution(
            cache_size, cache_size // PIECE_CACHE_ELEMENT_SIZE, plot_size, target,
            RESERVED_PLOT_METADATA + SECTOR_METADATA_SIZE * target,
        )
        with open(directory / METADATA_FILE, "rb") as f:
            header = PlotMetadataHeader.decode(f.read(PLOT_METADATA_HEADER_SIZE))
        farm = cls(directory, info, header, distribution, writable=False)
        if header.version == 0:
            farm.header = PlotMetadataHeader(1, header.plotted_sector_count, farm._implied_cutover())
        return farm

    @classmethod
    def create_or_open(
        cls,
        directory: Path | str,
        *,
        genesis_hash: bytes,
        allocated_space: int,
        pieces_in_sector: int = MAX_PIECES_IN_SECTOR,
        max_pieces_in_sector: int = MAX_PIECES_IN_SECTOR,
        identity: Identity | None = None,
        cache_percentage: int = 1,
    ) -> tuple["SingleDiskFarm", Identity]:
        """Like ``SingleDiskFarm::init``: create files on first use, check them on later ones."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / ".farmkit-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise FarmkitError(f"{directory}: farm directory is not writable ({exc.strerror})") from None

        identity_path = directory / IDENTITY_FILE
        if identity_path.exists():
            existing = Identity.open(identity_path)
            if identity is not None and identity.public_key != existing.public_key:
                raise FarmkitError(
                    f"{directory}: farm already has identity {existing.public_key.hex()}, "
                    f"not the given {identity.public_key.hex()}"
                )
            identity = existing
        else:
            identity = identity or Identity.generate()
            write_atomic(identity_path, identity.encode())

        info = SingleDiskFarmInfo.load_from(directory)
        if info is None:
            if not 1 <= pieces_in_sector <= max_pieces_in_sector:
                raise FarmkitError(f"pieces in sector must be 1..{max_pieces_in_sector}")
            info = SingleDiskFarmInfo(new_ulid(), bytes(genesis_hash), identity.public_key, pieces_in_sector, allocated_space)
        else:
            if info.genesis_hash != bytes(genesis_hash):
                raise FarmkitError(
                    f"{directory}: farm belongs to chain {info.genesis_hash.hex()}, not {bytes(genesis_hash).hex()}"
                )
            if info.public_key != identity.public_key:
                raise FarmkitError(f"{directory}: farm public key does not match its identity.bin")
            if info.pieces_in_sector > max_pieces_in_sector:
                raise FarmkitError(
                    f"{directory}: farm has {info.pieces_in_sector} pieces per sector, more than {max_pieces_in_sector}"
                )
        distribution = AllocatedSpaceDistribution.new(allocated_space, info.pieces_in_sector, cache_percentage)

        metadata_path = directory / METADATA_FILE
        expected_metadata = _roundup(distribution.metadata_file_size)
        _check_free_space(directory, {
            METADATA_FILE: expected_metadata,
            PLOT_FILE: distribution.plot_file_size,
            PIECE_CACHE_FILE: _roundup(distribution.piece_cache_file_size),
        })
        fd = os.open(metadata_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size == 0:
                header = PlotMetadataHeader(SUPPORTED_PLOT_VERSION, 0, None)
                _preallocate(fd, expected_metadata, metadata_path)
                _pwrite_all(fd, header.encode(), 0)
                os.fsync(fd)
            else:
                header = PlotMetadataHeader.decode(os.pread(fd, PLOT_METADATA_HEADER_SIZE, 0))
                if header.plotted_sector_count > distribution.target_sector_count:
                    raise FarmkitError(
                        f"{directory}: {header.plotted_sector_count} sectors are plotted but the new size "
                        f"holds only {distribution.target_sector_count}; refusing to shrink the farm"
                    )
                if os.fstat(fd).st_size != expected_metadata:
                    _preallocate(fd, expected_metadata, metadata_path)
        finally:
            os.close(fd)

        plot_path = directory / PLOT_FILE
        fd = os.open(plot_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _preallocate(fd, distribution.plot_file_size, plot_path)
        finally:
            os.close(fd)

        if distribution.piece_cache_file_size:
            cache_path = directory / PIECE_CACHE_FILE
            fd = os.open(cache_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                # preallocated like DiskPieceCache::open; all-zero elements are empty (§8.5)
                _preallocate(fd, _roundup(distribution.piece_cache_file_size), cache_path)
            finally:
                os.close(fd)

        if info.allocated_space != allocated_space or not (directory / FARM_INFO_FILE).exists():
            info.allocated_space = allocated_space
            info.store_to(directory)

        farm = cls(directory, info, header, distribution, writable=True)
        farm._lock_fd = _lock_farm(directory)
        if header.version == 0:  # pos-v2.md §4.2: in-place upgrade of a version-0 farm
            farm.header = PlotMetadataHeader(1, header.plotted_sector_count, farm._implied_cutover())
            farm._write_header()
        return farm, identity

    def close(self) -> None:
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:  # numpy views of it are still alive; the GC unmaps it later
                pass
            self._mmap = None
        for fd in (self._metadata_fd, self._plot_fd, self._lock_fd):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        self._metadata_fd = self._plot_fd = self._lock_fd = -1

    def __enter__(self) -> "SingleDiskFarm":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------------------
    def _metadata_offset(self, sector_index: int) -> int:
        return RESERVED_PLOT_METADATA + SECTOR_METADATA_SIZE * sector_index

    def read_sector_metadata(self, sector_index: int) -> SectorMetadata:
        """Sector metadata; an undecodable entry reads as "dummy expired" like the reference."""
        raw = os.pread(self._metadata_fd, SECTOR_METADATA_SIZE, self._metadata_offset(sector_index))
        try:
            return SectorMetadata.decode_checksummed(raw)
        except FarmkitError:
            return SectorMetadata.dummy_expired(sector_index, self.pieces_in_sector)

    def sectors_metadata(self) -> list[SectorMetadata]:
        return [self.read_sector_metadata(i) for i in range(self.header.plotted_sector_count)]

    def _implied_cutover(self) -> int | None:
        sizes = [m.history_size for m in self.sectors_metadata()]
        return max(sizes) if sizes else None

    def pos_version(self, history_size: int) -> str:
        return pos_version_for(self.header.cutover, history_size)

    def plotted_sector(self, sector_index: int) -> PlottedSector:
        """One plotted sector: metadata, SectorId, PoS version (from the cutover), offset in plot.bin."""
        if not 0 <= sector_index < self.header.plotted_sector_count:
            raise FarmkitError(f"sector {sector_index} is not plotted")
        m = self.read_sector_metadata(sector_index)
        return PlottedSector(
            sector_index=sector_index,
            metadata=m,
            sector_id=m.sector_id(self.public_key_hash),
            pos_version=self.pos_version(m.history_size),
            offset=sector_index * self.sector_size,
        )

    def plotted_sectors(self) -> list[PlottedSector]:
        """Every sector below ``plotted_sector_count`` (undecodable metadata reads as dummy expired)."""
        return [self.plotted_sector(i) for i in range(self.header.plotted_sector_count)]

    # -- reading sectors ------------------------------------------------------------------------
    def plot_mmap(self) -> mmap.mmap:
        if self._mmap is None:
            self._mmap = mmap.mmap(self._plot_fd, 0, access=mmap.ACCESS_READ)
        return self._mmap

    def read_sector_bytes(self, sector_index: int) -> bytes:
        return os.pread(self._plot_fd, self.sector_size, sector_index * self.sector_size)

    def sector_view(self, sector_index: int) -> np.ndarray:
        """Read-only uint8 view of one sector in plot.bin (mmap)."""
        mm = self.plot_mmap()
        start = sector_index * self.sector_size
        return np.frombuffer(mm, np.uint8, count=self.sector_size, offset=start)

    def read_contents_map(self, sector_index: int) -> SectorContentsMap:
        raw = os.pread(self._plot_fd, self.layout.contents_map_size, sector_index * self.sector_size)
        return SectorContentsMap.from_bytes(raw, self.pieces_in_sector)

    def read_piece(self, sector_index: int, piece_offset: int, *, check: bool = True) -> bytes:
        """Read one record back and rebuild its piece (reference ``reading.rs`` ``read_piece``)."""
        from farmkit.protocol.sector import read_piece_from_sector

        if sector_index >= self.header.plotted_sector_count:
            raise FarmkitError(f"sector {sector_index} is not plotted")
        sector = self.plotted_sector(sector_index)
        return read_piece_from_sector(
            self.sector_view(sector_index), sector.metadata, sector.sector_id, piece_offset,
            sector.pos_version, check=check,
        )

    def check_sector(self, sector_index: int) -> None:
        """Raise unless sector ``sector_index`` is fully written: sector checksum (§6.5 region 4),
        contents map checksum, and metadata s-bucket sizes that match the contents map."""
        from farmkit.protocol.sector import sector_checksum

        data = self.read_sector_bytes(sector_index)
        lay = self.layout
        if sector_checksum(data[: lay.checksum_offset]) != data[lay.checksum_offset :]:
            raise FarmkitError(f"sector {sector_index}: sector checksum mismatch")
        cm = SectorContentsMap.from_bytes(data[: lay.contents_map_size], self.pieces_in_sector)
        meta = self.read_sector_metadata(sector_index)
        if meta.s_bucket_sizes.any() and not np.array_equal(cm.s_bucket_sizes(), meta.s_bucket_sizes):
            raise FarmkitError(f"sector {sector_index}: metadata does not match the sector contents")

    # -- writing sectors (crash-safe order) -----------------------------------------------------
    def _require_writable(self) -> None:
        if not self.writable:
            raise FarmkitError("farm is open read-only")

    def _write_header(self) -> None:
        self._require_writable()
        _pwrite_all(self._metadata_fd, self.header.encode(), 0)
        os.fsync(self._metadata_fd)

    def set_cutover(self, cutover: int | None) -> None:
        """Record which sectors are V1 (history size <= cutover) — pos-v2.md §4."""
        self.header.cutover = cutover
        self.header.version = SUPPORTED_PLOT_VERSION
        self._write_header()

    def write_sector(self, sector_index: int, sector_bytes, metadata: SectorMetadata) -> None:
        """Write a sector durably: bytes, fsync, metadata, fsync, header, fsync."""
        self._require_writable()
        if not 0 <= sector_index < self.target_sector_count:
            raise FarmkitError(f"sector index {sector_index} outside the farm (0..{self.target_sector_count - 1})")
        data = memoryview(sector_bytes).cast("B")
        if len(data) != self.sector_size:
            raise FarmkitError(f"sector has {len(data)} bytes, expected {self.sector_size}")
        if sector_index < self.header.plotted_sector_count:
            # re-plotting in place: mark the old sector empty first, so it is never audited half-written
            dummy = SectorMetadata.dummy_expired(sector_index, self.pieces_in_sector)
            _pwrite_all(self._metadata_fd, dummy.encode_checksummed(), self._metadata_offset(sector_index))
            os.fsync(self._metadata_fd)
        _pwrite_all(self._plot_fd, data, sector_index * self.sector_size)
        os.fsync(self._plot_fd)
        _pwrite_all(self._metadata_fd, metadata.encode_checksummed(), self._metadata_offset(sector_index))
        os.fsync(self._metadata_fd)
        if sector_index + 1 > self.header.plotted_sector_count:
            self.header.plotted_sector_count = sector_index + 1
            self._write_header()

    # -- summary --------------------------------------------------------------------------------
    def space_used(self) -> dict:
        files = {}
        for name in (FARM_INFO_FILE, IDENTITY_FILE, METADATA_FILE, PLOT_FILE, PIECE_CACHE_FILE):
            p = self.directory / name
            if p.exists():
                st = p.stat()
                files[name] = {"size": st.st_size, "on_disk": st.st_blocks * 512}
        return files
