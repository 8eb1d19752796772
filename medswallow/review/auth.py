"""Accounts and logins: argon2id password hashes, expiring sessions, lockout, optional OIDC.

Passwords exist only in the arguments of ``add_user``/``set_password``/``login``: they are never logged,
audited, stored, or put in an error message. Sessions are random tokens; the database keeps their
SHA-256 only. A failed login says the same thing for an unknown user and a wrong password.

OIDC: when the Streamlit app is configured with an identity provider (``st.login``), the provider
vouches for the e-mail address and ``login_oidc`` maps it to an account an admin created with
``medswallow review add-user NAME --email ADDRESS --oidc`` (no password). Unknown addresses are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, select, update

from medswallow.errors import UserError
from medswallow.review.models import ROLES, AuthSession, User, utcnow
from medswallow.review.store import Actor, NotFound, ReviewStore, log

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,120}$")
MIN_PASSWORD_LEN = 10


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Session and lockout policy (the defaults suit a hospital workstation)."""

    idle_timeout: timedelta = timedelta(minutes=30)  # no activity for this long ends the session
    max_session: timedelta = timedelta(hours=12)  # a session never outlives one working day
    max_failures: int = 5  # consecutive failed logins before the account locks
    lockout: timedelta = timedelta(minutes=15)


class AuthError(UserError):
    """Login failed or the session is no longer valid."""


INVALID_LOGIN = "invalid username or password"


# argon2id parameters. The default is RFC 9106's low-memory profile (64 MiB, t=3: ~0.25 s on one core).
# MEDSWALLOW_REVIEW_ARGON2=CHEAPEST exists for test suites only; hashes made with it are upgraded to the
# default at the next login (check_needs_rehash), so switching back needs no migration.
ARGON2_PROFILE_ENV = "MEDSWALLOW_REVIEW_ARGON2"


def _hasher():  # type: ignore[no-untyped-def]
    return _hasher_for(os.environ.get(ARGON2_PROFILE_ENV, "RFC_9106_LOW_MEMORY"))


@lru_cache(maxsize=4)
def _hasher_for(profile: str):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher, profiles

    if profile not in ("RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"):
        raise UserError(f"{ARGON2_PROFILE_ENV}={profile!r}: use RFC_9106_LOW_MEMORY, RFC_9106_HIGH_MEMORY or CHEAPEST")
    return PasswordHasher.from_parameters(getattr(profiles, profile))


def _dummy_hash() -> str:
    # Verified against when the user does not exist, so both failures take the same time.
    return _dummy_for(os.environ.get(ARGON2_PROFILE_ENV, "RFC_9106_LOW_MEMORY"))


@lru_cache(maxsize=4)
def _dummy_for(_profile: str) -> str:
    return str(_hasher().hash(secrets.token_urlsafe(16)))


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def check_password_strength(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise UserError(f"password too short: use at least {MIN_PASSWORD_LEN} characters")
    if username.lower() in password.lower():
        raise UserError("password must not contain the username")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    store: ReviewStore,
    actor: Actor,
    username: str,
    role: str,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
) -> int:
    """Create an account; ``password`` None makes an OIDC-only account (needs ``email``)."""
    actor.require("manage_users")
    if not USERNAME_RE.match(username):
        raise UserError(f"username {username!r}: use 2-120 letters, digits and . _ @ -")
    if role not in ROLES:
        from medswallow.errors import did_you_mean

        raise UserError(f"unknown role {role!r}{did_you_mean(role, list(ROLES))}")
    if password is None and not email:
        raise UserError("an account without a password signs in through OIDC and needs --email")
    if password is not None:
        check_password_strength(password, username)
    pw_hash = hash_password(password) if password is not None else None
    with store.write(actor) as (session, audit):
        clash = session.scalar(select(User.id).where(func.lower(User.username) == username.lower()))
        if clash is not None:
            raise UserError(f"user {username!r} already exists")
        if email and session.scalar(select(User.id).where(User.email == email.lower())) is not None:
            raise UserError(f"another account already uses the e-mail {email!r}")
        user = User(
            username=username,
            role=role,
            password_hash=pw_hash,
            display_name=display_name or username,
            email=email.lower() if email else None,
        )
        session.add(user)
        session.flush()
        audit("user.create", "user", user.id, username=username, role=role, oidc=password is None)
        return user.id


def set_password(store: ReviewStore, actor: Actor, username: str, password: str) -> None:
    """Set a new password (admins for anyone; a user for themselves) and end the user's sessions."""
    if actor.username != username:
        actor.require("manage_users")
    check_password_strength(password, username)
    pw_hash = hash_password(password)
    with store.write(actor) as (session, audit):
        user = _user_by_name(session, username)
        user.password_hash = pw_hash
        user.failed_logins = 0
        user.locked_until = None
        _revoke_all(session, user.id)
        audit("user.set_password", "user", user.id, username=username)


def set_active(store: ReviewStore, actor: Actor, username: str, active: bool) -> None:
    actor.require("manage_users")
    with store.write(actor) as (session, audit):
        user = _user_by_name(session, username)
        user.active = active
        if not active:
            _revoke_all(session, user.id)
        audit("user.activate" if active else "user.deactivate", "user", user.id, username=username)


def unlock(store: ReviewStore, actor: Actor, username: str) -> None:
    actor.require("manage_users")
    with store.write(actor) as (session, audit):
        user = _user_by_name(session, username)
        user.failed_logins = 0
        user.locked_until = None
        audit("user.unlock", "user", user.id, username=username)


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    role: str
    email: str | None
    active: bool
    locked: bool
    oidc_only: bool


def list_users(store: ReviewStore, actor: Actor) -> list[UserInfo]:
    actor.require("manage_users")
    now = utcnow()
    with store.read() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        return [
            UserInfo(
                u.id,
                u.username,
                u.display_name,
                u.role,
                u.email,
                u.active,
                bool(u.locked_until and u.locked_until > now),
                u.password_hash is None,
            )
            for u in users
        ]


def annotator_ids(store: ReviewStore, roles: tuple[str, ...] = ("annotator",)) -> list[int]:
    with store.read() as session:
        return list(
            session.scalars(select(User.id).where(User.role.in_(roles), User.active.is_(True)).order_by(User.id))
        )


def login(store: ReviewStore, username: str, password: str, settings: AuthSettings | None = None) -> str:
    """Check the password and open a session; returns the session token (keep it secret).

    The slow argon2 check runs outside any transaction, so a login never holds the database's write lock.
    A failed attempt for an unknown name is audited without the name: people type passwords into the
    username box, and the audit log must never hold one.
    """
    settings = settings or AuthSettings()
    from argon2.exceptions import InvalidHashError, VerificationError

    with store.read() as session:
        user = session.scalar(select(User).where(User.username == username))
        known = user is not None and user.password_hash is not None and user.active
        uid, role, stored_hash = (user.id, user.role, user.password_hash) if user else (None, "annotator", None)
        locked_until = user.locked_until if user else None
    if not known or stored_hash is None or uid is None:
        try:  # same work as for a real account, so timing does not reveal which names exist
            _hasher().verify(_dummy_hash(), password)
        except VerificationError:
            pass
        with store.write(Actor(uid, username if uid else "<unknown>", role)) as (_, audit):
            audit("auth.login_failed", "user", uid, reason="unknown or inactive account")
        log.info("login failed (unknown or inactive account)")
        raise AuthError(INVALID_LOGIN)
    actor = Actor(uid, username, role)
    if locked_until and locked_until > utcnow():
        with store.write(actor) as (_, audit):
            audit("auth.login_locked", "user", uid)
        raise AuthError(f"account locked after repeated failures; try again after {locked_until:%H:%M} UTC or ask an admin")
    try:
        ok = bool(_hasher().verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        ok = False
    new_hash = hash_password(password) if ok and _hasher().check_needs_rehash(stored_hash) else None
    now = utcnow()
    with store.write(actor) as (session, audit):
        row = session.scalar(select(User).where(User.id == uid).with_for_update())
        assert row is not None
        if ok and row.password_hash == stored_hash and row.active:  # not changed or disabled meanwhile
            row.failed_logins = 0
            row.locked_until = None
            if new_hash:
                row.password_hash = new_hash
            token = _open_session(session, row, now, settings, "password")
            audit("auth.login", "user", uid)
            return token
        row.failed_logins += 1
        locked = row.failed_logins >= settings.max_failures
        if locked:
            row.locked_until = now + settings.lockout
            row.failed_logins = 0
        audit("auth.login_failed", "user", uid, reason="wrong password", locked=locked)
    log.info("login failed for user id %s%s", uid, " (now locked)" if locked else "")
    raise AuthError(INVALID_LOGIN)


def login_oidc(store: ReviewStore, email: str, settings: AuthSettings | None = None) -> str:
    """Open a session for the account an identity provider vouched for (matched on e-mail)."""
    settings = settings or AuthSettings()
    now = utcnow()
    with store.write(Actor(None, "oidc", "annotator")) as (session, audit):
        user = session.scalar(select(User).where(User.email == email.lower()))
        if user is None or not user.active:
            audit("auth.login_failed", "user", user.id if user else None, reason="no account for this identity")
            failure = AuthError("no active review account for this identity; ask an admin to add you")
        else:
            token = _open_session(session, user, now, settings, "oidc")
            audit("auth.login", "user", user.id, method="oidc")
            return token
    raise failure


def _open_session(session, user: User, now: datetime, settings: AuthSettings, method: str) -> str:  # type: ignore[no-untyped-def]
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + settings.max_session,
            method=method,
        )
    )
    return token


def resume(store: ReviewStore, token: str | None, settings: AuthSettings | None = None) -> Actor:
    """The user behind a session token; raises AuthError when it is unknown, expired, idle or revoked."""
    settings = settings or AuthSettings()
    if not token:
        raise AuthError("please log in")
    now = utcnow()
    with store.read() as session:
        row = session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == _token_hash(token))
        ).first()
        if row is None:
            raise AuthError("please log in")
        auth, user = row
        if auth.revoked_at is not None or not user.active:
            raise AuthError("your session has ended; please log in again")
        if now >= auth.expires_at or now - auth.last_seen_at >= settings.idle_timeout:
            raise AuthError("your session expired; please log in again")
        actor = Actor(user.id, user.username, user.role)
        # Session bookkeeping, not a change anyone made: refreshed without an audit entry.
        touch = now - auth.last_seen_at > timedelta(seconds=30)
        session_id = auth.id
    if touch:  # sliding idle window; written at most every 30 s so page reruns stay read-only
        with store.engine.begin() as conn:
            conn.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now))
    return actor


def logout(store: ReviewStore, token: str) -> None:
    with store.read() as session:
        auth = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
        if auth is None or auth.revoked_at is not None:
            return
        user = session.get(User, auth.user_id)
        actor = Actor(user.id, user.username, user.role) if user else Actor(None, "?", "annotator")
    with store.write(actor) as (session, audit):
        row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
        if row is not None:
            row.revoked_at = utcnow()
        audit("auth.logout", "user", actor.id)


def _revoke_all(session, user_id: int) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    for auth in session.scalars(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    ):
        auth.revoked_at = now


def _user_by_name(session, username: str) -> User:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user
