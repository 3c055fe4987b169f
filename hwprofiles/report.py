"""Human output for hardware profiles: the text summary, rich tables (show, compare), PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .profile import FORMULAS, Profile
from .ssd import human_bytes


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(value)


def _rate(v: float | None, unit: str) -> str:
    if v is None:
        return "unavailable"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


# --- text summary -------------------------------------------------------------------------------------
def summary_text(p: Profile) -> str:
    m, pr = p.machine, p.projections
    lines = [
        f"farmkit hardware profile ({'quick' if p.meta.get('quick') else 'full'} run, {p.meta.get('created', '?')}, "
        f"farmkit {p.meta.get('farmkit_version', '?')})",
        f"label: {p.meta.get('label') or '-'}",
        f"CPU: {m.get('cpu_model')} - {m.get('physical_cores')} cores / {m.get('logical_cpus')} threads; "
        f"farming flags: {m.get('cpu_flags') or 'none'}{'; virtual machine' if m.get('hypervisor') else ''}",
        f"memory: {human_bytes(m.get('memory_bytes', 0))}; GPU: {m.get('gpus')}",
        f"drive: {m.get('drive_model')} ({m.get('drive_device') or '?'}, "
        f"{'rotational' if m.get('drive_rotational') == 1 else 'non-rotational' if m.get('drive_rotational') == 0 else 'rotational?'}), "
        f"filesystem {m.get('filesystem')} on {m.get('mount')}; OS: {m.get('os')} ({m.get('kernel')})",
    ]
    if p.meta.get("notes"):
        lines.append(f"notes: {p.meta['notes']}")
    if p.ssd is not None:
        s = p.ssd
        lines.append("")
        lines.append(f"SSD ({human_bytes(s.file_size)} test file in {s.path}; threads = queue depth, "
                     "one synchronous read in flight per thread):")
        lines.append(f"  direct I/O: {'yes' if s.direct_io else 'NO - ' + s.direct_io_reason}. mmap = page-cache "
                     "path (cold: evicted, no page read twice); direct = O_DIRECT pread, bypasses the page cache")
        lines.append("  (mmap uses MADV_RANDOM, so an unaligned 16,000 B audit read faults its 4-5 pages in one by one; "
                     "mmap_prefetch first asks for them all with MADV_WILLNEED; direct I/O fetches the aligned span "
                     "in one request)")
        for r in s.runs:
            flag = " (ran out of fresh slots: raise --file-size)" if r.exhausted else ""
            lines.append(f"  {r.shape:5s} {r.mode:13s} x{r.threads:<3d} {r.iops:>10,.0f} reads/s {r.mib_s:>8.1f} MiB/s  "
                         f"p50 {r.p50_us:8.1f} us  p99 {r.p99_us:8.1f} us  p99.9 {r.p999_us:8.1f} us{flag}")
        for n in s.notes:
            lines.append(f"  note: {n}")
    lines.append("")
    lines.append("compute:")
    for c in p.compute:
        val = _rate(c.value, c.unit) if c.available else f"unavailable ({c.reason})"
        lines.append(f"  {c.label:38s} {val}")
    g = p.gpu or {}
    if g.get("backend") in (None, "none"):
        lines.append(f"  GPU: {g.get('selected', 'not measured')}")
    else:
        lines.append(f"  GPU {g.get('backend')}: {g.get('device', '?')}, memory {human_bytes(g.get('memory_total_bytes', 0))}"
                     + (f", PoS kernels use {human_bytes(g['pos_kernel_memory_bytes'])} for a batch of {g.get('pos_batch')}"
                        if isinstance(g.get("pos_kernel_memory_bytes"), (int, np.integer)) and g.get("pos_kernel_memory_bytes", -1) > 0 else ""))
    lines.append("")
    lines.append("farming projections:")
    if "audit_max_tib" in pr:
        lines.append(f"  audit: {pr['audit_reads_per_s']:,.0f} audit reads/s ({pr['audit_mode']}, {pr['audit_threads']} threads) "
                     f"-> at most {pr['audit_max_tib']:,.1f} TiB of plot audited within the 1 s slot"
                     + (f" (mmap: {pr['audit_max_tib_mmap']:,.1f} TiB" if "audit_max_tib_mmap" in pr else "")
                     + (f", mmap_prefetch: {pr['audit_max_tib_mmap_prefetch']:,.1f} TiB"
                        if "audit_max_tib_mmap_prefetch" in pr else "")
                     + (")" if "audit_max_tib_mmap" in pr else ""))
    if "audit_hashing_max_tib" in pr:
        lines.append(f"  audit hashing (CPU): at most {pr['audit_hashing_max_tib']:,.1f} TiB per 1 s slot"
                     + (f" -> farm limited to {pr['audit_limit_tib']:,.1f} TiB by audit" if "audit_limit_tib" in pr else ""))
    if "plot_hours_per_tib" in pr:
        lines.append(f"  plotting (CPU): {pr['plot_hours_per_tib']:,.1f} h per TiB ({pr['plot_basis']}), "
                     f"{24 / pr['plot_hours_per_tib']:.3g} TiB/day")
    if "plot_hours_per_tib_gpu" in pr:
        lines.append(f"  plotting (GPU): {pr['plot_hours_per_tib_gpu']:,.1f} h per TiB ({pr['plot_basis_gpu']})")
    if "pot_slot_seconds" in pr:
        lines.append(f"  PoT: one mainnet slot (206,557,520 iterations) takes {pr['pot_slot_seconds']:.2f} s to prove -> "
                     f"{'keeps up' if pr['pot_keeps_up'] else 'cannot keep up (only timekeepers must)'}"
                     + (f"; verifying it takes {pr['pot_verify_slot_seconds']:.2f} s" if "pot_verify_slot_seconds" in pr else ""))
    if "proving_seconds_estimate" in pr:
        lines.append(f"  proving (estimate): {pr['proving_seconds_estimate']:.2f} s per solution -> "
                     f"{'within' if pr['proving_within_budget'] else 'OVER'} the 4 s budget")
    lines.append("")
    lines.append("formulas and assumptions:")
    for k in p.formulas or {}:
        lines.append(f"  {k}: {p.formulas[k]}")
    return "\n".join(lines) + "\n"


# --- rich tables --------------------------------------------------------------------------------------
def print_summary(p: Profile, console) -> None:
    from rich.table import Table

    console.file.write(p.summary or summary_text(p))
    if p.ssd is not None and p.ssd.runs:
        t = Table(title="SSD random reads")
        for col in ("shape", "mode", "threads", "reads/s", "MiB/s", "p50 us", "p99 us", "p99.9 us"):
            t.add_column(col, justify="right" if col not in ("shape", "mode") else "left")
        for r in p.ssd.runs:
            t.add_row(r.shape, r.mode, str(r.threads), f"{r.iops:,.0f}", f"{r.mib_s:.1f}", f"{r.p50_us:.1f}",
                      f"{r.p99_us:.1f}", f"{r.p999_us:.1f}")
        console.print(t)


COMPARE_ROWS = [
    ("CPU", lambda p: p.machine.get("cpu_model")),
    ("cores / threads", lambda p: f"{p.machine.get('physical_cores')} / {p.machine.get('logical_cpus')}"),
    ("farming flags", lambda p: p.machine.get("cpu_flags")),
    ("memory", lambda p: human_bytes(p.machine.get("memory_bytes", 0))),
    ("GPU", lambda p: p.machine.get("gpus")),
    ("drive", lambda p: p.machine.get("drive_model")),
    ("filesystem", lambda p: p.machine.get("filesystem")),
    ("run", lambda p: f"{'quick' if p.meta.get('quick') else 'full'} {p.meta.get('created')}"),
]


def _best(p: Profile, shape: str, mode: str, attr: str) -> str:
    r = p.best_run(shape, (mode,))
    return _fmt(getattr(r, attr)) if r is not None else "-"


def compare_table(profiles: list[tuple[str, Profile]]):
    from rich.table import Table

    t = Table(title="hardware profiles")
    t.add_column("", style="bold")
    for name, _ in profiles:
        t.add_column(name, overflow="fold")
    rows = list(COMPARE_ROWS)
    for shape in ("4k", "audit"):
        for mode in ("direct", "buffered", "mmap", "mmap_prefetch"):
            if any(p.best_run(shape, (mode,)) for _, p in profiles):
                rows.append((f"{shape} {mode} best reads/s", lambda p, s=shape, m=mode: _best(p, s, m, "iops")))
                rows.append((f"{shape} {mode} p99 us (at best)", lambda p, s=shape, m=mode: _best(p, s, m, "p99_us")))
    names: list[str] = []
    for _, p in profiles:
        for c in p.compute:
            if c.name not in names:
                names.append(c.name)
    for n in names:
        def cell(p, n=n):
            c = p.metric(n)
            if c is None:
                return "-"
            return _rate(c.value, c.unit) if c.available else "unavailable"
        label = next((p.metric(n).label for _, p in profiles if p.metric(n) is not None), n)
        rows.append((label, cell))
    for key, label in (("audit_max_tib", "max plot audited in 1 s (TiB)"),
                       ("audit_hashing_max_tib", "max plot hashed in 1 s (TiB)"), ("plot_hours_per_tib", "CPU plotting h/TiB"),
                       ("plot_hours_per_tib_gpu", "GPU plotting h/TiB"), ("pot_slot_seconds", "PoT s per mainnet slot"),
                       ("pot_keeps_up", "PoT keeps up"), ("proving_seconds_estimate", "proving s (estimate)")):
        rows.append((label, lambda p, k=key: _fmt(p.projections.get(k))))
    for label, get in rows:
        t.add_row(label, *[str(get(p)) for _, p in profiles])
    return t


# --- plots --------------------------------------------------------------------------------------------
def write_plots(p: Profile, stem: Path) -> list[Path]:
    """``<stem>-latency.png`` (latency CDFs) and ``<stem>-throughput.png`` (reads/s and p99 vs threads)."""
    if p.ssd is None or not p.ssd.runs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    shapes = [s for s in ("4k", "audit") if any(r.shape == s for r in p.ssd.runs)]
    titles = {"4k": "4 KiB random reads", "audit": "audit-shaped reads (16,000 B, one per sector)"}
    label = p.meta.get("label") or p.machine.get("drive_model", "")

    # CDFs at the fewest, a middle and the most threads: colour = read path, line style = threads
    ths = sorted(p.ssd.threads)
    shown = sorted({ths[0], ths[len(ths) // 2], ths[-1]})
    styles = dict(zip(shown, ("-", "--", ":")))
    colours = {m: f"C{i}" for i, m in enumerate(p.ssd.modes)}
    fig, axes = plt.subplots(1, len(shapes), figsize=(6.5 * len(shapes), 4.5), squeeze=False)
    for ax, shape in zip(axes[0], shapes):
        for r in (r for r in p.ssd.runs if r.shape == shape and r.threads in styles):
            if r.samples_ns.size == 0:
                continue
            us = np.sort(r.samples_ns.astype(np.float64) / 1e3)
            ax.plot(us, np.arange(1, us.size + 1) / us.size, label=f"{r.mode} x{r.threads}",
                    color=colours.get(r.mode, "k"), linestyle=styles[r.threads])
        ax.set_xscale("log")
        ax.set_xlabel("latency per read (us, log)")
        ax.set_ylabel("fraction of reads")
        ax.set_title(titles[shape])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.suptitle(f"read latency CDF - {label}")
    fig.tight_layout()
    path = Path(f"{stem}-latency.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path)

    fig, axes = plt.subplots(1, len(shapes), figsize=(6.5 * len(shapes), 4.5), squeeze=False)
    for ax, shape in zip(axes[0], shapes):
        ax2 = ax.twinx()
        for i, mode in enumerate(p.ssd.modes):
            runs = sorted((r for r in p.ssd.runs if r.shape == shape and r.mode == mode), key=lambda r: r.threads)
            if not runs:
                continue
            th = [r.threads for r in runs]
            color = f"C{i}"
            ax.plot(th, [r.iops for r in runs], marker="o", color=color, label=f"{mode} reads/s")
            ax2.plot(th, [r.p99_us for r in runs], marker="x", linestyle=":", color=color, label=f"{mode} p99 us")
        ax2.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.set_xticks(p.ssd.threads, [str(t) for t in p.ssd.threads])
        ax.minorticks_off()
        ax.set_xlabel("threads = queue depth")
        ax.set_ylabel("reads per second")
        ax2.set_ylabel("p99 latency (us)")
        ax.set_title(titles[shape])
        ax.grid(True, alpha=0.3)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.suptitle(f"throughput vs threads - {label}")
    fig.tight_layout()
    path = Path(f"{stem}-throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path)
    return out


__all__ = ["summary_text", "print_summary", "compare_table", "write_plots", "FORMULAS"]
