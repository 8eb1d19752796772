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
from sqlalchemy.exc import ArgumentError, OperationalError

from medswallow.errors import UserError

DEFAULT_DB_URL = "sqlite:///medswallow-review.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def default_db_url() -> str:
    return os.environ.get("MEDSWALLOW_REVIEW_DB", DEFAULT_DB_URL)


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

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


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

    cfg = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise UserError(f"{redact_url(str(engine.url))}: cannot migrate the database ({exc.orig})") from None
    return current_revision(engine) or ""


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
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise UserError(f"{redact_url(str(engine.url))}: cannot open the database ({exc.orig})") from None
    head = head_revision()
    if current == head:
        return
    url = redact_url(str(engine.url))
    if current is None and not inspect(engine).get_table_names():
        raise UserError(f"{url}: the review database is empty; create it with: medswallow review init-db --db '{url}'")
    raise UserError(
        f"{url}: database schema is at revision {current!r}, this version needs {head!r}; "
        f"upgrade it with: medswallow review migrate --db '{url}'"
    )
