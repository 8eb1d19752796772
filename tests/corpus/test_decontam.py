from __future__ import annotations

import json

from medswallow.corpus.decontam import DecontamStage, build_index
from medswallow.corpus.recipe import BenchmarkSet, DecontamConfig
from medswallow.records import Document
from tests.corpus.helpers import REPO

BENCH = REPO / "corpora" / "samples" / "benchmarks"


def index(tmp_path):
    cfg = DecontamConfig(
        benchmarks=[
            BenchmarkSet(task="igakuqa", path=str(BENCH / "igakuqa_sample.jsonl")),
            BenchmarkSet(name="cases", path=str(BENCH / "heldout_cases.txt"), format="text"),
            BenchmarkSet(name="custom", path=str(tmp_path / "c.jsonl"), fields=["q", "opts"], id_field="qid"),
        ]
    )
    (tmp_path / "c.jsonl").write_text(json.dumps({"qid": "X1", "q": "Which organism most often causes community-acquired pneumonia in adults?", "opts": ["S. pneumoniae", "E. coli"]}) + "\n", encoding="utf-8")
    idx = build_index(cfg, REPO)
    idx.save(tmp_path / "idx")
    return cfg, tmp_path / "idx", idx


def test_reformatted_copies_match_and_name_the_item(tmp_path):
    cfg, path, idx = index(tmp_path)
    assert idx.sets["igakuqa"] == {"items": 6, "indexed": 6, "too_short": 0}
    stage = DecontamStage(str(path), cfg.min_overlap)
    docs = [
        Document("copy", "問題: 妊娠中の高血圧に対して禁忌となる降圧薬はどれか。\nA) メチルドパ\nB) ニフェジピン\n答え: D", "s"),
        Document("fullwidth", "ｑ：ＷＨＩＣＨ　ｏｒｇａｎｉｓｍ most often causes community-acquired pneumonia in adults? → S. pneumoniae", "s"),
        Document("case", "症例: 72歳男性が突然の右上下肢の脱力と構音障害を主訴に救急搬送された。最終健常確認時刻は2時間前であり、頭部CTで出血を認めない。", "s"),
        Document("topic", "妊娠中の高血圧ではメチルドパやニフェジピンを用いることが多い。ARBは胎児への影響から使用しない。", "s"),
    ]
    kept, rejected = stage.process(docs)
    assert [d.id for d in kept] == ["topic"]  # same topic, different text: kept
    got = {r.id: (r.reason, r.detail.split(",")[0]) for r in rejected}
    assert got == {"copy": ("decontam:igakuqa", "item 990A2"), "fullwidth": ("decontam:custom", "item X1"), "case": ("decontam:cases", "item 1")}
