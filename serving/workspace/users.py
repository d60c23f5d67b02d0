"""Accounts: creating them, signing in with lock-out, and what an admin changes.

Sign-in answers alike for an unknown username, a wrong password and an inactive account (`LoginResult`
with no user), and an unknown username costs one scrypt like a wrong password does, so neither the answer
nor its timing says which usernames exist. After `LockoutPolicy.max_failures` wrong passwords in a row the
account is locked for `lock_for`, during which even the right password is refused and attempts are not
counted; the counter starts again after the lock. A username with no account is counted and locked the same
way (in `unknown_logins`, under a hash of the name), so "locked" after N tries does not tell that the name
exists either. Counting is one atomic UPDATE, so concurrent guesses cannot slip past the limit.

Usernames are matched without regard to case (" Ana " signs in as "ana"), and two accounts whose names differ
only in case cannot be made. Usernames are not PHI; passwords and hashes never leave this module's callers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from serving.workspace.clock import moment
from serving.workspace.errors import InvalidChange, NotFound
from serving.workspace.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
    burn_equal_time,
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_password,
)
from serving.workspace.schema import ROLES, UTCDateTime, login_sessions, unknown_logins, users

MAX_USERNAME_CHARS = 64
MAX_DISPLAY_NAME_CHARS = 128


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool
    created_at: dt.datetime
    locked_until: dt.datetime | None = None
    display_name: str | None = None  # None: shown as the username

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_for: dt.timedelta = field(default=dt.timedelta(minutes=15))

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.lock_for <= dt.timedelta(0):
            raise ValueError("lock-out needs max_failures >= 1 and a positive lock_for")


DEFAULT_LOCKOUT = LockoutPolicy()


@dataclass(frozen=True)
class LoginResult:
    """`user` on success; otherwise None, with `locked_until` set while the account is locked."""

    user: User | None
    locked_until: dt.datetime | None = None


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=row.role,
        active=bool(row.active),
        created_at=row.created_at,
        locked_until=row.locked_until,
        display_name=row.display_name,
    )


_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.role,
    users.c.active,
    users.c.created_at,
    users.c.locked_until,
    users.c.display_name,
)


def _name_matches(username: str) -> Any:
    """The WHERE clause finding an account by name, without regard to case."""
    return func.lower(users.c.username) == username.strip().lower()


def _one_by_name(rows: list[Any], username: str) -> Any:
    """Of the accounts matching without case, the one spelled exactly so, else the only one (None if none).
    Two names differing only in case cannot be created; this only guards databases from before that rule."""
    if not rows:
        return None
    exact = [r for r in rows if r.username == username.strip()]
    return exact[0] if exact else (rows[0] if len(rows) == 1 else None)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidChange(f"unknown role {role!r} (one of {', '.join(ROLES)})")


def create_user(
    engine: Engine,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    params: ScryptParams = DEFAULT_PARAMS,
    now: dt.datetime | None = None,
) -> User:
    """A new active account. Raises InvalidChange for a taken (in any case) or malformed username, a weak
    password or an unknown role."""
    name = username.strip()
    if not name or len(name) > MAX_USERNAME_CHARS or any(c.isspace() for c in name):
        raise InvalidChange(f"username must be 1 to {MAX_USERNAME_CHARS} characters without spaces")
    shown = (display_name or "").strip() or None
    if shown is not None and len(shown) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidChange(f"display name must be at most {MAX_DISPLAY_NAME_CHARS} characters")
    _check_role(role)
    try:
        check_password_rules(password)
    except ValueError as exc:
        raise InvalidChange(str(exc)) from None
    row = {
        "username": name,
        "display_name": shown,
        "password_hash": hash_password(password, params=params),
        "role": role,
        "active": True,
        "failed_logins": 0,
        "created_at": moment(now),
    }
    try:
        with engine.begin() as conn:
            if conn.execute(select(users.c.id).where(_name_matches(name))).first() is not None:
                raise InvalidChange(f"username {name!r} is taken")
            new_id = conn.execute(insert(users).values(**row).returning(users.c.id)).scalar_one()
    except IntegrityError:
        raise InvalidChange(f"username {name!r} is taken") from None
    return get_user(engine, new_id)


def get_user(engine: Engine, user_id: int) -> User:
    with engine.connect() as conn:
        row = conn.execute(select(*_COLUMNS).where(users.c.id == user_id)).one_or_none()
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


def user_by_name(engine: Engine, username: str) -> User | None:
    """The account of this name (any case), or None."""
    with engine.connect() as conn:
        row = _one_by_name(list(conn.execute(select(*_COLUMNS).where(_name_matches(username)))), username)
    return None if row is None else _user(row)


def list_users(engine: Engine, *, active_only: bool = False) -> list[User]:
    query = select(*_COLUMNS).order_by(users.c.username)
    if active_only:
        query = query.where(users.c.active.is_(True))
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(query)]


def usernames(engine: Engine, user_ids: set[int]) -> dict[int, str]:
    """id -> username for the given ids (for showing who did what)."""
    if not user_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.id, users.c.username).where(users.c.id.in_(sorted(user_ids))))
        return {r.id: r.username for r in rows}


def authenticate(
    engine: Engine,
    *,
    username: str,
    password: str,
    policy: LockoutPolicy = DEFAULT_LOCKOUT,
    params: ScryptParams = DEFAULT_PARAMS,
    now: dt.datetime | None = None,
) -> LoginResult:
    """Check a sign-in. On success the failure count is cleared (and a hash made with older parameters is
    replaced); on failure it is counted, and the account locked once it reaches `policy.max_failures`."""
    at = moment(now)
    with engine.connect() as conn:
        found = list(conn.execute(select(*_COLUMNS, users.c.password_hash).where(_name_matches(username))))
    row = _one_by_name(found, username)
    if row is None:
        return _unknown_name_failed(engine, username, password, policy=policy, params=params, at=at)
    if row.locked_until is not None and row.locked_until > at:
        return LoginResult(user=None, locked_until=row.locked_until)
    if verify_password(password, row.password_hash) and row.active:
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if needs_rehash(row.password_hash, params=params):
            values["password_hash"] = hash_password(password, params=params)
        with engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
        return LoginResult(user=get_user(engine, row.id))
    failures = users.c.failed_logins + 1
    reached = failures >= policy.max_failures
    with engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == row.id)
            .values(
                failed_logins=case((reached, 0), else_=failures),
                locked_until=case((reached, literal(at + policy.lock_for, UTCDateTime)), else_=users.c.locked_until),
            )
        )
        locked_until = conn.execute(select(users.c.locked_until).where(users.c.id == row.id)).scalar_one()
    return LoginResult(user=None, locked_until=locked_until if locked_until and locked_until > at else None)


def unknown_name_hash(username: str) -> str:
    return hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()


def _unknown_name_failed(
    engine: Engine, username: str, password: str, *, policy: LockoutPolicy, params: ScryptParams, at: dt.datetime
) -> LoginResult:
    """A sign-in with a name that has no account: refused, and counted as an account's failure would be."""
    key = unknown_name_hash(username)
    with engine.connect() as conn:
        row = conn.execute(select(unknown_logins).where(unknown_logins.c.name_hash == key)).one_or_none()
    if row is not None and row.locked_until is not None and row.locked_until > at:
        return LoginResult(user=None, locked_until=row.locked_until)  # as fast as an account's lock
    burn_equal_time(password, params=params)
    with engine.begin() as conn:
        _count_unknown(conn, key, policy=policy, at=at)
        locked_until = conn.execute(
            select(unknown_logins.c.locked_until).where(unknown_logins.c.name_hash == key)
        ).scalar_one()
    return LoginResult(user=None, locked_until=locked_until if locked_until and locked_until > at else None)


def _count_unknown(conn: Connection, key: str, *, policy: LockoutPolicy, at: dt.datetime) -> None:
    # rows whose lock has ended count from zero again, as an account's do: nothing in them is worth keeping
    conn.execute(
        delete(unknown_logins).where(unknown_logins.c.locked_until.is_not(None), unknown_logins.c.locked_until <= at)
    )
    if conn.execute(select(unknown_logins.c.name_hash).where(unknown_logins.c.name_hash == key)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(unknown_logins).values(name_hash=key, failed_logins=0, updated_at=at))
        except IntegrityError:  # the same name tried at the same moment: its row exists now
            pass
    failures = unknown_logins.c.failed_logins + 1
    reached = failures >= policy.max_failures
    conn.execute(
        update(unknown_logins)
        .where(unknown_logins.c.name_hash == key)
        .values(
            failed_logins=case((reached, 0), else_=failures),
            locked_until=case(
                (reached, literal(at + policy.lock_for, UTCDateTime)), else_=unknown_logins.c.locked_until
            ),
            updated_at=at,
        )
    )


def _change(engine: Engine, user_id: int, **values: Any) -> User:
    with engine.begin() as conn:
        if conn.execute(update(users).where(users.c.id == user_id).values(**values)).rowcount != 1:
            raise NotFound(f"no user {user_id}")
    return get_user(engine, user_id)


def set_password(engine: Engine, user_id: int, *, password: str, params: ScryptParams = DEFAULT_PARAMS) -> User:
    """A new password; the account's sessions end (whoever had them must sign in with the new one)."""
    try:
        check_password_rules(password)
    except ValueError as exc:
        raise InvalidChange(str(exc)) from None
    user = _change(engine, user_id, password_hash=hash_password(password, params=params), failed_logins=0)
    _end_sessions(engine, user_id)
    return user


def set_display_name(engine: Engine, user_id: int, *, display_name: str | None) -> User:
    shown = (display_name or "").strip() or None
    if shown is not None and len(shown) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidChange(f"display name must be at most {MAX_DISPLAY_NAME_CHARS} characters")
    return _change(engine, user_id, display_name=shown)


def set_role(engine: Engine, user_id: int, *, role: str) -> User:
    _check_role(role)
    return _change(engine, user_id, role=role)


def set_active(engine: Engine, user_id: int, *, active: bool) -> User:
    """Deactivate (or reactivate) an account; deactivating ends its sessions. Accounts are never deleted:
    their work and their views of PHI stay attributable."""
    user = _change(engine, user_id, active=active)
    if not active:
        _end_sessions(engine, user_id)
    return user


def unlock(engine: Engine, user_id: int) -> User:
    return _change(engine, user_id, failed_logins=0, locked_until=None)


def _end_sessions(engine: Engine, user_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(login_sessions.delete().where(login_sessions.c.user_id == user_id))


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


__all__ = [
    "DEFAULT_LOCKOUT",
    "LockoutPolicy",
    "LoginResult",
    "User",
    "authenticate",
    "count_users",
    "create_user",
    "get_user",
    "list_users",
    "set_active",
    "set_display_name",
    "set_password",
    "set_role",
    "unknown_name_hash",
    "unlock",
    "user_by_name",
    "usernames",
]
