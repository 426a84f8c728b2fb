"""Prometheus metrics at /metrics: requests, their latency, events and the transactions
they share, webhook deliveries.

Each app has its own registry, so that two apps in one process (tests) never mix
counts. With several workers (`fidela serve --workers N`), each worker writes its
counts to files in the folder PROMETHEUS_MULTIPROC_DIR names (the Prometheus
client's multiprocess mode), and whichever worker answers a scrape adds up all of
them: every scrape sees the whole server.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from fidela.services.webhooks import Report

router = APIRouter(tags=["operations"])
SHARED = "PROMETHEUS_MULTIPROC_DIR"  # the folder of the workers' counts, if they share


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fidela_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fidela_http_request_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.events = Counter(
            "fidela_events",
            "Events received, by outcome: recorded, duplicate or refused.",
            ["outcome"],
            registry=self.registry,
        )
        self.event_groups = Histogram(
            "fidela_event_group_size",
            "Events of POST /events written in one database transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 100),
            registry=self.registry,
        )
        self.webhooks_delivered = Counter(
            "fidela_webhooks_delivered",
            "Webhook deliveries a receiver accepted (2xx).",
            registry=self.registry,
        )
        self.webhook_failures = Counter(
            "fidela_webhook_failures",
            "Webhook attempts that failed; final=true when no retry is left.",
            ["final"],
            registry=self.registry,
        )

    def count_webhooks(self, report: Report) -> None:
        self.webhooks_delivered.inc(report.delivered)
        self.webhook_failures.labels("false").inc(report.retrying)
        self.webhook_failures.labels("true").inc(report.failed)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one answered request, under its route template."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Counters and histograms in Prometheus' text format (every worker's, added up)."""
    registry = request.app.state.metrics.registry
    if SHARED in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every worker's files
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
