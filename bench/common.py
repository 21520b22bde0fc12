"""Shared helpers: output folder, progress bars, percentiles and CPU accounting."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"  # gitignored: databases, logs, raw results
console = Console(stderr=True, highlight=False)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def progress() -> Progress:
    """A rich progress bar on stderr (plain final lines when stderr is not a terminal)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def socle_command() -> list[str]:
    """The `socle` executable of the running venv (or the module when it is not installed)."""
    script = Path(sys.executable).parent / "socle"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "socle.cli.main"]


# --- CPU accounting ----------------------------------------------------------------------
# The machine has 2 cores shared by the benchmark client, the server workers and PostgreSQL,
# and other work may run on it: every phase records who used the CPU while it ran.


def _machine_jiffies() -> tuple[int, int, int]:
    """(total, busy, steal) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except OSError:
        return 0, 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return total, total - idle - steal, steal


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime jiffies) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()  # the command name may contain spaces
    return int(rest[1]), int(rest[11]) + int(rest[12])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    """`root` and every process below it (server master and its workers)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


_PG_PROBE: tuple[str, str] | None = None  # (libpq URL, application_name) of this run


def watch_postgres(url: str, application_name: str) -> None:
    """Count only this run's PostgreSQL backends (plus the shared background processes)."""
    global _PG_PROBE
    _PG_PROBE = (url, application_name)


def postgres_pids() -> list[int]:
    """PostgreSQL processes working for this run: its backends (by application_name) and the
    background processes (WAL writer, checkpointer...); all `postgres` processes if unknown."""
    if _PG_PROBE is not None:
        import psycopg

        url, name = _PG_PROBE
        try:
            with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE application_name = %s OR backend_type <> 'client backend'",
                    (name,),
                ).fetchall()
            return [int(r[0]) for r in rows]
        except psycopg.Error:
            pass
    pids = []
    for pid in _all_pids():
        try:
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == "postgres":
                    pids.append(pid)
        except OSError:
            continue
    return pids


def _cpu_of(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            out[pid] = stat[1]
    return out


@dataclass
class CpuUsage:
    """CPU used during one phase, in cores (1.0 = one core busy all the time)."""

    wall_s: float
    machine_busy: float  # all processes, of os.cpu_count() cores
    steal: float  # time the hypervisor gave to someone else
    client: float  # this benchmark process (client threads, or the in-process ingest)
    server: float  # the `socle serve` master and workers
    postgres: float  # this run's PostgreSQL backends and the background processes

    @property
    def other(self) -> float:
        """Everything else that ran meanwhile (other users of this machine, and of PostgreSQL)."""
        return max(0.0, self.machine_busy - self.client - self.server - self.postgres)

    def as_dict(self) -> dict[str, float]:
        out = {k: round(v, 3) for k, v in asdict(self).items()}
        out["other"] = round(self.other, 3)
        return out


class CpuMeter:
    """Snapshot CPU counters at start; `stop()` returns the usage since then."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self._start = self._snapshot()

    def _snapshot(self) -> tuple:
        server = descendants(self.server_pid) if self.server_pid else []
        return (
            time.perf_counter(),
            _machine_jiffies(),
            time.process_time(),
            _cpu_of(server),
            _cpu_of(postgres_pids()),
        )

    def stop(self) -> CpuUsage:
        end = self._snapshot()
        wall = max(1e-9, end[0] - self._start[0])
        (t0, b0, s0), (t1, b1, s1) = self._start[1], end[1]
        cores = os.cpu_count() or 1
        span = max(1, t1 - t0)

        def delta(i: int) -> float:
            # a process that appeared meanwhile (a new PostgreSQL backend) counts in full
            before, after = self._start[i], end[i]
            return sum(after[p] - before.get(p, 0) for p in after) / _CLK_TCK / wall

        return CpuUsage(
            wall_s=wall,
            machine_busy=(b1 - b0) / span * cores,
            steal=(s1 - s0) / span * cores,
            client=(end[2] - self._start[2]) / wall,
            server=delta(3),
            postgres=delta(4),
        )


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class MarkedSection:
    """A section of docs/benchmarks.md between two HTML comments, owned by one benchmark.

    `bench.run` rewrites the report from its own results; each optional benchmark keeps
    its section between markers so that a run of one part leaves the others intact.
    """

    def __init__(self, name: str) -> None:
        self.begin = f"<!-- {name}-benchmark:begin -->"
        self.end = f"<!-- {name}-benchmark:end -->"

    def write(self, path: Path, section: str) -> None:
        """Replace the section between the markers, or append it the first time."""
        text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
        block = f"{self.begin}\n{section.strip()}\n{self.end}"
        if self.begin in text and self.end in text:
            start, stop = text.index(self.begin), text.index(self.end) + len(self.end)
            text = text[:start] + block + text[stop:]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        path.write_text(text, encoding="utf-8")

    def keep(self, previous: str | None, path: Path) -> None:
        """After `bench.run` rewrote the report: put this section back from `previous`."""
        if not previous or self.begin not in previous or self.end not in previous:
            return
        start, stop = previous.index(self.begin), previous.index(self.end)
        self.write(path, previous[start + len(self.begin) : stop])
