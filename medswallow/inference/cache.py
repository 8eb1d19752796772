"""On-disk response cache: one SQLite file, keyed by a hash of everything that changes the answer.

The key is the endpoint kind plus the full request body that is sent (model name, messages or prompt,
every sampling parameter, reasoning effort, seed, n, logprob settings), canonicalised as sorted JSON.
Transport-only fields (``stream``, ``stream_options``) are left out, so a streamed answer and a plain one
share an entry. The server's address is left out on purpose: data-parallel replicas of one model answer
alike. Give different checkpoints different served names (or separate cache directories).

Only successful responses are stored, each as soon as it arrives, so a run that is killed keeps every
answer it had and a rerun re-asks only what is missing. SQLite in WAL mode makes concurrent writers from
several processes safe.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
TRANSPORT_FIELDS = ("stream", "stream_options")


def cache_key(kind: str, body: dict[str, Any], namespace: str = "") -> str:
    """A stable hex key for a request: same answer-relevant content -> same key."""
    payload = {k: v for k, v in body.items() if k not in TRANSPORT_FIELDS}
    blob = json.dumps(
        {"v": CACHE_VERSION, "ns": namespace, "kind": kind, "body": payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A key -> response-body store in ``DIR/responses.sqlite``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "responses.sqlite"
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,"
            " latency_s REAL NOT NULL, created REAL NOT NULL)"
        )

    def get(self, key: str) -> tuple[dict[str, Any], float] | None:
        """The stored body and its original latency, or None."""
        with self._lock:
            row = self._conn.execute("SELECT body, latency_s FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), float(row[1])

    def put(self, key: str, kind: str, body: dict[str, Any], latency_s: float) -> None:
        blob = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, kind, body, latency_s, created) VALUES (?, ?, ?, ?, ?)",
                (key, kind, blob, latency_s, time.time()),
            )

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
