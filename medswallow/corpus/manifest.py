"""The build's report: ``manifest.json`` (counts per source and reason), the dataset card, the summary table.

Everything here is computed from the stats files the stages wrote (drop reasons are data), and the manifest
holds no timestamps or paths of this machine, so rebuilding the same recipe gives the same manifest.
The accounting identity kept + dropped + quarantined = read is checked for every source.
"""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from medswallow.corpus.layout import Layout, read_json, write_bytes, write_json

VERSIONED = ["medswallow", "datatrove", "pyarrow", "numpy", "tiktoken", "oss-harmony", "presidio-analyzer", "spacy", "ginza", "fasttext-predict", "defusedxml", "pypdf", "selectolax", "charset-normalizer"]
MAX_LISTED = 1000


class AccountingError(RuntimeError):
    """kept + dropped + quarantined != read: a record went missing (a bug, never a data problem)."""


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(recipe: Any, layout: Layout, units: list[dict[str, Any]]) -> dict[str, Any]:
    from medswallow.corpus.recipe import load_card

    plan = read_json(layout.shards_plan)
    per: dict[str, dict[str, Any]] = {}
    removed: list[dict[str, str]] = []
    for s in recipe.sources:
        per[s.name] = {
            "type": s.type, "domain": s.domain, "pii_mode": recipe.pii_mode(s), "units": 0, "bytes_in": 0,
            "read": 0, "kept_process": 0, "tokens_kept_process": 0, "dropped": Counter(), "quarantined": Counter(),
            "tokens_dropped": Counter(), "langs": Counter(), "pii": Counter(), "pii_docs": 0, "decontam": Counter(),
        }
    for rank in range(len(units)):
        st = read_json(layout.process_stats(rank))
        p = per[st["source"]]
        p["units"] += st.get("files", 1)
        p["bytes_in"] += st["bytes_in"]
        p["read"] += st["read"]
        p["kept_process"] += st["kept"]
        p["tokens_kept_process"] += st["tokens_kept"]
        p["dropped"].update(st["dropped"])
        p["quarantined"].update(st["quarantined"])
        p["tokens_dropped"].update(st["tokens_dropped"])
        p["langs"].update(st["langs"])
        p["pii"].update(st["pii"])
        p["pii_docs"] += st["pii_docs"]
        for hit in st["decontam"]:
            p["decontam"][hit["set"]] += 1
            if len(removed) < MAX_LISTED:
                removed.append(hit)

    sources: dict[str, Any] = {}
    totals: Counter[str] = Counter()
    for s in recipe.sources:
        p, sel = per[s.name], plan["sources"][s.name]
        dropped = Counter(p["dropped"])
        dropped.update(sel["dropped"])
        tokens_dropped = Counter(p["tokens_dropped"])
        tokens_dropped.update(sel["tokens_dropped"])
        dropped = Counter({k: v for k, v in dropped.items() if v})
        tokens_dropped = Counter({k: v for k, v in tokens_dropped.items() if k in dropped})
        n_dropped, n_quar = sum(dropped.values()), sum(p["quarantined"].values())
        if sel["kept"] + n_dropped + n_quar != p["read"]:
            raise AccountingError(
                f"source '{s.name}': kept {sel['kept']} + dropped {n_dropped} + quarantined {n_quar} != read {p['read']}"
            )
        tokens_in = p["tokens_kept_process"] + sum(p["tokens_dropped"].values())
        card = None
        if s.card:
            card_path = Path(s.card) if Path(s.card).is_absolute() else recipe.base_dir / s.card
            card = load_card(card_path).model_dump(exclude={"loader"})
        sources[s.name] = {
            "type": s.type, "domain": s.domain, "card": card, "pii_mode": p["pii_mode"], "units": p["units"],
            "bytes_in": p["bytes_in"],
            "docs": {
                "read": p["read"], "kept": sel["kept"], "dropped": _sorted(dropped), "quarantined": _sorted(p["quarantined"]),
                "out": sel["docs_out"],
            },
            "tokens": {"in": tokens_in, "kept": sel["tokens_kept"], "dropped": _sorted(tokens_dropped), "out": sel["tokens_out"]},
            "langs": _sorted(p["langs"]),
            "pii": {"docs_with_pii": p["pii_docs"], "spans": _sorted(p["pii"])},
            "dedup": sel["dedup"],
            "decontamination": _sorted(p["decontam"]),
            "mixture": sel["mixture"],
            "ids_renamed": sel.get("ids_renamed", 0),
        }
        totals.update(
            read=p["read"], kept=sel["kept"], dropped=n_dropped, quarantined=n_quar, docs_out=sel["docs_out"],
            tokens_in=tokens_in, tokens_kept=sel["tokens_kept"], tokens_out=sel["tokens_out"], bytes_in=p["bytes_in"],
        )
    shards = []
    for k in range(len(plan["shards"])):
        ws = read_json(layout.write_stats(k))
        if ws["file"]:
            shards.append({key: ws[key] for key in ("file", "docs", "tokens", "bytes", "sha256")})
    index_info = layout.decontam_index.with_suffix(".json")
    dc = recipe.decontamination
    return {
        "name": recipe.name,
        "description": recipe.description,
        "recipe_hash": recipe.data_hash(),
        "seed": recipe.seed,
        "versions": tool_versions(),
        "totals": dict(totals),
        "sources": sources,
        "decontamination": {
            "enabled": dc.enabled, "ngram": dc.ngram, "min_overlap": dc.min_overlap,
            "sets": read_json(index_info)["sets"] if dc.enabled and index_info.exists() else {},
            "removed_total": sum(sum(v["decontamination"].values()) for v in sources.values()),
            "removed": removed,
        },
        "dedup": {
            "exact": recipe.dedup.exact, "near": recipe.dedup.near, "bands": recipe.dedup.bands, "rows": recipe.dedup.rows,
            "ngram_ja": recipe.dedup.ngram_ja, "ngram_other": recipe.dedup.ngram_other,
        },
        "shards": shards,
        "recipe": recipe.model_dump(mode="json", exclude={"executor"}),
    }


def _sorted(c: Any) -> dict[str, int]:
    return {k: int(v) for k, v in sorted(dict(c).items(), key=lambda kv: (-kv[1], kv[0])) if v}


def write_outputs(recipe: Any, layout: Layout, units: list[dict[str, Any]]) -> dict[str, Any]:
    manifest = build_manifest(recipe, layout, units)
    write_json(layout.manifest(), manifest)
    write_bytes(layout.card(), dataset_card(manifest).encode("utf-8"))
    return manifest


# ---------------------------------------------------------------------------------------------- card


def _fmt(n: float) -> str:
    return f"{n:,.0f}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.2f}"


def dataset_card(m: dict[str, Any]) -> str:
    langs = sorted({lang for s in m["sources"].values() for lang in s["langs"] if lang in ("ja", "en")}) or ["ja", "en"]
    licenses = sorted({(s["card"] or {}).get("license", "unknown") for s in m["sources"].values()})
    t = m["totals"]
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/*.parquet",
        "language:",
        *[f"- {lang}" for lang in langs],
        "license: other",
        "tags:",
        "- medical",
        "- japanese",
        "---",
        "",
        f"# {m['name']}",
        "",
        m["description"] or "A Japanese-English medical training mixture built by `medswallow build-corpus`.",
        "",
        f"Built from recipe hash `{m['recipe_hash']}` with seed {m['seed']}: "
        f"{_fmt(t.get('docs_out', 0))} documents, {_fmt(t.get('tokens_out', 0))} o200k_harmony tokens "
        f"({_fmt(t.get('read', 0))} records read, {_fmt(t.get('kept', 0))} kept, "
        f"{_fmt(t.get('dropped', 0))} dropped, {_fmt(t.get('quarantined', 0))} quarantined).",
        "",
        "## Sources",
        "",
        "| source | type | domain | license | docs kept | tokens out | epochs | PII spans redacted |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in m["sources"].items():
        lic = (s["card"] or {}).get("license", "see source")
        lines.append(
            f"| {name} | {s['type']} | {s['domain']} | {lic} | {_fmt(s['docs']['kept'])} | {_fmt(s['tokens']['out'])} "
            f"| {s['mixture']['epochs']:.2f} | {_fmt(sum(s['pii']['spans'].values()))} |"
        )
    for src in m["recipe"]["sources"]:
        if src.get("type") == "synthetic_qa":
            opts = src.get("options") or {}
            lines += ["", f"`{src['name']}` is synthetic QA written by the teacher model `{opts.get('model', 'unknown')}` "
                      f"from passages of {', '.join(src.get('from_sources', []))}; each item's `meta.provenance` names the "
                      "teacher checkpoint, prompt template version, seed, sampling settings, passage hash and time."]
    lines += [
        "",
        "Licenses of the sources: " + ", ".join(licenses) + ". Use of the mixture is bound by each of them.",
        "",
        "## Processing",
        "",
        "1. Unicode normalisation (" + m["recipe"]["normalize"]["form"].upper() + "; half-width katakana and full-width "
        "letters/digits folded; no destructive NFKC unless the recipe asks).",
        "2. Language identification (ja / en / mixed by script; fastText lid.176 for Latin and Han-only text); kept: "
        + ", ".join(m["recipe"]["languages"]["keep"]) + ".",
        "3. Quality heuristics with Japanese-aware thresholds (characters per language, symbol ratio, repeated lines "
        "and character n-grams, hiragana share, English stop words).",
        "4. PII redaction with typed placeholders (`<PERSON>`, `<PHONE_NUMBER>`, ...); only counts are recorded.",
        f"5. Benchmark decontamination: character {m['decontamination']['ngram']}-grams, a document holding "
        f"{m['decontamination']['min_overlap']:.0%} of an item's n-grams is removed "
        f"({m['decontamination']['removed_total']} removed).",
        f"6. Exact and near-duplicate removal (MinHash LSH, {m['dedup']['bands']} bands x {m['dedup']['rows']} rows, "
        f"character {m['dedup']['ngram_ja']}-grams for Japanese, {m['dedup']['ngram_other']}-grams otherwise).",
        "7. Mixture sampling to per-source token targets with a fixed seed (epochs per source above).",
        "",
        "## Files",
        "",
        "- `data/part-*.parquet`: columns `id`, `text`, `source`, `lang`, `n_tokens` (o200k_harmony), `domain`, "
        "`copy` (0 for the first copy of an upsampled document), `meta` (JSON).",
        "- `manifest.json`: per source, documents and tokens read / kept / dropped by reason / quarantined, PII counts "
        "by type, dedup and decontamination counts, mixture targets, tool versions.",
        "- `rejected/`: every dropped or quarantined record with its reason (texts PII-redacted and shortened).",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("parquet", data_dir="data", split="train")',
        "```",
        "",
        "## Limitations",
        "",
        "Automatic PII redaction misses some identifiers and over-redacts some words; review before release. "
        "Decontamination covers only the benchmark sets listed in the manifest.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- summary


def summary_tables(m: dict[str, Any]) -> list[Any]:
    """The per-source table and the table of reasons, printed at the end of a build."""
    from rich.table import Table

    table = Table(title=f"{m['name']}: build summary", title_justify="left")
    for col in ["source", "read", "kept", "dropped", "quar.", "dup", "decont.", "PII", "tokens out", "epochs"]:
        table.add_column(col, justify="left" if col == "source" else "right", no_wrap=True)
    for name, s in m["sources"].items():
        table.add_row(
            name, _fmt(s["docs"]["read"]), _fmt(s["docs"]["kept"]), _fmt(sum(s["docs"]["dropped"].values())),
            _fmt(sum(s["docs"]["quarantined"].values())), _fmt(s["dedup"]["exact"] + s["dedup"]["near"]),
            _fmt(sum(s["decontamination"].values())), _fmt(sum(s["pii"]["spans"].values())),
            _fmt(s["tokens"]["out"]), f"{s['mixture']['epochs']:.2f}",
        )
    t = m["totals"]
    table.add_section()
    table.add_row(
        "total", _fmt(t.get("read", 0)), _fmt(t.get("kept", 0)), _fmt(t.get("dropped", 0)), _fmt(t.get("quarantined", 0)),
        _fmt(sum(s["dedup"]["exact"] + s["dedup"]["near"] for s in m["sources"].values())),
        _fmt(m["decontamination"]["removed_total"]),
        _fmt(sum(sum(s["pii"]["spans"].values()) for s in m["sources"].values())), _fmt(t.get("tokens_out", 0)), "",
    )
    reasons = Table(title="why records were left out (details: OUT/rejected/)", title_justify="left")
    reasons.add_column("reason", overflow="fold")
    reasons.add_column("kind", no_wrap=True)
    reasons.add_column("docs", justify="right", no_wrap=True)
    reasons.add_column("tokens", justify="right", no_wrap=True)
    agg: Counter[tuple[str, str]] = Counter()
    tok: Counter[str] = Counter()
    for s in m["sources"].values():
        for k, v in s["docs"]["dropped"].items():
            agg[(k, "dropped")] += v
        for k, v in s["docs"]["quarantined"].items():
            agg[(k, "quarantined")] += v
        tok.update(s["tokens"]["dropped"])
    for (reason, kind), v in sorted(agg.items(), key=lambda kv: (-kv[1], kv[0])):
        reasons.add_row(reason, kind, _fmt(v), _fmt(tok.get(reason, 0)) if kind == "dropped" else "-")
    return [table, reasons] if agg else [table]
