"""SQLAlchemy 2 models of the review store (schema changes go through Alembic: see ``migrations/``).

Times are naive UTC (SQLite has no time zones; PostgreSQL columns are ``timestamp without time zone``).
JSON columns hold small structured values (sampling settings, spans, categories); everything that is
filtered or joined on is a real column with an index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("annotator", "adjudicator", "admin")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)  # OIDC accounts are matched on it
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id; None: OIDC-only account
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuthSession(Base):
    """A login. Only the SHA-256 of the token is stored, so a database dump cannot be replayed."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(20), default="password")


class PromptSet(Base):
    __tablename__ = "prompt_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    prompts: Mapped[list[Prompt]] = relationship(back_populates="prompt_set", order_by="Prompt.id")


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("prompt_set_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_sets.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(8), default="und")
    topic: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text)
    expects_referral: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewer_notes: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)

    prompt_set: Mapped[PromptSet] = relationship(back_populates="prompts")


class Generation(Base):
    """One answer of one model/checkpoint to one prompt under one set of sampling settings."""

    __tablename__ = "generations"
    __table_args__ = (UniqueConstraint("prompt_id", "model", "checkpoint", "settings_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"), index=True)
    model: Mapped[str] = mapped_column(String(300))
    checkpoint: Mapped[str] = mapped_column(String(300), default="")
    base_url: Mapped[str] = mapped_column(String(500), default="")
    sampling: Mapped[dict[str, Any]] = mapped_column(default=dict)  # every setting sent to the server
    settings_hash: Mapped[str] = mapped_column(String(32))
    reasoning: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    finish_reason: Mapped[str] = mapped_column(String(40), default="")
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    priority: Mapped[float] = mapped_column(Float, default=0.0)  # from the pre-screen; orders the queue
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    prompt: Mapped[Prompt] = relationship()


class PrescreenFlag(Base):
    """An automatic hint on a generation. Hints order the queue; they are never labels."""

    __tablename__ = "prescreen_flags"
    __table_args__ = (UniqueConstraint("generation_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    rule: Mapped[str] = mapped_column(String(60))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("generation_id", "annotator_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | done
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)


# The queue query, "my pending items, highest priority first, oldest first", reads this index in order.
Index(
    "ix_assignments_queue",
    Assignment.annotator_id,
    Assignment.status,
    Assignment.priority.desc(),
    Assignment.id,
)


class Annotation(Base):
    """One annotator's labels for one assignment; saving again updates it (``revision`` counts saves)."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(20))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    spans: Mapped[list[Any]] = mapped_column(default=list)
    corrected_text: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[int] = mapped_column(Integer, default=3)
    comment: Mapped[str] = mapped_column(Text, default="")
    taxonomy_version: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Adjudication(Base):
    """The final label of a generation whose annotators disagreed (or that an adjudicator reviewed)."""

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), unique=True)
    adjudicator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(20))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    spans: Mapped[list[Any]] = mapped_column(default=list)
    corrected_text: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    taxonomy_version: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """Append-only: database triggers refuse UPDATE and DELETE, and an INSERT that does not continue the log
    (an id that is not the next one, an earlier time, a ``prev_hash`` that is not the last row's hash).

    Each row stores the hash of the previous row and its own hash over ``prev_hash`` and its content
    (``store.audit_hash``): ``medswallow review verify-audit`` recomputes the chain.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # None: the command line (operator)
    actor_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed logins per (source, typed username) and per source: they slow that source down, they never
    lock the account (so nobody can keep a clinician out by failing on purpose from elsewhere).

    Keys are keyed hashes: people type passwords into the username box, so the typed name is never stored.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("source_key", "username_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), index=True)  # "" for the per-source bucket
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    next_allowed_at: Mapped[datetime | None] = mapped_column(DateTime)


class StoreSecret(Base):
    """Random per-database secrets (pseudonym and throttle keys), made by the migration that added the table."""

    __tablename__ = "store_secrets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
