"""Password hashing with scrypt, a memory-hard function from the standard library (RELIABILITY.md: argon2id
or scrypt), so no native dependency is needed.

A stored hash carries its parameters and salt: `scrypt$n=32768,r=8,p=3$<salt>$<hash>` (base64 without
padding), so the cost can be raised later and old hashes still verify; `needs_rehash` tells the sign-in to
store a fresh hash at the new cost. The default is one of OWASP's equivalent scrypt settings (N=2^15, r=8,
p=3: 32 MiB per hash). Comparison is constant-time. Nothing here logs or returns a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_CHARS = 12  # OWASP ASVS 2.1.1
MAX_PASSWORD_CHARS = 1024  # a cap, so a megabyte "password" is not hashed


@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**15
    r: int = 8
    p: int = 3

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.r < 1 or self.p < 1:
            raise ValueError("scrypt needs n a power of two above 1, r >= 1 and p >= 1")

    @property
    def maxmem(self) -> int:
        return 128 * self.r * (self.n + self.p + 2) + (1 << 20)

    def encode(self) -> str:
        return f"n={self.n},r={self.r},p={self.p}"

    @classmethod
    def decode(cls, text: str) -> ScryptParams:
        fields = dict(part.split("=", 1) for part in text.split(","))
        return cls(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"]))


DEFAULT_PARAMS = ScryptParams()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p, maxmem=params.maxmem, dklen=KEY_BYTES
    )


def check_password_rules(password: str) -> None:
    """Raise ValueError if the password is too short or too long (the message never quotes it)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"password must have at most {MAX_PASSWORD_CHARS} characters")


def hash_password(password: str, *, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """The string to store: scheme, parameters, a fresh random salt and the derived key."""
    salt = secrets.token_bytes(SALT_BYTES)
    return f"{SCHEME}${params.encode()}${_b64(salt)}${_b64(_derive(password, salt, params))}"


def _parse(encoded: str) -> tuple[ScryptParams, bytes, bytes] | None:
    try:
        scheme, params, salt, key = encoded.split("$")
        if scheme != SCHEME:
            return None
        return ScryptParams.decode(params), _unb64(salt), _unb64(key)
    except (ValueError, KeyError):
        return None


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches the stored hash; False for a hash this code cannot read."""
    parsed = _parse(encoded)
    if parsed is None or len(password) > MAX_PASSWORD_CHARS:
        return False
    params, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, params), key)


def needs_rehash(encoded: str, *, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True when the hash was made with other parameters (or cannot be read), so it should be replaced."""
    parsed = _parse(encoded)
    return parsed is None or parsed[0] != params


# Verified against when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_SALT = b"claimsight-dummy"


def burn_equal_time(password: str, *, params: ScryptParams = DEFAULT_PARAMS) -> None:
    """Spend the time one verification takes, for a sign-in with an unknown username."""
    _derive(password[:MAX_PASSWORD_CHARS], _DUMMY_SALT, params)


__all__ = [
    "DEFAULT_PARAMS",
    "MIN_PASSWORD_CHARS",
    "ScryptParams",
    "burn_equal_time",
    "check_password_rules",
    "hash_password",
    "needs_rehash",
    "verify_password",
]
