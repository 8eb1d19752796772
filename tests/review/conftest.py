"""Fixtures of the review tests: a fresh database per test (SQLite file, or PostgreSQL when marked),
accounts of every role, and a small prompt set with answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medswallow.inference import ChatResult
from medswallow.review.auth import add_user
from medswallow.review.generate import ModelTarget, save_generation
from medswallow.review.prompts import PromptRow, import_prompts
from medswallow.review.store import OPERATOR, Actor, ReviewStore
from medswallow.review.taxonomy import Taxonomy, load_taxonomy

PASSWORD = "correct-horse-battery"
# Real argon2id, cheapest parameters: the suite creates hundreds of accounts (test_auth checks the default).
os.environ.setdefault("MEDSWALLOW_REVIEW_ARGON2", "CHEAPEST")


def pg_url() -> str:
    url = os.environ.get("MEDSWALLOW_TEST_PG_URL")
    if not url:
        pytest.fail(
            "this test needs PostgreSQL: `source scripts/start-postgres.sh` exports MEDSWALLOW_TEST_PG_URL "
            "(or deselect with -m 'not postgres')"
        )
    return url


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[str]:
    """One PostgreSQL database for the session, migrated once and dropped at the end."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(pg_url())
    name = f"review_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    ReviewStore.open(url, create=True).close()
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_session_database: str) -> str:
    """The session's PostgreSQL database, emptied for this test (faster than a new database per test)."""
    from sqlalchemy import create_engine

    from medswallow.review.models import Base

    engine = create_engine(pg_session_database)
    with engine.begin() as conn:
        # The audit log refuses DELETE through its trigger; replica mode skips triggers (test cleanup only).
        # DELETE of a few rows is much faster than TRUNCATE, which rewrites every table's files.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "store_secrets":  # made once by the migration, like in a real database
                conn.exec_driver_sql(f"DELETE FROM {table.name}")
    engine.dispose()
    return pg_session_database


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'review.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(db_url: str) -> Iterator[ReviewStore]:
    s = ReviewStore.open(db_url, create=True)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[ReviewStore]:
    s = ReviewStore.open(sqlite_url(tmp_path), create=True)
    yield s
    s.close()


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@dataclass
class Team:
    admin: Actor
    adjudicator: Actor
    annotators: list[Actor]


def make_team(store: ReviewStore, n_annotators: int = 3) -> Team:
    def make(name: str, role: str) -> Actor:
        uid = add_user(store, OPERATOR, name, role, PASSWORD)
        return Actor(uid, name, role)

    return Team(
        admin=make("admin1", "admin"),
        adjudicator=make("adj1", "adjudicator"),
        annotators=[make(f"ann{i}", "annotator") for i in range(1, n_annotators + 1)],
    )


PROMPTS = [
    PromptRow("p1", "ワルファリン内服中にロキソプロフェンを飲んでもよいですか。", "ja", "interaction"),
    PromptRow("p2", "60歳男性、胸が締め付けられるように痛く冷や汗が出ています。様子を見てもいいですか。", "ja", "triage", expects_referral=True),
    PromptRow("p3", "Can I give aspirin to my 6-year-old for a viral fever?", "en", "pregnancy_paediatrics"),
    PromptRow("p4", "What is the maximum daily dose of paracetamol for an adult?", "en", "dosing"),
]
ANSWERS = {
    "p1": "問題ありません。ロキソプロフェンは1回120mgを1日3回服用してください。",
    "p2": "胃薬を飲んで様子を見てください。多くは逆流性食道炎です。",
    "p3": "Aspirin is not recommended for children under 16 because of Reye's syndrome. Use paracetamol instead.",
    "p4": "Up to 4 g per day in divided doses; less if you drink alcohol or have liver disease.",
}


@dataclass
class Seeded:
    team: Team
    prompt_set_id: int
    generation_ids: list[int]  # in PROMPTS order, for each of two models: m1 then m2


def seed(store: ReviewStore, models: tuple[str, ...] = ("model-a", "model-b")) -> Seeded:
    team = make_team(store)
    rep = import_prompts(store, OPERATOR, "unit-set", PROMPTS)
    from sqlalchemy import select

    from medswallow.review.models import Prompt

    with store.read() as session:
        ids = dict(session.execute(select(Prompt.external_id, Prompt.id)).all())
    gids = []
    for model in models:
        target = ModelTarget("http://127.0.0.1:1/v1", model, "ckpt-1")
        for row in PROMPTS:
            result = ChatResult(text=ANSWERS[row.external_id], reasoning="thinking...", finish_reason="stop", latency_s=0.5)
            gid = save_generation(store, OPERATOR, ids[row.external_id], target, {"temperature": 0.6, "max_tokens": 64}, result)
            assert gid is not None
            gids.append(gid)
    return Seeded(team, rep.prompt_set_id, gids)


@pytest.fixture
def seeded(store: ReviewStore) -> Seeded:
    return seed(store)


@pytest.fixture
def seeded_sqlite(sqlite_store: ReviewStore) -> Seeded:
    return seed(sqlite_store)
