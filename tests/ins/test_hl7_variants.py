"""PAM messages as real senders write them: escapes, line endings, byte order marks."""

from __future__ import annotations

from socle.ins import index as X
from socle.ins.hl7feed import handle

IPP = "urn:oid:1.2.250.1.999.9"


def _message(pid: str, control: str, sep: str = "\r") -> bytes:
    segments = [
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^A28^ADT_A05|{control}|P|2.5"
        "|||||FRA|UNICODE UTF-8",
        "EVN||20250102120000",
        pid,
    ]
    return (sep.join(segments) + sep).encode()


def _names(engine, tenant: str, ipp: str) -> list[tuple[str, list[str]]]:  # noqa: ANN001
    with engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(IPP, ipp)])
    assert found is not None
    return [(n["family"], n.get("given", [])) for n in found[1]["name"]]


def _accepted(engine, tenant: str, raw: bytes) -> None:  # noqa: ANN001
    ack = handle(engine, tenant, raw, "127.0.0.1").ack.decode()
    assert "MSA|AA|" in ack, ack


def test_escape_sequences_in_names_are_read_as_characters(ins_engine, tenant) -> None:  # noqa: ANN001
    pid = (
        "PID|||E1^^^HOSP&1.2.250.1.999.9&ISO^PI||O\\X27\\BRIEN^ANNE^^^^^L"
        "~D\\T\\ARC^ANNE^^^^^D||19800101|F"
    )
    _accepted(ins_engine, tenant, _message(pid, "e1"))
    # stored forms: the apostrophe is kept; "&" is no name character (read as a space)
    assert _names(ins_engine, tenant, "E1") == [("O'BRIEN", ["ANNE"]), ("D ARC", ["ANNE"])]


def test_line_endings_and_byte_order_mark(ins_engine, tenant) -> None:  # noqa: ANN001
    pid = "PID|||{}^^^HOSP&1.2.250.1.999.9&ISO^PI||MARTIN^PAUL^^^^^L||19800101|M"
    _accepted(ins_engine, tenant, _message(pid.format("L1"), "l1", sep="\n"))
    _accepted(ins_engine, tenant, _message(pid.format("L2"), "l2", sep="\r\n"))
    _accepted(ins_engine, tenant, b"\xef\xbb\xbf" + _message(pid.format("L3"), "l3"))
    for ipp in ("L1", "L2", "L3"):
        assert _names(ins_engine, tenant, ipp) == [("MARTIN", ["PAUL"])]


def test_hex_escapes_are_read_as_utf8_or_latin1(ins_engine, tenant) -> None:  # noqa: ANN001
    pid = (
        "PID|||HX1^^^HOSP&1.2.250.1.999.9&ISO^PI||B\\XC389\\RARD^\\XC389\\LODIE^^^^^L"
        "~B\\XE9\\RARD^\\XE9\\LO^^^^^D||19800101|F"
    )
    _accepted(ins_engine, tenant, _message(pid, "hx1"))
    (birth, given), (used, used_given) = _names(ins_engine, tenant, "HX1")
    # stored in the INS forms (accents removed): mojibake would leave "A" or "A " for É
    assert (birth, used) == ("BERARD", "BERARD")
    assert given[0] == "ELODIE" and used_given == ["ELO"]


def test_addresses_read_utf8_hex_escapes(ins_engine, tenant) -> None:  # noqa: ANN001
    pid = (
        "PID|||HX2^^^HOSP&1.2.250.1.999.9&ISO^PI||MARTIN^PAUL^^^^^L||19800101|M|||"
        "1 RUE DE L'\\XC389\\COLE^^CR\\XC389\\TEIL^^94000^FRA^H"
    )
    _accepted(ins_engine, tenant, _message(pid, "hx2"))
    with ins_engine.store.session(tenant) as s:
        _, patient = X.resource_by_identifier(s, "Patient", [(IPP, "HX2")])
    assert patient["address"][0]["city"] == "CRÉTEIL"
    assert patient["address"][0]["line"] == ["1 RUE DE L'ÉCOLE"]
