"""Review store latency at scale: next-queue-item fetch and annotation save, SQLite vs PostgreSQL.

    python benchmarks/review_bench.py                                   # SQLite only
    python benchmarks/review_bench.py --pg "$MEDSWALLOW_TEST_PG_URL"   # and PostgreSQL, side by side

Loads 10,000 generations, 20 annotators, k=6 assignments per generation (60,000), 50,000 of them already
annotated (with their 50,000 audit entries), then times the store functions the app calls:
``queue.next_item`` (for a random annotator) and ``queue.save_annotation`` (a pending item of theirs,
with a span, in one transaction with its audit entry). Target: p95 <= 50 ms for both.
``--no-queue-index`` drops the queue index first, to show what it buys. Two bare operations are timed
alongside for context: a ``SELECT 1`` round trip and an ``INSERT`` + ``COMMIT`` (the durable-write floor).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from medswallow.review.auth import add_user
from medswallow.review.models import Annotation, Assignment, AuditEntry, Generation, Prompt, PromptSet, utcnow
from medswallow.review.queue import AnnotationInput, next_item, save_annotation
from medswallow.review.spans import SpanLabel
from medswallow.review.store import OPERATOR, Actor, ReviewStore
from medswallow.review.taxonomy import load_taxonomy

ANSWER = ("ロキソプロフェンは1回60mgを1日3回まで服用できます。腎機能が低下している場合は減量が必要です。" * 4)[:400]


def load(store: ReviewStore, n_gens: int, n_annotators: int, k: int, n_done: int, seed: int) -> list[Actor]:
    rng = random.Random(seed)
    os.environ.setdefault("MEDSWALLOW_REVIEW_ARGON2", "CHEAPEST")  # account creation is not what is measured
    actors = [
        Actor(add_user(store, OPERATOR, f"nurse{i:02d}", "annotator", "benchmark-password"), f"nurse{i:02d}", "annotator")
        for i in range(n_annotators)
    ]
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(insert(PromptSet).values(id=1, name="bench", description="", source="", created_at=now))
        conn.execute(insert(Prompt), [
            {"id": i + 1, "prompt_set_id": 1, "external_id": f"p{i}", "lang": "ja", "topic": "dosing",
             "text": f"質問 {i}", "system": None, "expects_referral": False, "reviewer_notes": "", "meta": {}}
            for i in range(n_gens // 2)
        ])
        conn.execute(insert(Generation), [
            {"id": g + 1, "prompt_id": g // 2 + 1, "model": "m", "checkpoint": f"c{g % 2}", "base_url": "", "sampling": {"t": 0.6},
             "settings_hash": "h", "reasoning": "r", "text": ANSWER, "finish_reason": "stop", "truncated": False,
             "latency_s": 1.0, "priority": 0.0, "created_at": now}
            for g in range(n_gens)
        ])
        rows = []
        for g in range(n_gens):
            for uid in rng.sample([a.id for a in actors], k):
                rows.append({"generation_id": g + 1, "annotator_id": uid, "status": "pending",
                             "priority": rng.choice([0.0, 0.0, 0.0, 0.8, 0.9, 1.7]), "created_at": now})
        rng.shuffle(rows)
        for i, r in enumerate(rows, start=1):
            r["id"] = i
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Assignment), rows[start : start + 5000])
        done = rows[:n_done]
        conn.execute(Assignment.__table__.update().where(Assignment.id <= n_done).values(status="done", completed_at=now))
        tv = load_taxonomy().version
        names = {a.id: a.username for a in actors}
        for start in range(0, len(done), 5000):
            chunk = done[start : start + 5000]
            conn.execute(insert(Annotation), [
                {"assignment_id": r["id"], "generation_id": r["generation_id"], "annotator_id": r["annotator_id"],
                 "verdict": "safe", "severity": None, "categories": [], "spans": [], "corrected_text": "", "confidence": 3,
                 "comment": "", "taxonomy_version": tv, "revision": 1, "created_at": now, "updated_at": now}
                for r in chunk
            ])
            conn.execute(insert(AuditEntry), [
                {"at": now, "actor_id": r["annotator_id"], "actor_name": names[r["annotator_id"]], "action": "annotation.save",
                 "entity": "annotation", "entity_id": None, "detail": {"assignment_id": r["id"], "verdict": "safe"}}
                for r in chunk
            ])
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            for table in ("prompts", "generations", "assignments", "annotations", "audit_log"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    else:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return actors


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 95), 2),
            "p99_ms": round(pct(ms, 99), 2), "max_ms": round(max(ms), 2)}


def measure(store: ReviewStore, actors: list[Actor], samples: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    tax = load_taxonomy()
    fetch, save = [], []
    for _ in range(20):  # warm the pool and caches
        next_item(store, rng.choice(actors))
    for _ in range(samples):
        actor = rng.choice(actors)
        t0 = time.perf_counter()
        item = next_item(store, actor)
        fetch.append((time.perf_counter() - t0) * 1000)
        if item is None:
            continue
        inp = AnnotationInput("unsafe", spans=[SpanLabel(0, 12, "wrong_dose", "moderate", ANSWER[:12])],
                              corrected_text="減量してください。", confidence=4)
        t0 = time.perf_counter()
        save_annotation(store, actor, item.assignment_id, inp, tax)
        save.append((time.perf_counter() - t0) * 1000)
    # Context: one bare round trip (a pooled connection, SELECT 1) on the same machine at the same time. On a
    # loaded machine every round trip waits for the scheduler; the store operations take a few each.
    rtt = []
    with store.engine.connect() as conn:
        for _ in range(samples):
            t0 = time.perf_counter()
            conn.execute(text("SELECT 1")).scalar()
            rtt.append((time.perf_counter() - t0) * 1000)
    # And one bare durable write (INSERT + COMMIT): on PostgreSQL the WAL flush (fsync) of every commit.
    commit = []
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_commit (id INTEGER PRIMARY KEY, v INTEGER)"))
    for i in range(samples):
        t0 = time.perf_counter()
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_commit (id, v) VALUES (:i, :i)"), {"i": i})
        commit.append((time.perf_counter() - t0) * 1000)
    return {"next_item": summary(fetch), "save_annotation": summary(save), "select_1": summary(rtt),
            "insert_commit": summary(commit)}


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    store = ReviewStore.open(url, create=True)
    t0 = time.perf_counter()
    actors = load(store, args.generations, args.annotators, args.k, args.annotations, args.seed)
    load_s = time.perf_counter() - t0
    if args.no_queue_index:
        with store.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_assignments_queue"))
    with store.read() as session:
        counts = {t.__tablename__: session.scalar(select(__import__("sqlalchemy").func.count()).select_from(t))
                  for t in (Generation, Assignment, Annotation, AuditEntry)}
    result = {"backend": store.engine.dialect.name, "load_s": round(load_s, 1), "rows": counts,
              **measure(store, actors, args.samples, args.seed)}
    store.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sqlite", help="SQLite file to create (default: a temporary file)")
    ap.add_argument("--pg", help="PostgreSQL URL of an EMPTY database to fill (also measured when given)")
    ap.add_argument("--generations", type=int, default=10_000)
    ap.add_argument("--annotations", type=int, default=50_000)
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-queue-index", action="store_true", help="drop the queue index (ablation)")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    if args.annotations > args.generations * args.k:
        ap.error("--annotations must be <= generations x k")
    from rich.console import Console
    from rich.table import Table

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench(f"sqlite:///{args.sqlite or Path(tmp) / 'bench.db'}", args))
        if args.pg:
            results.append(bench(args.pg, args))
    table = Table("backend", "operation", "n", "p50 ms", "p95 ms", "p99 ms", "max ms",
                  title=f"review store: {args.generations} generations, {args.annotations} annotations")
    for r in results:
        for op in ("next_item", "save_annotation", "select_1", "insert_commit"):
            s = r[op]
            table.add_row(r["backend"], op, str(s["n"]), str(s["p50_ms"]), str(s["p95_ms"]), str(s["p99_ms"]), str(s["max_ms"]))
    Console(stderr=True).print(table)
    out = {"results": results, "args": vars(args) | {"json": str(args.json) if args.json else None,
                                                     "pg": "given" if args.pg else None},
           "load_average": os.getloadavg()}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    print(json.dumps(out, indent=2, default=str))
    ok = all(r[op]["p95_ms"] <= 50 for r in results for op in ("next_item", "save_annotation"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
