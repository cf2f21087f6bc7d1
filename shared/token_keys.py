"""The keys of the bearer tokens: one issuer signs with an Ed25519 private key (EdDSA); every
service verifies with the public keys only, read from a JWKS (a JSON document, a file or a URL),
each key named by its `kid` (the RFC 7638 thumbprint). No service can mint a token.

In development both sides default to one public, insecure key pair (like the other development
keys of shared/crypto.py), so `cpnet run` and the tests need nothing generated; production refuses
it on either side (shared/settings.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.crypto import INSECURE_DEV_AUTH_SIGNING_KEY
from shared.errors import ConfigurationError

# A JWKS source answering an unknown `kid` is read again at most this often (a key just rotated in).
JWKS_REFRESH_S = 60.0


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK, with its `kid`: the RFC 7638 thumbprint."""
    x = _b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    thumbprint = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(thumbprint.encode("ascii")).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def signing_key(encoded: str) -> Ed25519PrivateKey:
    """The issuer's private key from its setting (base64 of the 32-byte seed; empty: development)."""
    if not encoded:
        return Ed25519PrivateKey.from_private_bytes(INSECURE_DEV_AUTH_SIGNING_KEY)
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(encoded, validate=True))
    except ValueError:
        raise ConfigurationError("CPNET_AUTH_SIGNING_KEY: not the base64 of a 32-byte Ed25519 key") from None


def jwks_of(*keys: Ed25519PrivateKey | Ed25519PublicKey) -> dict[str, Any]:
    """A JWKS naming the public halves of `keys` (what `cpnet token jwks` prints)."""
    public = [k.public_key() if isinstance(k, Ed25519PrivateKey) else k for k in keys]
    return {"keys": [public_jwk(k) for k in public]}


DEV_JWKS = json.dumps(jwks_of(signing_key("")))
DEV_KID = public_jwk(signing_key("").public_key())["kid"]


def parse_jwks(text: str, *, source: str = "CPNET_AUTH_JWKS") -> dict[str, Ed25519PublicKey]:
    """kid → public key of every Ed25519 key of a JWKS; a one-line ConfigurationError otherwise."""
    try:
        document = json.loads(text)
        entries = document["keys"]
        keys = {}
        for entry in entries:
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue  # keys of other kinds are no concern of an EdDSA verifier
            raw = base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
            key = Ed25519PublicKey.from_public_bytes(raw)
            keys[entry.get("kid") or public_jwk(key)["kid"]] = key
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigurationError(f"{source}: not a JWKS of Ed25519 keys") from None
    if not keys:
        raise ConfigurationError(f"{source}: the JWKS has no Ed25519 key")
    return keys


class KeySet:
    """The public keys one JWKS source names, read once and again when a token names a `kid` it
    does not know (at most every JWKS_REFRESH_S): a rotated-in key is picked up without a restart.

    The source is the JWKS itself (text starting with `{`), an `https://` or `http://` URL, a file
    path, or empty for the development key."""

    def __init__(self, source: str, *, clock=time.monotonic) -> None:
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: Mapping[str, Ed25519PublicKey] = {}
        self._read_at: float | None = None

    def _read(self) -> str:
        source = self.source.strip()
        if not source:
            return DEV_JWKS
        if source.startswith("{"):
            return source
        if source.startswith(("https://", "http://")):
            try:
                answer = httpx.get(source, timeout=5.0)
                answer.raise_for_status()
                return answer.text
            except httpx.HTTPError:
                raise ConfigurationError("CPNET_AUTH_JWKS: the JWKS URL could not be read") from None
        try:
            return Path(source).read_text(encoding="utf-8")
        except OSError:
            raise ConfigurationError("CPNET_AUTH_JWKS: the JWKS file could not be read") from None

    def load(self) -> Mapping[str, Ed25519PublicKey]:
        with self._lock:
            if self._read_at is None:
                self._keys, self._read_at = parse_jwks(self._read()), self._clock()
            return self._keys

    def key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key named `kid`, or None (after one fresh read, if the last is old enough)."""
        key = self.load().get(kid)
        if key is None and self._clock() - (self._read_at or 0) >= JWKS_REFRESH_S:
            with self._lock:
                self._keys, self._read_at = parse_jwks(self._read()), self._clock()
            key = self._keys.get(kid)
        return key


_KEY_SETS: dict[str, KeySet] = {}
_KEY_SETS_LOCK = threading.Lock()


def key_set(source: str) -> KeySet:
    """The one KeySet of this process for a source."""
    with _KEY_SETS_LOCK:
        return _KEY_SETS.setdefault(source, KeySet(source))
