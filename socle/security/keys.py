"""Key material of this server, kept as files under `$SOCLE_DATA_DIR/keys` (never in the DB).

* `idp-jwks.json`: the embedded identity provider's signing keys (RS256), newest first.
  `rotate()` adds a new key and keeps the previous ones published, so tokens signed
  before a rotation stay valid until they expire; other worker processes pick the new key
  up when they meet its `kid` (see `tokens.LocalKeys`).
* `audit-ed25519.pem`: the key that signs audit checkpoints (its public half is written
  next to it, `audit-ed25519.pub.pem`, to verify a trail elsewhere).

Keeping keys outside the database means that someone who can rewrite the audit tables
still cannot forge a signed checkpoint.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from socle.security.jose import Jwk, b64u, b64u_decode

KEEP_KEYS = 3  # current key plus the previous ones still published for verification


def keys_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "keys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_once(path: Path, content: bytes) -> None:
    """Create `path` atomically unless another process already did (first one wins)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    tmp.write_bytes(content)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    tmp.write_bytes(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _new_rsa() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "kid": f"idp-{int(time.time())}-{secrets.token_hex(4)}",
        "alg": "RS256",
        "created": int(time.time()),
        "pkcs8": b64u(der),
    }


def _load_private(entry: dict[str, Any]) -> Jwk:
    private = serialization.load_der_private_key(b64u_decode(entry["pkcs8"]), password=None)
    return Jwk(entry["kid"], entry["alg"], private.public_key(), private)


def idp_keys(data_dir: Path) -> list[Jwk]:
    """The identity provider's keys, newest first (created on first use)."""
    path = keys_dir(data_dir) / "idp-jwks.json"
    if not path.exists():
        _write_once(path, orjson.dumps({"keys": [_new_rsa()]}))
    entries = orjson.loads(path.read_bytes())["keys"]
    return [_load_private(e) for e in entries]


def rotate(data_dir: Path) -> Jwk:
    """Add a new signing key; the previous ones stay published for verification."""
    path = keys_dir(data_dir) / "idp-jwks.json"
    idp_keys(data_dir)
    entries = orjson.loads(path.read_bytes())["keys"]
    entries = [_new_rsa(), *entries][:KEEP_KEYS]
    _replace(path, orjson.dumps({"keys": entries}))
    return _load_private(entries[0])


def audit_key(data_dir: Path) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key that signs audit checkpoints (created on first use)."""
    folder = keys_dir(data_dir)
    path = folder / "audit-ed25519.pem"
    if not path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_once(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    pub = folder / "audit-ed25519.pub.pem"
    if not pub.exists():
        _write_once(
            pub,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return key


def load_public_pem(path: Path) -> ed25519.Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return key
