"""Audit log hash chain and insert guard; login throttling per source; per-database secrets.

Existing audit rows are hashed in id order as they are (the triggers are lifted for that one backfill),
then a ``audit.chain_start`` row marks where time order is guaranteed from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:10:00
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

from medswallow.review import auditlog

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_AUDIT = sa.table(
    "audit_log",
    sa.column("id", sa.Integer), sa.column("at", sa.DateTime), sa.column("actor_id", sa.Integer),
    sa.column("actor_name", sa.String), sa.column("action", sa.String), sa.column("entity", sa.String),
    sa.column("entity_id", sa.Integer), sa.column("detail", sa.JSON), sa.column("prev_hash", sa.String),
    sa.column("row_hash", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    # Plain ALTER TABLE ADD COLUMN (not batch mode): a SQLite table rebuild would drop the triggers.
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("row_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key", "username_key"),
    )
    op.create_index("ix_login_throttle_username_key", "login_throttle", ["username_key"])
    secrets_table = op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(secrets_table, [
        {"name": "pseudonym_key", "value": secrets.token_hex(32)},
        {"name": "throttle_key", "value": secrets.token_hex(32)},
    ])

    # Backfill the chain over the rows already there (UPDATE is refused by the trigger: lift it briefly).
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    prev, last_id, last_at, n = auditlog.GENESIS, 0, None, 0
    for row in bind.execute(sa.select(_AUDIT).order_by(_AUDIT.c.id)):
        h = auditlog.row_hash_of(row, prev)
        bind.execute(sa.update(_AUDIT).where(_AUDIT.c.id == row.id).values(prev_hash=prev, row_hash=h))
        prev, last_id, last_at, n = h, row.id, row.at, n + 1
    if dialect == "sqlite":
        op.execute("""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
        op.execute(auditlog.SQLITE_INSERT_GUARD)
    elif dialect == "postgresql":
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        op.execute(auditlog.PG_INSERT_GUARD_FUNCTION)
        op.execute(auditlog.PG_INSERT_GUARD_TRIGGER)

    from medswallow.review.models import utcnow

    now = max(utcnow(), last_at) if last_at else utcnow()
    detail = {"legacy_rows": n}
    values: dict[str, Any] = dict(id=last_id + 1, at=now, actor_id=None, actor_name="migration", action=auditlog.CHAIN_START,
                  entity="audit_log", entity_id=None, detail=detail)
    bind.execute(sa.insert(_AUDIT).values(**values, prev_hash=prev, row_hash=auditlog.audit_hash(prev, **values)))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_guard")
        op.execute("ALTER TABLE audit_log DROP COLUMN row_hash")
        op.execute("ALTER TABLE audit_log DROP COLUMN prev_hash")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_guard ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_insert_guard()")
        op.drop_column("audit_log", "row_hash")
        op.drop_column("audit_log", "prev_hash")
    op.drop_table("store_secrets")
    op.drop_index("ix_login_throttle_username_key", table_name="login_throttle")
    op.drop_table("login_throttle")
