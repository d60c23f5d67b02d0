"""Sign-in sessions: a random token in the browser's cookie, only its SHA-256 in the database.

Someone who reads the database (a backup, a replica) gets no usable cookie. A session ends at the first of:
its absolute lifetime (`SessionPolicy.lifetime`), `idle_for` without a request, a sign-out (`revoke_session`),
the account being deactivated or its password changed (`users`). Each session has its own CSRF token, fixed
for its lifetime, that every state-changing form posts back. `last_seen_at` is written at most once a
minute per session, so a page full of requests does not turn into a write each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, insert, or_, select, update

from serving.workspace.clock import moment
from serving.workspace.schema import login_sessions, users
from serving.workspace.users import User, get_user

TOKEN_BYTES = 32
_TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: dt.timedelta = field(default=dt.timedelta(hours=8))  # a working day, then sign in again
    idle_for: dt.timedelta = field(default=dt.timedelta(minutes=30))


DEFAULT_SESSIONS = SessionPolicy()


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value: returned once by create_session, never stored
    csrf_token: str
    user: User
    expires_at: dt.datetime  # the absolute end; idle sessions end earlier


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(
    engine: Engine, *, user_id: int, policy: SessionPolicy = DEFAULT_SESSIONS, now: dt.datetime | None = None
) -> Session:
    """A new session for an active user (after `authenticate`); its token goes into the cookie."""
    at = moment(now)
    user = get_user(engine, user_id)
    if not user.active:
        raise ValueError("inactive accounts cannot sign in")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    csrf = secrets.token_urlsafe(TOKEN_BYTES)
    expires = at + policy.lifetime
    with engine.begin() as conn:
        conn.execute(
            insert(login_sessions).values(
                token_hash=token_hash(token),
                user_id=user_id,
                csrf_token=csrf,
                created_at=at,
                expires_at=expires,
                last_seen_at=at,
            )
        )
    return Session(token=token, csrf_token=csrf, user=user, expires_at=expires)


def lookup_session(
    engine: Engine, token: str, *, policy: SessionPolicy = DEFAULT_SESSIONS, now: dt.datetime | None = None
) -> Session | None:
    """The live session of this cookie token, or None (unknown, revoked, expired, idle too long, or the
    account inactive). Finding it counts as activity."""
    if not token:
        return None
    at = moment(now)
    digest = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            select(login_sessions, users.c.active)
            .join(users, users.c.id == login_sessions.c.user_id)
            .where(login_sessions.c.token_hash == digest)
        ).one_or_none()
    if row is None:
        return None
    if row.expires_at <= at or row.last_seen_at + policy.idle_for <= at or not row.active:
        revoke_session(engine, token)
        return None
    if at - row.last_seen_at >= _TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(login_sessions).where(login_sessions.c.id == row.id).values(last_seen_at=at))
    return Session(
        token=token, csrf_token=row.csrf_token, user=get_user(engine, row.user_id), expires_at=row.expires_at
    )


def revoke_session(engine: Engine, token: str) -> None:
    """Sign out: the token stops working at once. Unknown tokens are ignored."""
    with engine.begin() as conn:
        conn.execute(delete(login_sessions).where(login_sessions.c.token_hash == token_hash(token)))


def expire_sessions(engine: Engine, *, policy: SessionPolicy = DEFAULT_SESSIONS, now: dt.datetime | None = None) -> int:
    """Delete the sessions that have ended (past their lifetime or idle too long); returns how many."""
    at = moment(now)
    with engine.begin() as conn:
        result = conn.execute(
            delete(login_sessions).where(
                or_(login_sessions.c.expires_at <= at, login_sessions.c.last_seen_at <= at - policy.idle_for)
            )
        )
    return int(result.rowcount)


__all__ = [
    "DEFAULT_SESSIONS",
    "Session",
    "SessionPolicy",
    "create_session",
    "expire_sessions",
    "lookup_session",
    "revoke_session",
    "token_hash",
]
