"""Socle benchmarks: `make bench` (or `python -m bench.run`) writes docs/benchmarks.md.

One module per benchmark: `ingest` (transaction Bundles over HTTP and in-process), `crud`
(mixed read/search/create/update/delete over HTTP), `copy_baseline` (PostgreSQL COPY and
SQLite executemany into a bare table: the physical limit), `profiling` (where the in-process
ingest spends its time). `server` starts a real `socle serve`, `databases` makes a fresh
database per run, `dataset` streams the synthetic records, `report` renders the Markdown.
"""
