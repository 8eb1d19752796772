"""The review store: sessions, the acting user, role checks and the audit log every write goes through.

Every write happens in ``store.write(actor)``: one transaction that also appends an audit entry
(who, when, what) — the change and its audit entry commit together or not at all. Roles are checked
here, in the logic layer, so a hidden button is never the only thing between a user and an action.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from medswallow.errors import UserError
from medswallow.review import auditlog, db
from medswallow.review.models import ROLES, AuditEntry, StoreSecret, utcnow

log = logging.getLogger("medswallow.review")

# What each role may do. Annotating also requires owning the assignment (checked where it is loaded).
PERMISSIONS: dict[str, frozenset[str]] = {
    "annotate": frozenset({"annotator", "adjudicator", "admin"}),
    "adjudicate": frozenset({"adjudicator", "admin"}),
    "view_all_labels": frozenset({"adjudicator", "admin"}),
    "dashboard": frozenset({"adjudicator", "admin"}),
    "manage_users": frozenset({"admin"}),
    "manage_prompts": frozenset({"admin"}),
    "generate": frozenset({"admin"}),
    "assign": frozenset({"admin"}),
    "prescreen": frozenset({"admin"}),
    "export": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}


class PermissionDenied(UserError):
    """The acting user's role does not allow the action (or the item is not theirs)."""


class NotFound(UserError):
    """The requested record does not exist (or is not visible to the acting user)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a logged-in user, or the operator at the command line (``id`` None)."""

    id: int | None
    username: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise UserError(f"unknown role {self.role!r} (valid: {', '.join(ROLES)})")

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            log.info("permission denied: user=%s role=%s action=%s", self.username, self.role, permission)
            raise PermissionDenied(f"role '{self.role}' may not {permission.replace('_', ' ')}")


OPERATOR = Actor(id=None, username="cli", role="admin")
"""The person running ``medswallow review`` subcommands on the server (has shell access to the database)."""


@dataclass
class Audit:
    """Collects the audit entries of one write transaction; ``append`` chains them in at its end."""

    session: Session
    actor: Actor
    entries: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, action: str, entity: str, entity_id: int | None, **detail: Any) -> None:
        self.entries.append(
            {
                "actor_id": self.actor.id,
                "actor_name": self.actor.username,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "detail": auditlog.canonical_detail(detail),
            }
        )

    def append(self) -> None:
        """Add the entries after the log's last row: next id, no earlier time, the previous row's hash.

        Runs last in the transaction, under the write lock (SQLite's BEGIN IMMEDIATE; on PostgreSQL an
        advisory lock held to commit), so concurrent writers extend one chain instead of forking it.
        """
        from sqlalchemy import select

        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": auditlog.PG_LOCK_KEY})
        last = self.session.execute(
            select(AuditEntry.id, AuditEntry.at, AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
        last_id, last_at, prev = (last.id, last.at, last.row_hash) if last else (0, None, auditlog.GENESIS)
        for values in self.entries:
            at = utcnow()
            if last_at is not None and at < last_at:
                at = last_at  # the clock stepped back: the log's time never does
            last_id += 1
            row = {"id": last_id, "at": at, **values}
            row_hash = auditlog.audit_hash(prev or auditlog.GENESIS, **row)
            self.session.add(AuditEntry(**row, prev_hash=prev or auditlog.GENESIS, row_hash=row_hash))
            prev, last_at = row_hash, at
        self.session.flush()


class ReviewStore:
    """A handle on one review database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(db.writer(engine), expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, create: bool = False, pool_size: int = 10) -> ReviewStore:
        """Open the database at ``url``; ``create`` migrates it to the latest schema first."""
        if not create:
            db.require_existing_file(url)
        engine = db.make_engine(url, pool_size=pool_size)
        if create:
            db.migrate(engine)
        else:
            db.check_schema(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        return db.redact_url(str(self.engine.url))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self, actor: Actor) -> Iterator[tuple[Session, Audit]]:
        """One transaction; the caller records what it did with ``audit(action, entity, id, **detail)``."""
        with self._write() as session, session.begin():
            audit = Audit(session, actor)
            yield session, audit
            if not audit.entries:
                raise RuntimeError("every write must append an audit entry")
            audit.append()

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: Any
    actor: str
    action: str
    entity: str
    entity_id: int | None
    detail: dict[str, Any]


def audit_entries(store: ReviewStore, actor: Actor, limit: int = 200, action: str | None = None) -> list[AuditView]:
    """The newest audit entries (admins only)."""
    from sqlalchemy import select

    actor.require("audit")
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        q = q.where(AuditEntry.action == action)
    with store.read() as session:
        return [AuditView(e.id, e.at, e.actor_name, e.action, e.entity, e.entity_id, dict(e.detail)) for e in session.scalars(q)]


def secret(store: ReviewStore, name: str) -> bytes:
    """A random per-database secret (created by the migration that added them)."""
    with store.read() as session:
        row = session.get(StoreSecret, name)
    if row is None:
        raise UserError(f"{store.url}: the database has no {name!r}; upgrade it with: medswallow review migrate")
    return bytes.fromhex(row.value)


def verify_audit(store: ReviewStore, expect_head: tuple[int, str] | None = None) -> auditlog.ChainReport:
    """Recompute the audit log's hash chain (the whole log, in id order, streamed)."""
    from sqlalchemy import select

    with store.read() as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=2000)).scalars()
        return auditlog.verify_chain(iter(rows), expect_head)


def secure_pg_audit_log(admin_url: str, app_role: str, owner_role: str = auditlog.DEFAULT_OWNER_ROLE) -> list[str]:
    """Run ``auditlog.pg_owner_statements`` as an admin on the review database, then report what (if
    anything) still lets ``app_role`` rewrite the log."""
    engine = db.make_engine(admin_url, pool_size=1)
    if engine.dialect.name != "postgresql":
        raise UserError("secure-audit-log is for PostgreSQL; on SQLite the triggers, the app's authorizer and the hash chain apply")
    try:
        with engine.begin() as conn:
            for statement in auditlog.pg_owner_statements(app_role, owner_role):
                conn.exec_driver_sql(statement)
        with engine.connect() as conn:
            return auditlog.pg_role_problems(conn, app_role, owner_role)
    except DBAPIError as exc:  # one line, and the URL without its password
        raise UserError(f"{db.redact_url(admin_url)}: {str(exc.orig).splitlines()[0]}") from None
    finally:
        engine.dispose()
