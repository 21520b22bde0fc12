"""The parsed form of a search request, and the page the engine returns.

`parse` turns the raw ``(name, value)`` pairs into these objects once, so every value is
validated (and every error reported as a 400) before any SQL is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from socle.fhir.errors import Issue

Types = tuple[str, ...] | None  # resource types a criterion applies to; None = any type


@dataclass(frozen=True, slots=True)
class Leaf:
    """One parameter on the resources themselves: OR of `values`, or a `:missing` test.

    `kind` is the parameter type (``string``, ``token``…) or ``_id``/``_lastUpdated``,
    which are answered from the `resource` table rather than from an index table.
    """

    code: str
    kind: str
    types: Types
    modifier: str | None = None
    values: tuple[Any, ...] = ()
    missing: bool | None = None
    components: tuple[Any, ...] = ()  # composite parameters: their `Component`s


@dataclass(frozen=True, slots=True)
class Chain:
    """``code.inner``: resources whose reference `code` points to a resource matching `inner`."""

    code: str
    types: Types
    targets: tuple[str, ...]
    inner: Criterion


@dataclass(frozen=True, slots=True)
class Has:
    """``_has:source:code:inner``: resources referenced by `code` of a matching `source`."""

    source_type: str
    code: str
    types: Types
    inner: Criterion


@dataclass(frozen=True, slots=True)
class InList:
    """``_list=id,…``: resources named by ``entry.item`` of (the current version of) one of
    the Lists `ids`, in this tenant. Answered from the List's ``item`` reference rows."""

    ids: tuple[str, ...]
    types: Types


Criterion = Leaf | Chain | Has | InList


@dataclass(frozen=True, slots=True)
class SortKey:
    code: str
    kind: str
    types: Types
    descending: bool = False

    @property
    def text(self) -> str:
        return f"-{self.code}" if self.descending else self.code


@dataclass(frozen=True, slots=True)
class IncludeSpec:
    """``_include``/``_revinclude``: `source_type`/`code` None stand for ``*``."""

    source_type: str | None
    code: str | None
    target_type: str | None = None
    iterate: bool = False
    reverse: bool = False


@dataclass(slots=True)
class SearchQuery:
    """A validated search; `applied` lists the parameters kept, as received (self link)."""

    res_types: Types
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int | None = None
    total: str | None = None  # none | estimate | accurate
    summary: str | None = None
    elements: str | None = None  # the _elements list as received (comma-separated)
    includes: list[IncludeSpec] = field(default_factory=list)
    compartment: tuple[str, str] | None = None
    cursor: str | None = None  # a `_cursor` received with the parameters
    applied: list[tuple[str, str]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # parameters dropped (lenient mode)

    @property
    def summary_count(self) -> bool:
        """Only the total is wanted (``_summary=count``, or ``_count=0``)."""
        return self.summary == "count" or self.count == 0


@dataclass(slots=True)
class SearchPage:
    """One page of matches (`pks` in order) plus the resources `_include`d for them."""

    pks: list[int]
    next_cursor: str | None
    total: int | None
    included_pks: list[int] = field(default_factory=list)
    include_truncated: bool = False  # SearchLimits.max_included was reached
    applied: list[tuple[str, str]] = field(default_factory=list)
    # Parameters of the paging links (applied + a ``_cursor``); None when there is none.
    first_params: list[tuple[str, str]] | None = None
    previous_params: list[tuple[str, str]] | None = None
    next_params: list[tuple[str, str]] | None = None
