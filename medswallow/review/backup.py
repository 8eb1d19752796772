"""``medswallow review backup``: a consistent copy of a live SQLite review database.

Copying ``review.db`` with ``cp`` while the app runs loses whatever is still in ``review.db-wal`` (recent
work) and can catch a page mid-write. SQLite's online backup API copies the database as one snapshot
taken inside a read transaction: the WAL's committed pages included, writers not blocked (WAL lets them
go on) and not half-seen. PostgreSQL has its own tool for this: ``pg_dump``.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from medswallow.errors import UserError
from medswallow.review.store import ReviewStore


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    bytes: int
    revision: str
    audit_head: str  # ID:HASH of the last audit row in the copy (verify-audit --expect-head)


def pg_dump_advice(url: str) -> str:
    return (
        f"{url} is PostgreSQL: back it up with pg_dump, e.g.\n"
        f"  pg_dump --format=custom --file review-$(date +%F).dump '{url}'\n"
        "(the password from ~/.pgpass or $PGPASSWORD, not the command line); restore with pg_restore --dbname URL FILE"
    )


def backup_sqlite(store: ReviewStore, out: str | Path) -> BackupReport:
    """Write a consistent copy of ``store`` to ``out`` (a new file), check it, and describe it."""
    url = make_url(str(store.engine.url))
    if url.get_backend_name() != "sqlite":
        raise UserError(pg_dump_advice(store.url))
    source = url.database
    if not source or source == ":memory:":
        raise UserError("an in-memory database has nothing to back up")
    target = Path(out).expanduser()
    if target.exists():
        raise UserError(f"{target}: already exists; choose a new file name (a backup never overwrites)")
    if Path(source).expanduser().resolve() == target.resolve():
        raise UserError(f"{target}: that is the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        raise UserError(f"{partial}: a backup is in progress or was interrupted; remove that file and retry")
    src = sqlite3.connect(Path(source).expanduser(), timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            # pages=-1: the whole database in one step, i.e. one read snapshot (a stepwise copy restarts
            # whenever another connection writes, and may never finish under a steady writer).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise UserError(f"{target}: the copy fails SQLite's integrity check ({check}); the source may be damaged")
            revision = dst.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            last = dst.execute("SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)  # our own unfinished file only
        raise
    finally:
        src.close()
    os.replace(partial, target)
    head = f"{last[0]}:{last[1]}" if last else "0:" + "0" * 64
    return BackupReport(target, target.stat().st_size, str(revision), head)
