"""Alembic environment: runs on the connection handed over by socle.fhir.storage.migrate."""

from __future__ import annotations

from alembic import context

from socle.fhir.storage.schema import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
