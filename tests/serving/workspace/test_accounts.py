"""Passwords, lock-out, sessions and the role table, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from workspace_factories import FAST, PASSWORD, T0, Clock, person

from serving.workspace.errors import InvalidChange
from serving.workspace.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
    hash_password,
    needs_rehash,
    verify_password,
)
from serving.workspace.roles import PERMISSIONS, ROLE_PERMISSIONS, can
from serving.workspace.schema import ROLES, login_sessions, users
from serving.workspace.sessions import (
    SessionPolicy,
    create_session,
    expire_sessions,
    lookup_session,
    revoke_session,
    token_hash,
)
from serving.workspace.users import (
    LockoutPolicy,
    LoginResult,
    authenticate,
    create_user,
    set_active,
    set_display_name,
    set_password,
    unknown_name_hash,
    unlock,
    user_by_name,
)


def test_hash_verifies_the_password_and_nothing_else() -> None:
    stored = hash_password(PASSWORD, params=FAST)
    assert stored.startswith("scrypt$n=16,r=1,p=1$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)
    assert hash_password(PASSWORD, params=FAST) != stored  # a fresh salt each time
    assert not verify_password(PASSWORD, "md5$abc")  # an unreadable hash never matches
    assert not verify_password(PASSWORD, "scrypt$n=16,r=1$x$y")


def test_default_cost_is_memory_hard_and_old_hashes_ask_to_be_replaced() -> None:
    assert DEFAULT_PARAMS.n * DEFAULT_PARAMS.r * 128 >= 32 * 2**20  # 32 MiB or more per hash
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD, stored)
    assert not needs_rehash(stored)
    assert needs_rehash(hash_password(PASSWORD, params=FAST))
    with pytest.raises(ValueError):
        ScryptParams(n=1000)


def test_create_user_refuses_weak_passwords_taken_names_and_unknown_roles(engine: Engine) -> None:
    person(engine, name="ana")
    with pytest.raises(InvalidChange, match="at least 12") as weak:
        create_user(engine, username="bo", password="short-pw", role="specialist", params=FAST)
    assert "short-pw" not in str(weak.value)
    with pytest.raises(InvalidChange, match="taken"):
        create_user(engine, username="ana", password=PASSWORD, role="manager", params=FAST)
    with pytest.raises(InvalidChange, match="role"):
        create_user(engine, username="cy", password=PASSWORD, role="superuser", params=FAST)
    with pytest.raises(InvalidChange, match="username"):
        create_user(engine, username="two words", password=PASSWORD, role="admin", params=FAST)


def test_sign_in_accepts_the_password_and_refuses_others_alike(engine: Engine) -> None:
    ana = person(engine, name="ana")
    assert authenticate(engine, username="ana", password=PASSWORD, now=T0).user == ana
    wrong = authenticate(engine, username="ana", password="nope nope nope", now=T0)
    unknown = authenticate(engine, username="nobody", password=PASSWORD, now=T0)
    assert wrong == unknown == authenticate(engine, username="", password="", now=T0)
    assert wrong.user is None and wrong.locked_until is None
    set_active(engine, ana.id, active=False)
    assert authenticate(engine, username="ana", password=PASSWORD, now=T0).user is None


def test_lock_out_after_n_failures_and_unlock_after_the_window(engine: Engine) -> None:
    clock = Clock()
    person(engine, name="ana")
    policy = LockoutPolicy(max_failures=3, lock_for=dt.timedelta(minutes=15))

    def attempt(password: str) -> LoginResult:
        return authenticate(engine, username="ana", password=password, policy=policy, params=FAST, now=clock())

    for _ in range(2):
        assert attempt("wrong password!").locked_until is None
    third = attempt("wrong password!")
    assert third.locked_until == T0 + dt.timedelta(minutes=15)
    clock.advance(minutes=14, seconds=59)
    refused = attempt(PASSWORD)  # the right password, still locked: refused and not counted
    assert refused.user is None and refused.locked_until == T0 + dt.timedelta(minutes=15)
    clock.advance(seconds=1)
    assert attempt(PASSWORD).user is not None
    with engine.connect() as conn:
        assert conn.execute(select(users.c.failed_logins)).scalar_one() == 0


def test_a_success_resets_the_count_and_an_admin_can_unlock(engine: Engine) -> None:
    ana = person(engine, name="ana")
    policy = LockoutPolicy(max_failures=2)
    authenticate(engine, username="ana", password="wrong password!", policy=policy, now=T0)
    assert authenticate(engine, username="ana", password=PASSWORD, policy=policy, params=FAST, now=T0).user
    assert authenticate(engine, username="ana", password="wrong password!", policy=policy, now=T0).locked_until is None
    assert authenticate(engine, username="ana", password="wrong password!", policy=policy, now=T0).locked_until
    unlock(engine, ana.id)
    assert authenticate(engine, username="ana", password=PASSWORD, policy=policy, params=FAST, now=T0).user


def test_sign_in_replaces_a_hash_made_at_an_older_cost(engine: Engine) -> None:
    person(engine, name="ana")  # hashed with FAST
    newer = ScryptParams(n=2**5, r=1, p=1)
    assert authenticate(engine, username="ana", password=PASSWORD, params=newer, now=T0).user
    with engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("scrypt$n=32,r=1,p=1$") and verify_password(PASSWORD, stored)


def test_sessions_store_only_the_token_hash_and_expire(engine: Engine) -> None:
    clock = Clock()
    ana = person(engine, name="ana")
    policy = SessionPolicy(lifetime=dt.timedelta(hours=8), idle_for=dt.timedelta(minutes=30))
    session = create_session(engine, user_id=ana.id, policy=policy, now=clock())
    assert len(session.token) >= 43 and session.csrf_token and session.expires_at == T0 + dt.timedelta(hours=8)
    with engine.connect() as conn:
        stored = conn.execute(select(login_sessions)).one()
    assert stored.token_hash == token_hash(session.token) and session.token not in tuple(map(str, stored))

    found = lookup_session(engine, session.token, policy=policy, now=clock.advance(minutes=29))
    assert found is not None and found.user == ana and found.csrf_token == session.csrf_token
    assert lookup_session(engine, session.token + "x", policy=policy, now=clock()) is None
    # activity keeps it alive up to the absolute lifetime, not past it
    for _ in range(15):  # 7 h 44 min in all
        assert lookup_session(engine, session.token, policy=policy, now=clock.advance(minutes=29)) is not None
    assert lookup_session(engine, session.token, policy=policy, now=clock.advance(minutes=29)) is None


def test_idle_sessions_end_and_revoked_ones_at_once(engine: Engine) -> None:
    clock = Clock()
    ana = person(engine, name="ana")
    policy = SessionPolicy(idle_for=dt.timedelta(minutes=30))
    idle = create_session(engine, user_id=ana.id, policy=policy, now=clock())
    assert lookup_session(engine, idle.token, policy=policy, now=clock.advance(minutes=31)) is None
    kept = create_session(engine, user_id=ana.id, now=clock())
    revoke_session(engine, kept.token)
    assert lookup_session(engine, kept.token, now=clock()) is None


def test_expire_sessions_deletes_ended_ones_only(engine: Engine) -> None:
    clock = Clock()
    ana = person(engine, name="ana")
    create_session(engine, user_id=ana.id, now=clock())
    clock.advance(minutes=20)
    live = create_session(engine, user_id=ana.id, now=clock())
    assert expire_sessions(engine, now=clock.advance(minutes=15)) == 1
    assert lookup_session(engine, live.token, now=clock()) is not None


def test_deactivating_or_a_new_password_ends_sessions(engine: Engine) -> None:
    ana = person(engine, name="ana")
    first = create_session(engine, user_id=ana.id, now=T0)
    set_password(engine, ana.id, password="a brand new passphrase", params=FAST)
    assert lookup_session(engine, first.token, now=T0) is None
    second = create_session(engine, user_id=ana.id, now=T0)
    set_active(engine, ana.id, active=False)
    assert lookup_session(engine, second.token, now=T0) is None
    with pytest.raises(ValueError, match="inactive"):
        create_session(engine, user_id=ana.id, now=T0)


def test_role_table() -> None:
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    assert can("specialist", "work_items") and not can("specialist", "assign_items")
    assert can("reviewer", "review_claims") and not can("reviewer", "work_items") and not can("reviewer", "view_queue")
    for permission in ("assign_items", "set_capacity", "view_team_queue", "work_items"):
        assert can("manager", permission)
    assert not can("manager", "manage_users") and not can("manager", "review_claims")
    assert [p for p in PERMISSIONS if can("admin", p)] == ["manage_users"]  # an admin sees no claim
    assert [r for r in ROLES if can(r, "manage_users")] == ["admin"]
    with pytest.raises(ValueError, match="permission"):
        can("manager", "assign_item")
    with pytest.raises(ValueError, match="role"):
        can("owner", "work_items")


def test_an_unknown_username_is_counted_and_locked_like_an_account(engine: Engine) -> None:
    """The answers (wrong, then locked) do not tell whether a username exists; the name is kept only hashed."""
    clock = Clock()
    person(engine, name="ana")
    policy = LockoutPolicy(max_failures=3, lock_for=dt.timedelta(minutes=15))

    def answers(username: str) -> list[dt.datetime | None]:
        return [
            authenticate(engine, username=username, password="wrong password!", policy=policy, params=FAST,
                         now=clock()).locked_until
            for _ in range(4)
        ]  # fmt: skip

    locked = T0 + dt.timedelta(minutes=15)
    assert answers("ana") == answers("nobody") == [None, None, locked, locked]
    from serving.workspace.schema import unknown_logins

    with engine.connect() as conn:
        stored = [r.name_hash for r in conn.execute(select(unknown_logins))]
    assert stored == [unknown_name_hash("NoBody ")] and "nobody" not in stored[0]
    clock.advance(minutes=15)
    assert authenticate(engine, username="nobody", password="x" * 12, policy=policy, params=FAST,
                        now=clock()).locked_until is None  # fmt: skip


def test_usernames_match_without_case_and_cannot_differ_only_in_case(engine: Engine) -> None:
    ana = create_user(engine, username="Ana", password=PASSWORD, role="specialist", display_name=" Ana Ruiz ",
                      params=FAST)  # fmt: skip
    assert ana.display_name == "Ana Ruiz" and ana.shown_name == "Ana Ruiz"
    assert authenticate(engine, username=" ana ", password=PASSWORD, params=FAST, now=T0).user == ana
    assert user_by_name(engine, "ANA") == ana
    with pytest.raises(InvalidChange, match="taken"):
        create_user(engine, username="ana", password=PASSWORD, role="manager", params=FAST)
    assert set_display_name(engine, ana.id, display_name="").shown_name == "Ana"
