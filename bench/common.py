"""What every benchmark shares: the machine's description, summary statistics, result files.

The machine these numbers come from has 2 cores shared with other work, so one run says
little. Each benchmark repeats its measurement, reports the median with the spread (min to
max, and the interquartile range), and measures a ratio to the peer side by side, in one
run, interleaved, so that a noisy neighbour slows both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "var" / "bench"


# --- The machine ------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """Cores, CPU model, Python, SQLite and (when reachable) PostgreSQL versions."""
    return {
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
        "kernel": platform.release(),
        "load_average_at_start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    """The checked-out commit, with "+changes" when the work tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if changed else "")


def _postgres_version() -> str:
    url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        out = subprocess.run(
            ["psql", url, "-Atc", "SHOW server_version"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "not reachable"
    return out.stdout.strip() or "unknown"


# --- Statistics -----------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A sample summarised: median, min, max, quartiles and the count."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("Nothing to summarise.")
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))

    def text(self, unit: str = "", digits: int = 2) -> str:
        return (
            f"{self.median:.{digits}f}{unit} (min {self.low:.{digits}f}, max {self.high:.{digits}f},"
            f" IQR {self.q1:.{digits}f}-{self.q3:.{digits}f}, n={self.count})"
        )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the value below which ``fraction`` of the sample lies."""
    if not values:
        raise ValueError("No values.")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values_ms, 0.50),
        "p95": percentile(values_ms, 0.95),
        "p99": percentile(values_ms, 0.99),
        "max": max(values_ms),
        "count": len(values_ms),
    }


def time_call(function: Callable[[], object]) -> float:
    """Seconds ``function()`` took, on the monotonic high-resolution clock."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


# --- Results --------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def write_results(name: str, results: dict) -> Path:
    """Save one benchmark's results as JSON under var/bench/, with the machine and the command."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "command": _command(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "results": _plain(results),
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def _command() -> str:
    """How this run was started, as one would type it: ``.venv/bin/python -m bench.<name> <args>``."""
    script = Path(sys.argv[0])
    started = f"-m bench.{script.stem}" if script.parent.name == "bench" else str(script)
    return " ".join([".venv/bin/python", started, *sys.argv[1:]])


def _plain(value):
    if isinstance(value, Summary):
        return asdict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def heading(title: str) -> None:
    print(f"\n=== {title}", flush=True)
    info = machine()
    print(
        f"    machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}, SQLite {info['sqlite']},"
        f" PostgreSQL {info['postgresql']}, load {info['load_average_at_start']}, commit {info['commit']}",
        flush=True,
    )


def line(label: str, value: str) -> None:
    print(f"    {label:<44} {value}", flush=True)
