"""PII engine speed and quality, side by side in one run: stock Presidio vs the fast and thorough modes.

    python benchmarks/pii_bench.py --docs 400 --out benchmarks/pii_bench.json

Corpus: generated mixed Japanese/English clinical documents with planted, labelled PII (both template sets of
data.pii.devset.synth, fresh seeds). Each engine redacts every document (analyze + anonymize):
(a) stock Presidio AnalyzerEngine with ja_ginza + en_core_web_sm, one document at a time, language per document;
(b) PIIEngine(mode="fast") and (c) PIIEngine(mode="thorough"), in batches of 64. Models are loaded and warmed
before timing. Speed is characters per CPU-second of this process (all its threads), i.e. per core; quality is
entity recall/precision against the planted spans (found = >=90% of the entity's characters covered).
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


def make_corpus(n_docs: int) -> list[dict[str, Any]]:
    from data.pii.devset.synth import generate

    half = n_docs // 2
    a, b = generate("dev", half, seed=101), generate("heldout", n_docs - half, seed=202)
    mixed = [d for pair in zip(a, b, strict=False) for d in pair] + a[len(b) :] + b[len(a) :]
    return mixed


def run_engine(name: str, engine: Any, docs: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    from medswallow.pii.anonymize import replace_spans
    from medswallow.pii.evaluate import Report, score_document

    texts = [d["text"] for d in docs]
    engine.load()
    engine.analyze_batch(texts[:4])  # warm caches and lazy pieces
    cpu0, wall0 = time.process_time(), time.perf_counter()
    all_spans = []
    if batch <= 1:
        for text in texts:
            redacted, spans = engine.redact(text)
            all_spans.append(spans)
    else:
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            spans_batch = engine.analyze_batch(chunk)
            for text, spans in zip(chunk, spans_batch, strict=True):
                replace_spans(text, spans)
            all_spans.extend(spans_batch)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    report = Report()
    for d, spans in zip(docs, all_spans, strict=True):
        score_document(report, d["text"], d["spans"], spans, d["lang"], d.get("kind", ""), d["id"])
    metrics = report.to_dict()
    n_chars = sum(map(len, texts))
    return {
        "engine": name,
        "chars": n_chars,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "chars_per_cpu_second": round(n_chars / cpu),
        "overall": metrics["overall"]["entity"],
        "ja": metrics["by_lang"].get("ja", {}).get("entity"),
        "en": metrics["by_lang"].get("en", {}).get("entity"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--skip", nargs="*", default=[], help="engines to skip: stock fast thorough")
    args = ap.parse_args()

    from rich.table import Table

    from medswallow.console import console
    from medswallow.pii.engine import PIIEngine
    from medswallow.pii.stock import StockPresidio

    docs = make_corpus(args.docs)
    n_ja = sum(d["lang"] == "ja" for d in docs)
    console.print(f"corpus: {len(docs)} documents ({n_ja} ja, {len(docs) - n_ja} en), {sum(len(d['text']) for d in docs):,} characters")
    engines = [
        ("(a) stock Presidio", "stock", StockPresidio(), 1),
        ("(b) fast (default)", "fast", PIIEngine(mode="fast"), 64),
        ("(c) thorough", "thorough", PIIEngine(mode="thorough"), 64),
    ]
    rows = []
    for label, key, engine, batch in engines:
        if key in args.skip:
            continue
        with console.status(f"running {label}"):
            rows.append(run_engine(label, engine, docs, batch))
    base = rows[0]["chars_per_cpu_second"] if rows and "stock" not in args.skip else None
    table = Table(title="PII: chars per CPU-second and entity quality on the same mixed JA/EN corpus")
    for col in ("engine", "chars/CPU-s", "vs stock", "R all", "P all", "R ja", "P ja", "R en", "P en"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for r in rows:
        ratio = f"{r['chars_per_cpu_second'] / base:.1f}x" if base else "-"
        r["ratio_vs_stock"] = round(r["chars_per_cpu_second"] / base, 2) if base else None

        def f(m: dict[str, Any] | None, k: str) -> str:
            return "-" if not m or m.get(k) is None else f"{m[k]:.3f}"

        table.add_row(
            r["engine"], f"{r['chars_per_cpu_second']:,}", ratio, f(r["overall"], "recall"), f(r["overall"], "precision"),
            f(r["ja"], "recall"), f(r["ja"], "precision"), f(r["en"], "recall"), f(r["en"], "precision"),
        )
    from rich.console import Console

    Console(stderr=True, width=150).print(table)
    if args.out:
        meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "docs": len(docs)}
        args.out.write_text(json.dumps({"meta": meta, "results": rows}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
