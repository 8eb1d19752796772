"""Operating the review store: backups under a live writer, clear errors for damaged or newer databases,
passwords kept off the command line, text from the database printed literally."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from medswallow.cli import main
from medswallow.errors import UserError
from medswallow.review.auth import add_user
from medswallow.review.backup import backup_sqlite
from medswallow.review.models import AuditEntry, User
from medswallow.review.store import OPERATOR, ReviewStore, verify_audit

from .conftest import PASSWORD, seed


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _db(store: ReviewStore) -> str:
    from sqlalchemy.engine import make_url

    return make_url(str(store.engine.url)).database or ""


def test_backup_is_consistent_while_the_app_writes(sqlite_store: ReviewStore, tmp_path: Path, capsys):
    add_user(sqlite_store, OPERATOR, "first", "annotator", PASSWORD)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:  # the app goes on creating accounts (each with its audit entry) during the backups
        i = 0
        while not stop.is_set():
            add_user(sqlite_store, OPERATOR, f"w{i}", "annotator", PASSWORD)
            written.append(i)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:  # the writer is really running before the first backup starts
            stop.wait(0.01)
        reports = [backup_sqlite(sqlite_store, tmp_path / f"b{k}.db") for k in range(3)]
    finally:
        stop.set()
        thread.join()
    for rep in reports:
        with sqlite3.connect(rep.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        copy = ReviewStore.open(str(rep.path))
        with copy.read() as session:
            users = session.scalar(select(func.count()).select_from(User))
            audited = session.scalar(select(func.count()).where(AuditEntry.action == "user.create"))
        chain = verify_audit(copy)
        copy.close()
        assert users == audited >= 6  # every account with its audit entry: one snapshot, nothing half-seen
        assert chain.ok and f"{chain.head_id}:{chain.head_hash}" == rep.audit_head
    # Work still in the WAL (not yet checkpointed into the main file) is in the backup.
    with sqlite_store.read() as session:
        n_now = session.scalar(select(func.count()).select_from(User))
    code, out = run(capsys, "review", "backup", str(tmp_path / "cli.db"), "--db", _db(sqlite_store))
    assert code == 0 and "integrity ok" in out and "--expect-head" in out
    with sqlite3.connect(tmp_path / "cli.db") as raw:
        assert raw.execute("SELECT count(*) FROM users").fetchone()[0] == n_now
    code, out = run(capsys, "review", "backup", str(tmp_path / "cli.db"), "--db", _db(sqlite_store))
    assert code == 2 and "already exists" in out  # never overwrites


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path):
    from medswallow.review.backup import pg_dump_advice

    advice = pg_dump_advice("postgresql+psycopg://app:***@db.example/review")
    assert "pg_dump --format=custom" in advice and "pg_restore" in advice


def test_a_damaged_or_foreign_file_gives_one_clear_line(tmp_path: Path, capsys):
    bad = tmp_path / "review.db"
    bad.write_bytes(b"this is not a database\n" * 200)
    code, out = run(capsys, "review", "users", "--db", str(bad))
    assert code == 2 and "Traceback" not in out
    assert "not a review database, or a damaged one" in out and "medswallow review backup" in out
    assert len(out.strip().splitlines()) <= 2


def test_a_newer_schema_says_upgrade_medswallow_not_migrate(sqlite_store: ReviewStore, capsys):
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    for command in ("users", "migrate"):
        code, out = run(capsys, "review", command, "--db", _db(sqlite_store))
        assert code == 2 and "Traceback" not in out, out
        assert "newer than this version of medswallow" in out and "pip install -U medswallow" in out


def test_a_password_in_db_is_warned_about_and_never_shown(tmp_path: Path, capsys, monkeypatch):
    code, out = run(capsys, "review", "users", "--db", "postgresql://app:S3cret-Pw@127.0.0.1:1/review")
    assert "visible to other users" in out and "S3cret-Pw" not in out and code == 2  # nothing listens there
    # The same URL from a file or the environment: no warning, same database.
    db = tmp_path / "r.db"
    assert run(capsys, "review", "init-db", "--db", str(db))[0] == 0
    url_file = tmp_path / "db-url"
    url_file.write_text(f"# the review database\nsqlite:///{db}\n")
    code, out = run(capsys, "review", "users", "--db", f"@{url_file}")
    assert code == 0 and "visible" not in out
    monkeypatch.setenv("MEDSWALLOW_REVIEW_DB_FILE", str(url_file))
    monkeypatch.delenv("MEDSWALLOW_REVIEW_DB", raising=False)
    code, out = run(capsys, "review", "users")
    assert code == 0 and "visible" not in out
    code, out = run(capsys, "review", "users", "--db", f"@{tmp_path / 'missing'}")
    assert code == 2 and "cannot read the database URL file" in out


def test_stats_prints_model_names_with_brackets_literally(sqlite_store: ReviewStore, capsys):
    seed(sqlite_store, models=("[/]", "med[bold]x[/bold]"))
    code, out = run(capsys, "review", "stats", "--db", _db(sqlite_store))
    assert code == 0, out
    assert "[/]" in out and "med[bold]x[/bold]" in out


def test_url_file_errors_are_user_errors(tmp_path: Path):
    from medswallow.review.db import read_url_file

    empty = tmp_path / "empty"
    empty.write_text("# nothing\n\n")
    with pytest.raises(UserError, match="no database URL"):
        read_url_file(str(empty))
