"""Group commit for the PAM feed: messages that several connections send at the same time
are stored in one transaction.

A PAM sender waits for each ACK, so one connection never has two messages in flight, but
a repository fed by several applications (or sites) receives their messages side by side.
Each connection's thread decodes and parses its own message, then queues it
(`socle.fhir.storage.groupcommit`); the thread that gets the write turn takes everything
queued (up to `MAX_BATCH`) and applies it in
one write transaction (`hl7feed.store_together`): one BEGIN and one commit, one WAL
append on SQLite; on PostgreSQL the audit chain's head is locked once for the lot, after
the batch's resources (the order every write takes them: no deadlock). The others wait for
their ACK, which leaves only after that commit, as without grouping. With one sender a
batch is one message and nothing changes.

When a batch fails (a message refused inside the transaction, a write conflict, an
error), nothing of it is kept and each of its messages is stored again alone, exactly as
an ungrouped message is: a bad message costs its neighbours one retry, never their ACK.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

from socle.fhir.storage.groupcommit import GroupCommit
from socle.ins.hl7feed import HANDLED, Outcome, Received, receive, store, store_together

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger("socle.ins.groupcommit")
MAX_BATCH = 32  # messages a transaction: a bound on the time a connection waits

MESSAGES = Counter(
    "socle_hl7_messages_total",
    "HL7 v2 messages of the PAM feed, by trigger event and acknowledgement code",
    ["event", "ack"],
)
TRANSACTIONS = Histogram(
    "socle_hl7_transaction_messages",
    "Messages of the PAM feed stored by one write transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32),
)
UNDONE = Counter(
    "socle_hl7_batches_undone_total",
    "Batches of the PAM feed undone and stored again message by message (a refusal, a "
    "conflict or an error in one of them)",
)
LATENCY = Histogram(
    "socle_hl7_message_seconds",
    "Time from a message's arrival to its ACK (parsing, waiting for the write turn, commit)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class GroupWriter:
    """The feed's messages of all connections, written in as few transactions as the
    arrivals allow (thread-safe)."""

    def __init__(self, engine: FhirEngine, tenant: str, max_batch: int = MAX_BATCH) -> None:
        self.engine, self.tenant = engine, tenant
        self._group: GroupCommit[Received, Outcome] = GroupCommit(self._write, max(1, max_batch))
        self.batches = 0  # write turns taken (for tests and metrics)
        self.grouped = 0  # messages that shared their transaction with others

    def handle(self, raw: bytes, peer: str | None = None) -> Outcome:
        """The ACK of one message, once it is stored (or refused); an unexpected error is
        raised (the listener answers it AR 207) and counted as AR."""
        received = receive(raw, peer)
        header = received.header
        event = header.event if header is not None and header.event in HANDLED else "other"
        ack = "AR"  # an unexpected failure: the listener answers AR 207
        try:
            if received.error is not None:  # refused before any write: no need to queue
                outcome = store(self.engine, self.tenant, received)
            else:
                outcome = self._group.submit(received)
            ack = "AA" if outcome.accepted else (outcome.error.ack if outcome.error else "AE")
        finally:
            MESSAGES.labels(event, ack).inc()
            LATENCY.observe(time.time() - received.started)
        return outcome

    def _write(self, batch: list[Received]) -> list[Outcome | BaseException]:
        """Store a batch in one transaction, or its messages one by one when it fails."""
        self.batches += 1
        if len(batch) > 1:
            try:
                outcomes = store_together(self.engine, self.tenant, batch)
            except Exception as exc:  # noqa: BLE001 - each message alone will meet its own error
                log.info("HL7 batch undone", extra={"messages": len(batch), "reason": str(exc)})
                UNDONE.inc()
            else:
                self.grouped += len(batch)
                TRANSACTIONS.observe(len(batch))
                return list(outcomes)
        results: list[Outcome | BaseException] = []
        for received in batch:
            try:
                outcome = store(self.engine, self.tenant, received)
            except Exception as exc:  # noqa: BLE001 - raised again in the waiting thread
                results.append(exc)
                continue
            if outcome.accepted:  # a refusal committed no write transaction
                TRANSACTIONS.observe(1)
            results.append(outcome)
        return results
