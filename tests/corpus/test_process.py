"""One unit through the stages, in process: what is kept, what is rejected, and that rejected text is redacted."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from medswallow.corpus.layout import Layout
from medswallow.corpus.process import process_unit
from medswallow.corpus.recipe import Recipe
from medswallow.corpus.sources.base import Unit


def test_unit_keeps_good_documents_and_redacts_rejected_text(tmp_path):
    good = "高血圧の治療では、減塩と運動を続けることが基本である。家庭血圧を毎日測定し、その記録を外来に持参するよう指導する。"
    rows = [
        {"id": "a", "text": good},
        {"id": "b", "text": "連絡先の電話は03-3123-4567までお願いします"},  # too short: dropped by quality, its text is redacted
        {"id": "c"},  # missing text: quarantined without text
        {"id": "d", "text": "   "},
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    recipe = Recipe.model_validate(
        {"sources": [{"name": "notes", "type": "jsonl", "paths": ["in.jsonl"], "fields": {"id": "id"}}], "pii": {"mode": "fast"}}
    )
    layout = Layout(tmp_path / "out")
    stats = process_unit(recipe, layout, 0, [Unit("notes", str(tmp_path / "in.jsonl"), "in.jsonl")])

    assert stats.read == 4 and stats.kept == 1
    assert stats.dropped == {"quality:too_short": 1}
    assert stats.quarantined == {"missing_field:text": 2}
    table = pq.read_table(layout.process_data(0)).to_pylist()
    assert [r["id"] for r in table] == ["notes:a"] and table[0]["lang"] == "ja" and table[0]["n_tokens"] > 0
    assert table[0]["dedup"] and table[0]["exact"] and table[0]["b0"]
    rejected = [json.loads(line) for line in layout.rejected_file("process", 0).read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rejected}
    assert "03-3123-4567" not in by_id["notes:b"]["text"] and "<PHONE_NUMBER>" in by_id["notes:b"]["text"]
    assert by_id["notes:c"]["text"] == "" and by_id["notes:c"]["kind"] == "quarantined"
    assert json.loads(layout.process_stats(0).read_text())["read"] == 4
    assert not list(layout.work.rglob("*.tmp-*"))
