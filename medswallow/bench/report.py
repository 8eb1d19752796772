"""The human side of a run: report.md (a table next to the published scores) and a bar chart with CIs;
``compare`` for two runs (paired bootstrap over the items both answered).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medswallow.errors import UserError


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"


def _ci(ci: list[float | None] | None) -> str:
    if not ci or ci[0] is None:
        return "–"
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reported number (likelihood runs give two: NLL and NLL per token)."""
    rows = []
    for name, t in results["tasks"].items():
        base = {"name": name, "title": t["title"], "n": t["n"], "published": t.get("published")}
        if t["scoring"] == "generative":
            rows.append(
                {
                    **base,
                    "scoring": "generated · robust",
                    "accuracy": t["accuracy"],
                    "ci95": t["ci95"],
                    "truncation": t.get("truncation_rate"),
                }
            )
            off = t.get("official")
            if off and off.get("accuracy") is not None:
                rows.append(
                    {
                        **base,
                        "n": off["n"],
                        "scoring": "generated · official",
                        "accuracy": off["accuracy"],
                        "ci95": off["ci95"],
                        "truncation": t.get("truncation_rate"),
                    }
                )
        else:
            rows.append(
                {
                    **base,
                    "scoring": "likelihood (NLL)",
                    "accuracy": t["accuracy"],
                    "ci95": t["ci95"],
                    "truncation": None,
                }
            )
            rows.append(
                {
                    **base,
                    "scoring": "likelihood (NLL/token)",
                    "accuracy": t["norm"]["accuracy"],
                    "ci95": t["norm"]["ci95"],
                    "truncation": None,
                }
            )
    return rows


def render_markdown(results: dict[str, Any], plot_name: str | None = "accuracy.png") -> str:
    s = results
    lines = [
        f"# {s['suite']}: {s['model']}",
        "",
        f"Run {s['created']} with medswallow {s['medswallow']}; {s['repeats']} sample(s) per item, seed {s['seed']}, "
        f"95% CIs from {s['bootstrap']} bootstrap resamples over items. Published: the Medical-GPT-OSS-Swallow-120B "
        "model card (its scoring method is not stated).",
        "",
        "Scoring modes: **robust** (the default) reads the answer a response commits to, as a careful human grader "
        "would, over the items the benchmark scores (voided, excluded and exam-excluded items left out); "
        "**official** reproduces the benchmark's own evaluator item for item (its answer reading, its item "
        "set: IgakuQA's counts all 2,000). Likelihood runs score as JMedBench's med-eval does.",
        "",
        "| task | scoring | n | accuracy % | 95% CI | published % | Δ (pts) | truncated % |",
        "|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in table_rows(results):
        pub = r["published"]
        delta = "–" if pub is None or r["accuracy"] is None else f"{100 * (r['accuracy'] - pub):+.1f}"
        lines.append(
            f"| {r['title']} (`{r['name']}`) | {r['scoring']} | {r['n']} | {_pct(r['accuracy'])} | {_ci(r['ci95'])} "
            f"| {_pct(pub)} | {delta} | {_pct(r['truncation'])} |"
        )
    if plot_name:
        lines += ["", f"![accuracy per task]({plot_name})"]
    details = []
    for name, t in s["tasks"].items():
        extra = []
        if t.get("repeats", 1) > 1:
            reps = ", ".join(_pct(a) for a in t["accuracy_per_repeat"])
            extra.append(f"per repeat: {reps} (sd {100 * t['accuracy_std']:.1f} pts)")
        if "points" in t:
            extra.append(f"points score {t['points']['score']:.1f} / {t['points']['total']:.0f}")
        sub = t.get("subsets") or {}
        for key, label in (("text_only", "text-only"), ("figure", "figure")):
            if (sub.get(key) or {}).get("n"):
                extra.append(f"{label} subset: {_pct(sub[key]['accuracy'])}% of {sub[key]['n']}")
        if sub.get("figure_choices"):
            extra.append(f"{len(sub['figure_choices'])} items whose choices are a figure (not included)")
        if "contraindicated_choice_rate" in t:
            extra.append(
                f"picked a contraindicated choice (禁忌肢) on {_pct(t['contraindicated_choice_rate'])}% of {t['contraindicated_items']} items"
            )
        kinki = t.get("contraindicated_by_exam") or {}
        if kinki:
            per = ", ".join(
                f"{exam} {'/'.join(str(x) for x in k['picked_per_repeat'])} of {k['items']}"
                for exam, k in kinki.items()
            )
            failing = [exam for exam, k in kinki.items() if any(k["fails_rule_per_repeat"])]
            extra.append(
                f"禁忌肢 picked per exam (per repeat): {per}; exams failing the 4-or-more rule: "
                + (", ".join(failing) or "none")
            )
        if sub.get("voided"):
            extra.append(f"voided (not in robust): {', '.join(sub['voided'])}")
        if sub.get("excluded"):
            extra.append(f"excluded (not in robust): {', '.join(sub['excluded'])}")
        if sub.get("excluded_by_exam"):
            extra.append(
                f"left out by the exam, points 0 (not in robust): {', '.join(sub['excluded_by_exam'])}"
            )
        if sub.get("duplicates"):
            dup = ", ".join(f"{a} = {b}" for a, b in sub["duplicates"].items())
            extra.append(f"duplicate items (scored as published): {dup}")
        off = t.get("official")
        if off and "differ" in off:
            shown = ", ".join(off["differ"][:20]) + (" …" if len(off["differ"]) > 20 else "")
            ot = off.get("text_only") or {}
            if ot.get("n") and ot["n"] != off.get("n"):
                extra.append(
                    f"official on the text-only items (--text-only): {_pct(ot['accuracy'])}% of {ot['n']}"
                )
            extra.append(
                f"official evaluator: {off['evaluator']}; robust and official differ on {len(off['differ'])} items"
                + (f": {shown}" if off["differ"] else "")
            )
        elif off is None and t["scoring"] == "generative":
            extra.append("no official evaluator for generated answers: robust only")
        if t.get("no_answer_rate"):
            extra.append(f"no answer read from {_pct(t['no_answer_rate'])}% of outputs")
        if t.get("error_rate"):
            extra.append(f"{_pct(t['error_rate'])}% of requests failed (rerun to retry)")
        if extra:
            details.append(f"- **{name}**: " + "; ".join(extra))
    sub_rows = [(name, t) for name, t in s["tasks"].items() if t.get("subsets")]
    if sub_rows:
        lines += [
            "",
            "## Subsets (robust)",
            "",
            "| task | asked | scored | text-only n | text-only % | figure n | figure % | voided | excluded |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, t in sub_rows:
            sub = t["subsets"]
            to, fig = sub.get("text_only") or {}, sub.get("figure") or {}
            excl = len(sub.get("excluded") or {}) + len(sub.get("excluded_by_exam") or [])
            lines.append(
                f"| `{name}` | {t.get('asked', '–')} | {t['n']} | {to.get('n', 0)} | {_pct(to.get('accuracy'))} "
                f"| {fig.get('n', 0)} | {_pct(fig.get('accuracy'))} | {len(sub.get('voided') or [])} | {excl} |"
            )
    if details:
        lines += ["", "## Notes", "", *details]
    for t in (t for t in s["tasks"].values() if len(t.get("by_category") or {}) > 1):
        lines += [
            "",
            f"## {t['title']} by category",
            "",
            "| category | n | accuracy % | 95% CI |",
            "|---|---:|---:|---|",
        ]
        for cat, c in t["by_category"].items():
            lines.append(f"| {cat} | {c['n']} | {_pct(c['accuracy'])} | {_ci(c['ci95'])} |")
    lines += ["", "## Settings", ""]
    for name, t in s["tasks"].items():
        lines.append(f"- `{name}`: " + json.dumps(t["settings"], ensure_ascii=False))
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Bar chart per task with 95% CI error bars; published scores marked as red ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table_rows(results)
    labels = [f"{r['title']}\n{r['scoring']}" for r in rows]
    acc = [100 * (r["accuracy"] or 0.0) for r in rows]
    lo = [
        max(0.0, a - 100 * (r["ci95"][0] if r["ci95"][0] is not None else a / 100))
        for a, r in zip(acc, rows, strict=True)
    ]
    hi = [
        max(0.0, 100 * (r["ci95"][1] if r["ci95"][1] is not None else a / 100) - a)
        for a, r in zip(acc, rows, strict=True)
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2), 4.5))
    xs = list(range(len(rows)))
    ax.bar(xs, acc, yerr=[lo, hi], capsize=4, color="#4C72B0", label="this run (95% CI)")
    pubs = [(x, 100 * r["published"]) for x, r in zip(xs, rows, strict=True) if r["published"] is not None]
    if pubs:
        ax.scatter(
            [p[0] for p in pubs],
            [p[1] for p in pubs],
            marker="_",
            s=600,
            linewidths=3,
            color="#C44E52",
            zorder=3,
            label="published (model card)",
        )
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy %")
    ax.set_title(f"{results['suite']}: {results['model']}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any], out_dir: Path) -> Path:
    plot(results, out_dir / "accuracy.png")
    path = out_dir / "report.md"
    path.write_text(render_markdown(results), encoding="utf-8")
    return path


# ---- comparing two runs -----------------------------------------------------------------------------


def _load_run(path: Path) -> tuple[dict[str, Any], Path]:
    p = Path(path)
    res = p / "results.json" if p.is_dir() else p
    if not res.is_file():
        raise UserError(
            f"{path}: no results.json here; give an eval output folder (medswallow eval SUITE -o OUT)"
        )
    try:
        return json.loads(res.read_text(encoding="utf-8")), res.parent
    except json.JSONDecodeError as exc:
        raise UserError(f"{res}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _item_correct(run_dir: Path, name: str) -> dict[str, float]:
    from medswallow.bench.scoring import per_item_means

    path = run_dir / "samples" / f"{name}.jsonl"
    if not path.is_file():
        return {}
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return per_item_means([r for r in recs if r.get("scored", True)])  # the items the robust score counts


def compare(a: Path, b: Path, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Per task: accuracy of A and B and the paired difference B - A with a bootstrap 95% CI."""
    from medswallow.bench.scoring import paired_bootstrap_diff

    ra, da = _load_run(a)
    rb, db = _load_run(b)
    out: dict[str, Any] = {
        "a": {"path": str(a), "model": ra["model"]},
        "b": {"path": str(b), "model": rb["model"]},
        "tasks": {},
    }
    for name in sorted(set(ra["tasks"]) | set(rb["tasks"])):
        ta, tb = ra["tasks"].get(name), rb["tasks"].get(name)
        row: dict[str, Any] = {"a": ta["accuracy"] if ta else None, "b": tb["accuracy"] if tb else None}
        if ta and tb:
            ia, ib = _item_correct(da, name), _item_correct(db, name)
            shared = sorted(set(ia) & set(ib))
            if shared:
                d, lo, hi = paired_bootstrap_diff(
                    [ia[i] for i in shared], [ib[i] for i in shared], n_boot, seed
                )
                row.update(paired_n=len(shared), diff=d, ci95=[lo, hi])
            else:
                row.update(paired_n=0, diff=tb["accuracy"] - ta["accuracy"], ci95=[None, None])
        out["tasks"][name] = row
    return out


def compare_table(cmp: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"B − A   (A: {cmp['a']['model']}  B: {cmp['b']['model']})")
    for col in ("task", "A %", "B %", "paired n", "B − A (pts)", "95% CI"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for name, r in cmp["tasks"].items():
        diff = r.get("diff")
        ci = r.get("ci95") or [None, None]
        sig = ci[0] is not None and (ci[0] > 0 or ci[1] < 0)
        diff_s = "–" if diff is None else f"{100 * diff:+.1f}" + (" *" if sig else "")
        table.add_row(name, _pct(r["a"]), _pct(r["b"]), str(r.get("paired_n", "–")), diff_s, _ci(ci))
    table.caption = "* the CI excludes 0"
    return table
