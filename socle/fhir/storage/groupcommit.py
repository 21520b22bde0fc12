"""Group commit: what several threads submit at the same time is written by one of them.

Each thread queues its item and waits for the write turn; the thread that gets it takes
everything queued (up to `max_batch` items) and writes it with one call of the `write`
function, so that concurrent writers share one transaction, one commit, one lock. Every
submitter then gets its own item's result, or raises its own item's error. Used by the
audit trail (one hash-chain append for concurrent events) and the HL7 feed (one
transaction for concurrent senders' messages).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True, eq=False)  # compared by identity: the queue holds each slot once
class _Slot(Generic[T, R]):
    item: T
    result: R | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit(Generic[T, R]):
    """Items submitted by any number of threads, written in batches by one at a time.

    `write(items)` returns one result per item, in order; a result that is an exception
    is raised to that item's submitter. When `write` raises, every item of the batch gets
    that error; an interrupt (not an `Exception`) goes on in the writing thread only, the
    other submitters get a RuntimeError (their item may not have been written: an error
    to answer, such as "send it again", not an interrupt of their own)."""

    def __init__(
        self,
        write: Callable[[list[T]], list[R | BaseException]],
        max_batch: int | None = None,
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self._queue: list[_Slot[T, R]] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def submit(self, item: T) -> R:
        """Write `item` (with whatever else is queued when its turn comes); its result."""
        slot: _Slot[T, R] = _Slot(item)
        with self._queue_lock:
            self._queue.append(slot)
        try:
            with self._turn:
                while not slot.done:  # beyond max_batch, it waits for a later batch
                    with self._queue_lock:
                        end = self.max_batch or len(self._queue)
                        batch = self._queue[:end]
                        del self._queue[:end]
                    if not batch:  # its slot was taken and left unanswered: never wait
                        raise RuntimeError("group commit: the item was lost")
                    self._run(batch)
        finally:  # interrupted before its turn: nobody would wait for its result any more
            if not slot.done:
                with self._queue_lock:
                    if slot in self._queue:
                        self._queue.remove(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        try:
            results = self._write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"group commit: {len(results)} results for {len(batch)}")
        except BaseException as exc:
            error = exc
            if not isinstance(exc, Exception):  # the writer's own interrupt, not theirs
                error = RuntimeError(f"group commit: the write was interrupted ({exc!r})")
            for slot in batch:
                slot.error, slot.done = error, True
            if error is not exc:
                raise
            return
        for slot, result in zip(batch, results, strict=True):  # lengths checked above
            if isinstance(result, BaseException):
                slot.error = result
            else:
                slot.result = result
            slot.done = True
