"""The audit log is append-only in fact: tampering through SQL fails on SQLite and PostgreSQL, and what
happens around the database (someone with the file) breaks the hash chain that verify-audit checks."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from medswallow.cli import main
from medswallow.review import auditlog
from medswallow.review.auth import add_user
from medswallow.review.models import AuditEntry
from medswallow.review.store import OPERATOR, ReviewStore, secure_pg_audit_log, verify_audit

from .conftest import PASSWORD, pg_url

COLUMNS = "id, at, actor_id, actor_name, action, entity, entity_id, detail, prev_hash, row_hash"


def _fill(store: ReviewStore, n: int = 3) -> None:
    for i in range(n):
        add_user(store, OPERATOR, f"user{i}", "annotator", PASSWORD)


def _last(store: ReviewStore) -> AuditEntry:
    with store.read() as session:
        row = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert row is not None
    return row


def _forged(store: ReviewStore, **change) -> dict:  # type: ignore[no-untyped-def]
    """A row that continues the log correctly (next id, now, the last hash), then ``change`` applied."""
    last = _last(store)
    row = {"id": last.id + 1, "at": last.at + timedelta(seconds=1), "actor_id": None, "actor_name": "mallory",
           "action": "user.create", "entity": "user", "entity_id": None, "detail": {}}
    row.update(change)
    prev = change.get("prev_hash", last.row_hash)
    fields = {k: row[k] for k in ("id", "at", "actor_id", "actor_name", "action", "entity", "entity_id", "detail")}
    return {**row, "prev_hash": prev, "row_hash": auditlog.audit_hash(prev, **fields), "detail": "{}"}


def _insert(conn, row: dict, verb: str = "INSERT INTO", tail: str = "") -> None:  # type: ignore[no-untyped-def]
    names = COLUMNS.split(", ")
    conn.execute(text(f"{verb} audit_log ({COLUMNS}) VALUES ({', '.join(':' + n for n in names)}) {tail}"), row)


def _count(store: ReviewStore) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": 1}, "ids must increase"),  # over an existing row
        ({"id": -5}, "ids must increase"),  # before the first row
        ({"at_shift": -timedelta(days=3)}, "back-dated"),
        ({"prev_hash": "f" * 64}, "hash chain"),
    ],
)
def test_inserts_that_do_not_continue_the_log_fail(store: ReviewStore, change, message):
    _fill(store)
    n = _count(store)
    shift = change.pop("at_shift", None)
    if shift is not None:
        change["at"] = _last(store).at + shift
    with pytest.raises(DBAPIError, match=message), store.engine.begin() as conn:
        _insert(conn, _forged(store, **change))
    assert _count(store) == n and verify_audit(store).ok


def test_a_row_that_continues_the_log_is_accepted(store: ReviewStore):
    """The guard is exact, not a blanket refusal: a correct next row goes in and the chain still checks out."""
    _fill(store, 1)
    with store.engine.begin() as conn:
        _insert(conn, _forged(store))
    assert verify_audit(store).ok
    add_user(store, OPERATOR, "after", "annotator", PASSWORD)  # the app continues after it
    assert verify_audit(store).ok


def test_replace_and_upsert_cannot_rewrite_rows(store: ReviewStore):
    _fill(store)
    n, first = _count(store), _first(store)
    row = _forged(store, id=first.id, action="tampered")
    if store.engine.dialect.name == "sqlite":
        attempts = [("REPLACE INTO", ""), ("INSERT OR REPLACE INTO", ""),
                    ("INSERT INTO", "ON CONFLICT(id) DO UPDATE SET action = excluded.action")]
    else:
        attempts = [("INSERT INTO", "ON CONFLICT (id) DO UPDATE SET action = excluded.action")]
    for verb, tail in attempts:
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            _insert(conn, row, verb, tail)
    assert _count(store) == n and _first(store).action == first.action and verify_audit(store).ok


def _first(store: ReviewStore) -> AuditEntry:
    with store.read() as session:
        row = session.scalar(select(AuditEntry).order_by(AuditEntry.id).limit(1))
    assert row is not None
    return row


def test_the_app_cannot_drop_or_alter_the_guards_on_sqlite(sqlite_store: ReviewStore):
    _fill(sqlite_store)
    for statement in (
        "DROP TRIGGER audit_log_no_update",
        "DROP TRIGGER audit_log_no_delete",
        "DROP TRIGGER audit_log_insert_guard",
        "DROP TABLE audit_log",
        "ALTER TABLE audit_log RENAME TO old_log",
        "ALTER TABLE audit_log ADD COLUMN x INTEGER",
        "PRAGMA writable_schema = ON",
    ):
        with pytest.raises(DBAPIError, match="not authorized"), sqlite_store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with sqlite_store.engine.begin() as conn:  # everything else still works on the same connections
        conn.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
        conn.exec_driver_sql("DROP TABLE scratch")
    assert verify_audit(sqlite_store).ok


# ---- tampering around the database: the hash chain finds the first broken row --------------------


def _raw(store: ReviewStore) -> sqlite3.Connection:
    """A plain sqlite3 shell on the file (no app authorizer), triggers dropped: someone with the file."""
    conn = sqlite3.connect(make_url(str(store.engine.url)).database or "")
    for trig in ("audit_log_no_update", "audit_log_no_delete", "audit_log_insert_guard"):
        conn.execute(f"DROP TRIGGER {trig}")
    return conn


def test_verify_audit_names_the_first_edited_or_removed_row(sqlite_store: ReviewStore, capsys):
    _fill(sqlite_store, 4)
    rep = verify_audit(sqlite_store)
    assert rep.ok and rep.rows == _count(sqlite_store)
    head = (rep.head_id, rep.head_hash)
    ids = [r.id for r in _rows(sqlite_store)]
    conn = _raw(sqlite_store)
    with conn:
        conn.execute("UPDATE audit_log SET detail = ? WHERE id = ?", ('{"username": "someone-else"}', ids[3]))
    bad = verify_audit(sqlite_store)
    assert (bad.ok, bad.broken_id, bad.head_id) == (False, ids[3], ids[2]) and "edited" in bad.problem
    db = make_url(str(sqlite_store.engine.url)).database or ""
    code = main(["review", "verify-audit", "--db", db])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert code == 1 and f"broken at row {ids[3]}" in out and "edited" in out
    with conn:
        conn.execute("DELETE FROM audit_log WHERE id >= ?", (ids[3],))
    assert verify_audit(sqlite_store).ok  # a cut tail leaves a valid chain...
    cut = verify_audit(sqlite_store, head)  # ...which the head recorded earlier exposes
    assert not cut.ok and "truncated" in cut.problem
    with conn:
        conn.execute("DELETE FROM audit_log WHERE id = ?", (ids[1],))
    gap = verify_audit(sqlite_store)
    assert (gap.ok, gap.broken_id) == (False, ids[2]) and "removed" in gap.problem
    conn.close()


def _rows(store: ReviewStore) -> list[AuditEntry]:
    with store.read() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_the_clock_stepping_back_never_back_dates_the_log(sqlite_store: ReviewStore, monkeypatch):
    from medswallow.review import store as store_mod

    _fill(sqlite_store, 1)
    last = _last(sqlite_store)
    monkeypatch.setattr(store_mod, "utcnow", lambda: last.at - timedelta(hours=1))
    add_user(sqlite_store, OPERATOR, "late", "annotator", PASSWORD)
    assert _last(sqlite_store).at == last.at and verify_audit(sqlite_store).ok


def test_migrating_an_old_database_chains_its_existing_rows(tmp_path: Path):
    from medswallow.review import db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.make_engine(url)
    db.migrate(engine, "0001")
    with engine.begin() as conn:  # rows written by the old code (no hashes)
        for i in range(3):
            conn.execute(text("INSERT INTO audit_log (at, actor_name, action, entity, detail) "
                              "VALUES (:at, 'cli', 'user.create', 'user', '{}')"),
                         {"at": f"2026-11-2{i} 10:00:00.000000"})
    db.migrate(engine)
    store = ReviewStore(engine)
    rows = _rows(store)
    assert [r.action for r in rows][-1] == auditlog.CHAIN_START and rows[-1].detail == {"legacy_rows": 3}
    add_user(store, OPERATOR, "new", "annotator", PASSWORD)
    assert verify_audit(store).ok and verify_audit(store).rows == 5


# ---- PostgreSQL: the app's role cannot touch the table it does not own ----------------------------


@pytest.fixture
def pg_app_store() -> Iterator[tuple[ReviewStore, str, str, str]]:
    """A review database whose tables the app's own (non-superuser) role created, secured afterwards."""
    import psycopg

    base = make_url(pg_url())
    tag = uuid.uuid4().hex[:10]
    dbname, app, owner = f"audit_{tag}", f"review_app_{tag}", f"audit_owner_{tag}"

    def su(database: str | None = None) -> str:
        return base.set(drivername="postgresql", database=database or base.database).render_as_string(hide_password=False)

    with psycopg.connect(su(), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{app}" LOGIN')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    with psycopg.connect(su(dbname), autocommit=True) as conn:
        conn.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{app}"')
    app_url = base.set(username=app, database=dbname).render_as_string(hide_password=False)
    admin_url = base.set(database=dbname).render_as_string(hide_password=False)
    store = ReviewStore.open(app_url, create=True, pool_size=2)
    try:
        yield store, admin_url, app, owner
    finally:
        store.close()
        with psycopg.connect(su(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{app}"')
            conn.execute(f'DROP ROLE IF EXISTS "{owner}"')


@pytest.mark.postgres
def test_the_app_role_cannot_rewrite_or_unguard_the_log_on_postgres(pg_app_store, capsys):
    store, admin_url, app, owner = pg_app_store
    _fill(store)
    from sqlalchemy import create_engine

    admin = create_engine(admin_url)
    with admin.connect() as conn:  # before the setup, the app owns its audit log: reported, not hidden
        assert any("belongs to" in p for p in auditlog.pg_role_problems(conn, app, owner))
    assert secure_pg_audit_log(admin_url, app, owner) == []
    assert secure_pg_audit_log(admin_url, app, owner) == []  # running it again changes nothing
    with admin.connect() as conn:
        assert conn.exec_driver_sql("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'").scalar() == owner
    admin.dispose()
    n = _count(store)
    first = _first(store)
    for statement, message in (
        ("UPDATE audit_log SET action = 'tampered'", "permission denied"),
        ("DELETE FROM audit_log", "permission denied"),
        ("TRUNCATE audit_log", "permission denied"),
        ("DROP TRIGGER audit_log_append_only ON audit_log", "must be owner"),
        ("DROP TRIGGER audit_log_insert_guard ON audit_log", "must be owner"),
        ("ALTER TABLE audit_log DISABLE TRIGGER ALL", "must be owner"),
        ("DROP TABLE audit_log", "must be owner"),
        ("DROP FUNCTION audit_log_insert_guard() CASCADE", "must be owner"),
        ("CREATE OR REPLACE FUNCTION audit_log_insert_guard() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ "
         "LANGUAGE plpgsql", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),
        ("ALTER SCHEMA public RENAME TO elsewhere", "must be owner"),
    ):
        with pytest.raises(DBAPIError, match=message), store.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    for change, message in (({"id": first.id}, "ids must increase"),
                            ({"at": first.at - timedelta(days=1)}, "back-dated")):
        with pytest.raises(DBAPIError, match=message), store.engine.begin() as conn:
            _insert(conn, _forged(store, **change))
    with pytest.raises(DBAPIError, match="permission denied"), store.engine.begin() as conn:
        _insert(conn, _forged(store, id=first.id), tail="ON CONFLICT (id) DO UPDATE SET action = 'tampered'")
    assert _count(store) == n and _first(store).action == first.action
    add_user(store, OPERATOR, "still-works", "annotator", PASSWORD)  # the app itself goes on appending
    assert verify_audit(store).ok and _count(store) == n + 1
    code = main(["review", "secure-audit-log", "--app-role", app, "--owner-role", owner, "--print-sql"])
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert code == 0 and f'GRANT SELECT, INSERT ON "public".audit_log TO "{app}";' in printed
