"""`socle serve` with several worker processes: concurrent writers stay correct."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, data_dir: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "SOCLE_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socle.cli.main",
            "serve",
            "--port",
            str(port),
            "--database",
            url,
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def _concurrent_updates(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        body = {"resourceType": "Patient", "id": "mw1", "gender": "female"}
        assert c.put("/fhir/Patient/mw1", json=body).status_code in (200, 201)
        start = int(c.get("/fhir/Patient/mw1").json()["meta"]["versionId"])

    def bump(_i: int) -> int:
        with httpx.Client(base_url=base, timeout=30) as c:
            return c.put("/fhir/Patient/mw1", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(bump, range(40)))
    assert codes == [200] * 40
    with httpx.Client(base_url=base, timeout=30) as c:
        final = c.get("/fhir/Patient/mw1").json()["meta"]["versionId"]
        assert int(final) == start + 40
        history = c.get("/fhir/Patient/mw1/_history?_count=1000").json()
        versions = sorted(int(e["response"]["etag"][3:-1]) for e in history["entry"])
        assert versions == list(range(1, start + 41))
        metrics = c.get("/metrics").text
        assert 'socle_http_requests_total{endpoint="update",method="PUT",status="200"}' in metrics


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_lose_no_update(backend: str, tmp_path: Path, request) -> None:  # noqa: ANN001
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_schema_url")
    )
    proc, base = _serve(url, tmp_path, "--workers", "2", "--auth", "none")
    try:
        _concurrent_updates(base)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _refused(tmp_path: Path, *args: str) -> bytes:
    """`socle serve ARGS` must refuse to start (exit 2); its error output."""
    command = [sys.executable, "-m", "socle.cli.main", "serve", *args]
    command += ["--database", f"sqlite:///{tmp_path}/x.db"]
    proc = subprocess.run(command, capture_output=True, timeout=60)
    assert proc.returncode == 2
    return proc.stderr


def test_auth_none_refuses_non_loopback(tmp_path: Path) -> None:
    assert b"Refusing" in _refused(tmp_path, "--host", "0.0.0.0")


def _mllp_round_trip(port: int, message: bytes) -> bytes:
    from socle.ins.mllp import FrameReader, frame

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(frame(message))
        ack = FrameReader(sock).next()
    assert ack is not None
    return ack


def test_serve_runs_the_mllp_feed_beside_http(tmp_path: Path) -> None:
    """`socle serve --mllp-port`: one listener for the whole server (two workers here);
    a PAM message sent over MLLP is acknowledged and its Patient is served over HTTP."""
    mllp_port = _free_port()
    proc, base = _serve(
        f"sqlite:///{tmp_path / 'm.db'}",
        tmp_path,
        "--workers",
        "2",
        "--auth",
        "none",
        "--mllp-port",
        str(mllp_port),
    )
    try:
        message = (
            b"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^A28^ADT_A05|s1|P|2.5"
            b"|||||FRA|UNICODE UTF-8\rEVN||20250102120000\r"
            b"PID|||IPPS1^^^HOSP&1.2.250.1.999.9&ISO^PI||SERVEUR^ALICE^^^^^L||19800101|F"
            b"|||^^^^^^BDL^^35238\r"
        )
        ack = _mllp_round_trip(mllp_port, message).decode()
        assert "MSA|AA|s1" in ack
        found = httpx.get(
            f"{base}/fhir/Patient?identifier=urn:oid:1.2.250.1.999.9|IPPS1", timeout=30
        ).json()
        assert [e["resource"]["name"][0]["family"] for e in found["entry"]] == ["SERVEUR"]
        # the listener's metrics are the server's: /metrics of any worker shows them
        metrics = httpx.get(f"{base}/metrics", timeout=30).text
        assert 'socle_hl7_messages_total{ack="AA",event="A28"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with pytest.raises(OSError):  # the listener stopped with the server
        _mllp_round_trip(mllp_port, message)


def test_serve_refuses_a_remote_mllp_listener_without_allow_remote(tmp_path: Path) -> None:
    port = str(_free_port())
    stderr = _refused(tmp_path, "--auth", "none", "--mllp-port", port, "--mllp-host", "0.0.0.0")
    assert b"Refusing to listen on 0.0.0.0" in stderr


def test_serve_with_mllp_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """systemd's stop: the HTTP server shuts down, then the MLLP listener, and the process
    exits 0 (not killed by the signal it was sent)."""
    import signal

    mllp_port = _free_port()
    proc, _ = _serve(
        f"sqlite:///{tmp_path / 't.db'}",
        tmp_path,
        "--workers",
        "1",
        "--auth",
        "none",
        "--mllp-port",
        str(mllp_port),
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
