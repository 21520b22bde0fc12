"""Compact JWS: signing and strict verification of JWTs, with the `cryptography` package.

Kept small and explicit on purpose: this is the hot path of every request (an RS256
verification costs about 25 µs) and the place where algorithm confusion attacks are
refused. Rules:
* `alg` must be in the caller's allow-list; `none` and every HMAC (`HS*`) algorithm are
  never accepted, so a public key can never be used as an HMAC secret;
* the key is chosen by `kid` among the issuer's keys, and its type must match `alg`
  (RSA for RS*/PS*, the right EC curve for ES*, Ed25519 for EdDSA);
* a JWK that declares its own `alg` is only used with that algorithm.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
)
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": ("P-256", ec.SECP256R1, 32), "ES384": ("P-384", ec.SECP384R1, 48)}
_CURVE_BY_NAME = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


class JoseError(Exception):
    """A token that must be refused; the message says why (safe to show the client)."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str | bytes) -> bytes:
    raw = text.encode("ascii") if isinstance(text, str) else text
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JoseError("malformed base64url") from exc


def _int(value: str) -> int:
    return int.from_bytes(b64u_decode(value), "big")


def _int_b64(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64u(value.to_bytes(size, "big"))


@dataclass(slots=True)
class Jwk:
    """A public (or private) key with its id and intended algorithm."""

    kid: str
    alg: str
    public: Any
    private: Any = None

    def public_jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.public), "kid": self.kid, "alg": self.alg, "use": "sig"}


def public_jwk(key: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return {"kty": "RSA", "n": _int_b64(n.n), "e": _int_b64(n.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        n = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
        return {"kty": "EC", "crv": crv, "x": _int_b64(n.x, size), "y": _int_b64(n.y, size)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
    raise JoseError(f"unsupported key type {type(key).__name__}")


def key_from_jwk(jwk: dict[str, Any]) -> Jwk:
    """Import a public JWK (private parts are ignored). Symmetric keys are refused."""
    kty = jwk.get("kty")
    kid = str(jwk.get("kid") or "")
    alg = str(jwk.get("alg") or "")
    if kty == "RSA":
        public: Any = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        if public.key_size < 2048:
            raise JoseError("RSA keys shorter than 2048 bits are refused")
    elif kty == "EC":
        curve = _CURVE_BY_NAME.get(jwk.get("crv", ""))
        if curve is None:
            raise JoseError(f"unsupported EC curve {jwk.get('crv')!r}")
        public = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve()).public_key()
    elif kty == "OKP" and jwk.get("crv") == "Ed25519":
        public = ed25519.Ed25519PublicKey.from_public_bytes(b64u_decode(jwk["x"]))
    else:
        raise JoseError(f"unsupported JWK type {kty!r} (symmetric keys are never accepted)")
    if jwk.get("use") not in (None, "sig"):
        raise JoseError("JWK is not a signature key")
    return Jwk(kid, alg, public)


def _key_matches(alg: str, key: Any) -> bool:
    if alg.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if alg in _CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES[alg][1])
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    return False


def sign(claims: dict[str, Any], key: Jwk, typ: str = "JWT", **header: Any) -> str:
    """Sign `claims` with a private key; returns the compact serialisation."""
    head = {"alg": key.alg, "typ": typ, "kid": key.kid, **header}
    signing_input = (
        b64u(orjson.dumps(head)) + "." + b64u(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS))
    ).encode("ascii")
    return signing_input.decode("ascii") + "." + b64u(_sign_raw(key, signing_input))


def _sign_raw(key: Jwk, data: bytes) -> bytes:
    alg, private = key.alg, key.private
    if private is None:
        raise JoseError("no private key")
    if alg.startswith("RS"):
        return private.sign(data, padding.PKCS1v15(), _HASHES[alg[2:]]())
    if alg.startswith("PS"):
        h = _HASHES[alg[2:]]()
        return private.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h)
    if alg in _CURVES:
        size = _CURVES[alg][2]
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(_HASHES[alg[2:]]())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA":
        return private.sign(data)
    raise JoseError(f"cannot sign with {alg}")


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Decode without verifying: (header, payload, signing_input, signature)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JoseError("not a compact JWS")
    try:
        header = orjson.loads(b64u_decode(parts[0]))
        payload = orjson.loads(b64u_decode(parts[1]))
    except orjson.JSONDecodeError as exc:
        raise JoseError("malformed JWT") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JoseError("malformed JWT")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), b64u_decode(parts[2])


def verify(
    header: dict[str, Any],
    signing_input: bytes,
    signature: bytes,
    keys: dict[str, Jwk],
    allowed_algs: frozenset[str],
) -> Jwk:
    """Check `alg` against the allow-list, pick the key by `kid`, verify the signature."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise JoseError("unsigned tokens (alg=none) are refused")
    if alg not in ASYMMETRIC_ALGS or alg not in allowed_algs:
        raise JoseError(f"algorithm {alg} is not allowed")
    if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
        raise JoseError("embedded or remote key headers (jwk, jku, x5u, crit) are refused")
    kid = header.get("kid")
    if kid is not None:
        key = keys.get(str(kid))
        candidates = [key] if key is not None else []
    else:
        candidates = [k for k in keys.values() if _key_matches(alg, k.public)]
    if not candidates:
        raise UnknownKey(f"no key {kid!r} for this issuer")
    for key in candidates:
        if key.alg and key.alg != alg:
            raise JoseError(f"key {key.kid!r} is for {key.alg}, not {alg}")
        if not _key_matches(alg, key.public):
            raise JoseError(f"key {key.kid!r} does not fit algorithm {alg}")
        if _verify_raw(alg, key.public, signing_input, signature):
            return key
    raise JoseError("invalid signature")


class UnknownKey(JoseError):
    """The `kid` is not among the known keys: the issuer may have rotated them."""


def _verify_raw(alg: str, key: Any, data: bytes, signature: bytes) -> bool:
    try:
        if alg.startswith("RS"):
            key.verify(signature, data, padding.PKCS1v15(), _HASHES[alg[2:]]())
        elif alg.startswith("PS"):
            h = _HASHES[alg[2:]]()
            key.verify(signature, data, padding.PSS(padding.MGF1(h), h.digest_size), h)
        elif alg in _CURVES:
            size = _CURVES[alg][2]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(_HASHES[alg[2:]]()))
        else:
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def half_hash(value: str, alg: str) -> str:
    """OIDC at_hash / c_hash: left half of the hash of the ASCII value."""
    size = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}.get(
        alg[-3:], hashlib.sha512 if alg == "EdDSA" else hashlib.sha256
    )
    digest = size(value.encode("ascii")).digest()
    return b64u(digest[: len(digest) // 2])
