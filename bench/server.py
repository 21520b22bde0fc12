"""Start and stop a real `socle serve` subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from bench.common import OUT_DIR, socle_command

HOST = "127.0.0.1"  # loopback only: the server runs with --auth none


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class SocleServer:
    """`socle serve --database URL --workers N` for the duration of a `with` block."""

    def __init__(self, database_url: str, *, workers: int = 2, log_path: Path) -> None:
        self.database_url = database_url
        self.workers = workers
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def root(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def fhir(self) -> str:
        return f"{self.root}/fhir"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 120.0) -> None:
        for attempt in range(3):  # another process may grab the free port in between
            try:
                self._start_once(timeout)
                return
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise

    def _start_once(self, timeout: float) -> None:
        self.port = free_port()
        cmd = [
            *socle_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--database",
            self.database_url,
            "--data-dir",
            str(OUT_DIR),
            "--workers",
            str(self.workers),
            "--auth",
            "none",
        ]
        env = {**os.environ, "SOCLE_LOG_LEVEL": "warning", "SOCLE_DATA_DIR": str(OUT_DIR)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # its own process group, so that stop() can reach the workers too
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"socle serve exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.root}/healthz", timeout=2).status_code == 200:
                    self._wait_for_workers(deadline)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"socle serve did not answer /healthz in {timeout:.0f}s")

    def _wait_for_workers(self, deadline: float) -> None:
        """/healthz answers with the first worker up; give every worker time to boot."""
        from bench.common import descendants

        while time.monotonic() < deadline:
            alive = [p for p in descendants(self.process.pid) if p != self.process.pid]
            if len(alive) >= self.workers:
                break
            time.sleep(0.2)
        with httpx.Client(timeout=10) as client:  # a few requests so each worker is warm
            for _ in range(4 * self.workers):
                client.get(f"{self.root}/healthz")

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # uvicorn stops its workers gracefully
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this class created
            process.wait(10)

    def __enter__(self) -> SocleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
