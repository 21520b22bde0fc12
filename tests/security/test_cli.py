"""`socle token`, its refusal in production, and `socle serve --auth oidc` safety checks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.security.conftest import security_config


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "socle.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_token_for_a_system_client_validates(fresh_db, tmp_path) -> None:  # noqa: ANN001
    from socle.security.tokens import TokenValidator

    env = {"SOCLE_BASE_URL": "http://testserver/fhir", "SOCLE_ENV": "development"}
    r = _run(
        "token", "--as", "client", "--database", fresh_db, "--data-dir", str(tmp_path), env=env
    )
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    claims = TokenValidator(security_config(tmp_path)).validate(token).claims
    assert claims["kind"] == "system" and claims["scope"] == "system/*.cruds"


def test_token_for_an_unknown_practitioner_fails(fresh_db, tmp_path) -> None:  # noqa: ANN001
    r = _run(
        "token",
        "--as",
        "practitioner",
        "--rpps",
        "99999999999",
        "--database",
        fresh_db,
        "--data-dir",
        str(tmp_path),
    )
    assert r.returncode == 1 and "No Practitioner" in r.stderr


def test_test_shortcuts_cannot_be_enabled_in_production(fresh_db, tmp_path) -> None:  # noqa: ANN001
    prod = {"SOCLE_ENV": "production", "SOCLE_AUTH_ISSUER": "https://idp.example/auth"}
    r = _run(
        "token", "--as", "client", "--database", fresh_db, "--data-dir", str(tmp_path), env=prod
    )
    assert r.returncode == 2 and "production" in r.stderr
    r = _run(
        "token",
        "--as",
        "client",
        "--database",
        fresh_db,
        "--data-dir",
        str(tmp_path),
        env={**prod, "SOCLE_AUTH_DEMO": "1"},
    )
    assert r.returncode == 2 and "SOCLE_AUTH_DEMO" in r.stderr


def test_production_config_refuses_demo_and_plain_http(monkeypatch) -> None:  # noqa: ANN001
    import pytest

    from socle.security.config import ConfigError, load_security_config

    monkeypatch.setenv("SOCLE_ENV", "production")
    monkeypatch.setenv("SOCLE_AUTH_ISSUER", "https://idp.example/auth")
    config = load_security_config(mode="oidc")
    assert config.production and not config.demo
    monkeypatch.setenv("SOCLE_AUTH_DEMO", "1")
    with pytest.raises(ConfigError):
        load_security_config(mode="oidc")
    monkeypatch.delenv("SOCLE_AUTH_DEMO")
    monkeypatch.setenv("SOCLE_AUTH_ISSUER", "http://idp.example/auth")
    with pytest.raises(ConfigError):
        load_security_config(mode="oidc")


def test_serve_oidc_with_demo_accounts_stays_on_loopback(fresh_db, tmp_path) -> None:  # noqa: ANN001
    r = _run(
        "serve",
        "--auth",
        "oidc",
        "--host",
        "0.0.0.0",
        "--database",
        fresh_db,
        "--data-dir",
        str(tmp_path),
    )
    assert r.returncode == 2 and "Refusing" in r.stderr


def test_serve_oidc_starts_with_the_embedded_provider(fresh_db, tmp_path) -> None:  # noqa: ANN001
    import time

    import httpx

    from tests.security.servers import free_port

    port = free_port()
    env = {**os.environ, "SOCLE_DATA_DIR": str(tmp_path)}
    env.pop("SOCLE_AUTH_ISSUER", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socle.cli.main",
            "serve",
            "--auth",
            "oidc",
            "--port",
            str(port),
            "--workers",
            "1",
            "--database",
            fresh_db,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.2)
        assert httpx.get(f"{base}/fhir/Patient").status_code == 401
        meta = httpx.get(f"{base}/auth/.well-known/openid-configuration").json()
        assert meta["issuer"] == f"{base}/auth"
        token = _run(
            "token",
            "--as",
            "client",
            "--database",
            fresh_db,
            "--data-dir",
            str(tmp_path),
            env={"SOCLE_HOST": "127.0.0.1", "SOCLE_PORT": str(port)},
        )
        assert token.returncode == 0, token.stderr
        r = httpx.get(
            f"{base}/fhir/Organization/none",
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        )
        assert r.status_code == 404  # authenticated: the resource just does not exist
    finally:
        proc.terminate()
        proc.wait(timeout=30)
