"""Prometheus metrics at /metrics: requests, their latency, events, webhook deliveries.

Each app has its own registry, so that two apps in one process (tests) never mix
counts. With several uvicorn workers, each scrape reaches one worker: scrape them
apart, or run one worker per port.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from fidela.services.webhooks import Report

router = APIRouter(tags=["operations"])


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
    """Counters and histograms in Prometheus' text format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
