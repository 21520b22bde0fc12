"""Group commit: concurrent submissions are written together, each gets its own answer."""

from __future__ import annotations

import threading
import time

import pytest

from socle.fhir.storage.groupcommit import GroupCommit


def _queued_together(group: GroupCommit, items: list, answers: dict) -> None:  # type: ignore[type-arg]
    """Submit `items` from threads of their own while the turn is held, so that they are
    queued in this order before anyone writes."""

    def send(item: object) -> None:
        try:
            answers[item] = group.submit(item)
        except BaseException as exc:  # noqa: BLE001 - what the thread ended with
            answers[item] = exc

    threads = [threading.Thread(target=send, args=(item,)) for item in items]
    with group._turn:
        for i, thread in enumerate(threads):
            thread.start()
            while len(group._queue) < i + 1:
                time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)


def test_items_queued_together_are_written_together_in_batches_of_at_most_max() -> None:
    batches: list[list[int]] = []

    def write(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        return [ValueError(i) if i == 3 else i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write, max_batch=3)
    answers: dict = {}
    _queued_together(group, [1, 2, 3, 4, 5], answers)
    assert batches == [[1, 2, 3], [4, 5]]
    assert {k: v for k, v in answers.items() if k != 3} == {1: 10, 2: 20, 4: 40, 5: 50}
    assert isinstance(answers[3], ValueError)  # its own error, to its own submitter
    assert group.submit(6) == 60 and batches[-1] == [6]  # alone: a batch of one


def test_a_failed_write_is_every_submitters_error() -> None:
    def write(items: list[int]) -> list[int | BaseException]:
        raise OSError("disk full")

    group: GroupCommit[int, int] = GroupCommit(write)
    answers: dict = {}
    _queued_together(group, [1, 2], answers)
    assert [type(answers[i]) for i in (1, 2)] == [OSError, OSError]
    with pytest.raises(OSError):
        group.submit(3)
    assert group._queue == []


def test_a_write_that_loses_results_fails_its_batch_instead_of_leaving_waiters() -> None:
    def write(items: list[int]) -> list[int | BaseException]:
        return [items[0]]  # one result for the whole batch: a bug in the writer

    group: GroupCommit[int, int] = GroupCommit(write)
    answers: dict = {}
    _queued_together(group, [1, 2], answers)  # both threads end
    assert [type(answers[i]) for i in (1, 2)] == [RuntimeError, RuntimeError]


def test_an_interrupted_write_fails_the_others_with_an_error_of_their_own() -> None:
    """An interrupt in the writing thread goes on there; the other submitters of its batch
    get a RuntimeError (an error to answer, not an interrupt raised in their threads)."""

    def write(items: list[int]) -> list[int | BaseException]:
        raise KeyboardInterrupt

    group: GroupCommit[int, int] = GroupCommit(write)
    answers: dict = {}
    _queued_together(group, [1, 2, 3], answers)
    kinds = sorted(type(e).__name__ for e in answers.values())
    assert kinds == ["KeyboardInterrupt", "RuntimeError", "RuntimeError"]  # one writer
    assert all("interrupted" in str(e) for e in answers.values() if isinstance(e, Exception))
    assert group._queue == []
