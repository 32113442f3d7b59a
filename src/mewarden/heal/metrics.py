"""Prometheus metrics of one controller (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class HealMetrics:
    """Counters, gauges and histograms the controller updates each tick."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.ticks = Counter("mewarden_heal_ticks", "Controller passes.", registry=r)
        self.actions = Counter(
            "mewarden_heal_actions",
            "Host actions sent, by outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.held_back = Counter(
            "mewarden_heal_held_back", "Actions held back by a guard rail.", ["rule"], registry=r
        )
        self.events = Counter("mewarden_heal_events", "Ladder events.", ["event"], registry=r)
        self.phases = Gauge("mewarden_heal_nodes", "Leased nodes by phase.", ["phase"], registry=r)
        self.leases = Gauge("mewarden_heal_leases", "Node leases held.", registry=r)
        self.paused = Gauge("mewarden_heal_paused", "1 while the kill switch is on.", registry=r)
        self.detection_to_action = Histogram(
            "mewarden_heal_detection_to_action_seconds",
            "From the unhealthy threshold to the first action of an incident.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.heartbeats = Counter(
            "mewarden_heal_heartbeats",
            "Heartbeats received, by result (accepted or why not).",
            ["result"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "mewarden_heal_tick_seconds", "Duration of one controller pass.", registry=r
        )

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``address:port`` (loopback unless told otherwise)."""
        start_http_server(port, addr=address, registry=self.registry)


def compliance_gauge(registry: CollectorRegistry) -> Gauge:
    """``mewarden_fleet_compliance_nodes{state}``: nodes per compliance verdict."""
    return Gauge(
        "mewarden_fleet_compliance_nodes",
        "Nodes by compliance verdict (compliant, unknown, drift, observed).",
        ["state"],
        registry=registry,
    )
