"""The audit trail: AuditEvents (ANS traceability guide, TDE profile) in a hash chain.

Every event becomes one row of `audit_log`, whose `hash` commits to the previous row's
hash, its own sequence number, tenant, time and content. Every `checkpoint_every`
events the writer signs (seq, hash) with the server's Ed25519 key (`keys.audit_key`).
`verify()` walks the chain and says where it breaks: a modified row (its hash no
longer matches), a deleted row (a gap in `seq`, or the next row's `prev_hash`), rows
swapped (both), a truncated tail (a checkpoint or the head beyond the last row), and a
rewritten chain (a checkpoint signature or hash that no longer matches).

Writes are synchronous: `append()` returns once the event is committed, and raises
`AuditUnavailable` otherwise, so the access that needed it fails. Concurrent requests
of a process share one transaction (group commit, `storage/groupcommit.py`): whoever
gets the write turn writes everything queued so far. `append_in()` writes inside the
caller's open transaction instead: a FHIR write and its AuditEvent commit together or
not at all; a deadlock or lock conflict there is raised as it is, for the caller's
write to be retried as the conflict it is.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from sqlalchemy import Connection, Engine, LargeBinary, bindparam, insert, select, text, update
from sqlalchemy.exc import OperationalError

from socle.fhir.storage.fixed import FixedStatement
from socle.fhir.storage.groupcommit import GroupCommit
from socle.fhir.storage.store import PrecedingFailed, StoreSession, is_retryable
from socle.ins.nir import matricule_system
from socle.security import tables as T
from socle.security.jose import b64u, b64u_decode

log = logging.getLogger("socle.audit")
GENESIS = "0" * 64
TDE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tde/StructureDefinition/tde-auditevent"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"

# action -> (AuditEvent.action, subtype code, subtype system, subtype display)
_REST = {
    "read": ("R", "read"),
    "vread": ("R", "vread"),
    "search": ("E", "search-type"),
    "history": ("R", "history-instance"),
    "create": ("C", "create"),
    "update": ("U", "update"),
    "patch": ("U", "patch"),
    "delete": ("D", "delete"),
    "operation": ("E", "operation"),
    "transaction": ("E", "transaction"),
    "capabilities": ("R", "capabilities"),
}
_SECURITY = {
    "login": ("E", "110122", "Login"),
    "logout": ("E", "110123", "Logout"),
    "login-failed": ("E", "110122", "Login"),
    "token-refused": ("E", "110122", "Login"),
    "break-glass": ("E", "110127", "Emergency Override Started"),
    "audit-read": ("R", "110101", "Audit Log Used"),
    "account": ("U", "110137", "User Security Attributes Changed"),
}


class AuditUnavailable(Exception):
    """The event could not be written: the access that needed it must fail."""


@dataclass
class AuditRecord:
    """What happened, before it becomes an AuditEvent."""

    tenant: str
    action: str  # a REST action, or login, logout, login-failed, break-glass…
    outcome: int  # HTTP status
    agent: dict[str, Any]  # see `agent_of`
    on_behalf: dict[str, Any] | None = None
    patients: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # Type/id
    query: str | None = None
    description: str | None = None
    purpose: str | None = None
    network: str | None = None
    started: float | None = None
    res_type: str | None = None
    operation: str | None = None


def _instant(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _outcome(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def build_event(record: AuditRecord, now: float) -> dict[str, Any]:
    """An AuditEvent conforming to the TDE profile (subtype ≤ 1, period.start, ≤ 2 agents,
    source.observer)."""
    if record.action in _SECURITY:
        action, code, display = _SECURITY[record.action]
        etype = {"system": DICOM, "code": "110114", "display": "User Authentication"}
        if record.action in ("break-glass", "account"):
            etype = {"system": DICOM, "code": "110113", "display": "Security Alert"}
        if record.action == "audit-read":
            etype = {"system": DICOM, "code": "110101", "display": "Audit Log Used"}
        subtype = {"system": DICOM, "code": code, "display": display}
    else:
        action, code = _REST.get(record.action, ("E", record.action))
        etype = {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"}
        subtype = {"system": RESTFUL, "code": code, "display": code}
    agents = [_agent(record.agent, True, record)]
    if record.on_behalf:
        agents.append(_agent(record.on_behalf, False, None))
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "meta": {"profile": [TDE_PROFILE]},
        "type": etype,
        "subtype": [subtype],
        "action": action,
        "period": {"start": _instant(record.started or now), "end": _instant(now)},
        "recorded": _instant(now),
        "outcome": _outcome(record.outcome),
        "agent": agents,
        "source": {
            "site": record.tenant,
            "observer": {"display": "Socle", "identifier": {"value": "socle"}},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    text = f"HTTP {record.outcome}"
    if record.description:
        text += f": {record.description}"
    event["outcomeDesc"] = text[:1000]
    if record.purpose:
        event["purposeOfEvent"] = [{"coding": [{"system": PURPOSE, "code": record.purpose}]}]
    entities: list[dict[str, Any]] = []
    for pid in record.patients[:50]:
        entities.append(
            {
                "what": {"reference": f"Patient/{pid}"},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    for ref in record.entities[:50]:
        entities.append(
            {
                "what": {"reference": ref},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
            }
        )
    if record.query is not None or record.operation:
        item: dict[str, Any] = {
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "24",
                "display": "Query",
            },
        }
        if record.res_type:
            item["name"] = record.res_type + (f"/${record.operation}" if record.operation else "")
        elif record.operation:  # a system $operation, or a service's route (its path)
            op = record.operation
            item["name"] = op if "/" in op else f"${op.lstrip('$')}"
        if record.query:
            item["query"] = b64u(record.query.encode()[:4096])
        entities.append(item)
    if entities:
        event["entity"] = entities
    return event


def _agent(agent: dict[str, Any], requestor: bool, record: AuditRecord | None) -> dict[str, Any]:
    who: dict[str, Any] = {}
    if agent.get("reference"):
        who["reference"] = agent["reference"]
    if agent.get("rpps"):
        who["identifier"] = {"system": RPPS_SYSTEM, "value": agent["rpps"]}
    elif agent.get("ins"):
        who["identifier"] = {"system": ins_system(agent["ins"]), "value": agent["ins"]}
    elif agent.get("id"):
        who["identifier"] = {"system": "urn:socle:subject", "value": agent["id"]}
    if agent.get("display"):
        who["display"] = agent["display"]
    if not who:
        who = {"display": "anonymous"}
    out: dict[str, Any] = {"who": who, "requestor": requestor}
    if agent.get("profession"):
        out["role"] = [{"coding": [{"system": G15, "code": agent["profession"]}]}]
    if agent.get("kind"):
        out["type"] = {"text": agent["kind"]}
    if agent.get("client_id"):
        out["altId"] = agent["client_id"]
    if agent.get("token_id"):
        out["policy"] = [f"urn:socle:token:{agent['token_id']}"]
    if record is not None and record.network:
        out["network"] = {"address": record.network, "type": "2"}
    return out


def ins_system(ins: str) -> str:
    """The INS identifier system of a matricule (socle.ins.nir is the one reference)."""
    return matricule_system(ins)


def agent_id(agent: dict[str, Any]) -> str:
    if agent.get("rpps"):
        return f"rpps:{agent['rpps']}"
    if agent.get("ins"):
        return f"ins:{agent['ins']}"
    return str(agent.get("id") or "anonymous")[:128]


def chain_hash(prev: str, seq: int, tenant: str, recorded: int, content: bytes) -> str:
    h = hashlib.sha256()
    h.update(prev.encode())
    h.update(f"|{seq}|{tenant}|{recorded}|".encode())
    h.update(content)
    return h.hexdigest()


# The append path's statements, built once (an HL7 message or a REST write appends one
# entry in its own transaction: building statements cost more than running them).
_HEAD = T.audit_head.c
_LOCK_HEAD = select(_HEAD.seq, _HEAD.hash).where(_HEAD.id == 1).with_for_update()
_INSERT_LOG = insert(T.audit_log)
_INSERT_PATIENT = insert(T.audit_patient)
# The one-entry append of a write's own transaction runs on the driver (storage/fixed.py):
# SQLAlchemy's execution layer cost more than these one-row statements.
_LOG_COLUMNS = ("seq", "tenant", "recorded", "agent", "action", "outcome", "prev_hash", "hash")
_INSERT_ONE_LOG = FixedStatement(
    insert(T.audit_log).values(
        {c: bindparam(c) for c in _LOG_COLUMNS}
        | {"content": bindparam("content", type_=LargeBinary)}
    )
)
_INSERT_ONE_PATIENT = FixedStatement(
    insert(T.audit_patient).values(
        seq=bindparam("seq"), tenant=bindparam("tenant"), patient=bindparam("patient")
    )
)
_MOVE_HEAD = (
    update(T.audit_head)
    .where(_HEAD.id == 1)
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"))
)
# One entry chained after the head this process last wrote, if it is still the head:
# the head moves only if it is still (prev_seq, prev_hash), and the entry is written only
# then (one round trip on PostgreSQL; the head row stays locked until commit). When
# another writer moved the head, nothing is written and the append locks and re-reads it.
_MOVE_HEAD_IF = FixedStatement(
    update(T.audit_head)
    .where(_HEAD.id == 1, _HEAD.seq == bindparam("prev_seq"), _HEAD.hash == bindparam("prev"))
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"))
)
_PG_APPEND_ONE = FixedStatement(
    text(
        f"""WITH head AS (
  UPDATE {T.audit_head.name} SET seq = :seq, hash = :hash
  WHERE id = 1 AND seq = :prev_seq AND hash = :prev_hash
  RETURNING id
), entry AS (
  INSERT INTO {T.audit_log.name}
    (seq, tenant, recorded, agent, action, outcome, prev_hash, hash, content)
  SELECT CAST(:seq AS bigint), CAST(:tenant AS varchar), CAST(:recorded AS bigint),
    CAST(:agent AS varchar), CAST(:action AS varchar), CAST(:outcome AS integer),
    CAST(:prev_hash AS varchar), CAST(:hash AS varchar), :content
  FROM head
), patients AS (
  INSERT INTO {T.audit_patient.name} (seq, tenant, patient)
  SELECT CAST(:seq AS bigint), CAST(:tenant AS varchar), p
  FROM head, unnest(CAST(:patients AS varchar[])) AS p
)
SELECT count(*) FROM head"""
    ).bindparams(bindparam("content", type_=LargeBinary))
)


@dataclass
class _Pending:
    record: AuditRecord
    seq: int = 0  # set once written


class AuditLog:
    """Appends events to the hash chain (thread-safe, group commit)."""

    def __init__(self, db: Engine, data_dir: Path, checkpoint_every: int = 1000) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.checkpoint_every = max(1, checkpoint_every)
        self._group: GroupCommit[_Pending, int] = GroupCommit(self._write_batch)
        self._write_lock = threading.Lock()  # a batch, or a checkpoint
        self._key = None
        self._head: tuple[int, str] | None = None  # (seq, hash) this process last wrote

    def _signing_key(self):  # noqa: ANN202
        if self._key is None:
            from socle.security.keys import audit_key

            self._key = audit_key(self.data_dir)
        return self._key

    def append(self, record: AuditRecord) -> int:
        """Write one event in its own transaction (grouped with concurrent ones)."""
        try:
            return self._group.submit(_Pending(record))
        except Exception as exc:
            raise AuditUnavailable("the audit trail could not be written") from exc

    def _write_batch(self, batch: list[_Pending]) -> list[int | BaseException]:
        """The group commit's write: the events queued together, in one transaction."""
        try:
            with self._write_lock:
                self._write(batch)
        except Exception:
            log.exception("audit trail unavailable")
            raise
        return [pending.seq for pending in batch]

    def append_in(
        self, conn: Connection, record: AuditRecord, session: StoreSession | None = None
    ) -> int:
        """Write one event inside the caller's open transaction (a write and its audit
        commit together). Never takes the group-commit lock: the caller's transaction may
        hold the database write lock that the group writer is waiting for.

        `session`: the store session of that transaction; its pending writes are flushed
        before the entry (the trail's head is locked after the resources' rows, the order
        every write takes them), on PostgreSQL in the entry's round trip."""
        pending = _Pending(record)
        try:
            self._write_rows(conn, [pending], session)
        except PrecedingFailed:
            raise  # the audited writes failed, not the trail: the session reports it
        except Exception as exc:
            if isinstance(exc, OperationalError) and is_retryable(exc):
                raise  # a deadlock or a lock conflict: the caller's write is retried
            log.exception("audit trail unavailable")
            raise AuditUnavailable("the audit trail could not be written") from exc
        return pending.seq

    def _write(self, batch: list[_Pending]) -> None:
        with self.db.connect() as conn:
            conn.info["socle_write"] = True
            with conn.begin():
                self._write_rows(conn, batch)

    def _write_rows(
        self, conn: Connection, batch: list[_Pending], session: StoreSession | None = None
    ) -> None:
        """Chain `batch` after the head (locked until the transaction ends)."""
        guess = self._head
        if (
            len(batch) == 1
            and guess is not None
            and self._append_one(conn, batch[0], *guess, session=session)
        ):
            return
        if session is not None:
            session.flush_before()  # the audited rows before the head's lock
        head = conn.execute(_LOCK_HEAD).first()
        if head is None:
            seq, prev = 0, GENESIS
            conn.execute(insert(T.audit_head).values(id=1, seq=0, hash=GENESIS))
        else:
            seq, prev = int(head.seq), head.hash
        if len(batch) == 1:
            if not self._append_one(conn, batch[0], seq, prev):  # we hold the head lock
                raise RuntimeError("the audit head moved under its lock")
            return
        rows, patients, checkpoints = [], [], []
        for pending in batch:
            seq += 1
            row, ids = self._entry_row(pending.record, seq, prev)
            rows.append(row)
            patients += [{"seq": seq, "tenant": row["tenant"], "patient": pid} for pid in ids]
            if seq % self.checkpoint_every == 0:
                checkpoints.append(self._checkpoint_row(seq, row["hash"], row["recorded"]))
            pending.seq = seq
            prev = row["hash"]
        conn.execute(_INSERT_LOG, rows)
        if patients:
            conn.execute(_INSERT_PATIENT, patients)
        conn.execute(_MOVE_HEAD, {"h_seq": seq, "h_hash": prev})
        if checkpoints:
            conn.execute(insert(T.audit_checkpoint), checkpoints)
        self._head = (seq, prev)

    def _append_one(
        self,
        conn: Connection,
        pending: _Pending,
        head_seq: int,
        head: str,
        session: StoreSession | None = None,
    ) -> bool:
        """Chain one event after (head_seq, head) if that is still the head; False (and
        nothing written) when another writer moved it. The hash is computed once, here.
        `session`'s pending writes go first (see `append_in`)."""
        seq = head_seq + 1
        row, ids = self._entry_row(pending.record, seq, head)
        if conn.dialect.name == "postgresql":
            params = {**row, "prev_seq": head_seq, "patients": ids}
            if session is not None:  # its rows and this entry: one round trip
                found = session.first_after_flush(_PG_APPEND_ONE, params)
            else:
                found = _PG_APPEND_ONE.first(conn, params)
            if not found[0]:
                return False
        else:
            if session is not None:
                session.flush_before()
            moved = {"prev_seq": head_seq, "prev": head, "h_seq": seq, "h_hash": row["hash"]}
            if _MOVE_HEAD_IF.rowcount(conn, moved) != 1:
                return False
            _INSERT_ONE_LOG.rowcount(conn, row)
            for patient in ids:
                _INSERT_ONE_PATIENT.rowcount(
                    conn, {"seq": seq, "tenant": row["tenant"], "patient": patient}
                )
        if seq % self.checkpoint_every == 0:
            conn.execute(
                insert(T.audit_checkpoint),
                [self._checkpoint_row(seq, row["hash"], row["recorded"])],
            )
        pending.seq = seq
        self._head = (seq, row["hash"])  # a hint: a rolled-back append only costs a re-read
        return True

    @staticmethod
    def _entry_row(rec: AuditRecord, seq: int, prev: str) -> tuple[dict[str, Any], list[str]]:
        """The audit_log row of one event chained after `prev`, and its patients."""
        now = time.time()
        recorded = int(now * 1_000_000)
        event = build_event(rec, now)
        event["id"] = str(seq)
        content = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        row = {
            "seq": seq,
            "tenant": rec.tenant,
            "recorded": recorded,
            "agent": agent_id(rec.agent),
            "action": rec.action[:32],
            "outcome": rec.outcome,
            "prev_hash": prev,
            "hash": chain_hash(prev, seq, rec.tenant, recorded, content),
            "content": content,
        }
        return row, list(dict.fromkeys(rec.patients))

    def _checkpoint_row(self, seq: int, digest: str, recorded: int) -> dict[str, Any]:
        payload = orjson.dumps({"seq": seq, "hash": digest, "recorded": recorded})
        head = b64u(orjson.dumps({"alg": "EdDSA", "typ": "socle-audit-checkpoint"}))
        signing_input = f"{head}.{b64u(payload)}".encode()
        signature = b64u(self._signing_key().sign(signing_input))
        return {
            "seq": seq,
            "hash": digest,
            "recorded": recorded,
            "signature": f"{signing_input.decode()}.{signature}",
        }

    def checkpoint(self) -> int | None:
        """Sign the current head now (e.g. before exporting or on a schedule)."""
        with self._write_lock, self.db.connect() as conn:
            conn.info["socle_write"] = True
            with conn.begin():
                head = conn.execute(
                    select(T.audit_head.c.seq, T.audit_head.c.hash).with_for_update()
                ).first()
                if head is None or head.seq == 0:
                    return None
                exists = conn.execute(
                    select(T.audit_checkpoint.c.seq).where(T.audit_checkpoint.c.seq == head.seq)
                ).first()
                if exists is None:
                    last = conn.execute(
                        select(T.audit_log.c.recorded).where(T.audit_log.c.seq == head.seq)
                    ).scalar_one()
                    conn.execute(
                        insert(T.audit_checkpoint),
                        [self._checkpoint_row(int(head.seq), head.hash, int(last))],
                    )
                return int(head.seq)


# -- verification ---------------------------------------------------------------------------


@dataclass
class Problem:
    seq: int
    kind: str  # modified, deleted, reordered, truncated, checkpoint, index
    detail: str


@dataclass
class Verification:
    checked: int
    last_seq: int
    checkpoints: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Engine, public_key: Any) -> Verification:
    """Walk the whole chain; report every place where it is broken."""
    problems: list[Problem] = []
    checked = 0
    prev_hash, prev_seq = GENESIS, 0
    hashes: dict[int, str] = {}
    with db.connect() as conn:
        rows = conn.execute(
            select(
                T.audit_log.c.seq,
                T.audit_log.c.tenant,
                T.audit_log.c.recorded,
                T.audit_log.c.prev_hash,
                T.audit_log.c.hash,
                T.audit_log.c.content,
            ).order_by(T.audit_log.c.seq)
        )
        for row in rows:
            checked += 1
            seq = int(row.seq)
            if seq != prev_seq + 1:
                problems.append(
                    Problem(
                        seq,
                        "deleted",
                        f"entries {prev_seq + 1}..{seq - 1} are missing before entry {seq}",
                    )
                )
            if row.prev_hash != prev_hash:
                problems.append(
                    Problem(
                        seq,
                        "reordered" if seq == prev_seq + 1 else "deleted",
                        f"entry {seq} does not follow entry {prev_seq} "
                        "(its prev_hash is not that entry's hash)",
                    )
                )
            recomputed = chain_hash(row.prev_hash, seq, row.tenant, row.recorded, row.content)
            if recomputed != row.hash:
                problems.append(Problem(seq, "modified", f"entry {seq} was modified"))
            else:
                try:
                    event_id = orjson.loads(row.content).get("id")
                except orjson.JSONDecodeError:
                    event_id = None
                if event_id != str(seq):
                    problems.append(
                        Problem(seq, "reordered", f"entry {seq} holds event {event_id}")
                    )
            hashes[seq] = row.hash
            prev_hash, prev_seq = row.hash, seq
        head = conn.execute(select(T.audit_head.c.seq, T.audit_head.c.hash)).first()
        if head is not None and head.seq != prev_seq:
            problems.append(
                Problem(
                    int(head.seq),
                    "truncated",
                    f"the trail ends at entry {prev_seq} but its head says {head.seq}",
                )
            )
        elif head is not None and head.seq and head.hash != prev_hash:
            problems.append(Problem(int(head.seq), "modified", "the head hash does not match"))
        cps = conn.execute(select(T.audit_checkpoint).order_by(T.audit_checkpoint.c.seq)).all()
        for cp in cps:
            if not _check_signature(cp, public_key):
                problems.append(
                    Problem(int(cp.seq), "checkpoint", f"checkpoint {cp.seq}: bad signature")
                )
                continue
            known = hashes.get(int(cp.seq))
            if known is None:
                problems.append(
                    Problem(
                        int(cp.seq),
                        "truncated",
                        f"signed checkpoint {cp.seq} refers to an entry that is gone",
                    )
                )
            elif known != cp.hash:
                problems.append(
                    Problem(
                        int(cp.seq),
                        "checkpoint",
                        f"the chain was rewritten up to entry {cp.seq}: it no longer matches "
                        "its signed checkpoint",
                    )
                )
        orphans = conn.execute(
            select(T.audit_patient.c.seq)
            .where(T.audit_patient.c.seq.not_in(select(T.audit_log.c.seq)))
            .distinct()
            .order_by(T.audit_patient.c.seq)
        ).scalars()
        for seq in orphans:
            problems.append(
                Problem(int(seq), "deleted", f"entry {seq} is gone but its patient index remains")
            )
    problems.sort(key=lambda p: (p.seq, p.kind))
    return Verification(checked, prev_seq, len(cps), problems)


def _check_signature(cp: Any, public_key: Any) -> bool:
    try:
        head, payload, signature = cp.signature.split(".")
        public_key.verify(b64u_decode(signature), f"{head}.{payload}".encode())
        claims = orjson.loads(b64u_decode(payload))
    except (ValueError, InvalidSignature, orjson.JSONDecodeError):
        return False
    return claims.get("seq") == cp.seq and claims.get("hash") == cp.hash


def new_event_id() -> str:
    return str(uuid.uuid4())
