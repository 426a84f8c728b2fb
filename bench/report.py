"""What every benchmark shares: its command line, its clock, and where its results go.

Results are printed for a person and written as JSON under bench/results/ (git-ignored)
with the machine they were measured on, so that a later run can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.databases import BACKENDS, DEFAULT_POSTGRES_URL
from fidela.domain.ids import ProgramId
from fidela.services import imports
from fidela.store.unit_of_work import UnitOfWork

RESULTS = Path(__file__).parent / "results"

T = TypeVar("T")


def parser(description: str, *, backend_option: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark takes: which backends (unless it has one), which PostgreSQL."""
    arguments = argparse.ArgumentParser(description=description)
    if backend_option:
        arguments.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    arguments.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="a database where a schema may be created and dropped (default: %(default)s)",
    )
    return arguments


def backends(choice: str) -> list[str]:
    """The backends named by --backend, SQLite first."""
    return list(BACKENDS) if choice == "both" else [choice]


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """Run `work`; return its result and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(message: str) -> None:
    """Say what is starting now, with the time, so a long run's log shows where it is."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    """The machine and software the figures were measured with."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cpus": os.cpu_count(),
        "argv": sys.argv[1:],
        **_revision(),
    }


def _cpu() -> str:
    """The processor by name, family and model, as docs/benchmarks.md tells machines apart
    ("AMD 25/17"): machines that look alike differ by up to 2x in speed."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown"
    first = text.split("\n\n")[0]  # the first processor's block
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in first.splitlines())
    }
    name = fields.get("model name", "unknown")
    return f"{name}, family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}"


def _revision() -> dict[str, Any]:
    """The commit measured, and whether src/ had changes not committed yet."""
    root = Path(__file__).parent.parent

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", *arguments], cwd=root, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "src_changed": bool(git("status", "--porcelain", "--", "src")),
    }


def start(name: str, **fields: Any) -> dict[str, Any]:
    """A benchmark's result, before any backend is measured."""
    measured_on = machine()
    step(f"{measured_on['cpu']}, {measured_on['cpus']} CPUs, {measured_on['platform']}")
    return {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": measured_on,
        **fields,
        "backends": {},
    }


def finish(result: dict[str, Any], started: float) -> None:
    """Add the whole run's peak memory and time, print them, and store the result."""
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    print(f"\npeak RSS of the process: {result['peak_rss_mib']:,.0f} MiB")
    print(f"whole run: {result['total_seconds']:,.0f} s")
    print(f"results: {write(result['benchmark'], result)}")


def write(name: str, result: dict[str, Any]) -> Path:
    """Store `result` as bench/results/{name}-{UTC time}.json; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def goal(met: bool) -> str:
    """How a goal is shown next to a figure."""
    return "met" if met else "NOT MET"


def table(rows: list[tuple[str, str]]) -> str:
    """Label/value pairs as aligned lines."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def timed_import(
    uow: UnitOfWork, program_id: ProgramId, history: Path, file_format: str, now: datetime
) -> dict[str, Any]:
    """Read a history file and import it, each timed: the read is not part of the import."""
    step(f"reading {history.name}")
    rows, read_seconds = timed(lambda: imports.read(history, file_format))
    step(f"importing {len(rows):,} rows")
    imported, seconds = timed(lambda: imports.import_purchases(uow, program_id, rows, now=now))
    return {
        "rows": len(rows),
        "read_seconds": round(read_seconds, 3),
        "import_seconds": round(seconds, 3),
        "rows_per_second": round(len(rows) / seconds),
        "import_report": imported,
    }
