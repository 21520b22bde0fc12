"""IHE ITI-48 Retrieve Value Set, beside the FHIR API: `GET /svs/RetrieveValueSet?id=OID`.

The HTTP binding takes `id` (the value set OID), optional `version` and `lang`, and
answers a `RetrieveValueSetResponse` (text/xml). POST accepts a `RetrieveValueSetRequest`
document, bare or in a SOAP envelope; a SOAP request gets a SOAP answer (a Sender fault
with subcode NAV for an unknown value set, VERUNK for an unknown version). A value set is
found by its OID identifier, whether it came from an SVS file, a FHIR package or the
store. Unknown value set or version on the HTTP binding: 404.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from socle.fhir.errors import FhirError
from socle.fhir.rest.http import read_limited
from socle.terminology.svs import (
    SvsError,
    parse_request,
    render_response,
    soap_envelope,
    soap_fault,
)

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))*$")
XML = "text/xml; charset=utf-8"
SOAP_XML = "application/soap+xml; charset=utf-8"
MAX_REQUEST = 64 * 1024


def _error(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


async def retrieve_value_set(request: Request) -> Response:
    engine = request.app.state.engine
    tenant = request.app.state.tenant
    soap = None
    if request.method == "POST":
        try:
            body = await read_limited(request, MAX_REQUEST)
        except FhirError:
            return _error(413, "RetrieveValueSetRequest too large")
        try:
            oid, version, lang, soap = parse_request(body)
        except SvsError as exc:
            return _error(400, f"Invalid RetrieveValueSetRequest: {exc}")
    else:
        q = request.query_params
        oid, version, lang = q.get("id"), q.get("version"), q.get("lang")
    if not oid or not _OID.match(oid):
        text = f"{oid!r} is not an OID" if oid else "The id parameter (value set OID) is required"
        return _fault(soap, 400, "NAV", text)
    try:
        body = await run_in_threadpool(_retrieve, engine, tenant, oid, version or None, lang)
    except FhirError as exc:
        subcode = "VERUNK" if version and exc.status == 404 else "NAV"
        return _fault(
            soap, 404 if exc.status == 404 else exc.status, subcode, exc.issues[0].diagnostics
        )
    if soap:
        return Response(soap_envelope(body, soap), media_type=SOAP_XML)
    return Response(body, media_type=XML)


def _fault(soap: str | None, status: int, subcode: str, text: str) -> Response:
    if soap:  # SOAP binding: a Sender fault with the ITI-48 subcode
        return Response(soap_fault(soap, subcode, text), status_code=400, media_type=SOAP_XML)
    return _error(status, text)


def _retrieve(engine, tenant: str, oid: str, version: str | None, lang: str | None) -> bytes:  # noqa: ANN001
    svc = engine.terminology
    view = svc.view(tenant)
    entry = view.resolve("ValueSet", f"urn:oid:{oid}", version)
    if entry is None:
        what = f"version {version} of value set {oid}" if version else f"value set {oid}"
        raise FhirError(404, "not-found", f"Unknown {what}")
    expanded = svc.expand(entry.url, version=entry.version, display_language=lang, tenant=tenant)
    concepts = [
        (c.get("system"), c.get("code"), c.get("display"))
        for c in expanded["expansion"].get("contains") or []
    ]
    return render_response(oid, expanded, concepts, view.oid_of, lang)


def routes() -> list[Route]:
    return [
        Route("/svs/RetrieveValueSet", retrieve_value_set, methods=["GET", "POST"]),
        Route("/RetrieveValueSet", retrieve_value_set, methods=["GET", "POST"]),
    ]
