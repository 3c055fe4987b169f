"""`hwprofile` command line: measure a machine for farming, compare and show profiles.

    hwprofile run --path DIR [--quick] [--out PROFILE.h5] [--file-size 4G] [--threads 1,2,4,...]
                  [--modes mmap,mmap_prefetch,direct]
                  [--budget-seconds S] [--backend cpu|cuda|opencl] [--skip ssd,cpu,gpu,pot,audit,pos,encoding]
    hwprofile show PROFILE.h5 [--plots-dir DIR]
    hwprofile compare A.h5 B.h5 ...

``run`` writes PROFILE.h5, PROFILE-latency.png, PROFILE-throughput.png and PROFILE-summary.txt.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from farmkit.cli import new_app, run
from farmkit.errors import FarmkitError

app = new_app("hwprofile", "Measure a machine for farming (SSD, CPU, GPU) and compare profiles.")

QUICK = {"file_size": "256M", "threads": "1,4", "seconds_per_run": 1.0, "cpu_seconds": 0.5, "modes": "mmap,direct"}
FULL = {"file_size": "4G", "threads": "1,2,4,8,16,32,64", "seconds_per_run": 4.0, "cpu_seconds": 3.0,
        "modes": "mmap,mmap_prefetch,direct"}
SKIPPABLE = ("ssd", "cpu", "gpu", "pot", "audit", "pos", "encoding")


@app.callback()
def _root() -> None:
    """Measure a machine for farming (SSD, CPU, GPU) and compare profiles."""


def _parse_threads(text: str) -> list[int]:
    try:
        vals = sorted({int(x) for x in text.replace(" ", "").split(",") if x})
    except ValueError:
        raise FarmkitError(f"--threads: expected a comma-separated list of integers, got {text!r}") from None
    if not vals or vals[0] < 1 or vals[-1] > 1024:
        raise FarmkitError(f"--threads: values must be 1..1024, got {text!r}")
    return vals


def _parse_modes(text: str) -> tuple[str, ...]:
    from .ssd import MODES

    parts = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    bad = [x for x in parts if x not in MODES]
    if bad or not parts:
        raise FarmkitError(f"--modes: unknown read path {bad[0] if bad else text!r}; choose from {', '.join(MODES)}")
    return parts


def _parse_skip(text: str | None) -> tuple[str, ...]:
    parts = tuple(x.strip().lower() for x in (text or "").split(",") if x.strip())
    bad = [x for x in parts if x not in SKIPPABLE]
    if bad:
        raise FarmkitError(f"--skip: unknown part {bad[0]!r}; choose from {', '.join(SKIPPABLE)}")
    return parts


def _gpu_choice(backend: str | None) -> tuple[str | None, str]:
    """The GPU backend to measure and why: an explicit --backend must exist (one-line error);
    by default only a real GPU is measured (PoCL's CPU device is not a GPU)."""
    from farmkit.kernels.backends import probe, resolve_backend

    if backend is not None:
        name = resolve_backend(backend)  # raises BackendUnavailable: one line, exit 2
        if name == "cpu":
            return None, "not measured (--backend cpu)"
        return name, "requested"
    if probe("cuda").available:
        return "cuda", "best available"
    if probe("opencl").available:
        try:
            import pyopencl as cl  # type: ignore

            from farmkit.kernels.backends import opencl_device

            if opencl_device().type & cl.device_type.GPU:
                return "opencl", "best available"
            return None, "no GPU (the OpenCL device is a CPU, e.g. PoCL; --backend opencl measures it anyway)"
        except Exception as exc:  # noqa: BLE001
            return None, f"OpenCL unusable: {exc}"
    return None, "no GPU backend available (cuda or opencl)"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Interrupted(FarmkitError):
    """Ctrl-C or SIGTERM during a run: one line, exit 130 (typer would exit 130 silently)."""

    exit_code = 130


def _check_out(out: Path) -> None:
    parent = out.resolve().parent
    if not parent.is_dir():
        raise FarmkitError(f"--out {out}: directory {parent} does not exist")
    if out.exists() and out.is_dir():
        raise FarmkitError(f"--out {out}: is a directory")
    probe = parent / f".{out.name}.{os.getpid()}.tmp"
    try:  # fail now, not after minutes of measuring
        probe.open("x").close()
        probe.unlink()
    except OSError as exc:
        raise FarmkitError(f"--out {out}: cannot write in {parent}: {exc.strerror}") from None


@app.command("run")
def run_cmd(
    path: Path = typer.Option(..., "--path", help="Directory on the drive to measure (a test file is created there and removed)."),
    quick: bool = typer.Option(False, "--quick", help="Small and fast (CI): 256 MiB file, 1 and 4 threads, short runs."),
    out: Path = typer.Option(Path("hwprofile.h5"), "--out", help="Profile to write (HDF5); PNGs and a summary go next to it."),
    file_size: Optional[str] = typer.Option(None, "--file-size", help="Test file size, e.g. 4G (default 4G, quick 256M). Bigger than RAM avoids all caching."),
    modes: Optional[str] = typer.Option(None, "--modes", help="Read paths: mmap, mmap_prefetch, direct, buffered (default mmap,mmap_prefetch,direct; quick mmap,direct)."),
    threads: Optional[str] = typer.Option(None, "--threads", help="Thread counts (= queue depths) to measure, e.g. 1,4,16."),
    seconds_per_run: Optional[float] = typer.Option(None, "--seconds-per-run", help="Seconds per SSD measurement (default 4, quick 1)."),
    budget_seconds: Optional[float] = typer.Option(None, "--budget-seconds", help="Total seconds for the SSD runs (overrides --seconds-per-run)."),
    cpu_seconds: Optional[float] = typer.Option(None, "--cpu-seconds", help="Target seconds per measured compute call (default 3, quick 0.5)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="GPU backend to measure too: cuda or opencl (cpu: none). Default: a real GPU if one is present (not PoCL)."),
    skip: Optional[str] = typer.Option(None, "--skip", help=f"Parts to leave out: {','.join(SKIPPABLE)}."),
    pos_version: str = typer.Option("v2", "--pos-version", help="Proof-of-space version for PoS/encoding: v1 or v2 (new sectors)."),
    label: str = typer.Option("", "--label", help="A name for this machine in compare tables."),
    notes: str = typer.Option("", "--notes", help="Free text stored with the profile (e.g. 'machine was busy')."),
) -> None:
    """Measure this machine: SSD random reads (mmap and O_DIRECT), CPU/GPU farming kernels, projections."""
    try:
        _run(path, quick, out, file_size, modes, threads, seconds_per_run, budget_seconds, cpu_seconds, backend, skip,
             pos_version, label, notes)
    except KeyboardInterrupt:
        raise Interrupted("interrupted: test file removed, no profile written") from None


def _run(path, quick, out, file_size, modes, threads, seconds_per_run, budget_seconds, cpu_seconds, backend, skip,
         pos_version, label, notes) -> None:
    from . import cpu as cpu_mod
    from .profile import Profile, machine_identity, new_meta, project, save_profile
    from .report import summary_text, write_plots
    from .ssd import check_target_dir, measure_ssd, parse_size, ssd_cells

    if threading.current_thread() is threading.main_thread():  # SIGTERM cleans up like Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)
    preset = QUICK if quick else FULL
    size = parse_size(file_size or preset["file_size"])
    thread_list = _parse_threads(threads or preset["threads"])
    mode_list = _parse_modes(modes or preset["modes"])
    skips = _parse_skip(skip)
    if pos_version.lower() not in ("v1", "v2"):
        raise FarmkitError(f"--pos-version: expected v1 or v2, got {pos_version!r}")
    for name, v in (("--seconds-per-run", seconds_per_run), ("--budget-seconds", budget_seconds), ("--cpu-seconds", cpu_seconds)):
        if v is not None and not v > 0:
            raise FarmkitError(f"{name} must be positive, got {v}")
    gpu_backend, gpu_why = _gpu_choice(backend) if "gpu" not in skips else (None, "skipped (--skip)")
    if "ssd" not in skips:
        check_target_dir(path, size)
    elif not path.is_dir():
        raise FarmkitError(f"--path {path}: no such directory")
    _check_out(out)

    shapes = ("4k", "audit")
    cells = len(ssd_cells(shapes, mode_list)) * len(thread_list)
    per_run = (budget_seconds / cells) if budget_seconds else (seconds_per_run or preset["seconds_per_run"])
    target = cpu_seconds or preset["cpu_seconds"]
    console = Console(stderr=True)
    meta = new_meta(quick, label, notes, "hwprofile " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    profile = Profile(meta, machine_identity(path))
    t_start = time.perf_counter()
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
                  disable=not console.is_terminal) as prog:
        if "ssd" not in skips:
            create = prog.add_task("create test file (MiB)", total=size / 2**20)
            reads = prog.add_task("SSD random reads", total=cells)
            first = [True]

            def on_run(desc: str) -> None:
                if first[0]:
                    first[0] = False
                else:
                    prog.advance(reads)
                prog.update(reads, description=f"SSD {desc}")

            profile.ssd = measure_ssd(path, size, thread_list, per_run, mode_list, shapes,
                                      on_create=lambda n: prog.advance(create, n / 2**20), on_run=on_run)
            prog.update(reads, completed=cells, description="SSD random reads")
        if "cpu" not in skips:
            steps = prog.add_task("compute (CPU)", total=cpu_mod.CPU_STEPS)
            done = [0]

            def on_step(desc: str) -> None:
                prog.update(steps, completed=done[0], description=f"CPU {desc}")
                done[0] += 1

            profile.compute += cpu_mod.measure_cpu(target, version=pos_version.lower(), skip=skips, on_step=on_step)
            prog.update(steps, completed=cpu_mod.CPU_STEPS, description="compute (CPU)")
        if gpu_backend is not None:
            from .gpu import measure_gpu

            gsteps = prog.add_task(f"compute ({gpu_backend})", total=2)
            gdone = [0]

            def on_gstep(desc: str) -> None:
                prog.update(gsteps, completed=gdone[0], description=f"GPU {desc}")
                gdone[0] += 1

            metrics, info = measure_gpu(gpu_backend, target, pos_version.lower(), on_step=on_gstep)
            profile.compute += metrics
            profile.gpu = {**info, "selected": gpu_why}
            prog.update(gsteps, completed=2, description=f"compute ({gpu_backend})")
        else:
            profile.gpu = {"backend": "none", "selected": gpu_why}
    profile.meta["seconds"] = time.perf_counter() - t_start
    profile.projections, profile.formulas = project(profile)
    profile.summary = summary_text(profile)
    save_profile(profile, out)
    stem = out.with_suffix("")
    pngs = write_plots(profile, stem)
    Path(f"{stem}-summary.txt").write_text(profile.summary)
    sys.stdout.write(profile.summary)
    console.print(f"wrote {out}" + "".join(f", {p}" for p in pngs) + f", {stem}-summary.txt", markup=False, highlight=False)


@app.command("show")
def show_cmd(
    profile_path: Path = typer.Argument(..., metavar="PROFILE.h5", help="A profile written by `hwprofile run`."),
    plots_dir: Optional[Path] = typer.Option(None, "--plots-dir", help="Where to write the PNGs (default: next to the profile)."),
) -> None:
    """Print a profile's summary and SSD table, and write its plots."""
    from .profile import load_profile
    from .report import print_summary, write_plots

    p = load_profile(profile_path)
    target = plots_dir if plots_dir is not None else profile_path.resolve().parent
    if not target.is_dir():
        raise FarmkitError(f"--plots-dir {target}: no such directory")
    console = Console()
    print_summary(p, console)
    pngs = write_plots(p, target / profile_path.stem)
    if pngs:
        console.print("plots: " + ", ".join(str(x) for x in pngs), markup=False, highlight=False)


@app.command("compare")
def compare_cmd(
    profiles: List[Path] = typer.Argument(..., metavar="PROFILE.h5...", help="Profiles to show side by side."),
) -> None:
    """Show profiles side by side."""
    from .profile import load_profile
    from .report import compare_table

    loaded = []
    for p in profiles:
        prof = load_profile(p)
        name = prof.meta.get("label") or p.stem
        loaded.append((name, prof))
    Console().print(compare_table(loaded))


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
