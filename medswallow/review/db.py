"""Database engines and migrations of the review store: SQLite (WAL) by default, PostgreSQL by URL.

SQLite notes: WAL lets readers run while one writer writes; write transactions start with
``BEGIN IMMEDIATE`` so two writers never both hold a read lock and then deadlock on the upgrade
(which SQLite reports as "database is locked" regardless of the busy timeout).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, OperationalError

from medswallow.errors import UserError

DEFAULT_DB_URL = "sqlite:///medswallow-review.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def default_db_url() -> str:
    """``$MEDSWALLOW_REVIEW_DB``, else the URL in the file ``$MEDSWALLOW_REVIEW_DB_FILE``, else the default file."""
    if os.environ.get("MEDSWALLOW_REVIEW_DB"):
        return os.environ["MEDSWALLOW_REVIEW_DB"]
    if os.environ.get("MEDSWALLOW_REVIEW_DB_FILE"):
        return read_url_file(os.environ["MEDSWALLOW_REVIEW_DB_FILE"])
    return DEFAULT_DB_URL


def read_url_file(path: str) -> str:
    """The first non-empty line of ``path`` (a URL with a password kept out of argv and ``ps``)."""
    try:
        lines = [x.strip() for x in Path(path).expanduser().read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise UserError(f"{path}: cannot read the database URL file ({exc.strerror})") from None
    url = next((x for x in lines if x and not x.startswith("#")), "")
    if not url:
        raise UserError(f"{path}: no database URL in the file (one line, e.g. postgresql://USER:PASSWORD@HOST/DB)")
    return url


def resolve_cli_url(url: str | None) -> str | None:
    """What ``--db`` means: ``@FILE`` reads the URL from FILE; a URL with a password works but is visible to
    every user of the machine in ``ps``, so it earns a warning (never the password itself)."""
    if url is None:
        return None
    if url.startswith("@"):
        return read_url_file(url[1:])
    try:
        has_password = "://" in url and make_url(normalise_url(url)).password is not None
    except ArgumentError:
        has_password = False
    if has_password:
        import sys

        print(
            f"warning: the password in --db {redact_url(normalise_url(url))} is visible to other users (ps); "
            "use --db @FILE, $MEDSWALLOW_REVIEW_DB, $MEDSWALLOW_REVIEW_DB_FILE or ~/.pgpass instead",
            file=sys.stderr,
        )
    return url


def normalise_url(url: str) -> str:
    """Accept a bare file path for SQLite and plain ``postgresql://`` (use psycopg 3, which is installed)."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The URL with its password hidden (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def make_engine(url: str | None = None, pool_size: int = 10) -> Engine:
    raw = normalise_url(url or default_db_url())
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise UserError(
            f"{redact_url(raw)}: not a database URL; use a file path, sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(raw)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(raw, pool_pre_ping=True, pool_size=pool_size, max_overflow=2 * pool_size)
    raise UserError(f"{redact_url(raw)}: only SQLite and PostgreSQL are supported")


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; FULL costs an fsync per commit
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        dbapi_conn.set_authorizer(_sqlite_guard)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


_GUARDED = "audit_log"


def _sqlite_guard(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
    """SQLite has no roles: this authorizer is the app's role. Its connections may not drop, rename or
    alter the audit log or its triggers, nor write the schema directly (migrations lift it briefly)."""
    import sqlite3

    if action == sqlite3.SQLITE_DROP_TRIGGER and arg2 == _GUARDED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_DROP_TABLE and arg1 == _GUARDED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_ALTER_TABLE and arg2 == _GUARDED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in ("writable_schema", "trusted_schema"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def require_existing_file(url: str | None) -> None:
    """Opening a missing SQLite file would create an empty one: say how to create it instead."""
    raw = normalise_url(url or default_db_url())
    if not raw.startswith("sqlite"):
        return
    database = make_url(raw).database
    if database and database != ":memory:" and not Path(database).expanduser().exists():
        raise UserError(f"{database}: no review database there; create it with: medswallow review init-db --db '{database}'")


def writer(engine: Engine) -> Engine:
    """The engine to open write transactions with (``BEGIN IMMEDIATE`` on SQLite; the same on PostgreSQL)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser interpolates "%": escape it (passwords may contain one).
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision`` (creating it on an empty database); returns the new revision."""
    from alembic import command
    from alembic.util import CommandError

    cfg = _alembic_config(engine)
    url = redact_url(str(engine.url))
    try:
        with engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            if engine.dialect.name == "sqlite" and raw is not None:
                raw.set_authorizer(None)  # type: ignore[attr-defined]  # migrations may rebuild the guards
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            finally:
                if engine.dialect.name == "sqlite" and raw is not None:
                    raw.set_authorizer(_sqlite_guard)  # type: ignore[attr-defined]
    except CommandError as exc:
        current = current_revision(engine)
        if current is not None and not _known(current):
            raise UserError(_newer_message(url, current)) from None
        raise UserError(f"{url}: cannot migrate to {revision!r} ({exc})") from None
    except (OperationalError, DatabaseError) as exc:
        raise UserError(f"{url}: cannot migrate the database ({_reason(exc)})") from None
    return current_revision(engine) or ""


def _reason(exc: DBAPIError | DatabaseError) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0]


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://"))).get_revision(revision) is not None
    except CommandError:
        return False


def _newer_message(url: str, current: str) -> str:
    return (
        f"{url}: the database schema (revision {current!r}) is newer than this version of medswallow knows "
        f"(latest {head_revision()!r}); upgrade medswallow (pip install -U medswallow) — do not migrate it down"
    )


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(create_engine("sqlite://"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def check_schema(engine: Engine) -> None:
    """Fail with what to do when the database is empty or behind the code."""
    url = redact_url(str(engine.url))
    try:
        current = current_revision(engine)
    except DatabaseError as exc:
        reason = _reason(exc)
        if engine.dialect.name == "sqlite" and ("not a database" in reason or "malformed" in reason):
            raise UserError(
                f"{url}: not a review database, or a damaged one ({reason}); check the path, or restore "
                "the last backup (made with: medswallow review backup)"
            ) from None
        raise UserError(f"{url}: cannot open the database ({reason})") from None
    head = head_revision()
    if current == head:
        return
    if current is not None and not _known(current):
        raise UserError(_newer_message(url, current))
    if current is None and not inspect(engine).get_table_names():
        raise UserError(f"{url}: the review database is empty; create it with: medswallow review init-db --db '{url}'")
    raise UserError(
        f"{url}: database schema is at revision {current!r}, this version needs {head!r}; "
        f"upgrade it with: medswallow review migrate --db '{url}'"
    )
