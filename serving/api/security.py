"""API keys with scopes, stored only as hashes.

A key is a random token (`new_key()` draws 32 bytes from `secrets`), so a plain SHA-256 of the whole
secret is enough to store it: there is nothing to brute-force, and a slow password hash (bcrypt, scrypt)
would only add latency to every call. Configuration holds entries `key_id:sha256hex:scope1,scope2`; the
secret itself is shown once, when the key is made, and is never stored, logged or echoed.

Scopes are independent: `admin` does not imply `score`, so an operator key cannot read scores and a
scoring client cannot reload models. A caller sends the secret as `Authorization: Bearer <key>` or as
`X-API-Key: <key>`. Each check hashes the presented secret once and compares it with every configured
hash with `hmac.compare_digest`, without stopping at the first match, so the time taken does not tell
which key (or how much of one) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.api.rate_limit import RateLimiter

SCOPES: Final = frozenset({"score", "admin"})
KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SHA256_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
SECRET_PREFIX: Final = "csk_"
MAX_SECRET_CHARS: Final = 256

_bearer = HTTPBearer(auto_error=False, description="API key as `Authorization: Bearer <key>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key as `X-API-Key: <key>`")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key: its public id, the SHA-256 of its secret, and what it may do."""

    key_id: str
    sha256: str
    scopes: frozenset[str]


def hash_key(secret: str) -> str:
    """SHA-256 hex of the whole secret (see the module docstring for why a fast hash is right here)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def format_key_entry(key: ApiKey) -> str:
    return f"{key.key_id}:{key.sha256}:{','.join(sorted(key.scopes))}"


def parse_key_entry(entry: str) -> ApiKey:
    """Parse `key_id:sha256hex:scope1,scope2`; the error names the part that is wrong, never the entry."""
    parts = entry.strip().split(":")
    if len(parts) != 3:
        raise ValueError("API key entry must look like key_id:sha256hex:scope1,scope2")
    key_id, digest, scope_text = parts
    if not KEY_ID_PATTERN.match(key_id):
        raise ValueError("API key id must be 1-64 characters of A-Z a-z 0-9 . _ -")
    if not _SHA256_HEX.match(digest):
        raise ValueError("API key hash must be 64 lowercase hex characters (sha256 of the secret)")
    scopes = frozenset(s.strip() for s in scope_text.split(",") if s.strip())
    if not scopes or not scopes <= SCOPES:
        raise ValueError(f"API key scopes must be a non-empty comma list of {', '.join(sorted(SCOPES))}")
    return ApiKey(key_id=key_id, sha256=digest, scopes=scopes)


def new_key(*, key_id: str | None = None, scopes: Iterable[str] = ("score",)) -> tuple[str, str]:
    """A fresh (secret, config entry) pair: the secret goes to the client once, the entry into configuration.

    Used by the command line (e.g. `claimsight serve` printing a development key) and by tests; nothing here
    depends on `claimsight` so any shell can call it.
    """
    key_id = key_id or f"key-{secrets.token_hex(4)}"
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_id=key_id, sha256=hash_key(secret), scopes=frozenset(scopes))
    entry = format_key_entry(key)
    parse_key_entry(entry)  # same rules as configuration: a bad key id or scope fails here, not at start-up
    return secret, entry


class KeyRing:
    """The configured keys, checked in constant time per key; one instance lives on `app.state.keyring`."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)
        ids = [k.key_id for k in self._keys]
        if len(ids) != len(set(ids)):
            raise ValueError("API key ids must be unique")

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, secret: str | None) -> ApiKey | None:
        """The key whose hash matches, or None. Every configured hash is compared, match or not."""
        if not secret or len(secret) > MAX_SECRET_CHARS:
            return None
        presented = hash_key(secret).encode("ascii")
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(presented, key.sha256.encode("ascii")) and found is None:
                found = key
        return found


def _unauthorized() -> HTTPException:
    # The body never repeats what was sent: a mistyped key is still a key.
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid API key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_scope(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency that admits a caller whose key has `scope` and returns its key id.

    401 (with `WWW-Authenticate: Bearer`) for a missing, malformed or unknown key, until the client address
    has used up its budget of such calls (`ApiConfig.unauthenticated_per_minute`; 429 after), 429 (with
    Retry-After) for a known key over its request budget (serving/api/rate_limit.py), 403 for a known key without the
    scope. The key id is put on `request.state.key_id` in both the 200 and the 403 case, so
    the audit record names who tried.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes are {', '.join(sorted(SCOPES))}")

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key_header)],
    ) -> str:
        keyring: KeyRing = request.app.state.keyring
        secret = bearer.credentials if bearer is not None else api_key
        key = keyring.authenticate(secret)
        if key is None:
            addresses: RateLimiter | None = getattr(request.app.state, "address_limiter", None)
            client = request.client
            wait = 0.0 if addresses is None or client is None else addresses.take(f"address:{client.host}")
            if wait > 0:
                raise HTTPException(
                    status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                    detail="too many calls without a valid API key from this address; retry later",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            raise _unauthorized()
        request.state.key_id = key.key_id
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        wait = 0.0 if limiter is None else limiter.take(key.key_id)
        if wait > 0:
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail="request budget of this API key used up; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if scope not in key.scopes:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=f"API key lacks the {scope!r} scope")
        return key.key_id

    dependency.__name__ = f"require_{scope}_scope"
    return dependency
