"""A locked row's version is read once per transaction (write hooks reuse it)."""

from __future__ import annotations

from sqlalchemy import event


def _count_selects(store, fn) -> int:  # noqa: ANN001
    seen: list[str] = []

    def capture(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT") and "resource_version" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    return len(seen)


def test_read_of_a_locked_row_comes_from_the_transaction(fhir_engine, tenant) -> None:  # noqa: ANN001
    store = fhir_engine.store
    with store.session(tenant, write=True) as s:
        s.write(
            "Patient",
            "p1",
            current=None,
            content=b'{"resourceType":"Patient","id":"p1"}',
            last_updated=1,
            method="POST",
        )

    def twice() -> None:
        with store.session(tenant, write=True) as s:
            s.current("Patient", "p1", lock=True)
            first = s.read("Patient", "p1")
            second = s.read("Patient", "p1")
            assert first is second and first.version == 1

    assert _count_selects(store, twice) == 1

    def unlocked() -> None:
        with store.session(tenant) as s:
            s.read("Patient", "p1")
            s.read("Patient", "p1")

    assert _count_selects(store, unlocked) == 2  # not locked: it may change between reads
