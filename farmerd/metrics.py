"""Prometheus metrics of the farmer daemon, named like the reference farmer's (anchors.md §3.4).

The reference registers its metrics under the prefix ``subspace_farmer`` with a ``farm_`` sub-prefix
and a ``farm_id`` label; community dashboards scrape names such as
``subspace_farmer_farm_auditing_time_seconds_count`` and
``subspace_farmer_farm_proving_time_seconds_sum`` from ``/metrics``. Keeping the names lets those
dashboards work unchanged. Counters get the ``_total`` suffix on exposition, as in the reference.
"""

from __future__ import annotations

from farmkit.errors import FarmkitError

__all__ = ["FarmerMetrics", "SECTOR_STATES"]

PREFIX = "subspace_farmer"
SECTOR_STATES = ("NotPlotted", "Plotted", "AboutToExpire", "Expired")
# exponential_buckets(start, 2.0, 15), as in the reference's single_disk_farm/metrics.rs
_FAST_BUCKETS = tuple(0.0002 * 2**i for i in range(15))  # auditing, proving, sector writing
_SLOW_BUCKETS = tuple(0.1 * 2**i for i in range(15))  # sector downloading, encoding, plotting


class FarmerMetrics:
    """The per-farm metrics (label ``farm_id``) on a private registry; :meth:`serve` exposes them.

    Names (after exposition): ``subspace_farmer_farm_auditing_time_seconds``,
    ``..._proving_time_seconds{result}``, ``..._skipped_slots_total``,
    ``..._farming_errors_total{error}``, ``..._sector_{downloading,encoding,writing,plotting}_time_seconds``,
    ``..._sectors_total_Sectors{state}`` and ``..._sector_<stage>_counter_Sectors_total`` (the
    reference registers those two with the unit "Sectors", which its encoder appends to the name).
    """

    def __init__(self, registry=None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        p = f"{PREFIX}_farm"

        def hist(name: str, doc: str, buckets, labels=("farm_id",)):
            return Histogram(f"{p}_{name}", doc, labels, unit="seconds", buckets=buckets, registry=r)

        self.auditing_time = hist("auditing_time", "Auditing time", _FAST_BUCKETS)
        self.proving_time = hist("proving_time", "Proving time", _FAST_BUCKETS, ("farm_id", "result"))
        self.skipped_slots = Counter(f"{p}_skipped_slots", "Completely skipped slots (not even auditing)", ["farm_id"], registry=r)
        self.farming_errors = Counter(f"{p}_farming_errors", "Non-fatal farming errors", ["farm_id", "error"], registry=r)
        self.sector_downloading_time = hist("sector_downloading_time", "Sector downloading time", _SLOW_BUCKETS)
        self.sector_encoding_time = hist("sector_encoding_time", "Sector encoding time", _SLOW_BUCKETS)
        self.sector_writing_time = hist("sector_writing_time", "Sector writing time", _FAST_BUCKETS)
        self.sector_plotting_time = hist("sector_plotting_time", "Sector plotting time", _SLOW_BUCKETS)
        self.sectors_total = Gauge(
            f"{p}_sectors_total", "Total number of sectors with corresponding state", ["farm_id", "state"],
            unit="Sectors", registry=r,
        )
        self.sector_counters = {
            stage: Counter(
                f"{p}_sector_{stage}_counter", f"Number of sectors: {stage.replace('_', ' ')}", ["farm_id"],
                unit="Sectors", registry=r,
            )
            for stage in (
                "downloading", "downloaded", "encoding", "encoded", "writing", "written",
                "plotting", "plotted", "plotting_error",
            )
        }

    def set_sector_states(self, farm_id: str, counts: dict[str, int]) -> None:
        for state in SECTOR_STATES:
            self.sectors_total.labels(farm_id, state).set(counts.get(state, 0))

    def serve(self, listen_on: str):
        """Start ``/metrics`` on ``HOST:PORT`` (``--prometheus-listen-on``)."""
        from prometheus_client import start_http_server

        host, sep, port = listen_on.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit():
            raise FarmkitError(f"--prometheus-listen-on: expected HOST:PORT, got {listen_on!r}")
        return start_http_server(int(port), addr=host, registry=self.registry)


def stop_serving(handle) -> None:
    """Stop a ``/metrics`` server started by :meth:`serve` (prometheus_client returns the server,
    or ``(server, thread)`` in newer versions); shutting down is best effort."""
    server = handle[0] if isinstance(handle, tuple) else handle
    try:
        server.shutdown()
    except Exception:  # noqa: BLE001 - already stopped, or never fully started
        pass
