"""operations: [base]/$op, [type]/$op and [type]/[id]/$op, dispatched through the registry."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from socle.fhir.errors import FhirError
from socle.fhir.guard import OPERATION, Access
from socle.fhir.operations.parameters import parameters_to_dict
from socle.fhir.operations.registry import INSTANCE, SYSTEM, TYPE, OperationCall, OperationResult
from socle.fhir.rest.http import JSON_TYPES, context, fhir_response, limits, read_body


async def operation(request: Request) -> Response:
    engine = request.app.state.engine
    p = request.path_params
    res_type, res_id = p.get("type"), p.get("id")
    name = p["op"]
    level = INSTANCE if res_id else TYPE if res_type else SYSTEM
    if res_type:
        engine.require_type(res_type)
    op = engine.operations.resolve(name, level, res_type)
    if request.method == "GET" and op.affects_state:
        raise FhirError(405, "not-supported", f"${name} changes state: use POST")
    params: dict[str, list[Any]] = {}
    for key, value in request.query_params.multi_items():
        if key not in ("_format", "_pretty"):
            params.setdefault(key, []).append(value)
    body = None
    if request.method == "POST":
        body = await read_body(request, limits(request), JSON_TYPES)
        if not isinstance(body, dict):
            raise FhirError(400, "invalid", "An operation body must be a Parameters or resource")
        if body.get("resourceType") == "Parameters":
            for key, values in parameters_to_dict(body).items():
                params.setdefault(key, []).extend(values)
    call = OperationCall(
        engine, context(request), name, level, res_type, res_id, request.method, params, body
    )
    # Security: the guard decides whether this subject may run the operation
    access = Access(OPERATION, res_type, res_id, operation=name)
    await run_in_threadpool(engine.guard.authorize, call.ctx, access)
    result = await run_in_threadpool(op.handler, call)
    if isinstance(result, OperationResult):
        return fhir_response(
            request, result.body, result.status, result.headers, shape_resource=False
        )
    return fhir_response(request, result, shape_resource=False)
