"""Group commit of the PAM feed: messages that arrive together share one transaction, and a
refused one costs its neighbours nothing but a retry (both backends, audit on)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from socle.fhir.storage import schema as S
from socle.ins import index as X
from socle.ins.groupcommit import GroupWriter
from socle.ins.hl7feed import Outcome
from tests.ins.test_mllp import _msa, adt
from tests.security.test_audit_atomic import _events

HOSP = "urn:oid:1.2.250.1.999.9"


def _together(writer: GroupWriter, messages: list[bytes]) -> list[Outcome]:
    """Send `messages` from threads of their own while the write turn is held, so that
    they queue in this order and the first thread to get the turn takes them all."""
    results: list[Outcome | None] = [None] * len(messages)

    def send(i: int) -> None:
        results[i] = writer.handle(messages[i], "127.0.0.1")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(messages))]
    with writer._group._turn:
        for i, thread in enumerate(threads):
            thread.start()
            deadline = time.monotonic() + 10
            while len(writer._group._queue) < i + 1:
                assert time.monotonic() < deadline, "message not queued"
                time.sleep(0.001)
    for thread in threads:
        thread.join(30)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _patient(engine, tenant: str, ipp: str) -> dict | None:  # noqa: ANN001
    with engine.store.session(tenant) as s:
        found = X.resource_by_identifier(s, "Patient", [(HOSP, ipp)])
    return found[1] if found else None


def test_messages_sent_together_share_one_transaction(audited, tenant) -> None:  # noqa: ANN001
    writer = GroupWriter(audited, tenant)
    messages = [
        adt("A28", f"G{i}", family="NOM" + "ABC"[i], control=f"g{i}").encode() for i in range(3)
    ]
    outcomes = _together(writer, messages)
    assert [_msa(o.ack)[1:] for o in outcomes] == [["AA", f"g{i}"] for i in range(3)]
    assert (writer.batches, writer.grouped) == (1, 3)
    for i in range(3):
        patient = _patient(audited, tenant, f"G{i}")
        assert patient is not None and patient["name"][0]["family"] == "NOM" + "ABC"[i]
    described = [e["outcomeDesc"] for e in _events(audited, tenant)]
    assert len(described) == 3
    assert all(f"control g{i}" in d and "AA accepted" in d for i, d in enumerate(described))


def test_a_refused_message_costs_its_neighbours_only_a_retry(audited, tenant) -> None:  # noqa: ANN001
    """The impossible birth date is found inside the transaction: the batch is undone and
    each message stored alone, so the good ones are still accepted, and the trail has one
    entry a message (none left from the undone batch)."""
    from prometheus_client import REGISTRY

    undone = REGISTRY.get_sample_value("socle_hl7_batches_undone_total") or 0
    writer = GroupWriter(audited, tenant)
    messages = [
        adt("A28", "R1", control="r1").encode(),
        adt("A28", "R2", birth="19850230", control="r2").encode(),
        adt("A28", "R3", control="r3").encode(),
    ]
    outcomes = _together(writer, messages)
    assert [_msa(o.ack)[1] for o in outcomes] == ["AA", "AE", "AA"]
    assert b"impossible date" in outcomes[1].ack
    assert _patient(audited, tenant, "R1") and _patient(audited, tenant, "R3")
    assert _patient(audited, tenant, "R2") is None
    assert writer.grouped == 0  # the batch was not kept
    assert REGISTRY.get_sample_value("socle_hl7_batches_undone_total") == undone + 1
    described = [e["outcomeDesc"] for e in _events(audited, tenant)]
    assert [d.split(" control ")[1][:2] for d in described] == ["r1", "r2", "r3"]


def test_a_message_reads_what_an_earlier_one_of_its_batch_wrote(audited, tenant) -> None:  # noqa: ANN001
    """An A28 and an A31 of the same person in one batch: one Patient, updated once."""
    writer = GroupWriter(audited, tenant)
    messages = [
        adt("A28", "S1", given="MARIE", control="s1").encode(),
        adt("A31", "S1", given="MARIE", others="LOUISE", control="s2").encode(),
    ]
    outcomes = _together(writer, messages)
    assert [_msa(o.ack)[1] for o in outcomes] == ["AA", "AA"]
    assert writer.grouped == 2
    patient = _patient(audited, tenant, "S1")
    assert patient is not None and patient["meta"]["versionId"] == "2"
    given_list = patient["name"][0]["extension"][0]  # FR Core birth list of given names
    assert given_list["valueString"] == "MARIE LOUISE"
    with audited.store.engine.connect() as conn:
        patients = conn.execute(
            select(func.count())
            .select_from(S.resource)
            .where(S.resource.c.tenant == tenant, S.resource.c.res_type == "Patient")
        ).scalar()
    assert patients == 1


def test_an_unreadable_message_is_refused_without_waiting_for_the_write_turn(
    audited,  # noqa: ANN001
    tenant,  # noqa: ANN001
) -> None:
    writer = GroupWriter(audited, tenant)
    with writer._group._turn:  # a transaction being written elsewhere
        outcome = writer.handle(b"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|2025||ORU^R01|u1|P|2.5\r")
    assert _msa(outcome.ack)[1] == "AR" and writer.batches == 0


def test_an_interrupted_writer_leaves_no_sender_waiting(monkeypatch) -> None:  # noqa: ANN001
    """An interrupt (not an error: SystemExit, KeyboardInterrupt) in the thread writing a
    batch goes on in that thread; the other messages of the batch get an error (their
    listener answers it AE, send again): their threads end instead of waiting for a write
    turn that would never store them, and no interrupt is raised in them."""
    from socle.ins import groupcommit

    def batch_fails(*_args):  # noqa: ANN002, ANN202
        raise RuntimeError("undone")

    def interrupted(*_args):  # noqa: ANN002, ANN202
        raise SystemExit(3)

    monkeypatch.setattr(groupcommit, "store_together", batch_fails)
    monkeypatch.setattr(groupcommit, "store", interrupted)
    writer = GroupWriter(None, "t")  # type: ignore[arg-type]
    raised: list[BaseException] = []

    def send(control: str) -> None:
        try:
            writer.handle(adt("A28", control, control=control).encode())
        except BaseException as exc:  # noqa: BLE001 - what the thread ended with
            raised.append(exc)

    threads = [threading.Thread(target=send, args=(f"I{i}",)) for i in range(2)]
    with writer._group._turn:
        for i, thread in enumerate(threads):
            thread.start()
            while len(writer._group._queue) < i + 1:
                time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    assert sorted(type(e).__name__ for e in raised) == ["RuntimeError", "SystemExit"]


def test_a_batch_locks_the_audit_head_after_its_patients(audited, tenant) -> None:  # noqa: ANN001
    """PostgreSQL: a REST write locks its Patient, then the audit chain's head at commit.
    A batch that locked the head with its first message's audit entry, then waited for
    that Patient, deadlocked with it; the batch's entries come last now, so the REST
    write commits and the batch goes on, both kept."""
    from socle.security.audit import AuditRecord

    if audited.store.sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to order")
    writer = GroupWriter(audited, tenant)
    assert _msa(writer.handle(adt("A28", "L2", control="l0").encode()).ack)[1] == "AA"
    pid = _patient(audited, tenant, "L2")["id"]
    locked, rest = threading.Event(), {}

    def rest_write() -> None:
        try:
            with audited.store.session(tenant, write=True) as s:
                s.current("Patient", pid, lock=True)
                locked.set()
                time.sleep(0.5)  # the batch is applying its messages meanwhile
                record = AuditRecord(
                    tenant=tenant, action="update", outcome=200, agent={"id": "u"},
                    patients=[pid], entities=[], res_type="Patient",
                )  # fmt: skip
                audited.guard.audit.append_in(s.conn, record)
            rest["ok"] = True
        except Exception as exc:  # noqa: BLE001 - the test reports it
            rest["error"] = repr(exc.__cause__ or exc)

    thread = threading.Thread(target=rest_write)
    thread.start()
    assert locked.wait(10)
    messages = [
        adt("A28", "L1", control="l1").encode(),
        adt("A31", "L2", family="AUTRE", control="l2").encode(),
    ]
    outcomes = _together(writer, messages)
    thread.join(30)
    assert rest == {"ok": True}
    assert [_msa(o.ack)[1] for o in outcomes] == ["AA", "AA"]
    assert writer.grouped == 2  # the batch itself was kept, not undone and replayed


def test_an_unexpected_error_is_raised_and_counted(monkeypatch) -> None:  # noqa: ANN001
    """The listener answers it AR 207; the messages metric counts it as AR."""
    from prometheus_client import REGISTRY

    from socle.ins import groupcommit

    def broken(*_args):  # noqa: ANN002, ANN202
        raise RuntimeError("database went away")

    monkeypatch.setattr(groupcommit, "store", broken)
    labels = {"event": "A28", "ack": "AR"}
    before = REGISTRY.get_sample_value("socle_hl7_messages_total", labels) or 0
    writer = GroupWriter(None, "t")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        writer.handle(adt("A28", "E1", control="e1").encode())
    assert REGISTRY.get_sample_value("socle_hl7_messages_total", labels) == before + 1
    assert writer._group._queue == []


def test_a_lock_conflict_in_the_audit_append_is_retried_as_a_conflict(audited, tenant) -> None:  # noqa: ANN001
    """PostgreSQL: a deadlock that cancels a message's audit append is a write conflict
    (retried, then refused as one, the refusal audited), not a broken audit trail."""
    from socle.ins.hl7feed import handle
    from tests.security.test_audit_atomic import audit_deadlocks

    if audited.store.sqlite:
        pytest.skip("PostgreSQL's deadlock detection")
    # the entries of accepted messages (outcome 200) only: the refusal's gets written
    with audit_deadlocks(audited, f"NEW.tenant = '{tenant}' AND NEW.outcome = 200"):
        outcome = handle(audited, tenant, adt("A28", "D1", control="d1").encode())
    assert _msa(outcome.ack)[1] == "AR"  # not about the content: the sender sends it again
    assert b"|206^Application record locked" in outcome.ack
    assert b"Concurrent updates" in outcome.ack and b"audited" not in outcome.ack
    assert _patient(audited, tenant, "D1") is None
