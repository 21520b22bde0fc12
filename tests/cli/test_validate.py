"""`socle validate`: offline report, JSON output and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from socle.cli.main import main
from tests.fhir.validation.support import PATIENT_INS, broken_variants, ins_patient

VARIANTS = broken_variants()


def _write(path: Path, resource: dict) -> Path:
    path.write_bytes(orjson.dumps(resource))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {name: _write(tmp_path / f"{name}.json", r) for name, (r, _, _) in VARIANTS.items()}
    out["valid"] = _write(tmp_path / "valid.json", ins_patient())
    return out


def _run_json(capsys, *args: str) -> tuple[int, dict]:  # noqa: ANN001
    code = main(["validate", "--format", "json", "--data-dir", "/nonexistent", *args])
    return code, orjson.loads(capsys.readouterr().out)


def test_each_broken_variant_gives_its_error_and_exit_1(files, capsys) -> None:  # noqa: ANN001
    names = sorted(VARIANTS)
    code, report = _run_json(capsys, *(str(files[n]) for n in names))
    assert code == 1
    assert report["errors"] == len(names)
    for name, result in zip(names, report["results"], strict=True):
        _, location, message = VARIANTS[name]
        errors = [
            (i["expression"][0], i["diagnostics"])
            for i in result["outcome"]["issue"]
            if i["severity"] == "error"
        ]
        assert result["file"] == str(files[name]) and not result["valid"]
        assert errors == [(location, message)], name


def test_valid_file_exits_0_with_a_readable_report(files, capsys) -> None:  # noqa: ANN001
    assert main(["validate", str(files["valid"])]) == 0
    text = capsys.readouterr().out
    assert "valid" in text and "0 error(s)" in text


def test_text_report_lists_location_and_message(files, capsys) -> None:  # noqa: ANN001
    assert main(["validate", str(files["bad-ins-key"])]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "INVALID" in text and "FR-INS-002" in text and "Patient.identifier[0].value" in text


def test_profile_option_ndjson_and_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    plain = {"resourceType": "Patient", "gender": "male"}
    lines = tmp_path / "patients.ndjson"
    lines.write_bytes(orjson.dumps(plain) + b"\n\n" + b"{broken\n")
    code, report = _run_json(capsys, "--profile", PATIENT_INS, str(lines))
    assert code == 1
    first, second = report["results"]
    assert first["file"].endswith("patients.ndjson:1") and not first["valid"]
    assert "Patient.birthDate" in {
        i["expression"][0] for i in first["outcome"]["issue"] if "expression" in i
    }
    assert second["outcome"]["issue"][0]["severity"] == "fatal"
    assert main(["validate", str(tmp_path / "missing.json")]) == 2


def test_installed_command_exit_code(files) -> None:  # noqa: ANN001
    env = {**os.environ, "SOCLE_DATA_DIR": "/nonexistent"}
    cmd = [sys.executable, "-m", "socle.cli.main", "validate", str(files["closed-slice"])]
    done = subprocess.run(cmd, env=env, capture_output=True)
    assert done.returncode == 1, done.stderr
    assert b"INVALID" in done.stdout and b"1 error(s)" in done.stdout
