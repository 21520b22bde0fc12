"""Alembic environment: runs on the connection handed over by socle.fhir.storage.migrate."""

from __future__ import annotations

from importlib.metadata import entry_points

from alembic import context

from socle.fhir.storage.schema import metadata


def target_metadata() -> list:
    """The kernel's tables plus those services declare under `socle.schemas`."""
    return [metadata, *(ep.load() for ep in entry_points(group="socle.schemas"))]


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection, target_metadata=target_metadata(), render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
