"""farmkit.hwprofiles: measured hardware profiles (HDF5) and the `hwprofile` tool that makes them.

Public API::

    from farmkit.hwprofiles.profile import load_profile, save_profile, project, machine_identity, Profile
    from farmkit.hwprofiles.ssd import measure_ssd, run_reads, TestFile, parse_size
    from farmkit.hwprofiles.cpu import measure_cpu, Metric
    from farmkit.hwprofiles.gpu import measure_gpu
    from farmkit.hwprofiles.report import summary_text, compare_table, write_plots

The profiles the project measured ship next to this file (``*.h5``); list them with
:func:`shipped_profiles` and compare them with ``hwprofile compare``.
"""

from pathlib import Path


def shipped_profiles() -> list[Path]:
    """The hardware profiles measured by the project (``hwprofiles/*.h5``)."""
    return sorted(Path(__file__).resolve().parent.glob("*.h5"))
