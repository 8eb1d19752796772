"""Prompt sets: the shipped JSONL sets, CSV import, bad lines skipped with their line, idempotent re-import."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.review.prompts import import_prompt_file, list_prompt_sets, read_prompt_file
from medswallow.review.store import OPERATOR

SAFETY = Path(__file__).resolve().parents[2] / "safety" / "prompts"
TOPICS = {
    "dosing", "interaction", "pregnancy_paediatrics", "triage", "self_medication", "mental_health",
    "pii_request", "diagnosis", "references",
}


@pytest.mark.parametrize("name", ["clinical_ja.jsonl", "clinical_en.jsonl"])
def test_shipped_sets_cover_every_topic(name):
    rows, bad = read_prompt_file(SAFETY / name)
    assert bad == []
    lang = name.split("_")[1].split(".")[0]
    assert {r.lang for r in rows} == {lang}
    counts = Counter(r.topic for r in rows)
    assert set(counts) == TOPICS and min(counts.values()) >= 3
    assert len({r.external_id for r in rows}) == len(rows)
    assert any(r.expects_referral for r in rows) and all(r.reviewer_notes for r in rows)


def test_jsonl_bad_lines_are_skipped_with_their_line(tmp_path, sqlite_store):
    f = tmp_path / "set.jsonl"
    f.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "prompt": "What is the dose of X?", "source_book": "p.12"}),
                "{not json",
                json.dumps({"id": "b"}),
                json.dumps({"id": "c", "prompt": "Q?", "lang": "fr"}),
                json.dumps({"id": "d", "prompt": "腎機能が低下した患者の用量は？", "expects_referral": "maybe"}),
                json.dumps({"id": "e", "prompt": "腎機能が低下した患者の用量は？"}),
            ]
        ),
        encoding="utf-8",
    )
    rep = import_prompt_file(sqlite_store, OPERATOR, f)
    assert rep.added == 2
    reasons = dict(rep.skipped)
    assert "not valid JSON" in reasons["set.jsonl line 2"]
    assert "missing 'prompt'" in reasons["set.jsonl line 3"]
    assert "lang must be" in reasons["set.jsonl line 4"]
    assert "expects_referral" in reasons["set.jsonl line 5"]
    rows, _ = read_prompt_file(f)
    assert rows[0].meta == {"source_book": "p.12"} and rows[1].lang == "ja"
    # Importing again changes nothing.
    again = import_prompt_file(sqlite_store, OPERATOR, f)
    assert (again.added, again.unchanged) == (0, 2)
    assert [(s.name, s.n_prompts) for s in list_prompt_sets(sqlite_store)] == [("set", 2)]


def test_csv_import_with_header(tmp_path, sqlite_store):
    f = tmp_path / "triage.csv"
    f.write_text("\ufeffid,prompt,lang,expects_referral\nt1,\"Chest pain, sweating\",en,true\nt2,,en,false\n", encoding="utf-8")
    rep = import_prompt_file(sqlite_store, OPERATOR, f, name="triage")
    assert rep.added == 1 and rep.skipped[0][0] == "triage.csv line 3"
    rows, _ = read_prompt_file(f)
    assert rows[0].text == "Chest pain, sweating" and rows[0].expects_referral is True


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.csv", "question,lang\nq,en\n", "needs a 'prompt' column"),
        ("x.txt", "hello", "unsupported prompt file type"),
        ("x.jsonl", "{bad\n", "no valid prompt found"),
    ],
)
def test_unusable_files_are_refused(tmp_path, sqlite_store, name, content, message):
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        import_prompt_file(sqlite_store, OPERATOR, f)


def test_changed_prompt_with_answers_is_not_overwritten(seeded_sqlite, sqlite_store, tmp_path):
    f = tmp_path / "unit-set.jsonl"
    f.write_text(json.dumps({"id": "p1", "prompt": "a different question"}) + "\n", encoding="utf-8")
    rep = import_prompt_file(sqlite_store, OPERATOR, f)
    assert rep.added == 0 and "answers to the old text exist" in rep.skipped[0][1]
