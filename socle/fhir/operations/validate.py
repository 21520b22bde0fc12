"""`$validate` (http://hl7.org/fhir/OperationDefinition/Resource-validate).

* `POST [base]/[type]/$validate` with a resource or a `Parameters` (`resource`, `mode`,
  `profile`);
* `POST|GET [base]/[type]/[id]/$validate`: the posted resource, or the stored one when
  none is posted;
* `mode`: `create`, `update` (the resource must carry the instance id), `delete` (the
  instance must exist; Socle has no rule refusing a delete yet) or `profile`;
* `profile`: a canonical to validate against, in addition to the declared profiles.

The answer is always `200` with an `OperationOutcome`, even when the resource is invalid
(the spec's rule); only a malformed request (no resource, unknown mode) is a `400`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socle.fhir.errors import Issue, bad_request, operation_outcome
from socle.fhir.operations.registry import INSTANCE, TYPE, OperationCall

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
MODES = ("create", "update", "delete", "profile")


def validate_operation(call: OperationCall) -> dict[str, Any]:
    """Validate a resource against the base definition and profiles (always 200)."""
    mode = call.param("mode")
    if mode is not None and mode not in MODES:
        raise bad_request(f"Unknown $validate mode {mode!r} (use {', '.join(MODES)})", "mode")
    profile = call.param("profile")
    if profile is not None and not isinstance(profile, str):
        raise bad_request("profile must be a canonical URL", "profile")
    if mode == "delete":
        return _delete_mode(call)
    resource = call.resource_param("resource")
    issues: list[Issue] = []
    if resource is None:
        if call.level != INSTANCE:
            raise bad_request("$validate needs a resource (the body or a 'resource' parameter)")
        resource = _stored(call)
    if not isinstance(resource, dict):
        raise bad_request("The resource to validate must be a JSON object", "resource")
    rt = resource.get("resourceType")
    if call.res_type and rt != call.res_type:
        issues.append(
            Issue(
                "error",
                "invalid",
                f"$validate on {call.res_type} received a {rt} resource",
                [str(rt or "resourceType")],
            )
        )
        return operation_outcome(issues)
    rid = resource.get("id")
    if call.level == INSTANCE and mode in (None, "update") and rid and rid != call.res_id:
        issues.append(
            Issue(
                "error",
                "invalid",
                f"Resource id {rid!r} does not match the URL id {call.res_id!r}",
                [f"{rt}.id"],
            )
        )
    if mode == "update" and not resource.get("id"):
        issues.append(Issue("error", "required", "mode=update needs a resource id", [f"{rt}.id"]))
    profiles = [profile] if profile else []
    issues.extend(call.engine.validation.validate(resource, profiles))
    return operation_outcome(issues)


def _stored(call: OperationCall) -> dict[str, Any]:
    engine = call.engine
    assert call.res_type and call.res_id
    with engine.store.session(call.ctx.tenant) as s:
        # with the request context, so the guard decides whether it may be read
        result = engine.crud.read(s, call.res_type, call.res_id, call.ctx)
    assert result.resource is not None
    return result.resource


def _delete_mode(call: OperationCall) -> dict[str, Any]:
    if call.level != INSTANCE:
        raise bad_request("mode=delete needs an instance: [type]/[id]/$validate")
    _stored(call)  # 404 / 410 when there is nothing to delete
    return operation_outcome(
        [Issue("information", "informational", "The resource may be deleted", [])]
    )


def register(engine: FhirEngine) -> None:
    """Add `$validate` at type and instance level for every resource type."""
    if any(op.name == "validate" for op in engine.operations.all()):
        return
    engine.operations.operation("validate", levels=(TYPE, INSTANCE), definition_url=DEFINITION)(
        validate_operation
    )
