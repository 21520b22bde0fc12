"""Compile search parameter FHIRPath expressions into fast closures over JSON dicts.

Evaluating FHIRPath with a general engine on every write is far too slow for ingest, yet
search expressions use a tiny subset of the language. This module parses that subset
and compiles it, using the R4 type model (`socle.fhir.indexing.model`), into
`Alternative`s: a ``getter(focus, resource)`` returning values plus their static FHIR
type. Knowing the type lets the extractor choose each value converter once, at compile
time (an Identifier and a ContactPoint have the same JSON shape).

Compiled natively (all 1,375 R4 expressions, and all composite components):

* member paths ``A.b.c`` (arrays are flattened, JSON nulls skipped), relative paths
  (``telecom.value``) and branches rooted at ``Resource``/``DomainResource``;
* choice elements: ``Observation.effective`` reads every ``effective[Type]`` key, as
  one alternative yielding ``(type, value)`` pairs (``effectiveDateTime`` -> dateTime,
  ``effectivePeriod`` -> Period, ...); ``X as T``, ``X.as(T)`` and ``X.ofType(T)`` keep
  type T and its subtypes (Age is a Quantity), so ``Observation.value as Quantity``
  reads only ``valueQuantity``;
* unions ``|`` (alternatives are concatenated; duplicates are removed by the extractor);
* ``.where(resolve() is T)``: keeps references whose literal reference names type T
  (``T/id``, ``.../T/id``, with or without ``_history``), else whose ``Reference.type``
  is T. A ``urn:uuid:`` or ``#contained`` reference without ``Reference.type`` is
  dropped: it cannot be resolved at index time, and transactions rewrite ``urn:uuid``
  references to ``T/id`` before indexing, so in stored resources it does not happen;
* ``.where(path = literal)`` equality filters and ``.where(path)`` truth tests (e.g.
  ``where(value.exists())``), combined with ``and``;
* ``.extension('url')``, ``.first()``, ``[n]``, ``%resource``, ``$this``;
* at the top level: ``.exists()``, ``path = literal``, ``path != literal`` and ``and``
  (three-valued), for ``Patient.deceased.exists() and Patient.deceased != false``.

Anything else (other functions, operators, indexing a union...) falls back to
fhirpathpy, compiled once and cached, with the R4 model so choice types resolve.
Fallback values have no static type; the extractor then converts them by JSON shape.
Known fhirpathpy differences, which is why native compilation matters beyond speed:
it does not implement ``resolve()``; ``X as T`` raises on a collection of several
items (native applies it per item, e.g. on every ``Observation.component.value``);
``Resource.x`` roots match nothing (the fallback rewrites them to the concrete type);
decimals come back as ``Decimal``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from socle.fhir.indexing.model import TypeModel, choice_key, default_model
from socle.fhir.indexing.references import reference_type

log = logging.getLogger(__name__)

Getter = Callable[[list, dict], list]
"""``getter(focus, resource) -> values``: focus is the input collection (the resource for
top-level expressions, an element for composite components)."""

_ABSTRACT = ("Resource", "DomainResource")


class Unsupported(Exception):
    """The expression uses FHIRPath outside the natively compiled subset."""


# --------------------------------------------------------------------------- parsing

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)|(?P<var>%[A-Za-z_][A-Za-z0-9_]*|\$this)"
    r"|(?P<op>!=|<=|>=|[.()\[\]|=,<>+\-*/&~]))"
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "n": "\n", "r": "\r", "t": "\t"}


def _tokenize(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(expression.rstrip())
    while pos < end:
        m = _TOKEN.match(expression, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"cannot tokenize at {expression[pos:]!r}")
        kind = m.lastgroup or ""
        text = m[kind]
        tokens.append((kind, text))
        pos = m.end()
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), body)


class _Parser:
    """Recursive descent over the subset; builds tuples:

    ``("union", [expr...])``, ``("as", expr, type)``, ``("path", start, [step...])``;
    starts ``("name", n)``, ``("var", "%resource")``, ``("this",)``, ``("paren", expr)``;
    steps ``("member", n)``, ``("index", i)``, ``("call", name, [args])``.
    """

    def __init__(self, expression: str) -> None:
        self.tokens = _tokenize(expression)
        self.pos = 0

    def parse(self) -> tuple:
        node = self.boolean()
        if self.pos != len(self.tokens):
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return node

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", "")

    def take(self, text: str | None = None, kind: str | None = None) -> str:
        k, t = self.peek()
        if (text is not None and t != text) or (kind is not None and k != kind):
            raise Unsupported(f"expected {text or kind}, got {t!r}")
        self.pos += 1
        return t

    def boolean(self) -> tuple:
        """Top level only: ``a and b``, ``path = literal``, ``path != literal``."""
        node = self.equality()
        while self.peek() == ("id", "and"):
            self.pos += 1
            node = ("bool_and", node, self.equality())
        return node

    def equality(self) -> tuple:
        node = self.union()
        if self.peek() in (("op", "="), ("op", "!=")):
            op = self.take()
            node = ("cmp", op, node, self.literal())
        return node

    def union(self) -> tuple:
        items = [self.type_expr()]
        while self.peek() == ("op", "|"):
            self.pos += 1
            items.append(self.type_expr())
        return items[0] if len(items) == 1 else ("union", items)

    def type_expr(self) -> tuple:
        node = self.path()
        if self.peek() == ("id", "as"):
            self.pos += 1
            node = ("as", node, self.type_name())
        return node

    def type_name(self) -> str:
        name = self.take(kind="id")
        while self.peek() == ("op", "."):
            self.pos += 1
            name += "." + self.take(kind="id")
        return name

    def path(self) -> tuple:
        kind, text = self.peek()
        steps: list[tuple] = []
        if text == "(":
            self.pos += 1
            start: tuple = ("paren", self.union())
            self.take(")")
        elif kind == "var":
            self.pos += 1
            start = ("this",) if text == "$this" else ("var", text)
        elif kind == "id" and self.tokens[self.pos + 1 : self.pos + 2] == [("op", "(")]:
            start = ("this",)  # a function applied to the focus: extension('...')
            steps.append(self.invocation())
        elif kind == "id":
            self.pos += 1
            start = ("name", text.strip("`"))
        else:
            raise Unsupported(f"unexpected {text!r}")
        while True:
            if self.peek() == ("op", "."):
                self.pos += 1
                steps.append(self.invocation())
            elif self.peek() == ("op", "["):
                self.pos += 1
                steps.append(("index", int(self.take(kind="num"))))
                self.take("]")
            else:
                return ("path", start, steps)

    def invocation(self) -> tuple:
        name = self.take(kind="id").strip("`")
        if self.peek() != ("op", "("):
            return ("member", name)
        self.pos += 1
        args: list = []
        if name in ("as", "ofType"):
            args.append(self.type_name())
        elif name == "where":
            args.append(self.condition())
        elif self.peek() != ("op", ")"):
            args.append(self.literal())
        self.take(")")
        return ("call", name, args)

    def condition(self) -> tuple:
        node = self.comparison()
        while self.peek() == ("id", "and"):
            self.pos += 1
            node = ("and", node, self.comparison())
        return node

    def comparison(self) -> tuple:
        if self.peek() == ("id", "resolve"):
            self.pos += 1
            self.take("(")
            self.take(")")
            self.take("is")
            return ("resolve_is", self.type_name())
        left = self.path()
        if self.peek() != ("op", "="):
            return ("truthy", left)
        self.pos += 1
        return ("eq", left, self.literal())

    def literal(self) -> Any:
        kind, text = self.peek()
        self.pos += 1
        if kind == "str":
            return _unquote(text)
        if kind == "num":
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
        raise Unsupported(f"unsupported literal {text!r}")


# ------------------------------------------------------------------------- compiling


@dataclass(frozen=True, slots=True)
class _Alt:
    """One statically typed way of reaching values: step descriptors + type + context."""

    steps: tuple[tuple, ...]
    type: str | None
    ctx: str | None
    root: bool = False  # start from the resource (%resource) instead of the focus
    # A pending choice element after `steps`: (json key, type, context) per type. Kept
    # as one alternative so that a nested choice (``telecom.extension.value``: 50
    # types) is navigated once; expanded when another step follows.
    choice: tuple[tuple[str, str, str], ...] = ()


def _choice_alt(alt: _Alt, choice: tuple[tuple[str, str, str], ...]) -> list[_Alt]:
    """`alt` followed by a choice element: pending if several types, plain if one."""
    if len(choice) == 1:
        key, t, ctx = choice[0]
        return [_Alt(alt.steps + (("member", key),), t, ctx, alt.root)]
    return [_Alt(alt.steps, None, None, alt.root, choice)] if choice else []


def _expand(alts: list[_Alt]) -> list[_Alt]:
    """Turn pending choice alternatives into one plain alternative per type."""
    out: list[_Alt] = []
    for alt in alts:
        if not alt.choice:
            out.append(alt)
            continue
        for key, t, ctx in alt.choice:
            out.append(_Alt(alt.steps + (("member", key),), t, ctx, alt.root))
    return out


class _Compiler:
    def __init__(self, model: TypeModel, context: str, resource_type: str) -> None:
        self.model = model
        self.context = context  # type or backbone path of the focus
        self.resource_type = resource_type

    def compile(self, node: tuple, focus: list[_Alt]) -> list[_Alt]:
        kind = node[0]
        if kind == "union":
            return [alt for item in node[1] for alt in self.compile(item, focus)]
        if kind == "cmp":
            return [self.compare(node[1], self.compile(node[2], focus), node[3])]
        if kind == "bool_and":
            left, right = self.compile(node[1], focus), self.compile(node[2], focus)
            return [_bool_and(_single(left), _single(right))]
        if kind == "as":
            return self.cast(self.compile(node[1], focus), node[2])
        start = node[1]
        alts = self.start(start, focus)
        for step in node[2]:
            alts = self.step(alts, step)
        return alts

    def start(self, start: tuple, focus: list[_Alt]) -> list[_Alt]:
        kind = start[0]
        if kind == "paren":
            return self.compile(start[1], focus)
        if kind == "this":
            return focus
        if kind == "var":
            if start[1] not in ("%resource", "%rootResource"):
                raise Unsupported(f"variable {start[1]}")
            return [_Alt((), self.resource_type, self.resource_type, root=True)]
        name = start[1]
        if name == self.context or (name in _ABSTRACT and self.context == self.resource_type):
            return focus
        if name in self.model.resource_types and name not in _ABSTRACT:
            # a branch about another type: only matches if the focus is of that type
            return [_Alt(a.steps + (("is_type", name),), name, name, a.root) for a in focus]
        if name[:1].isupper():
            raise Unsupported(f"unknown type {name}")
        return self.member(focus, name)

    def step(self, alts: list[_Alt], step: tuple) -> list[_Alt]:
        kind = step[0]
        if kind != "call" or step[1] not in ("as", "ofType"):
            alts = _expand(alts)
        if kind == "member":
            return self.member(alts, step[1])
        if kind == "index":
            return self.single(alts, ("index", step[1]))
        name, args = step[1], step[2]
        if name in ("as", "ofType"):
            return self.cast(alts, args[0])
        if name == "first" and not args:
            return self.single(alts, ("index", 0))
        if name == "where":
            return [self.where(alt, args[0]) for alt in alts]
        if name == "exists" and not args:
            getters = [_build(a) for a in alts]

            def exists(nodes: list, resource: dict) -> list:
                return [any(g(nodes, resource) for g in getters)]

            return [_Alt((("apply", exists),), "boolean", "boolean")]
        if name == "extension" and len(args) == 1 and isinstance(args[0], str):
            ext = self.member(alts, "extension")
            return [
                _Alt(a.steps + (("eq", _url_getter, args[0]),), a.type, a.ctx, a.root) for a in ext
            ]
        raise Unsupported(f"function {name}()")

    def member(self, alts: list[_Alt], name: str) -> list[_Alt]:
        out: list[_Alt] = []
        for alt in _expand(alts):
            info = self.model.element(alt.ctx, name) if alt.ctx else None
            if info is None:
                out.append(_Alt(alt.steps + (("member", name),), None, None, alt.root))
            elif info.choice:
                choice = tuple((choice_key(name, t), t, info.context_of(t)) for t in info.types)
                out.extend(_choice_alt(alt, choice))
            else:
                t = info.types[0] if len(info.types) == 1 else None
                ctx = info.context_of(t) if t else None
                out.append(_Alt(alt.steps + (("member", name),), t, ctx, alt.root))
        return out

    def cast(self, alts: list[_Alt], type_spec: str) -> list[_Alt]:
        wanted = self.model.type_name(type_spec)
        if wanted is None:
            raise Unsupported(f"unknown type {type_spec}")
        out = []
        for alt in alts:
            if alt.choice:
                kept = tuple(c for c in alt.choice if self.model.is_a(c[1], wanted))
                out.extend(_choice_alt(alt, kept))
            elif alt.type is None:  # unknown statically: the converter checks the shape
                out.append(_Alt(alt.steps, wanted, wanted, alt.root))
            elif self.model.is_a(alt.type, wanted):
                out.append(alt)
        return out

    def compare(self, op: str, alts: list[_Alt], literal: Any) -> _Alt:
        """FHIRPath ``=``/``!=`` of a collection with a literal: empty stays empty."""
        getters = [_build(a) for a in alts]
        negate = op == "!="

        def cmp(nodes: list, resource: dict) -> list:
            values = [v for g in getters for v in g(nodes, resource)]
            if not values:
                return []
            v = values[0]
            equal = len(values) == 1 and v == literal and type(v) is type(literal)
            return [equal != negate]

        return _Alt((("apply", cmp),), "boolean", "boolean")

    def single(self, alts: list[_Alt], step: tuple) -> list[_Alt]:
        if len(alts) != 1:
            raise Unsupported("indexing a union or a choice element")
        alt = alts[0]
        return [_Alt(alt.steps + (step,), alt.type, alt.ctx, alt.root)]

    def where(self, alt: _Alt, cond: tuple) -> _Alt:
        return _Alt(
            alt.steps + (("where", self.predicate(alt, cond)),), alt.type, alt.ctx, alt.root
        )

    def predicate(self, alt: _Alt, cond: tuple) -> Callable[[Any, dict], bool]:
        """``pred(node, resource)`` for a ``where()`` condition."""
        kind = cond[0]
        if kind == "and":
            left, right = self.predicate(alt, cond[1]), self.predicate(alt, cond[2])
            return lambda node, resource: left(node, resource) and right(node, resource)
        if kind == "resolve_is":
            wanted = cond[1].rsplit(".", 1)[-1]
            return lambda node, resource: reference_type(node) == wanted
        sub = _Compiler(self.model, alt.ctx or "", self.resource_type)
        getter = _single(sub.compile(cond[1], [_Alt((), alt.type, alt.ctx)]))
        if kind == "truthy":
            return lambda node, resource: _truth(getter([node], resource)) is True
        literal = cond[2]
        return lambda node, resource: literal in getter([node], resource)


def _single(alts: list[_Alt]) -> Getter:
    """One getter over all alternatives (their values concatenated)."""
    getters = [_build(a) for a in alts]
    if len(getters) == 1:
        return getters[0]
    return lambda nodes, resource: [v for g in getters for v in g(nodes, resource)]


def _truth(values: list) -> bool | None:
    """FHIRPath singleton evaluation of a collection as a Boolean (None: empty/unknown)."""
    if len(values) != 1:
        return None if not values else True
    return values[0] if type(values[0]) is bool else True


def _bool_and(left: Getter, right: Getter) -> _Alt:
    """Three-valued ``and``: false wins, then empty, then true."""

    def both(nodes: list, resource: dict) -> list:
        a, b = _truth(left(nodes, resource)), _truth(right(nodes, resource))
        if a is False or b is False:
            return [False]
        return [True] if a and b else []

    return _Alt((("apply", both),), "boolean", "boolean")


def _url_getter(focus: list, resource: dict) -> list:
    return [n["url"] for n in focus if type(n) is dict and "url" in n]


# ------------------------------------------------------------------- closure building


def _members(keys: tuple[str, ...]) -> Callable[..., list]:
    """Navigate `keys` from every node, flattening arrays; one closure for a whole chain.

    The closure takes an optional unused second argument so a single member chain on
    the focus can serve directly as a `Getter` (one call less per parameter).
    """
    if len(keys) == 1:
        key = keys[0]

        def one(nodes: list, _resource: Any = None) -> list:
            out: list = []
            for n in nodes:
                if type(n) is dict:
                    v = n.get(key)
                    if v is not None:
                        if type(v) is not list:
                            out.append(v)
                        elif None in v:  # primitive arrays with extensions: [x, null]
                            out.extend(x for x in v if x is not None)
                        else:
                            out.extend(v)
            return out

        return one

    def chain(nodes: list, _resource: Any = None) -> list:
        for key in keys:
            out: list = []
            for n in nodes:
                if type(n) is dict:
                    v = n.get(key)
                    if v is not None:
                        if type(v) is not list:
                            out.append(v)
                        elif None in v:  # primitive arrays with extensions: [x, null]
                            out.extend(x for x in v if x is not None)
                        else:
                            out.extend(v)
            if not out:
                return out
            nodes = out
        return nodes

    return chain


def _step_fn(step: tuple) -> Getter:
    kind = step[0]
    if kind == "members":
        return _members(step[1])
    if kind == "index":
        i = step[1]
        return lambda nodes, resource: nodes[i : i + 1]
    if kind == "where":
        pred = step[1]
        return lambda nodes, resource: [n for n in nodes if pred(n, resource)]
    if kind == "eq":
        getter, literal = step[1], step[2]
        return lambda nodes, resource: [n for n in nodes if literal in getter([n], resource)]
    if kind == "is_type":
        name = step[1]
        return lambda nodes, resource: [
            n for n in nodes if type(n) is dict and n.get("resourceType") == name
        ]
    if kind == "apply":
        return step[1]
    raise AssertionError(kind)


def _merge_members(steps: tuple[tuple, ...]) -> list[tuple]:
    merged: list[tuple] = []
    for step in steps:
        if step[0] == "member":
            if merged and merged[-1][0] == "members":
                merged[-1] = ("members", merged[-1][1] + (step[1],))
            else:
                merged.append(("members", (step[1],)))
        else:
            merged.append(step)
    return merged


def _first_key(alt: _Alt) -> str | None:
    """The member read first from the focus, when the path starts with one."""
    if not alt.root and alt.steps and alt.steps[0][0] == "member":
        return alt.steps[0][1]
    return None


def _build_steps(steps: tuple[tuple, ...], root: bool) -> Getter:
    merged = _merge_members(steps)
    if not merged:
        return (lambda focus, resource: [resource]) if root else (lambda focus, resource: focus)
    if len(merged) == 1 and merged[0][0] == "members" and not root:
        return _members(merged[0][1])
    fns = [_step_fn(s) for s in merged]

    def run(focus: list, resource: dict) -> list:
        nodes = [resource] if root else focus
        for fn in fns:
            nodes = fn(nodes, resource)
            if not nodes:
                break
        return nodes

    return run


def _build(alt: _Alt) -> Getter:
    """The values of an alternative (a pending choice gives the values of every type)."""
    if not alt.choice:
        return _build_steps(alt.steps, alt.root)
    return _single(_expand([alt]))


def _build_tagged(alt: _Alt) -> Getter:
    """For a pending choice: ``(type, value)`` pairs, navigating the prefix once."""
    prefix = _build_steps(alt.steps, alt.root)
    choices = tuple((key, t) for key, t, _ in alt.choice)

    def tagged(focus: list, resource: dict) -> list:
        out: list = []
        for node in prefix(focus, resource):
            if type(node) is dict:
                for key, t in choices:
                    v = node.get(key)
                    if v is None:
                        continue
                    if type(v) is list:
                        out.extend((t, x) for x in v if x is not None)
                    else:
                        out.append((t, v))
        return out

    return tagged


# ------------------------------------------------------------------------- fallback


def _fhirpath_model() -> dict:
    from fhirpathpy.models import models

    return models["r4"]


_ABSTRACT_ROOT = re.compile(r"(?<![\w.%$`'])(?:Domain)?Resource\.")


def _concrete_root(expression: str, context: str) -> str:
    """fhirpathpy does not match ``Resource.meta`` on a Patient: name the type instead."""
    if "." in context or not context[:1].isupper():
        return expression
    return _ABSTRACT_ROOT.sub(context + ".", expression)


def _fallback(expression: str) -> Getter:
    """fhirpathpy, compiled once; evaluates on each focus node with %resource bound."""
    import fhirpathpy

    try:
        fn = fhirpathpy.compile(expression, model=_fhirpath_model())
    except Exception:  # an invalid expression from a package: index nothing, loudly
        log.warning("cannot compile FHIRPath %r; it will index nothing", expression)
        return lambda focus, resource: []

    def run(focus: list, resource: dict) -> list:
        out: list = []
        for node in focus:
            try:
                out.extend(fn(node, {"resource": resource, "rootResource": resource}))
            except Exception:  # a broken value must not stop the write
                log.debug("fhirpath fallback failed for %s", expression, exc_info=True)
        return out

    return run


# ----------------------------------------------------------------------------- API


class Alternative(NamedTuple):
    """One statically typed branch of a compiled expression.

    ``getter(focus, resource)`` returns the values, of FHIR type ``type`` (None when
    unknown). When ``choices`` is set (a choice element with several possible types,
    e.g. ``Observation.effective``), ``type`` is None and the getter returns
    ``(fhir_type, value)`` pairs instead, the type being one of ``choices``.
    ``first_key`` is the member read first from the focus: if the focus lacks it, the
    alternative is empty and need not be called.
    """

    getter: Getter
    type: str | None
    first_key: str | None = None
    choices: tuple[str, ...] = ()


def _alternative(alt: _Alt) -> Alternative:
    if alt.choice:
        return Alternative(
            _build_tagged(alt), None, _first_key(alt), tuple(t for _, t, _ in alt.choice)
        )
    return Alternative(_build(alt), alt.type, _first_key(alt))


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A compiled expression: its typed alternatives; ``native`` False = fhirpathpy."""

    expression: str
    alternatives: tuple[Alternative, ...]
    native: bool

    def evaluate(self, resource: dict, focus: list | None = None) -> list:
        """All values (for tests and tools; the extractor uses the alternatives)."""
        start = [resource] if focus is None else focus
        out: list = []
        for alt in self.alternatives:
            values = alt.getter(start, resource)
            out.extend(v for _, v in values) if alt.choices else out.extend(values)
        return out


@lru_cache(maxsize=8192)
def compile_path(expression: str, context: str, resource_type: str | None = None) -> CompiledPath:
    """Compile `expression` evaluated on a focus of type `context`.

    `context` is the resource type for parameter expressions, or the element path
    (``Observation.component``) for composite components; `resource_type` is the
    type ``%resource`` refers to (defaults to `context`).
    """
    model = default_model()
    rtype = resource_type or context
    try:
        tree = _Parser(expression).parse()
        alts = _Compiler(model, context, rtype).compile(tree, [_Alt((), context, context)])
        return CompiledPath(expression, tuple(_alternative(a) for a in alts), True)
    except (Unsupported, ValueError, IndexError) as exc:
        log.debug("FHIRPath %r not compiled natively: %s", expression, exc)
        fallback = _fallback(_concrete_root(expression, context))
        return CompiledPath(expression, (Alternative(fallback, None),), False)


def focus_contexts(expression: str, context: str) -> list[tuple[Getter, str | None, str | None]]:
    """Getters of the elements `expression` selects, with their type and model context.

    Composite parameters need the context: their components are compiled relative to
    the elements the base expression selects (``Observation | Observation.component``).
    Returns ``(getter, type, context)``; context None means unknown (components then
    compile untyped or fall back to fhirpathpy).
    """
    model = default_model()
    try:
        tree = _Parser(expression).parse()
        alts = _Compiler(model, context, context).compile(tree, [_Alt((), context, context)])
        return [(_build(a), a.type, a.ctx) for a in _expand(alts)]
    except (Unsupported, ValueError, IndexError):
        return [(_fallback(_concrete_root(expression, context)), None, None)]
