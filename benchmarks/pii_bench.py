"""PII engine speed and quality on the independent challenge set, side by side in one run: stock Presidio vs fast/thorough.

    python benchmarks/pii_bench.py --out benchmarks/pii_bench.json          # set at ../shared/pii-challenge
    python benchmarks/pii_bench.py --challenge DIR --skip thorough

Corpus: ``challenge_input.jsonl`` of the PII challenge set (240 invented JA/EN/mixed clinical documents written
independently of this engine; language not given), gold spans from ``challenge.jsonl``. Each engine redacts every
document (analyze + anonymize): (a) stock Presidio AnalyzerEngine with ja_ginza + en_core_web_sm, one document at a
time, language detected per document; (b) PIIEngine(mode="fast") and (c) PIIEngine(mode="thorough"), batches of 64.
Models are loaded and warmed before timing. Speed is characters per CPU-second of this process (all its threads),
i.e. per core. Quality is scored as the set's score.py does: label-agnostic entity recall (a gold span counts as
found when >=90% of its characters are covered), entity precision (a predicted span overlapping only IGNORE spans is
neutral); per gold label and per language.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_SET = Path(__file__).resolve().parents[1].parent / "shared" / "pii-challenge"


def load_set(root: Path) -> list[dict[str, Any]]:
    gold = {}
    for line in (root / "challenge.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold[row["id"]] = row
    docs = []
    for line in (root / "challenge_input.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            docs.append({**row, "lang": gold[row["id"]]["lang"], "spans": gold[row["id"]]["spans"]})
    return docs


def score(docs: list[dict[str, Any]], preds: list[list[Any]]) -> dict[str, Any]:
    """Entity recall per label and language, and precision per language, counted as the set's score.py counts."""
    from collections import Counter

    hit: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    true: Counter[str] = Counter()
    false: Counter[str] = Counter()
    for doc, spans in zip(docs, preds, strict=True):
        n = len(doc["text"])
        mask = bytearray(n)
        for s in spans:
            mask[s.start : s.end] = b"\x01" * (s.end - s.start)
        real = [(g["start"], g["end"]) for g in doc["spans"] if g["label"] != "IGNORE"]
        ignore = [(g["start"], g["end"]) for g in doc["spans"] if g["label"] == "IGNORE"]
        for g in doc["spans"]:
            if g["label"] == "IGNORE":
                continue
            found = sum(mask[g["start"] : g["end"]]) >= 0.9 * (g["end"] - g["start"])
            for key in ("all", g["label"], "lang=" + doc["lang"]):
                gold_n[key] += 1
                hit[key] += found
        for s in {(s.start, s.end) for s in spans}:
            if any(a < s[1] and s[0] < b for a, b in real):
                true["all"] += 1
                true["lang=" + doc["lang"]] += 1
            elif not any(a < s[1] and s[0] < b for a, b in ignore):
                false["all"] += 1
                false["lang=" + doc["lang"]] += 1
    recall = {k: round(hit[k] / gold_n[k], 4) for k in gold_n}
    precision = {k: round(true[k] / max(1, true[k] + false[k]), 4) for k in set(true) | set(false)}
    return {"recall": recall, "precision": precision, "gold": dict(gold_n)}


def run_engine(name: str, engine: Any, docs: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    from medswallow.pii.anonymize import replace_spans

    texts = [d["text"] for d in docs]
    engine.load()
    engine.analyze_batch(texts[:4])  # warm caches and lazy pieces
    cpu0, wall0 = time.process_time(), time.perf_counter()
    all_spans: list[Any] = []
    if batch <= 1:
        for text in texts:
            _redacted, spans = engine.redact(text)
            all_spans.append(spans)
    else:
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            spans_batch = engine.analyze_batch(chunk)
            for text, spans in zip(chunk, spans_batch, strict=True):
                replace_spans(text, spans)
            all_spans.extend(spans_batch)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n_chars = sum(map(len, texts))
    return {
        "engine": name,
        "chars": n_chars,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "chars_per_cpu_second": round(n_chars / cpu),
        **score(docs, all_spans),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--challenge", type=Path, default=DEFAULT_SET, help="folder of the PII challenge set")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--skip", nargs="*", default=[], help="engines to skip: stock fast thorough")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from medswallow.pii.engine import PIIEngine
    from medswallow.pii.stock import StockPresidio

    out = Console(stderr=True, width=160)
    docs = load_set(args.challenge)
    langs = {lang: sum(d["lang"] == lang for d in docs) for lang in ("ja", "en", "mixed")}
    out.print(f"corpus: {args.challenge}: {len(docs)} documents {langs}, {sum(len(d['text']) for d in docs):,} characters")
    engines = [
        ("(a) stock Presidio", "stock", StockPresidio(), 1),
        ("(b) fast (default)", "fast", PIIEngine(mode="fast"), 64),
        ("(c) thorough", "thorough", PIIEngine(mode="thorough"), 64),
    ]
    rows = []
    for label, key, engine, batch in engines:
        if key in args.skip:
            continue
        with out.status(f"running {label}"):
            rows.append(run_engine(label, engine, docs, batch))
    base = rows[0]["chars_per_cpu_second"] if rows and "stock" not in args.skip else None
    cols = ["all", "lang=ja", "lang=en", "lang=mixed"]
    table = Table(title="PII on the challenge set: chars per CPU-second, entity recall (R) and precision (P)")
    for col in ("engine", "chars/CPU-s", "vs stock", *(f"{x} {c.removeprefix('lang=')}" for c in cols for x in ("R", "P"))):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for r in rows:
        r["ratio_vs_stock"] = round(r["chars_per_cpu_second"] / base, 2) if base else None
        cells = [f"{r['recall'].get(c, 0):.3f}" if x == "R" else f"{r['precision'].get(c, 0):.3f}" for c in cols for x in ("R", "P")]
        table.add_row(r["engine"], f"{r['chars_per_cpu_second']:,}", f"{r['ratio_vs_stock']:.1f}x" if base else "-", *cells)
    out.print(table)
    labels = sorted(k for k in rows[0]["gold"] if k != "all" and not k.startswith("lang=")) if rows else []
    per_label = Table(title="entity recall per gold label")
    for col in ("label", "gold", *(r["engine"] for r in rows)):
        per_label.add_column(col, justify="left" if col == "label" else "right", no_wrap=True)
    for lab in labels:
        per_label.add_row(lab, str(rows[0]["gold"][lab]), *(f"{r['recall'].get(lab, 0):.3f}" for r in rows))
    out.print(per_label)
    if args.out:
        meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "docs": len(docs)}
        args.out.write_text(json.dumps({"meta": meta, "results": rows}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
