"""A hardware profile: the machine's identity, SSD and compute measurements, farming projections,
saved as one HDF5 file (h5py).

HDF5 layout (``format = "farmkit-hwprofile"``, ``format_version = 1``)::

    /                     attrs: format, format_version, created (UTC ISO), farmkit_version,
                                 quick, label, notes, command
    /machine              attrs: cpu_model, logical_cpus, physical_cores, cpu_flags, memory_bytes,
                                 hypervisor, gpus, drive_model, drive_device, filesystem, mount, os, ...
    /ssd                  attrs: path, file_size, direct_io, direct_io_reason, modes, threads, notes
    /ssd/runs/<shape>_<mode>_t<threads>
                          dataset latency_ns (uint32, raw per-read latencies, subsampled to
                                  <= 20,000) with attrs: iops, p50_us ... (see ssd.ReadRun)
    /compute/<metric>     attrs: value, unit, available, reason, seconds, label, detail (JSON)
    /gpu                  attrs: backend, device, memory figures (JSON-able scalars)
    /projections          attrs: the derived farming figures; /projections/formulas: the formulas
    /summary              dataset: the text summary

Projections (anchors.md §0, §1.3; sector-audit-prove.md §7, §9.2, §13):

* sectors per TiB = 2^40 / sector_size(1000) = 1040.3
* audit: one random s-bucket read (16,000 B mean) per sector per slot, all within the 1 s slot:
  max plot TiB = audit reads/s x 1 s / sectors per TiB; the CPU side (500 keyed BLAKE3 per sector)
  gives a second limit, and the farm is limited by the smaller
* plotting: hours per TiB = sectors per TiB x 1000 records x (1 / records per second) / 3600
* PoT: keeps up with mainnet iff prove rate >= 206,557,520 iterations per 1 s slot
* proving (estimate): one PoS table (1 thread) + 2^15 single-chunk reads at the 4 KiB random rate,
  must fit in 4 s (BLOCK_AUTHORING_DELAY slots)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from farmkit.errors import FarmkitError
from farmkit.protocol.constants import (
    BLAKE3_HASH_SIZE,
    BLOCK_AUTHORING_DELAY,
    COMMITMENT_SIZE,
    MAX_PIECES_IN_SECTOR,
    POT_MAINNET_SLOT_ITERATIONS,
    RECORD_NUM_CHUNKS,
    RECORD_NUM_S_BUCKETS,
    RECORD_SIZE,
    SLOT_DURATION_MS,
    WITNESS_SIZE,
)

from .cpu import Metric
from .ssd import AUDIT_READ_SIZE, ReadRun, SsdResult

FORMAT = "farmkit-hwprofile"
FORMAT_VERSION = 1
FARMING_FLAGS = ("aes", "vaes", "vpclmulqdq", "pclmulqdq", "sha_ni", "avx2", "avx512f", "avx512bw",
                 "avx512vl", "bmi2", "adx", "neon", "asimd", "pmull", "sha2")
TIB = 2**40
SLOT_SECONDS = SLOT_DURATION_MS / 1000
PROVING_BUDGET_S = BLOCK_AUTHORING_DELAY * SLOT_SECONDS  # 4 s


def sector_size(pieces: int = MAX_PIECES_IN_SECTOR) -> int:
    """Bytes of one plotted sector (sector-audit-prove.md §7): 1,056,896·P + 64."""
    try:
        from farmkit.protocol.sector import sector_size as protocol_sector_size

        return int(protocol_sector_size(pieces))
    except Exception:  # protocol layer not there: the §7 formula from the named sizes
        contents_map = pieces * (RECORD_NUM_S_BUCKETS // 8) + BLAKE3_HASH_SIZE
        record_metadata = pieces * (COMMITMENT_SIZE + WITNESS_SIZE + BLAKE3_HASH_SIZE)
        return contents_map + pieces * RECORD_SIZE + record_metadata + BLAKE3_HASH_SIZE


SECTORS_PER_TIB = TIB / sector_size(MAX_PIECES_IN_SECTOR)  # ~1040.3


# --- machine identity --------------------------------------------------------------------------------
def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _cpuinfo() -> dict[str, Any]:
    text = _read("/proc/cpuinfo")
    model, flags, cores = "", set(), set()
    phys = core = None
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key in ("model name", "Model", "Hardware") and not model:
            model = val
        elif key in ("flags", "Features") and not flags:
            flags = set(val.split())
        elif key == "physical id":
            phys = val
        elif key == "core id":
            core = val
            cores.add((phys, core))
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "physical_cores": len(cores) or (os.cpu_count() or 0),
        "cpu_flags": " ".join(f for f in FARMING_FLAGS if f in flags),
        "hypervisor": "hypervisor" in flags,
    }


def _memory_bytes() -> int:
    m = re.search(r"MemTotal:\s+(\d+) kB", _read("/proc/meminfo"))
    return int(m.group(1)) * 1024 if m else 0


def _mount_of(path: Path) -> dict[str, str]:
    """The /proc/mounts entry that holds ``path`` (longest mount point prefix)."""
    best = {"mount": "", "filesystem": "unknown", "source": "", "mount_options": ""}
    real = str(Path(path).resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        src, mnt, fstype, opts = parts[0], parts[1].replace("\\040", " "), parts[2], parts[3]
        if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best["mount"]):
            best = {"mount": mnt, "filesystem": fstype, "source": src, "mount_options": opts}
    return best


def _drive_of(path: Path) -> dict[str, Any]:
    """Block device, model and rotational flag of the drive holding ``path`` (sysfs, then lsblk)."""
    out = {"drive_device": "", "drive_model": "unknown", "drive_rotational": -1, "drive_size_bytes": 0}
    try:
        st = os.stat(path)
    except OSError:
        return out
    sys_dev = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if sys_dev.exists():
        dev = sys_dev.resolve()
        if (dev / "partition").exists():
            dev = dev.parent
        out["drive_device"] = dev.name
        model = _read(str(dev / "device" / "model")) or _read(str(dev / "device" / "name"))
        vendor = _read(str(dev / "device" / "vendor"))
        if not model:
            driver = Path(dev / "device" / "driver")
            if driver.exists():
                model = f"{driver.resolve().name} virtual disk"
        if model:
            out["drive_model"] = (f"{model} (vendor {vendor})" if vendor.startswith("0x") else f"{vendor} {model}").strip()
        rot = _read(str(dev / "queue" / "rotational"))
        out["drive_rotational"] = int(rot) if rot.isdigit() else -1
        size = _read(str(dev / "size"))
        out["drive_size_bytes"] = int(size) * 512 if size.isdigit() else 0
    if out["drive_model"] == "unknown" and out["drive_device"]:
        try:
            r = subprocess.run(["lsblk", "-dno", "MODEL", f"/dev/{out['drive_device']}"],
                               capture_output=True, text=True, timeout=5)
            if r.stdout.strip():
                out["drive_model"] = r.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return out


def _gpus() -> str:
    try:
        from farmkit.kernels.backends import describe

        return "; ".join(f"{b.name}: {b.device}" for b in describe() if b.name != "cpu" and b.available) or "none"
    except Exception as exc:  # pragma: no cover - backends is part of the foundation
        return f"unknown ({exc})"


def _os_name() -> str:
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', _read("/etc/os-release"), re.M)
    return m.group(1) if m else platform.system()


def machine_identity(path: Path | None) -> dict[str, Any]:
    """What the profile was measured on: CPU, memory, GPUs, the drive and filesystem of ``path``."""
    import numba

    import farmkit

    ident: dict[str, Any] = {
        **_cpuinfo(),
        "logical_cpus": os.cpu_count() or 0,
        "memory_bytes": _memory_bytes(),
        "gpus": _gpus(),
        "os": _os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "farmkit_version": farmkit.__version__,
    }
    if path is not None:
        ident.update(_drive_of(path))
        ident.update(_mount_of(path))
    return ident


# --- the profile -------------------------------------------------------------------------------------
@dataclass
class Profile:
    meta: dict[str, Any]
    machine: dict[str, Any]
    ssd: SsdResult | None = None
    compute: list[Metric] = field(default_factory=list)
    gpu: dict[str, Any] = field(default_factory=dict)
    projections: dict[str, Any] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def metric(self, name: str) -> Metric | None:
        for m in self.compute:
            if m.name == name:
                return m
        return None

    def rate(self, name: str) -> float | None:
        m = self.metric(name)
        return m.value if m is not None and m.available else None

    def best_run(self, shape: str, modes: tuple[str, ...]) -> ReadRun | None:
        """The highest-IOPS run of ``shape`` among ``modes`` (first mode that has runs wins)."""
        if self.ssd is None:
            return None
        for mode in modes:
            runs = [r for r in self.ssd.runs if r.shape == shape and r.mode == mode]
            if runs:
                return max(runs, key=lambda r: r.iops)
        return None


def new_meta(quick: bool, label: str, notes: str, command: str) -> dict[str, Any]:
    import farmkit

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "farmkit_version": farmkit.__version__,
        "quick": bool(quick),
        "label": label,
        "notes": notes,
        "command": command,
    }


# --- projections -------------------------------------------------------------------------------------
FORMULAS = {
    "sectors_per_tib": "2^40 / sector_size(1000) = 2^40 / 1,056,896,064 B (sector-audit-prove.md §7)",
    "audit_max_tib": (
        "audit reads/s x 1 s slot / sectors per TiB. One random read of one s-bucket per sector per slot "
        f"({AUDIT_READ_SIZE:,} B mean for 1000 pieces, not 4 KiB aligned; direct I/O reads the covering "
        "aligned span), all sectors read in parallel by the measured threads, the whole slot available "
        "(upstream asks for 'well within 1 s': halve it for headroom). Excludes CPU hashing "
        "(~500 keyed BLAKE3 per sector) and the page cache; best thread count, direct I/O "
        "(buffered/mmap if O_DIRECT is unsupported)"
    ),
    "audit_max_tib_mmap": "same as audit_max_tib with mmap (page-cache) reads",
    "audit_max_tib_mmap_prefetch": "same as audit_max_tib with mmap reads prefetched by MADV_WILLNEED",
    "audit_hashing_max_tib": (
        "audit hashing sectors/s (keyed BLAKE3 of 500 chunks per sector, all threads) x 1 s / sectors per TiB"
    ),
    "audit_limit_tib": "min(audit_max_tib, audit_hashing_max_tib): the slower of reading and hashing bounds "
                       "the farm when the two overlap (run back to back: 1 / (1/a + 1/b))",
    "plot_hours_per_tib": (
        "sectors per TiB x 1000 records x (1 / records per second) / 3600; records/s = record encoding "
        "(PoS table + erasure coding + masking) on all threads; if that is unavailable, PoS tables/s "
        "on all threads gives a lower bound (PoS only). Excludes piece download and disk writes"
    ),
    "plot_hours_per_tib_gpu": "as plot_hours_per_tib with the GPU record-encoding (else GPU PoS) rate",
    "pot_keeps_up": "PoT prove iterations/s >= 206,557,520 (mainnet iterations per 1 s slot)",
    "pot_slot_seconds": "206,557,520 / prove iterations/s (time this CPU needs for one mainnet slot)",
    "pot_verify_slot_seconds": "206,557,520 / verify iterations/s (checking one slot's 8 checkpoints)",
    "proving_seconds_estimate": (
        "1 / PoS tables/s (1 thread) + 2^15 / 4 KiB direct-I/O reads/s (best threads): rebuild one table "
        "and read the winning record's 32,768 chunks one by one (ConcurrentChunks); must be < 4 s"
    ),
}


def project(p: Profile) -> tuple[dict[str, Any], dict[str, str]]:
    """The farming figures derived from the measurements (see FORMULAS)."""
    out: dict[str, Any] = {"sectors_per_tib": SECTORS_PER_TIB}
    audit = p.best_run("audit", ("direct", "buffered", "mmap"))
    if audit is not None:
        out["audit_reads_per_s"] = audit.iops
        out["audit_mode"] = audit.mode
        out["audit_threads"] = audit.threads
        out["audit_max_tib"] = audit.iops * SLOT_SECONDS / SECTORS_PER_TIB
    hashing = max(p.rate("audit_hashing") or 0.0, p.rate("audit_hashing_1t") or 0.0)
    if hashing:
        out["audit_hashing_max_tib"] = hashing * SLOT_SECONDS / SECTORS_PER_TIB
        if "audit_max_tib" in out:
            out["audit_limit_tib"] = min(out["audit_max_tib"], out["audit_hashing_max_tib"])
    audit_mm = p.best_run("audit", ("mmap",))
    if audit_mm is not None:
        out["audit_max_tib_mmap"] = audit_mm.iops * SLOT_SECONDS / SECTORS_PER_TIB
    audit_pf = p.best_run("audit", ("mmap_prefetch",))
    if audit_pf is not None:
        out["audit_max_tib_mmap_prefetch"] = audit_pf.iops * SLOT_SECONDS / SECTORS_PER_TIB
    r4k = p.best_run("4k", ("direct", "buffered", "mmap"))
    if r4k is not None:
        out["random_4k_iops"] = r4k.iops
        out["random_4k_mode"] = r4k.mode
    records = max(p.rate("record_encoding") or 0.0, p.rate("record_encoding_1t") or 0.0)
    basis = "record encoding"
    if not records:
        records = max(p.rate("pos_tables_parallel") or 0.0, p.rate("pos_tables") or 0.0)
        basis = "PoS tables only (lower bound)"
    if records:
        out["plot_hours_per_tib"] = SECTORS_PER_TIB * MAX_PIECES_IN_SECTOR / records / 3600
        out["plot_basis"] = basis
    gpu_records = p.rate("record_encoding_gpu")
    gbasis = "GPU record encoding"
    if gpu_records is None:
        gpu_records = p.rate("pos_tables_gpu")
        gbasis = "GPU PoS tables only (lower bound)"
    if gpu_records:
        out["plot_hours_per_tib_gpu"] = SECTORS_PER_TIB * MAX_PIECES_IN_SECTOR / gpu_records / 3600
        out["plot_basis_gpu"] = gbasis
    prove = p.rate("pot_prove")
    if prove:
        out["pot_keeps_up"] = bool(prove >= POT_MAINNET_SLOT_ITERATIONS / SLOT_SECONDS)
        out["pot_slot_seconds"] = POT_MAINNET_SLOT_ITERATIONS / prove
    verify = p.rate("pot_verify")
    if verify:
        out["pot_verify_slot_seconds"] = POT_MAINNET_SLOT_ITERATIONS / verify
    table1 = p.rate("pos_tables")
    r4k_direct = p.best_run("4k", ("direct", "buffered", "mmap"))
    if table1 and r4k_direct is not None:
        est = 1 / table1 + RECORD_NUM_CHUNKS / r4k_direct.iops
        out["proving_seconds_estimate"] = est
        out["proving_within_budget"] = bool(est < PROVING_BUDGET_S)
    formulas = {k: v for k, v in FORMULAS.items() if k in out}
    return out, formulas


# --- HDF5 ---------------------------------------------------------------------------------------------
def _attr(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_profile(p: Profile, path: Path) -> None:
    """Write ``p`` to ``path`` (via a temporary file renamed into place: never a half file)."""
    import h5py

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            for k, v in p.meta.items():
                f.attrs[k] = _attr(v)
            g = f.create_group("machine")
            for k, v in p.machine.items():
                g.attrs[k] = _attr(v)
            if p.ssd is not None:
                s = f.create_group("ssd")
                s.attrs.update({
                    "path": p.ssd.path, "file_size": p.ssd.file_size, "direct_io": p.ssd.direct_io,
                    "direct_io_reason": p.ssd.direct_io_reason, "modes": json.dumps(p.ssd.modes),
                    "threads": json.dumps(p.ssd.threads), "create_seconds": p.ssd.create_seconds,
                    "notes": json.dumps(p.ssd.notes),
                })
                runs = s.create_group("runs")
                for r in p.ssd.runs:
                    d = runs.create_dataset(f"{r.shape}_{r.mode}_t{r.threads}", data=r.samples_ns,
                                            compression="gzip", shuffle=True)
                    d.attrs["units"] = "ns"
                    for k, v in r.attrs().items():
                        d.attrs[k] = _attr(v)
            c = f.create_group("compute")
            for i, m in enumerate(p.compute):
                mg = c.create_group(m.name)
                mg.attrs["order"] = i
                for k, v in m.attrs().items():
                    mg.attrs[k] = _attr(v)
                mg.attrs["detail"] = json.dumps(m.detail, default=str)
            gg = f.create_group("gpu")
            for k, v in p.gpu.items():
                gg.attrs[k] = _attr(v)
            pr = f.create_group("projections")
            for k, v in p.projections.items():
                pr.attrs[k] = _attr(v)
            fo = pr.create_group("formulas")
            for k, v in p.formulas.items():
                fo.attrs[k] = v
            f.create_dataset("summary", data=p.summary, dtype=h5py.string_dtype())
        os.replace(tmp, path)
    except OSError as exc:
        raise FarmkitError(f"cannot write profile {path}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def load_profile(path: Path) -> Profile:
    """Read a profile written by :func:`save_profile`; one-line error if it is not one."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FarmkitError(f"{path}: no such profile file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise FarmkitError(f"{path}: not an HDF5 file") from None
    with f:
        if _plain(f.attrs.get("format")) != FORMAT:
            raise FarmkitError(f"{path}: not a farmkit hardware profile")
        try:
            meta = {k: _plain(v) for k, v in f.attrs.items()}
            machine = {k: _plain(v) for k, v in f["machine"].attrs.items()}
            ssd = None
            if "ssd" in f:
                s = f["ssd"]
                runs = []
                for name in s["runs"]:
                    d = s["runs"][name]
                    a = {k: _plain(v) for k, v in d.attrs.items() if k != "units"}
                    runs.append(ReadRun(**a, samples_ns=d[()]))
                order = {"4k": 0, "audit": 1}
                runs.sort(key=lambda r: (order.get(r.shape, 2), r.mode, r.threads))
                sa = {k: _plain(v) for k, v in s.attrs.items()}
                ssd = SsdResult(sa["path"], int(sa["file_size"]), bool(sa["direct_io"]), sa["direct_io_reason"],
                                json.loads(sa["modes"]), json.loads(sa["threads"]), runs,
                                float(sa["create_seconds"]), json.loads(sa["notes"]))
            compute = []
            for name in f["compute"]:
                a = {k: _plain(v) for k, v in f["compute"][name].attrs.items()}
                detail = json.loads(a.pop("detail", "{}"))
                value = a.pop("value")
                order = a.pop("order", 0)
                m = Metric(**a, detail=detail)
                m.value = None if value != value else float(value)  # NaN = not measured
                compute.append((order, m))
            compute = [m for _, m in sorted(compute, key=lambda om: om[0])]
            gpu = {k: _plain(v) for k, v in f["gpu"].attrs.items()} if "gpu" in f else {}
            proj = {k: _plain(v) for k, v in f["projections"].attrs.items()}
            formulas = {k: _plain(v) for k, v in f["projections"]["formulas"].attrs.items()}
            summary = f["summary"][()]
            summary = summary.decode() if isinstance(summary, bytes) else str(summary)
        except (KeyError, TypeError, ValueError) as exc:
            raise FarmkitError(f"{path}: damaged hardware profile ({exc})") from None
    return Profile(meta, machine, ssd, compute, gpu, proj, formulas, summary)
