"""The audit log's tamper evidence: a hash chain over its rows, the database guards that keep it append-only,
and the PostgreSQL role setup that takes the table away from the application's own role.

Three layers, each for a different attacker:

* database triggers refuse UPDATE, DELETE and TRUNCATE, and an INSERT that does not continue the log
  (an id that is not above every existing id — which also stops SQLite's ``REPLACE``, a delete that fires
  no DELETE trigger —, a time earlier than the last row's, a ``prev_hash`` that is not the last row's hash);
* each row stores the previous row's hash and a SHA-256 over that and its own content, so an edit made
  around the triggers (a ``sqlite3`` shell on the file, a superuser) breaks the chain at that row:
  ``verify_chain`` finds the first broken row; keep the head hash it prints somewhere else (with each
  backup) to detect a rewrite of the whole tail as well;
* on PostgreSQL the table belongs to a separate owner role and the application's role may only INSERT
  and SELECT, so the application cannot drop or disable the triggers (``pg_owner_statements``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64  # prev_hash of the first row
CHAIN_START = "audit.chain_start"  # written by the migration that added the chain
PG_LOCK_KEY = 7_263_104_911  # pg_advisory_xact_lock key that serialises appends (and so the chain)
DEFAULT_OWNER_ROLE = "medswallow_audit_owner"


def canonical_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` as it reads back from a JSON column (tuples become lists), so hashes match after a round trip."""
    return json.loads(json.dumps(detail, ensure_ascii=False))  # type: ignore[no-any-return]


def audit_hash(
    prev_hash: str,
    id: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any],
) -> str:
    """SHA-256 over the previous row's hash and every column of this row (a stable JSON encoding)."""
    body = json.dumps(
        [id, at.isoformat(timespec="microseconds"), actor_id, actor_name, action, entity, entity_id, detail],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def row_hash_of(row: Any, prev_hash: str) -> str:
    return audit_hash(prev_hash, row.id, row.at, row.actor_id, row.actor_name, row.action, row.entity,
                      row.entity_id, dict(row.detail or {}))


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    ok: bool
    head_id: int | None = None  # the last row checked
    head_hash: str = GENESIS
    broken_id: int | None = None  # the first row that does not check out
    problem: str = ""


def verify_chain(rows: Iterator[Any], expect_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk ``rows`` (in id order) and report the first that breaks the chain.

    ``expect_head`` (id, hash) is a head recorded earlier (say, with a backup): that row must still be
    there with that hash, which also catches a rewrite of everything after it.
    """
    prev_hash, prev_id, prev_at = GENESIS, None, None
    timed = False  # time order is guaranteed only from the chain's start (older rows were hashed as found)
    n = 0
    anchor_seen = expect_head is None
    for row in rows:
        n += 1
        if prev_id is not None and row.id <= prev_id:
            return ChainReport(n, False, prev_id, prev_hash, row.id, "ids out of order")
        if row.prev_hash != prev_hash:
            what = "the row before it was removed or changed" if prev_id is not None else "the first rows were removed"
            return ChainReport(n, False, prev_id, prev_hash, row.id, f"prev_hash does not match ({what})")
        if row.row_hash != row_hash_of(row, prev_hash):
            return ChainReport(n, False, prev_id, prev_hash, row.id, "row hash does not match its content (edited)")
        timed = timed or row.action == CHAIN_START
        if timed and prev_at is not None and row.at < prev_at:
            return ChainReport(n, False, prev_id, prev_hash, row.id, "earlier time than the row before (back-dated)")
        if expect_head is not None and row.id == expect_head[0]:
            if row.row_hash != expect_head[1]:
                return ChainReport(n, False, prev_id, prev_hash, row.id, "differs from the recorded head (rewritten)")
            anchor_seen = True
        prev_hash, prev_id, prev_at = row.row_hash, row.id, row.at
    if not anchor_seen:
        assert expect_head is not None
        return ChainReport(n, False, prev_id, prev_hash, expect_head[0], "the recorded head row is gone (truncated)")
    return ChainReport(n, True, prev_id, prev_hash)


# ---- database guards (installed by migration 0002) ------------------------------------------------

SQLITE_INSERT_GUARD = f"""CREATE TRIGGER audit_log_insert_guard BEFORE INSERT ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: ids must increase (no REPLACE, no insert between rows)')
   WHERE NEW.id IS NULL OR NEW.id <= coalesce((SELECT max(id) FROM audit_log), -1);
  SELECT RAISE(ABORT, 'audit_log is append-only: back-dated entry')
   WHERE NEW.at < (SELECT max(at) FROM audit_log);
  SELECT RAISE(ABORT, 'audit_log is append-only: entry does not continue the hash chain')
   WHERE NEW.row_hash IS NULL
      OR NEW.prev_hash IS NOT coalesce((SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1), '{GENESIS}');
END"""

PG_INSERT_GUARD_FUNCTION = f"""CREATE OR REPLACE FUNCTION audit_log_insert_guard() RETURNS trigger AS $$
DECLARE last_row audit_log%ROWTYPE;
BEGIN
  PERFORM pg_advisory_xact_lock({PG_LOCK_KEY});
  SELECT * INTO last_row FROM audit_log ORDER BY id DESC LIMIT 1;
  IF FOUND THEN
    IF NEW.id IS NULL OR NEW.id <= last_row.id THEN
      RAISE EXCEPTION 'audit_log is append-only: ids must increase';
    END IF;
    IF NEW.at < last_row.at THEN
      RAISE EXCEPTION 'audit_log is append-only: back-dated entry';
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM last_row.row_hash THEN
      RAISE EXCEPTION 'audit_log is append-only: entry does not continue the hash chain';
    END IF;
  ELSIF NEW.prev_hash IS DISTINCT FROM '{GENESIS}' THEN
    RAISE EXCEPTION 'audit_log is append-only: entry does not continue the hash chain';
  END IF;
  IF NEW.row_hash IS NULL THEN
    RAISE EXCEPTION 'audit_log is append-only: entry does not continue the hash chain';
  END IF;
  RETURN NEW;
END; $$ LANGUAGE plpgsql"""

PG_INSERT_GUARD_TRIGGER = """CREATE TRIGGER audit_log_insert_guard BEFORE INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_insert_guard()"""


# ---- PostgreSQL: a separate owner role ------------------------------------------------------------

_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    from medswallow.errors import UserError

    if not _ROLE.match(name):
        raise UserError(f"role name {name!r}: use letters, digits and _ (at most 63, not starting with a digit)")
    return f'"{name}"'


def pg_owner_statements(app_role: str, owner_role: str = DEFAULT_OWNER_ROLE, schema: str = "public") -> list[str]:
    """SQL (run by a superuser or the database owner) that gives ``audit_log`` to ``owner_role``.

    The owner role cannot log in; the application's role keeps INSERT and SELECT on the table and
    nothing else, so it cannot UPDATE, DELETE, TRUNCATE, ALTER (disable the triggers) or DROP it. The
    schema must not belong to the application's role either (a schema owner may drop any table in it):
    it goes to the owner role, and the application keeps USAGE and CREATE (for its own migrations).
    Running the statements again changes nothing.
    """
    app, owner, sch = _ident(app_role), _ident(owner_role), _ident(schema)
    return [
        f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner_role}') THEN
    CREATE ROLE {owner} NOLOGIN;
  END IF;
END $$""",
        f"ALTER TABLE {sch}.audit_log OWNER TO {owner}",  # its id sequence follows the table
        f"ALTER FUNCTION {sch}.audit_log_append_only() OWNER TO {owner}",
        f"ALTER FUNCTION {sch}.audit_log_insert_guard() OWNER TO {owner}",
        f"REVOKE ALL ON {sch}.audit_log FROM PUBLIC",
        f"REVOKE ALL ON {sch}.audit_log FROM {app}",
        f"GRANT SELECT, INSERT ON {sch}.audit_log TO {app}",
        f"ALTER SCHEMA {sch} OWNER TO {owner}",
        f"GRANT USAGE, CREATE ON SCHEMA {sch} TO {app}",
    ]


def pg_role_problems(conn: Any, app_role: str, owner_role: str = DEFAULT_OWNER_ROLE) -> list[str]:
    """What still lets ``app_role`` rewrite the audit log (empty: nothing found); ``conn`` is a SQLAlchemy
    connection to the review database."""
    def one(sql: str, *params: str) -> Any:
        return conn.exec_driver_sql(sql, params).fetchone()

    row = one("SELECT rolsuper FROM pg_roles WHERE rolname = %s", app_role)
    if row is None:
        return [f"there is no role {app_role!r}"]
    problems = []
    if row[0]:
        problems.append(f"{app_role} is a superuser: create a plain LOGIN role for the app and use it in its URL")
    if one("SELECT 1 FROM pg_roles WHERE rolname = %s", owner_role) is None:
        problems.append(f"there is no role {owner_role!r}")
    elif one("SELECT pg_has_role(%s, %s, 'MEMBER')", app_role, owner_role)[0]:
        problems.append(f"{app_role} is a member of {owner_role}: REVOKE {owner_role} FROM {app_role}")
    owner = one("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'")
    if owner is None:
        problems.append("there is no audit_log table here: run medswallow review init-db first, as the app's role")
    elif owner[0] != owner_role:
        problems.append(f"audit_log belongs to {owner[0]}, not {owner_role}")
    for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
        if owner is not None and one("SELECT has_table_privilege(%s, 'audit_log', %s)", app_role, privilege)[0]:
            problems.append(f"{app_role} still has {privilege} on audit_log")
    return problems
