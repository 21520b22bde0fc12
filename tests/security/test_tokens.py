"""Token validation: signature, issuer, algorithm allow-list, times, audience, rotation;
external providers (Pro Santé Connect and FranceConnect styles) by discovery, with JWKS
rotation, userinfo and RFC 7662 introspection of opaque tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from socle.security import jose
from socle.security.config import ProviderConfig
from socle.security.keys import rotate
from socle.security.subjects import principal_from
from socle.security.tokens import TokenError, TokenValidator
from tests.security.conftest import FHIR_BASE, ISSUER, bearer, security_config
from tests.security.servers import running


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": FHIR_BASE,
        "sub": "x",
        "exp": now + 300,
        "iat": now,
        "scope": "user/*.rs",
        "kind": "admin",
    }
    base.update(extra)
    return base


def _rsa(kid: str) -> jose.Jwk:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jose.Jwk(kid, "RS256", private.public_key(), private)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_valid_token(security) -> None:  # noqa: ANN001
    token = jose.sign(_claims(), security.issuer.signing_key())
    assert security.validator.validate(token).claims["sub"] == "x"


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (_claims(exp=int(time.time()) - 3600), "expired"),
        (_claims(nbf=int(time.time()) + 3600), "not valid yet"),
        (_claims(iat=int(time.time()) + 3600), "future"),
        (_claims(aud="https://elsewhere.example/fhir"), "aud"),
        (_claims(iss="https://evil.example/auth"), "not trusted"),
        ({k: v for k, v in _claims().items() if k != "exp"}, "expiry"),
    ],
)
def test_refused_claims(security, claims, message) -> None:  # noqa: ANN001
    token = jose.sign(claims, security.issuer.signing_key())
    with pytest.raises(TokenError, match=message):
        security.validator.validate(token)


def test_forged_signature(security) -> None:  # noqa: ANN001
    real = security.issuer.signing_key()
    forged = jose.sign(_claims(), jose.Jwk(real.kid, "RS256", None, _rsa("x").private))
    with pytest.raises(TokenError, match="invalid signature"):
        security.validator.validate(forged)
    # a valid token with one character of the payload changed
    token = jose.sign(_claims(), real)
    head, body, sig = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=="))
    payload["kind"] = "admin"
    payload["scope"] = "system/*.cruds"
    tampered = f"{head}.{_b64(orjson.dumps(payload))}.{sig}"
    with pytest.raises(TokenError, match="invalid signature"):
        security.validator.validate(tampered)


def test_alg_none_refused(security) -> None:  # noqa: ANN001
    head = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    token = f"{head}.{_b64(orjson.dumps(_claims()))}."
    with pytest.raises(TokenError, match="alg=none"):
        security.validator.validate(token)


def test_hs256_with_the_public_key_as_secret_refused(security) -> None:  # noqa: ANN001
    key = security.issuer.signing_key()
    public_jwk = orjson.dumps(key.public_jwk())
    head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}))
    body = _b64(orjson.dumps(_claims()))
    mac = hmac.new(public_jwk, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="not allowed"):
        security.validator.validate(f"{head}.{body}.{_b64(mac)}")


def test_embedded_header_keys_refused(security) -> None:  # noqa: ANN001
    attacker = _rsa("attacker")
    token = jose.sign(_claims(), attacker, jwk=jose.public_jwk(attacker.public))
    with pytest.raises(TokenError):
        security.validator.validate(token)


def test_key_rotation_is_followed(tmp_path) -> None:  # noqa: ANN001
    from socle.security.issuer import TokenIssuer

    config = security_config(tmp_path)
    issuer, validator = TokenIssuer(config), TokenValidator(config)
    first = issuer.access_token({"sub": "a"}, scope="user/*.rs", client_id="c")
    assert validator.validate(first)
    new_key = rotate(tmp_path)
    second = jose.sign(_claims(sub="b"), new_key)
    assert validator.validate(second).claims["sub"] == "b"  # unknown kid -> keys reloaded
    assert validator.validate(first).claims["sub"] == "a"  # the old key is still published
    assert new_key.kid in {k["kid"] for k in TokenIssuer(config).jwks()["keys"]}


# -- external providers ---------------------------------------------------------------------


class FakeProvider:
    """A Pro Santé Connect / FranceConnect style provider: discovery, JWKS, userinfo,
    introspection; its keys can be rotated."""

    def __init__(self) -> None:
        self.keys = [_rsa("k1")]
        self.base = ""
        self.userinfo: dict[str, Any] = {}
        self.opaque: dict[str, dict[str, Any]] = {}
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/userinfo", self.user),
                Route("/introspect", self.introspect, methods=["POST"]),
            ]
        )

    async def discovery(self, request: Request) -> JSONResponse:
        b = self.base
        return JSONResponse(
            {
                "issuer": b,
                "jwks_uri": f"{b}/jwks",
                "userinfo_endpoint": f"{b}/userinfo",
                "introspection_endpoint": f"{b}/introspect",
                "end_session_endpoint": f"{b}/logout",
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [k.public_jwk() for k in self.keys]})

    async def user(self, request: Request) -> JSONResponse:
        return JSONResponse(self.userinfo)

    async def introspect(self, request: Request) -> JSONResponse:
        expected = "Basic " + base64.b64encode(b"socle-rs:rs-secret").decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, 401)
        form = await request.form()
        return JSONResponse(self.opaque.get(str(form.get("token")), {"active": False}))

    def sign(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.base, "aud": FHIR_BASE, "iat": now, "exp": now + 300, **claims}
        return jose.sign(body, self.keys[0])


@pytest.fixture
def provider():  # noqa: ANN201
    fake = FakeProvider()
    with running(fake.app) as base:
        fake.base = base
        yield fake


def _validator(provider: FakeProvider, tmp_path, kind: str) -> TokenValidator:  # noqa: ANN001
    cfg = ProviderConfig(
        name=kind,
        kind=kind,
        discovery_url=f"{provider.base}/.well-known/openid-configuration",
        client_id="socle-rs",
        client_secret="rs-secret",
        scope="user/*.rs",
        acr_map={"eidas2": 2},
    )
    return TokenValidator(security_config(tmp_path, providers=(cfg,)))


def test_pro_sante_connect_style_professional(provider, tmp_path, security, world) -> None:  # noqa: ANN001
    validator = _validator(provider, tmp_path, "psc")
    provider.userinfo = {
        "SubjectNameID": "8" + world.rpps["gp"],
        "given_name": "Test",
        "family_name": "Traitant",
        "SubjectRefPro": {
            "exercices": [
                {
                    "codeProfession": "10",
                    "codeCategorieProfessionnelle": "C",
                    "codeSavoirFaire": "SM54",
                    "activities": [
                        {"identifiantStructure": "1350000000", "raisonSocialeSite": "Cabinet"}
                    ],
                }
            ]
        },
    }
    token = provider.sign(sub="psc-user", acr="eidas2", scope="openid scope_all user/*.rs")
    validated = validator.validate(token)
    p = principal_from(validated, security.info, world.tenant, token)
    assert (p.kind, p.rpps, p.profession, p.specialty, p.eidas) == (
        "practitioner",
        world.rpps["gp"],
        "10",
        "SM54",
        2,
    )
    assert p.fhir_user == f"Practitioner/{world.gp}"  # found in the directory by RPPS
    assert p.organization == "1350000000"


def test_franceconnect_style_patient_by_traits(provider, tmp_path, security, world) -> None:  # noqa: ANN001
    validator = _validator(provider, tmp_path, "franceconnect")
    token = provider.sign(
        sub="fc-user",
        acr="eidas2",
        given_name="Alice Marie",
        family_name="Martin",
        birthdate="1985-07-01",
        gender="female",
        scope="patient/*.rs",
    )
    p = principal_from(validator.validate(token), security.info, world.tenant, token)
    assert (p.kind, p.patient) == ("patient", world.alice)
    ambiguous = provider.sign(
        sub="fc2", family_name="Nobody", given_name="X", birthdate="1900-01-01", gender="male"
    )
    with pytest.raises(TokenError, match="no single patient"):
        principal_from(validator.validate(ambiguous), security.info, world.tenant, ambiguous)


def test_remote_jwks_rotation_and_foreign_keys(provider, tmp_path) -> None:  # noqa: ANN001
    validator = _validator(provider, tmp_path, "generic")
    assert validator.validate(provider.sign(sub="a"))
    provider.keys.insert(0, _rsa("k2"))  # the provider rotates
    validator.issuers[provider.base].keys.min_interval = 0
    assert validator.validate(provider.sign(sub="b")).claims["sub"] == "b"
    intruder = jose.sign(
        {"iss": provider.base, "aud": FHIR_BASE, "exp": time.time() + 60}, _rsa("k2")
    )
    with pytest.raises(TokenError, match="invalid signature"):
        validator.validate(intruder)
    # the provider's tokens for another audience are refused
    with pytest.raises(TokenError, match="aud"):
        validator.validate(provider.sign(sub="c", aud="https://other.example/fhir"))


def test_opaque_token_introspection(provider, tmp_path) -> None:  # noqa: ANN001
    validator = _validator(provider, tmp_path, "generic")
    provider.opaque["opaque-123"] = {
        "active": True,
        "sub": "u1",
        "scope": "user/*.rs",
        "aud": FHIR_BASE,
        "exp": int(time.time()) + 120,
        "fhirUser": "Practitioner/p1",
    }
    validated = validator.validate("opaque-123")
    assert validated.claims["sub"] == "u1" and validated.issuer.issuer == provider.base
    with pytest.raises(TokenError, match="introspection"):
        validator.validate("opaque-unknown")


def test_min_eidas_level_per_route(sec_engine, world, token) -> None:  # noqa: ANN001
    from starlette.testclient import TestClient

    from socle.security.config import parse_min_eidas
    from socle.security.service import AuthMiddleware, Security

    security = Security(
        sec_engine,
        security_config(
            sec_engine.settings.data_dir, min_eidas=parse_min_eidas("*=1,DocumentReference=3")
        ),
    )

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"eidas": request.state.socle_principal.eidas})

    app = Starlette(routes=[Route("/fhir/{type}", ok)])
    app.state.tenant = world.tenant
    app.add_middleware(AuthMiddleware, security=security)
    low = security.issuer.access_token(
        {"sub": "u", "kind": "admin"}, scope="user/*.rs", client_id="c", acr="eidas2"
    )
    with TestClient(app) as c:
        assert c.get("/fhir/Patient", headers=bearer(low)).status_code == 200
        r = c.get("/fhir/DocumentReference", headers=bearer(low))
        assert r.status_code == 401
        assert "insufficient_user_authentication" in r.headers["www-authenticate"]
        assert 'acr_values="eidas3"' in r.headers["www-authenticate"]


def test_federator_logout_url(provider, tmp_path, sec_engine) -> None:  # noqa: ANN001
    from socle.security.service import Security

    cfg = ProviderConfig(
        name="psc", kind="psc", discovery_url=f"{provider.base}/.well-known/openid-configuration"
    )
    security = Security(sec_engine, replace(security_config(tmp_path), providers=(cfg,)))
    url = security.federator_logout("psc", "idt", "http://127.0.0.1:9/bye", "s1")
    assert url.startswith(f"{provider.base}/logout?")
    assert "id_token_hint=idt" in url and "state=s1" in url
