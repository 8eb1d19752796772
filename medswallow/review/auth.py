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
import hmac
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from medswallow.errors import UserError
from medswallow.review.models import ROLES, AuthSession, LoginThrottle, User, utcnow
from medswallow.review.store import Actor, NotFound, ReviewStore, log, secret

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,120}$")
MIN_PASSWORD_LEN = 10


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Session and login-throttling policy (the defaults suit a hospital workstation).

    Failed logins are counted per (source, typed username) and per source. Past the free failures each
    further attempt from that source must wait, doubling from ``first_delay`` up to ``max_delay``; the
    account itself is never locked, so failing on purpose from one place cannot keep its owner out
    from another. Counts are forgotten after ``forget_after`` without failures, or by ``unlock``.
    """

    idle_timeout: timedelta = timedelta(minutes=30)  # no activity for this long ends the session
    max_session: timedelta = timedelta(hours=12)  # a session never outlives one working day
    warn_before: timedelta = timedelta(minutes=5)  # session_status().warn: time to save before it ends
    free_failures: int = 5  # failures for one username from one source before the delays start
    source_free_failures: int = 20  # failures for any usernames from one source (password spraying)
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def delay_after(self, failures: int, free: int) -> timedelta:
        """How long a source waits after its ``failures``-th failure (zero within the free ones)."""
        if failures <= free:
            return timedelta(0)
        return min(self.first_delay * (2 ** min(failures - free - 1, 30)), self.max_delay)


class AuthError(UserError):
    """Login failed or the session is no longer valid."""


INVALID_LOGIN = "invalid username or password"
THROTTLED = "too many failed logins from here; wait {seconds} s and try again"


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
    """Forget the failed logins for ``username`` from every source (its login delays end now)."""
    actor.require("manage_users")
    name_key = _throttle_keys(store, "", username)[1]
    with store.write(actor) as (session, audit):
        user = _user_by_name(session, username)
        user.failed_logins = 0
        user.locked_until = None
        session.execute(delete(LoginThrottle).where(LoginThrottle.username_key == name_key))
        audit("user.unlock", "user", user.id, username=user.username)


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    role: str
    email: str | None
    active: bool
    locked: bool  # failed logins for this name make some source wait now (``unlock`` clears it)
    oidc_only: bool


def list_users(store: ReviewStore, actor: Actor) -> list[UserInfo]:
    actor.require("manage_users")
    now = utcnow()
    key = secret(store, "throttle_key")
    with store.read() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        delayed = set(session.scalars(select(LoginThrottle.username_key).where(LoginThrottle.next_allowed_at > now)))
        return [
            UserInfo(
                u.id,
                u.username,
                u.display_name,
                u.role,
                u.email,
                u.active,
                hmac.new(key, ("user:" + u.username.lower()).encode(), hashlib.sha256).hexdigest() in delayed,
                u.password_hash is None,
            )
            for u in users
        ]


def annotator_ids(store: ReviewStore, roles: tuple[str, ...] = ("annotator",)) -> list[int]:
    with store.read() as session:
        return list(
            session.scalars(select(User.id).where(User.role.in_(roles), User.active.is_(True)).order_by(User.id))
        )


def login(
    store: ReviewStore, username: str, password: str, settings: AuthSettings | None = None, source: str = ""
) -> str:
    """Check the password and open a session; returns the session token (keep it secret).

    ``source`` names where the attempt comes from (the client's IP address, as the app sees it): failures
    slow that source down (``AuthSettings``), they never lock the account. Every outcome a guesser can
    see is the same for a real and an unknown username: the same message, one argon2 verification each
    (a dummy hash for unknown names), one write. Names match case-insensitively, like their uniqueness.
    The slow argon2 check runs outside any transaction, so a login never holds the database's write lock.
    A failed attempt for an unknown name is audited without the name: people type passwords into the
    username box, and the audit log must never hold one.
    """
    settings = settings or AuthSettings()
    from argon2.exceptions import InvalidHashError, VerificationError

    keys = _throttle_keys(store, source, username)
    now = utcnow()
    wait = _throttle_wait(store, keys, now)
    if wait is not None:
        with store.write(Actor(None, "<unknown>", "annotator")) as (_, audit):
            audit("auth.login_throttled", "user", None, wait_s=round(wait.total_seconds()))
        raise AuthError(THROTTLED.format(seconds=max(1, math.ceil(wait.total_seconds()))))
    with store.read() as session:
        user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
        known = user is not None and user.password_hash is not None and user.active
        uid, name, role = (user.id, user.username, user.role) if user else (None, "<unknown>", "annotator")
        stored_hash = user.password_hash if (user and known) else None
    try:  # exactly one verification on every path, so timing does not reveal which names exist
        ok = bool(_hasher().verify(stored_hash or _dummy_hash(), password)) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        ok = False
    new_hash = hash_password(password) if ok and stored_hash and _hasher().check_needs_rehash(stored_hash) else None
    for attempt in range(3):
        try:
            token = _finish_login(store, Actor(uid, name if uid else "<unknown>", role), stored_hash, ok, new_hash,
                                  keys, settings)
            break
        except IntegrityError:  # two first failures from one source raced to create its throttle row
            if attempt == 2:
                raise
    if token is None:
        log.info("login failed%s", f" for user id {uid}" if known else " (unknown or inactive account)")
        raise AuthError(INVALID_LOGIN)
    return token


def _finish_login(
    store: ReviewStore,
    actor: Actor,
    stored_hash: str | None,
    ok: bool,
    new_hash: str | None,
    keys: tuple[str, str],
    settings: AuthSettings,
) -> str | None:
    """The write half of a login: a session on success, else one more failure for the source."""
    now = utcnow()
    source_key, name_key = keys
    with store.write(actor) as (session, audit):
        row = session.scalar(select(User).where(User.id == actor.id).with_for_update()) if actor.id else None
        if ok and row is not None and row.password_hash == stored_hash and row.active:  # not changed meanwhile
            if new_hash:
                row.password_hash = new_hash
            session.execute(delete(LoginThrottle).where(LoginThrottle.source_key == source_key,
                                                        LoginThrottle.username_key == name_key))
            token = _open_session(session, row, now, settings, "password")
            audit("auth.login", "user", actor.id)
            return token
        delays = []
        for uname_key, free in ((name_key, settings.free_failures), ("", settings.source_free_failures)):
            t = session.scalar(select(LoginThrottle).where(LoginThrottle.source_key == source_key,
                                                           LoginThrottle.username_key == uname_key).with_for_update())
            if t is None:
                t = LoginThrottle(source_key=source_key, username_key=uname_key, failures=0, last_failure_at=now)
                session.add(t)
            elif now - t.last_failure_at > settings.forget_after:
                t.failures = 0
            t.failures += 1
            t.last_failure_at = now
            delay = settings.delay_after(t.failures, free)
            t.next_allowed_at = now + delay if delay else None
            delays.append(delay)
        # Forget old failures, so names typed once (or an attacker's guesses) do not pile up for ever.
        session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - settings.forget_after))
        reason = "wrong password" if stored_hash is not None else "unknown or inactive account"
        audit("auth.login_failed", "user", actor.id, reason=reason, delay_s=round(max(delays).total_seconds()))
    return None


def _throttle_keys(store: ReviewStore, source: str, username: str) -> tuple[str, str]:
    """Keyed hashes of the source and the typed name (a typed name may be a password: never stored as is)."""
    key = secret(store, "throttle_key")

    def h(value: str) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    return h("source:" + source), h("user:" + username.strip().lower())


def _throttle_wait(store: ReviewStore, keys: tuple[str, str], now: datetime) -> timedelta | None:
    source_key, name_key = keys
    with store.read() as session:
        until = session.scalar(
            select(func.max(LoginThrottle.next_allowed_at)).where(
                LoginThrottle.source_key == source_key, LoginThrottle.username_key.in_((name_key, ""))
            )
        )
    return until - now if until is not None and until > now else None


def _live_session(session, token: str | None) -> tuple[AuthSession, User]:  # type: ignore[no-untyped-def]
    """The session row of a token and its user; AuthError when unknown, revoked or the account is inactive."""
    if not token:
        raise AuthError("please log in")
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
    return auth, user


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """How long a session has left, for a warning before it ends (read-only: looking does not extend it)."""

    actor: Actor
    ends_at: datetime  # naive UTC: the earlier of the idle deadline and the session's hard limit
    remaining: timedelta
    ends_by: str  # "idle" (activity extends it) or "limit" (max_session: log in again)
    warn: bool  # remaining <= settings.warn_before


def session_status(store: ReviewStore, token: str | None, settings: AuthSettings | None = None) -> SessionStatus:
    """The state of a session without touching it; raises AuthError like ``resume`` when it is over."""
    settings = settings or AuthSettings()
    now = utcnow()
    with store.read() as session:
        auth, user = _live_session(session, token)
    idle_end = auth.last_seen_at + settings.idle_timeout
    ends_at, ends_by = (idle_end, "idle") if idle_end < auth.expires_at else (auth.expires_at, "limit")
    remaining = ends_at - now
    if remaining <= timedelta(0):
        raise AuthError("your session expired; please log in again")
    return SessionStatus(Actor(user.id, user.username, user.role), ends_at, remaining, ends_by,
                         remaining <= settings.warn_before)


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
    now = utcnow()
    with store.read() as session:
        auth, user = _live_session(session, token)
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
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user
