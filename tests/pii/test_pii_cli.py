"""``medswallow pii detect|redact|eval`` as a user runs them (subprocesses), including bad input."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "pii"
DOCS = [
    {"id": "ja-1", "text": "患者：山田太郎様、電話03-1234-5678。川崎病の既往。"},
    {"id": "en-1", "text": "Patient: John Smith, MRN: 00123456. Seen by Dr. Emily Carter.", "lang": "en"},
    {"id": "mixed", "text": "妻のMary Johnsonさん（携帯 090-8765-4321）に電話で説明した。\nemail mary.j@example.com"},
    {"id": "none", "text": "ロキソプロフェン60mg 1日3回 毎食後、1-0-1。"},
]
VALUES = ["山田太郎", "03-1234-5678", "John Smith", "00123456", "Emily Carter", "Mary Johnson", "090-8765-4321", "mary.j@example.com"]


def write_jsonl(path: Path, rows: list, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_detect_writes_spans_with_offsets_labels_scores_and_languages(cli, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", DOCS)
    out = tmp_path / "out.jsonl"
    res = cli("pii", "detect", str(inp), "-o", str(out))
    assert res.returncode == 0, res.stderr
    rows = {r["id"]: r for r in read_jsonl(out)}
    assert [r["id"] for r in read_jsonl(out)] == [d["id"] for d in DOCS]
    assert rows["ja-1"]["lang"] == "ja" and rows["en-1"]["lang"] == "en" and rows["mixed"]["lang"] == "ja"
    text = DOCS[0]["text"]
    got = {(text[s["start"] : s["end"]], s["label"]) for s in rows["ja-1"]["spans"]}
    assert got == {("山田太郎", "PERSON"), ("03-1234-5678", "PHONE_NUMBER")}
    assert all(set(s) >= {"start", "end", "label", "score"} for s in rows["en-1"]["spans"])
    assert rows["none"]["spans"] == []
    assert "PHONE_NUMBER" in res.stderr  # the summary table


def test_redact_never_writes_the_values_and_counts_by_label(cli, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", DOCS)
    out = tmp_path / "red.jsonl"
    res = cli("pii", "redact", str(inp), "-o", str(out))
    assert res.returncode == 0, res.stderr
    written = out.read_text(encoding="utf-8")
    for value in VALUES:
        assert value not in written and value not in res.stderr and value not in res.stdout
    rows = {r["id"]: r for r in read_jsonl(out)}
    assert rows["ja-1"]["text"] == "患者：<PERSON>様、電話<PHONE_NUMBER>。川崎病の既往。"
    assert rows["mixed"]["pii"] == {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}
    assert rows["none"]["text"] == DOCS[3]["text"]


def test_bad_line_names_file_and_line_without_traceback_or_content(cli, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", DOCS[:2], extra_lines=('{"id": "x", "text": "山田太郎 03-1234-5678"', '{"id": "y"}'))
    out = tmp_path / "out.jsonl"
    res = cli("pii", "detect", str(inp), "-o", str(out))
    assert res.returncode == 2
    assert f"{inp}:3" in res.stderr and "not valid JSON" in res.stderr and "--skip-bad" in res.stderr
    assert "Traceback" not in res.stderr and "山田太郎" not in res.stderr
    assert not out.exists() and not Path(str(out) + ".partial").exists()

    res = cli("pii", "redact", str(inp), "-o", str(out), "--skip-bad")
    assert res.returncode == 0, res.stderr
    assert len(read_jsonl(out)) == 2
    rejected = read_jsonl(Path(str(out) + ".rejected.jsonl"))
    assert rejected == [
        {"line": 3, "id": None, "reason": rejected[0]["reason"]},
        {"line": 4, "id": "y", "reason": "missing field 'text'"},
    ]
    assert "山田太郎" not in json.dumps(rejected, ensure_ascii=False)


def test_usage_errors_are_one_line(cli, tmp_path):
    res = cli("pii", "detect", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--mode", "fastt")
    assert res.returncode == 2 and "did you mean 'fast'" in res.stderr and "Traceback" not in res.stderr
    res = cli("pii", "detect", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert res.returncode == 2 and "no such file" in res.stderr


def test_eval_reports_by_label_and_language(cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    rows = [json.loads(line) for line in (DATA / "heldout.jsonl").read_text(encoding="utf-8").splitlines()[:34]]
    write_jsonl(gold, rows, extra_lines=('{"id": "bad", "text": "abc", "spans": [{"start": 2, "end": 9, "label": "PERSON"}]}',))
    report = tmp_path / "report.json"
    res = cli("pii", "eval", "--gold", str(gold), "--json", str(report), "--skip-bad")
    assert res.returncode == 0, res.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["n_docs"] == 34 and data["mode"] == "fast"
    assert data["rejected_lines"][0]["line"] == 35 and "offsets outside the text" in data["rejected_lines"][0]["reason"]
    assert set(data["by_lang"]) == {"ja", "en"}
    assert {"PERSON", "PHONE_NUMBER", "DATE_TIME"} <= set(data["by_label"])
    overall = data["overall"]["entity"]
    assert overall["recall"] >= 0.97 and overall["precision"] >= 0.9
    assert 0 <= data["overall"]["char"]["recall"] <= 1
    assert "PERSON" in res.stderr and "entity" not in res.stdout  # the table goes to the terminal (stderr)
