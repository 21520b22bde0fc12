"""`socle ins …` commands on an embedded database."""

from __future__ import annotations

import json

from socle.cli.main import main
from tests.ins.conftest import registry_record


def test_registry_cli(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db = ["--database", f"sqlite:///{tmp_path / 'ins.db'}"]
    good = tmp_path / "reg.ndjson"
    good.write_text(json.dumps(registry_record()) + "\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([registry_record(date_naissance="1985-02-30")]))
    assert main(["ins", "load-registry", str(bad), *db]) == 1
    assert "not a real date" in capsys.readouterr().err
    assert main(["ins", "load-registry", str(good), *db]) == 0
    assert "1 identities loaded" in capsys.readouterr().out
    code = main(
        [
            "ins",
            "retrieve",
            "--family",
            "martin",
            "--given",
            "marie",
            "--birth-date",
            "1985-03-07",
            "--gender",
            "F",
            *db,
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["result"] == "00"
    assert main(["ins", "check", "185037512345642"]) == 1
    assert "Wrong key" in capsys.readouterr().out
    assert main(["ins", "demo-registry", "--count", "5"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5


def test_mllp_refuses_a_non_loopback_host_without_allow_remote(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "socle.cli.main",
            "mllp",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--database",
            f"sqlite:///{tmp_path}/m.db",
        ],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert b"Refusing to listen" in proc.stderr


def test_load_registry_unreadable_file(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    """A missing file, or a directory, is one clear error line and exit 1, no traceback,
    and nothing is loaded (no database is even opened)."""
    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db_file = tmp_path / "ins.db"
    db = ["--database", f"sqlite:///{db_file}"]
    for path in (tmp_path / "missing.ndjson", tmp_path):
        assert main(["ins", "load-registry", str(path), *db]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot read the registry file {path}: ")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not db_file.exists()


def test_verify_cli_without_system_uses_the_registry_oid(tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db = ["--database", f"sqlite:///{tmp_path / 'ins.db'}"]
    rec = registry_record(oid="1.2.250.1.213.1.4.8")
    reg = tmp_path / "reg.json"
    reg.write_text(json.dumps([rec]))
    assert main(["ins", "load-registry", str(reg), *db]) == 0
    capsys.readouterr()
    traits = ["--family", "Martin", "--given", "Marie", "--birth-date", "1985-03-07"]
    args = ["ins", "verify", "--ins", rec["matricule"], *traits, "--gender", "F", *db]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["result"] == "00"
    assert main([*args, "--system", "urn:oid:1.2.250.1.213.1.4.10"]) == 2  # another OID
    assert json.loads(capsys.readouterr().out)["result"] == "01"


def test_mllp_exposes_its_metrics(tmp_path) -> None:  # noqa: ANN001
    """`socle mllp --metrics-port`: the feed's messages, by event and ACK code, and its
    transactions, on a Prometheus endpoint of its own."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from socle.ins.mllp import FrameReader, frame
    from tests.ins.test_mllp import adt

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    mllp_port, metrics_port = ports
    command = [sys.executable, "-m", "socle.cli.main", "mllp", "--port", str(mllp_port)]
    command += ["--metrics-port", str(metrics_port), "--auth", "none", "--tenant", "m"]
    command += ["--database", f"sqlite:///{tmp_path}/m.db", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            try:
                sock = socket.create_connection(("127.0.0.1", mllp_port), timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "socle mllp did not start"
                time.sleep(0.2)
        with sock:
            reader = FrameReader(sock)
            for message in (adt("A28", "MET1", control="m1"), adt("A28", "MET2", birth="1985")):
                sock.sendall(frame(message.encode()))
                assert reader.next() is not None
            sock.sendall(frame(b"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|2025||ORU^R01|m3|P|2.5\r"))
            assert b"MSA|AR|m3" in (reader.next() or b"")
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert 'socle_hl7_messages_total{ack="AA",event="A28"} 2.0' in text
    assert 'socle_hl7_messages_total{ack="AR",event="other"} 1.0' in text
    assert "socle_hl7_transaction_messages_count 2.0" in text
    assert "socle_hl7_message_seconds_count 3.0" in text


def test_load_registry_replace_with_nothing_needs_allow_empty(
    tmp_path, capsys, monkeypatch
) -> None:  # noqa: ANN001
    monkeypatch.setenv("SOCLE_DATA_DIR", str(tmp_path))
    db = ["--database", f"sqlite:///{tmp_path / 'ins.db'}"]
    good, empty = tmp_path / "reg.json", tmp_path / "empty.json"
    # loaded with a warning: the birth year disagrees with the matricule's
    good.write_text(json.dumps([registry_record(date_naissance="1986-03-07")]))
    empty.write_text("[]")
    assert main(["ins", "load-registry", str(good), *db]) == 0
    assert "warning:" in capsys.readouterr().err
    assert main(["ins", "load-registry", "--replace", str(empty), *db]) == 1
    assert "empty" in capsys.readouterr().err
    retrieve = ["ins", "retrieve", "--family", "martin", "--given", "marie"]
    retrieve += ["--birth-date", "1986-03-07", "--gender", "F", *db]
    assert main(retrieve) == 0  # still there
    capsys.readouterr()
    assert main(["ins", "load-registry", "--replace", "--allow-empty", str(empty), *db]) == 0
    assert main(retrieve) != 0


def test_reindex_check_counts_rows_written_under_older_rules(tmp_path, capsys) -> None:  # noqa: ANN001
    """`socle ins reindex --check` changes nothing and exits 1 while some index rows were
    written with other phonetic keys; `reindex` rewrites them."""
    from sqlalchemy import update

    from socle.config import Settings
    from socle.fhir.engine import FhirEngine
    from socle.ins import model as M
    from socle.ins import service
    from socle.ins.tables import ins_identity

    url = f"sqlite:///{tmp_path / 'ins.db'}"
    db = ["--database", url, "--data-dir", str(tmp_path), "--tenant", "t1"]
    assert main(["migrate", "--database", url, "--data-dir", str(tmp_path)]) == 0
    engine = FhirEngine(Settings(data_dir=tmp_path, database_url=url))
    engine.load_plugins(["ins"])
    ident = M.Identity(birth_family="MARTAIN", given=["JEAN"], birth_date="1980-01-02", sex="male")
    patient = M.write_identity({"resourceType": "Patient"}, ident)
    with engine.store.session("t1", write=True) as s:
        pid = engine.crud.create(s, service.op_context(None, "t1"), "Patient", patient).res_id
    assert main(["ins", "reindex", "--check", *db]) == 0
    assert "0 identity index rows" in capsys.readouterr().out
    with engine.store.session("t1", write=True) as s:  # as an older rule wrote it
        t = ins_identity.c
        s.execute(update(ins_identity).where(t.patient_id == pid).values(family_key="MARTA"))
    engine.close()
    assert main(["ins", "reindex", "--check", *db]) == 1
    assert "1 identity index rows" in capsys.readouterr().out
    assert main(["ins", "reindex", "--check", *db]) == 1  # --check changed nothing
    capsys.readouterr()
    assert main(["ins", "reindex", *db]) == 0
    assert "1 patients indexed" in capsys.readouterr().out
    assert main(["ins", "reindex", "--check", *db]) == 0
