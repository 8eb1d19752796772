"""The store on SQLite and PostgreSQL: migrations, the append-only audit log, verbatim storage."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from medswallow.errors import UserError
from medswallow.review import db
from medswallow.review.models import AuditEntry, Prompt
from medswallow.review.prompts import PromptRow, import_prompts
from medswallow.review.queue import AnnotationInput, assign, save_annotation
from medswallow.review.store import OPERATOR, ReviewStore

INJECTIONS = [
    "'; DROP TABLE annotations; --",
    "Robert'); DELETE FROM users WHERE ('1'='1",
    "1 OR 1=1",
    '" OR ""="',
    "\\'; SELECT pg_sleep(5); --",
    "%' UNION SELECT password_hash FROM users --",
    "\x00 null byte? no: \u202e right-to-left override",
]


def test_migration_creates_the_schema_at_head(store: ReviewStore):
    assert db.current_revision(store.engine) == db.head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"users", "auth_sessions", "prompt_sets", "prompts", "generations", "prescreen_flags", "assignments",
            "annotations", "adjudications", "audit_log", "alembic_version"} <= tables
    # Migrating again is a no-op.
    assert db.migrate(store.engine) == db.head_revision()


def test_audit_log_is_append_only_in_the_database(seeded, store: ReviewStore):
    with store.read() as session:
        n = session.scalar(select(func.count()).select_from(AuditEntry))
    assert n > 0
    for statement in (update(AuditEntry).values(action="tampered"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(statement)
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == n
        assert session.scalar(select(func.count()).where(AuditEntry.action == "tampered")) == 0


def test_every_write_is_audited_with_who_and_what(seeded, store: ReviewStore, taxonomy):
    ann = seeded.team.annotators[0]
    assign(store, seeded.team.admin, seeded.generation_ids[:2], [ann.id], k=1)
    with store.read() as session:
        from medswallow.review.models import Assignment

        aid = session.scalar(select(Assignment.id).where(Assignment.annotator_id == ann.id).order_by(Assignment.id))
    save_annotation(store, ann, aid, AnnotationInput("safe"), taxonomy)
    with store.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    actions = [r.action for r in rows]
    assert actions.count("user.create") == 5
    assert actions.count("generation.create") == len(seeded.generation_ids)
    assert "prompt_set.import" in actions and "assignment.create" in actions
    last = rows[-1]
    assert (last.action, last.actor_name, last.actor_id, last.entity_id is not None) == ("annotation.save", ann.username, ann.id, True)
    assert last.detail["verdict"] == "safe" and last.detail["assignment_id"] == aid
    assert all(r.at is not None for r in rows)


def test_a_failed_write_leaves_no_audit_entry(seeded, store: ReviewStore, taxonomy):
    with store.read() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(UserError):
        import_prompts(store, OPERATOR, "", [PromptRow("x", "q")])
    with pytest.raises(UserError, match="already exists"):
        from medswallow.review.auth import add_user

        add_user(store, OPERATOR, "ann1", "annotator", "another-password-123")
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_sql_injection_strings_are_stored_verbatim(store: ReviewStore, taxonomy):
    from medswallow.review.auth import add_user
    from medswallow.review.models import User

    # PostgreSQL text cannot hold NUL; everything else must round-trip exactly.
    payloads = [p.replace("\x00", "") for p in INJECTIONS]
    for i, payload in enumerate(payloads):
        import_prompts(store, OPERATOR, payload, [PromptRow(f"q{i}", payload, "en", payload, reviewer_notes=payload)])
        add_user(store, OPERATOR, f"nurse{i}", "annotator", "long-enough-password", display_name=payload)
    with store.read() as session:
        prompts = session.scalars(select(Prompt).order_by(Prompt.id)).all()
        assert [(p.text, p.topic, p.reviewer_notes, p.prompt_set.name) for p in prompts] == [(x, x, x, x) for x in payloads]
        assert list(session.scalars(select(User.display_name).order_by(User.id))) == payloads
        # Every table is still there and nothing was deleted.
        assert session.execute(text("SELECT COUNT(*) FROM annotations")).scalar() == 0
        assert session.execute(text("SELECT COUNT(*) FROM users")).scalar() == len(payloads)


def test_opening_a_missing_or_empty_database_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="init-db"):
        ReviewStore.open(str(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    with pytest.raises(UserError, match="init-db"):
        ReviewStore.open(str(empty))


def test_sqlite_uses_wal(sqlite_store: ReviewStore):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("review.db", "sqlite:///review.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_urls_are_normalised(url, expected):
    assert db.normalise_url(url) == expected


def test_passwords_in_urls_are_hidden():
    assert "s3cret" not in db.redact_url("postgresql+psycopg://u:s3cret@h/db")
    with pytest.raises(UserError, match="only SQLite and PostgreSQL"):
        db.make_engine("mysql://u:s3cret@h/db")
