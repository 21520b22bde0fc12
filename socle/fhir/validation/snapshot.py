"""Snapshot generation: a StructureDefinition's differential applied to its base snapshot.

Published packages carry snapshots; definitions written by hand (or posted to the server)
often carry only a differential. This generator covers what profiles use in practice:

* every element of the base snapshot is copied (re-rooted on the profile's type);
* a differential element is merged into the element with the same `id` (cardinality,
  types, fixed/pattern, binding, slicing, max length, short/definition…; constraints are
  added to the inherited ones);
* a new slice (`Patient.identifier:NIR`) is a copy of the sliced element and its children,
  inserted after the element's existing slices;
* a child of an element that the base does not expand (`Patient.identifier.system` on the
  core Patient) expands the element from its type's definition (or its type profile) first;
* the R4 shorthand for a choice type (`Observation.valueQuantity`) constrains `value[x]`.

It does not re-derive `base` information across several levels of profiles, nor merge
re-slicing of a slice defined in an ancestor beyond copying it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from socle.fhir.validation.compiled import _split_last, type_code

Resolver = Callable[[str], dict[str, Any] | None]

_MERGE_SKIP = frozenset({"id", "path", "base", "sliceName"})
_APPEND = frozenset({"constraint", "condition", "mapping", "alias"})
_MAX_DEPTH = 12


class SnapshotError(Exception):
    """The snapshot cannot be generated (missing base, unknown element...)."""


def generate_snapshot(sd: dict[str, Any], resolve: Resolver) -> list[dict[str, Any]]:
    """The snapshot elements of `sd` (which is not modified)."""
    base_url = sd.get("baseDefinition")
    if not base_url:
        raise SnapshotError(f"{sd.get('url')} has no baseDefinition to build a snapshot from")
    base = resolve(base_url)
    if base is None:
        raise SnapshotError(f"base definition {base_url} of {sd.get('url')} is not available")
    base_elements = (base.get("snapshot") or {}).get("element")
    if not base_elements:
        raise SnapshotError(f"base definition {base_url} has no snapshot")
    builder = _Builder(copy.deepcopy(base_elements), resolve)
    builder.reroot(sd.get("type") or base_elements[0]["path"])
    for diff in (sd.get("differential") or {}).get("element") or ():
        if isinstance(diff, dict) and "path" in diff:
            builder.apply(diff)
    return builder.elements


class _Builder:
    def __init__(self, elements: list[dict[str, Any]], resolve: Resolver) -> None:
        self.elements = elements
        self.resolve = resolve
        for el in self.elements:
            el.setdefault("id", el["path"])

    # -- structure -------------------------------------------------------------------------

    def reroot(self, type_name: str) -> None:
        old = self.elements[0]["path"].split(".", 1)[0]
        if old == type_name:
            return
        for el in self.elements:
            for key in ("path", "id"):
                value = el[key]
                if value == old or value.startswith(old + ".") or value.startswith(old + ":"):
                    el[key] = type_name + value[len(old) :]

    def index_of(self, element_id: str) -> int | None:
        for i, el in enumerate(self.elements):
            if el["id"] == element_id:
                return i
        return None

    def end_of(self, element_id: str) -> int:
        """Index after `element_id`, its descendants and its slices."""
        start = self.index_of(element_id)
        if start is None:
            raise SnapshotError(f"no element {element_id}")
        i = start + 1
        while i < len(self.elements):
            eid = self.elements[i]["id"]
            if eid.startswith(element_id + ".") or eid.startswith(element_id + ":"):
                i += 1
            else:
                break
        return i

    def has_children(self, element_id: str) -> bool:
        i = self.index_of(element_id)
        return (
            i is not None
            and i + 1 < len(self.elements)
            and self.elements[i + 1]["id"].startswith(element_id + ".")
        )

    # -- differential ----------------------------------------------------------------------

    def apply(self, diff: dict[str, Any]) -> None:
        element_id = diff.get("id") or _id_from_path(diff)
        index = self.ensure(element_id, 0)
        self.merge(self.elements[index], diff)

    def ensure(self, element_id: str, depth: int) -> int:
        found = self.index_of(element_id)
        if found is not None:
            return found
        if depth > _MAX_DEPTH:
            raise SnapshotError(f"cannot place element {element_id}")
        parent_id, last = _split_last(element_id)
        name, sep, slice_name = last.partition(":")
        if not parent_id:
            raise SnapshotError(f"unknown root element {element_id}")
        if sep:
            owner_id = f"{parent_id}.{name}"
            self.ensure(owner_id, depth + 1)
            return self.add_slice(owner_id, slice_name)
        parent_index = self.ensure(parent_id, depth + 1)
        if not self.has_children(parent_id):
            self.expand(parent_index)
        found = self.index_of(element_id)
        if found is not None:
            return found
        choice = self.choice_alias(parent_id, name)
        if choice is not None:
            return choice
        raise SnapshotError(f"element {element_id} does not exist in the base definition")

    def choice_alias(self, parent_id: str, name: str) -> int | None:
        """`valueQuantity` names `value[x]` restricted to Quantity (R4 shorthand)."""
        for i, el in enumerate(self.elements):
            eid = el["id"]
            if not eid.startswith(parent_id + ".") or not eid.endswith("[x]"):
                continue
            stem = eid[len(parent_id) + 1 : -3]
            if "." in stem or ":" in stem:
                continue
            if name.startswith(stem) and name[len(stem) :][:1].isupper():
                wanted = name[len(stem) :]
                el["type"] = [t for t in el.get("type") or () if _cap(type_code(t)) == wanted] or [
                    {"code": wanted[0].lower() + wanted[1:]}
                ]
                return i
        return None

    def expand(self, index: int) -> None:
        """Insert the children of element `index` from its type (or contentReference)."""
        el = self.elements[index]
        ref = el.get("contentReference")
        children: list[dict[str, Any]]
        if isinstance(ref, str) and "#" in ref:
            target = ref.split("#", 1)[1]
            children = [
                copy.deepcopy(e)
                for e in self.elements
                if e["id"].startswith(target + ".") and ":" not in e["id"][len(target) :]
            ]
            old = target
        else:
            types = el.get("type") or []
            if len(types) != 1:
                raise SnapshotError(f"cannot expand {el['id']}: it has {len(types)} types")
            t = types[0]
            source = None
            for profile in t.get("profile") or ():
                source = self.resolve(profile)
                if source is not None:
                    break
            if source is None:
                source = self.resolve("http://hl7.org/fhir/StructureDefinition/" + type_code(t))
            elements = ((source or {}).get("snapshot") or {}).get("element")
            if not elements:
                raise SnapshotError(f"cannot expand {el['id']}: type definition not available")
            old = elements[0]["path"]
            children = [copy.deepcopy(e) for e in elements[1:]]
            for c in children:
                c.setdefault("id", c["path"])
        for c in children:
            c["id"] = el["id"] + c["id"][len(old) :]
            c["path"] = el["path"] + c["path"][len(old) :]
        self.elements[index + 1 : index + 1] = children

    def add_slice(self, owner_id: str, slice_name: str) -> int:
        owner_index = self.index_of(owner_id)
        assert owner_index is not None
        owner = self.elements[owner_index]
        end = self.end_of(owner_id)
        new_id = f"{owner_id}:{slice_name}"
        block = self.slice_from_type_profile(owner_id, slice_name)
        if block is None:
            block = [copy.deepcopy(owner)]
            for e in self.elements[owner_index + 1 : end]:
                if e["id"].startswith(owner_id + "."):
                    block.append(copy.deepcopy(e))
            head = block[0]
            head.pop("slicing", None)
            head["sliceName"] = slice_name.rsplit("/", 1)[-1]
            base = head.get("base") or {}
            head["min"] = 0 if "min" not in base else int(base.get("min") or 0)
            for e in block:
                e["id"] = new_id + e["id"][len(owner_id) :]
        self.elements[end:end] = block
        return end

    def slice_from_type_profile(self, owner_id: str, slice_name: str) -> list | None:
        """A slice the parent's type profile defines (`X.extension:sub` of a complex
        extension): copied from that profile rather than from the bare element."""
        parent_id, name = _split_last(owner_id)
        parent_index = self.index_of(parent_id) if parent_id else None
        if parent_index is None:
            return None
        parent = self.elements[parent_index]
        for t in parent.get("type") or ():
            for profile in t.get("profile") or ():
                source = self.resolve(profile)
                elements = ((source or {}).get("snapshot") or {}).get("element")
                if not elements:
                    continue
                root = elements[0]["id"] if "id" in elements[0] else elements[0]["path"]
                wanted = f"{root}.{name}:{slice_name}"
                block = [
                    copy.deepcopy(e)
                    for e in elements
                    if e.get("id") == wanted or str(e.get("id", "")).startswith(wanted + ".")
                ]
                if block:
                    for e in block:
                        e["id"] = f"{owner_id}:{slice_name}" + e["id"][len(wanted) :]
                        e["path"] = parent["path"] + e["path"][len(elements[0]["path"]) :]
                    return block
        return None

    @staticmethod
    def merge(target: dict[str, Any], diff: dict[str, Any]) -> None:
        if any(k.startswith(("fixed", "pattern")) for k in diff):
            for k in [k for k in target if k.startswith(("fixed", "pattern"))]:
                del target[k]
        for key, value in diff.items():
            if key in _MERGE_SKIP:
                continue
            if key in _APPEND:
                existing = target.setdefault(key, [])
                if key == "constraint":
                    keys = {c.get("key") for c in existing}
                    existing.extend(copy.deepcopy(c) for c in value if c.get("key") not in keys)
                else:
                    existing.extend(copy.deepcopy(v) for v in value if v not in existing)
            else:
                target[key] = copy.deepcopy(value)
        if diff.get("sliceName"):
            target["sliceName"] = diff["sliceName"]


def _id_from_path(diff: dict[str, Any]) -> str:
    path: str = diff["path"]
    if diff.get("sliceName"):
        return f"{path}:{diff['sliceName']}"
    return path


def _cap(code: str) -> str:
    return code[:1].upper() + code[1:]
