"""The one-statement audit append keeps the hash chain whole: several writers (processes,
threads) chaining after a head they remember, which another writer may have moved."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from socle.security import tables as T
from socle.security.audit import AuditLog, AuditRecord, verify
from socle.security.keys import audit_key


def _record(tenant: str, n: int) -> AuditRecord:
    return AuditRecord(tenant, "operation", 200, {"id": f"hl7:APP/F{n}"}, patients=[f"p{n}"])


@pytest.fixture
def db(db_url):  # noqa: ANN001
    from socle.fhir.storage.database import create_db_engine

    engine = create_db_engine(db_url, pool_size=4)
    yield engine
    engine.dispose()


def _append(log: AuditLog, record: AuditRecord, fail: bool = False) -> int:
    """One entry in its own write transaction, as an HL7 message writes it."""
    with log.db.connect() as conn:
        conn.info["socle_write"] = True
        with conn.begin():
            seq = log.append_in(conn, record)
            if fail:
                raise RuntimeError("the message's transaction fails after its entry")
    return seq


def _chain_problems(db, tmp_path) -> list:  # noqa: ANN001
    """Problems of the whole chain but signatures (other tests sign with other keys)."""
    result = verify(db, audit_key(tmp_path).public_key())
    return [p for p in result.problems if p.kind != "checkpoint"]


def test_two_writers_with_stale_heads_keep_one_chain(db, tmp_path, tenant) -> None:  # noqa: ANN001
    first, second = AuditLog(db, tmp_path, 10_000), AuditLog(db, tmp_path, 10_000)
    seqs = [_append(first, _record(tenant, 0))]
    for n in range(1, 7):  # each one's remembered head is stale every time
        seqs.append(_append(first if n % 2 == 0 else second, _record(tenant, n)))
    assert seqs == list(range(seqs[0], seqs[0] + 7))
    with pytest.raises(RuntimeError):
        _append(first, _record(tenant, 7), fail=True)  # rolled back: its hint is wrong now
    assert _append(first, _record(tenant, 8)) == seqs[-1] + 1
    assert _chain_problems(db, tmp_path) == []
    with db.connect() as conn:
        patients = conn.execute(
            select(T.audit_patient.c.patient).where(T.audit_patient.c.tenant == tenant)
        ).scalars()
        assert sorted(patients) == [f"p{n}" for n in (0, 1, 2, 3, 4, 5, 6, 8)]


def test_concurrent_writers_keep_one_chain(db, tmp_path, tenant) -> None:  # noqa: ANN001
    logs = [AuditLog(db, tmp_path, 10_000) for _ in range(2)]
    errors: list[BaseException] = []

    def writer(log: AuditLog, base: int) -> None:
        try:
            for n in range(15):
                _append(log, _record(tenant, base + n))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(logs[i % 2], i * 100)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _chain_problems(db, tmp_path) == []
    with db.connect() as conn:
        mine = conn.execute(
            select(T.audit_log.c.seq).where(T.audit_log.c.tenant == tenant)
        ).scalars()
        assert len(list(mine)) == 60
