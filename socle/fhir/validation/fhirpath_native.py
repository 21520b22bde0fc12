"""A native evaluator for the FHIRPath used by invariants, compiled from fhirpathpy's AST.

General FHIRPath engines are slow for per-write validation (tens to hundreds of
microseconds per invariant). Invariants use a small part of the language, so the parse
tree fhirpathpy produces is compiled here into Python closures over plain JSON:

* paths (`name.given`, choice elements `value`, `$this`, `%resource`, `%rootResource`),
  indexers, literals (string, number, boolean, `{}`);
* `and`, `or`, `xor`, `implies`, `not()` with three-valued logic; `=`, `!=`, `~`, `!~`,
  `<`, `<=`, `>`, `>=` on strings, numbers and Quantities of the same unit (dates of
  different precision are compared at the coarser one when it is a date, else empty);
  `|`, `in`, `contains`, `&`, `+`/`-` on numbers;
* functions: `exists`, `empty`, `not`, `count`, `where`, `all`, `select`, `first`,
  `last`, `distinct`, `isDistinct`, `hasValue`, `extension`, `startsWith`, `endsWith`,
  `contains`, `matches`, `length`, `upper`, `lower`, `iif`, `htmlChecks`, `trace`,
  `ofType`/`as` right after a choice element (`value.ofType(Quantity)`),
  `memberOf`/`conformsTo` (answered true, as in `fhirpath.py`).

Anything else raises `Unsupported` at compile time (the caller then uses fhirpathpy), and
a run-time surprise (a type the evaluator does not handle) raises `Unsupported` too, so
the caller falls back for that evaluation. Primitive extensions (`_name`) are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from socle.fhir.validation.compiled import choice_suffixes

Collection = list[Any]
Env = dict[str, Any]  # "resource", "rootResource", "$root" (the evaluation's input)
Fn = Callable[[Collection, Any, Env], Collection]  # (focus, $this, env) -> result


class Unsupported(Exception):
    """Outside the natively supported subset (compile time or run time)."""


_EMPTY: Collection = []


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    return node.get("children") or []


def compile_native(ast: dict[str, Any]) -> Fn:
    """Compile fhirpathpy's parse tree; raises Unsupported outside the subset."""
    roots = _children(ast)
    if len(roots) != 1:
        raise Unsupported("empty expression")
    return _compile(roots[0])


def _compile(node: dict[str, Any]) -> Fn:
    kind = node.get("type")
    handler = _COMPILERS.get(kind)  # type: ignore[arg-type]
    if handler is None:
        raise Unsupported(f"node {kind}")
    return handler(node)


# -- terms ---------------------------------------------------------------------------------


def _term(node: dict[str, Any]) -> Fn:
    (child,) = _children(node)
    return _compile(child)


def _parenthesized(node: dict[str, Any]) -> Fn:
    (child,) = _children(node)
    return _compile(child)


def _literal(node: dict[str, Any]) -> Fn:
    (child,) = _children(node)
    kind = child.get("type")
    text = child.get("text", "")
    if kind == "StringLiteral":
        value: Any = _unescape(text[1:-1])
    elif kind == "NumberLiteral":
        value = float(text) if "." in text else int(text)
    elif kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "NullLiteral":
        return lambda focus, this, env: _EMPTY
    else:
        raise Unsupported(f"literal {kind}")
    result = [value]
    return lambda focus, this, env: result


_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _external(node: dict[str, Any]) -> Fn:
    name = ""
    for child in _children(node):
        if child.get("type") == "ExternalConstant":
            for grand in _children(child):
                name = (grand.get("text") or "").strip("`'\"")
    if not name:
        name = (node.get("text") or "").lstrip("%").strip("`'\"")
    if name in ("resource", "rootResource"):
        return lambda focus, this, env: [env[name]]
    if name == "ucum":
        return lambda focus, this, env: ["http://unitsofmeasure.org"]
    raise Unsupported(f"constant %{name}")


def _invocation_term(node: dict[str, Any]) -> Fn:
    (child,) = _children(node)
    kind = child.get("type")
    if kind == "MemberInvocation":
        name = _identifier(child)
        if name[:1].isupper():
            # a type name at the start (`Patient.name`): the focus itself when it matches
            return lambda focus, this, env: [
                f
                for f in focus
                if not (type(f) is dict and f.get("resourceType") not in (None, name))
            ]
        return _member(name)
    if kind == "FunctionInvocation":
        return _function(child, None)
    if kind == "ThisInvocation":
        return lambda focus, this, env: [this] if this is not None else focus
    raise Unsupported(f"invocation {kind}")


def _identifier(node: dict[str, Any]) -> str:
    for child in _children(node):
        if child.get("type") == "Identifier":
            return (child.get("text") or "").strip("`")
    text = node.get("text")
    if text:
        return text.strip("`")
    raise Unsupported("identifier")


def _member(name: str) -> Fn:
    def get(focus: Collection, this: Any, env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            if type(item) is not dict:
                continue
            value = item.get(name)
            if value is None:
                value = _choice(item, name)
                if value is None:
                    continue
            if type(value) is list:
                out.extend(v for v in value if v is not None)
            else:
                out.append(value)
        return out

    return get


def _choice(item: dict[str, Any], name: str) -> Any:
    """`value` on an object holding `valueQuantity`: the choice element's value."""
    n = len(name)
    suffixes = choice_suffixes()
    for key, value in item.items():
        if len(key) > n and key.startswith(name) and key[n:] in suffixes:
            return value
    return None


def _invocation_expression(node: dict[str, Any]) -> Fn:
    left_node, right_node = _children(node)
    right = right_node
    if right.get("type") == "MemberInvocation":
        left = _compile(left_node)
        member = _member(_identifier(right))
        return lambda focus, this, env: member(left(focus, this, env), this, env)
    if right.get("type") == "FunctionInvocation":
        name = _function_name(right)
        if name in ("ofType", "as"):
            typed = _typed_member(left_node, right)
            if typed is not None:
                return typed
        left = _compile(left_node)
        return _function(right, left)
    raise Unsupported(f"invocation {right.get('type')}")


def _typed_member(left_node: dict[str, Any], fn_node: dict[str, Any]) -> Fn | None:
    """`x.value.ofType(Quantity)` -> read `valueQuantity` directly."""
    args = _params(fn_node)
    if len(args) != 1:
        return None
    type_name = (args[0].get("text") or "").strip("`")
    if not type_name or "." in type_name:
        return None
    # the left side must end with a member access
    if left_node.get("type") == "InvocationExpression":
        base_node, member_node = _children(left_node)
        if member_node.get("type") != "MemberInvocation":
            return None
        base = _compile(base_node)
    elif left_node.get("type") == "TermExpression":
        inner = _children(left_node)[0]
        if inner.get("type") != "InvocationTerm":
            return None
        member_node = _children(inner)[0]
        if member_node.get("type") != "MemberInvocation":
            return None

        def base(focus: Collection, this: Any, env: Env) -> Collection:
            return focus

    else:
        return None
    key = _identifier(member_node) + type_name[0].upper() + type_name[1:]
    get = _member(key)
    return lambda focus, this, env: get(base(focus, this, env), this, env)


def _indexer(node: dict[str, Any]) -> Fn:
    left_node, index_node = _children(node)
    left, index = _compile(left_node), _compile(index_node)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        items = left(focus, this, env)
        idx = index(focus, this, env)
        if len(idx) != 1 or type(idx[0]) is not int:
            raise Unsupported("index")
        i = idx[0]
        return [items[i]] if 0 <= i < len(items) else _EMPTY

    return run


# -- operators -----------------------------------------------------------------------------


def _op(node: dict[str, Any]) -> str:
    ops = node.get("terminalNodeText") or []
    if len(ops) != 1:
        raise Unsupported("operator")
    return ops[0]


def _truth(coll: Collection) -> bool | None:
    if not coll:
        return None
    if len(coll) == 1:
        value = coll[0]
        return value if type(value) is bool else True
    raise Unsupported("boolean of a collection")


def _boolean(value: bool | None) -> Collection:
    return _EMPTY if value is None else [value]


def _logic(node: dict[str, Any]) -> Fn:
    op = _op(node)
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)

    if op == "and":

        def run(focus: Collection, this: Any, env: Env) -> Collection:
            x = _truth(a(focus, this, env))
            if x is False:
                return [False]
            y = _truth(b(focus, this, env))
            if y is False:
                return [False]
            return [True] if x and y else _EMPTY

    elif op == "or":

        def run(focus: Collection, this: Any, env: Env) -> Collection:
            x = _truth(a(focus, this, env))
            if x is True:
                return [True]
            y = _truth(b(focus, this, env))
            if y is True:
                return [True]
            return [False] if x is False and y is False else _EMPTY

    elif op == "xor":

        def run(focus: Collection, this: Any, env: Env) -> Collection:
            x, y = _truth(a(focus, this, env)), _truth(b(focus, this, env))
            return _EMPTY if x is None or y is None else [x != y]

    elif op == "implies":

        def run(focus: Collection, this: Any, env: Env) -> Collection:
            x = _truth(a(focus, this, env))
            if x is False:
                return [True]
            y = _truth(b(focus, this, env))
            if y is True:
                return [True]
            if x is True:
                return _boolean(y)
            return _EMPTY

    else:
        raise Unsupported(f"operator {op}")
    return run


def _comparable(x: Any, y: Any) -> tuple[Any, Any] | None:
    """Values `=`/`<` can compare natively; None when FHIRPath would give empty."""
    if type(x) is bool or type(y) is bool:
        return (x, y) if type(x) is type(y) else None
    if isinstance(x, int | float) and isinstance(y, int | float):
        return x, y
    if type(x) is str and type(y) is str:
        if _looks_temporal(x) and _looks_temporal(y):
            if "T" in x and "T" in y:
                return _instants(x, y)
            if len(x) != len(y):
                return _at_precision(x, y)
        return x, y
    if (
        type(x) is dict
        and type(y) is dict
        and _is_number(x.get("value"))
        and _is_number(y.get("value"))
    ):
        return _quantities(x, y)
    raise Unsupported("comparison of complex values")


def _instants(x: str, y: str) -> tuple[Any, Any] | None:
    """Two dateTimes with a time: compared as instants when both have an offset (10:00+01:00
    is before 09:30Z), as text when neither has one and they have the same precision;
    else unknown (None)."""
    try:
        dx = datetime.fromisoformat(x.replace("Z", "+00:00"))
        dy = datetime.fromisoformat(y.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dx.tzinfo is not None and dy.tzinfo is not None:
        return dx, dy
    if dx.tzinfo is None and dy.tzinfo is None and len(x) == len(y):
        return x, y
    return None


def _at_precision(x: str, y: str) -> tuple[str, str] | None:
    """Two date/times of different precision compared at the coarser one when it is a
    date (YYYY, YYYY-MM, YYYY-MM-DD): decided when they differ there, empty (None) when
    they agree there, as FHIRPath says; finer differences stay empty."""
    n = min(len(x), len(y))
    if n > 10:
        return None
    return None if x[:n] == y[:n] else (x[:n], y[:n])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and type(value) is not bool


def _quantities(x: dict[str, Any], y: dict[str, Any]) -> tuple[Any, Any] | None:
    """Two Quantities compare by value when they have the same unit (system and code,
    else the unit text, or none on both sides); other units give empty (None): no unit
    conversion here."""

    def unit(q: dict[str, Any]) -> tuple[Any, Any]:
        return (q.get("system"), q["code"]) if q.get("code") else (None, q.get("unit"))

    return (x["value"], y["value"]) if unit(x) == unit(y) else None


_TEMPORAL = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def _looks_temporal(text: str) -> bool:
    return len(text) >= 4 and text[:4].isdigit() and _TEMPORAL.match(text) is not None


def _equality(node: dict[str, Any]) -> Fn:
    op = _op(node)
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)
    negate = op in ("!=", "!~")
    loose = op in ("~", "!~")

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        x, y = a(focus, this, env), b(focus, this, env)
        if not x or not y:
            return [negate] if loose and not x and not y else (_EMPTY if not loose else [negate])
        if len(x) != len(y):
            return [negate]
        for p, q in zip(x, y, strict=True):
            if type(p) is dict or type(q) is dict:
                same = p == q
            else:
                pair = _comparable(p, q)
                if pair is None:
                    return _EMPTY
                p2, q2 = pair
                if loose and type(p2) is str:
                    same = " ".join(p2.lower().split()) == " ".join(q2.lower().split())
                else:
                    same = p2 == q2
            if not same:
                return [negate]
        return [not negate]

    return run


def _inequality(node: dict[str, Any]) -> Fn:
    op = _op(node)
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)
    compare = {
        "<": lambda p, q: p < q,
        "<=": lambda p, q: p <= q,
        ">": lambda p, q: p > q,
        ">=": lambda p, q: p >= q,
    }.get(op)
    if compare is None:
        raise Unsupported(f"operator {op}")

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        x, y = a(focus, this, env), b(focus, this, env)
        if not x or not y:
            return _EMPTY
        if len(x) != 1 or len(y) != 1:
            raise Unsupported("comparison of collections")
        pair = _comparable(x[0], y[0])
        if pair is None or type(pair[0]) is bool:
            return _EMPTY
        return [compare(*pair)]

    return run


def _union(node: dict[str, Any]) -> Fn:
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        return _distinct(a(focus, this, env) + b(focus, this, env))

    return run


def _membership(node: dict[str, Any]) -> Fn:
    op = _op(node)
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)
    if op == "contains":
        a, b = b, a
    elif op != "in":
        raise Unsupported(f"operator {op}")

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        x, y = a(focus, this, env), b(focus, this, env)
        if not x:
            return _EMPTY
        if len(x) != 1:
            raise Unsupported("membership of a collection")
        return [x[0] in y]

    return run


def _additive(node: dict[str, Any]) -> Fn:
    op = _op(node)
    a_node, b_node = _children(node)
    a, b = _compile(a_node), _compile(b_node)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        x, y = a(focus, this, env), b(focus, this, env)
        if op == "&":
            return ["".join(str(v[0]) if v else "" for v in (x, y))]
        if not x or not y:
            return _EMPTY
        p, q = x[0], y[0]
        if op == "+" and type(p) is str and type(q) is str:
            return [p + q]
        if isinstance(p, int | float) and isinstance(q, int | float) and type(p) is not bool:
            return [p + q if op == "+" else p - q]
        raise Unsupported("arithmetic")

    return run


def _polarity(node: dict[str, Any]) -> Fn:
    op = _op(node)
    (child,) = _children(node)
    inner = _compile(child)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        values = inner(focus, this, env)
        if len(values) == 1 and isinstance(values[0], int | float):
            return [-values[0]] if op == "-" else values
        raise Unsupported("polarity")

    return run


# -- functions -----------------------------------------------------------------------------


def _function_name(node: dict[str, Any]) -> str:
    functn = _children(node)[0]
    return _identifier(functn)


def _params(node: dict[str, Any]) -> list[dict[str, Any]]:
    functn = _children(node)[0]
    for child in _children(functn):
        if child.get("type") == "ParamList":
            return _children(child)
    return []


def _function(node: dict[str, Any], left: Fn | None) -> Fn:
    name = _function_name(node)
    params = _params(node)
    args = [_compile(p) for p in params] if name not in _NO_COMPILE_ARGS else []
    impl = _FUNCTIONS.get(name)
    if impl is None:
        raise Unsupported(f"function {name}()")
    fn = impl(args, params)

    if left is None:
        return fn

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        return fn(left(focus, this, env), this, env)

    return run


_NO_COMPILE_ARGS = frozenset({"ofType", "as", "is", "memberOf", "conformsTo"})


def _each(criteria: Fn, items: Collection, env: Env) -> list[bool | None]:
    return [_truth(criteria([item], item, env)) for item in items]


def _fn_exists(args: list[Fn], _p: list) -> Fn:
    if not args:
        return lambda focus, this, env: [bool(focus)]
    (criteria,) = args
    return lambda focus, this, env: [any(r is True for r in _each(criteria, focus, env))]


def _fn_empty(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: [not focus]


def _fn_not(args: list[Fn], _p: list) -> Fn:
    _no_args(args)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        value = _truth(focus)
        return _EMPTY if value is None else [not value]

    return run


def _fn_count(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: [len(focus)]


def _fn_where(args: list[Fn], _p: list) -> Fn:
    (criteria,) = args
    return lambda focus, this, env: [
        item for item, ok in zip(focus, _each(criteria, focus, env), strict=True) if ok is True
    ]


def _fn_all(args: list[Fn], _p: list) -> Fn:
    (criteria,) = args
    return lambda focus, this, env: [all(r is True for r in _each(criteria, focus, env))]


def _fn_select(args: list[Fn], _p: list) -> Fn:
    (projection,) = args

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            out.extend(projection([item], item, env))
        return out

    return run


def _fn_first(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: focus[:1]


def _fn_last(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: focus[-1:]


def _distinct(items: Collection) -> Collection:
    out: Collection = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _fn_distinct(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: _distinct(focus)


def _fn_is_distinct(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: [len(_distinct(focus)) == len(focus)]


def _fn_has_value(args: list[Fn], _p: list) -> Fn:
    _no_args(args)
    return lambda focus, this, env: [
        len(focus) == 1 and focus[0] is not None and type(focus[0]) not in (dict, list)
    ]


def _fn_extension(args: list[Fn], _p: list) -> Fn:
    (url_fn,) = args

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        urls = url_fn([this] if this is not None else env["$root"], this, env)
        if len(urls) != 1:
            return _EMPTY
        url = urls[0]
        out: Collection = []
        for item in focus:
            if type(item) is dict:
                for ext in item.get("extension") or ():
                    if type(ext) is dict and ext.get("url") == url:
                        out.append(ext)
        return out

    return run


def _string_fn(test: Callable[[str, str], bool]) -> Callable[[list[Fn], list], Fn]:
    def make(args: list[Fn], _p: list) -> Fn:
        (arg,) = args

        def run(focus: Collection, this: Any, env: Env) -> Collection:
            if not focus:
                return _EMPTY
            if len(focus) != 1 or type(focus[0]) is not str:
                raise Unsupported("string function input")
            values = arg([this] if this is not None else env["$root"], this, env)
            if not values:
                return _EMPTY
            if type(values[0]) is not str:
                raise Unsupported("string function argument")
            return [test(focus[0], values[0])]

        return run

    return make


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


def _matches(value: str, pattern: str) -> bool:
    return _regex(pattern).search(value) is not None


def _fn_length(args: list[Fn], _p: list) -> Fn:
    _no_args(args)

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        if not focus:
            return _EMPTY
        if type(focus[0]) is not str:
            raise Unsupported("length of a non-string")
        return [len(focus[0])]

    return run


def _case(upper: bool) -> Callable[[list[Fn], list], Fn]:
    def make(args: list[Fn], _p: list) -> Fn:
        _no_args(args)
        return lambda focus, this, env: [
            (v.upper() if upper else v.lower()) for v in focus[:1] if type(v) is str
        ]

    return make


def _fn_iif(args: list[Fn], _p: list) -> Fn:
    if len(args) not in (2, 3):
        raise Unsupported("iif arity")
    cond, then = args[0], args[1]
    other = args[2] if len(args) == 3 else None

    def run(focus: Collection, this: Any, env: Env) -> Collection:
        if _truth(cond(focus, this, env)) is True:
            return then(focus, this, env)
        return other(focus, this, env) if other is not None else _EMPTY

    return run


def _fn_true(args: list[Fn], _p: list) -> Fn:
    return lambda focus, this, env: [True]


def _fn_identity(args: list[Fn], _p: list) -> Fn:
    return lambda focus, this, env: focus


def _fn_of_type_unsupported(args: list[Fn], _p: list) -> Fn:
    raise Unsupported("ofType/as/is on anything but a choice element")


def _no_args(args: list[Fn]) -> None:
    if args:
        raise Unsupported("unexpected arguments")


_FUNCTIONS: dict[str, Callable[[list[Fn], list], Fn]] = {
    "exists": _fn_exists,
    "empty": _fn_empty,
    "not": _fn_not,
    "count": _fn_count,
    "where": _fn_where,
    "all": _fn_all,
    "select": _fn_select,
    "first": _fn_first,
    "last": _fn_last,
    "distinct": _fn_distinct,
    "isDistinct": _fn_is_distinct,
    "hasValue": _fn_has_value,
    "extension": _fn_extension,
    "startsWith": _string_fn(lambda s, p: s.startswith(p)),
    "endsWith": _string_fn(lambda s, p: s.endswith(p)),
    "contains": _string_fn(lambda s, p: p in s),
    "matches": _string_fn(_matches),
    "length": _fn_length,
    "upper": _case(True),
    "lower": _case(False),
    "iif": _fn_iif,
    "htmlChecks": _fn_true,
    "memberOf": _fn_true,
    "conformsTo": _fn_true,
    "trace": _fn_identity,
    "ofType": _fn_of_type_unsupported,
    "as": _fn_of_type_unsupported,
    "is": _fn_of_type_unsupported,
}

_COMPILERS: dict[str, Callable[[dict[str, Any]], Fn]] = {
    "TermExpression": _term,
    "ParenthesizedTerm": _parenthesized,
    "LiteralTerm": _literal,
    "ExternalConstantTerm": _external,
    "InvocationTerm": _invocation_term,
    "InvocationExpression": _invocation_expression,
    "IndexerExpression": _indexer,
    "AndExpression": _logic,
    "OrExpression": _logic,
    "ImpliesExpression": _logic,
    "EqualityExpression": _equality,
    "InequalityExpression": _inequality,
    "UnionExpression": _union,
    "MembershipExpression": _membership,
    "AdditiveExpression": _additive,
    "PolarityExpression": _polarity,
}
