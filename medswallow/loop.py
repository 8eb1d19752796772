"""``medswallow loop``: clinician reviews -> DPO -> the eval suite, with a before/after table.

1. **export** the review database (``medswallow review export``), or take an export folder as it is;
2. **train** the DPO recipe on it (``medswallow train``); the servable model is the result;
3. **evaluate** the model before and after, each served by vLLM in turn (one server at a time, or an
   already running one for the base): the eval suite gives benchmark accuracy, and answers to the review
   prompt set judged by the review pre-screen rules give the unsafe rate;
4. **compare**: per task accuracy before and after with a paired bootstrap CI of the difference, and the
   unsafe rate with Wilson CIs, printed and written to ``OUT/loop.json`` and ``OUT/loop.md``.

The pre-screen is a cheap automatic judge (dose limits, missing referral for red-flag symptoms, PII), not a
clinician: the unsafe rate here says whether the rules fire less, and the next review round says whether
the answers are safer. By default the prompts are those the DPO pairs came from (in-sample); pass a
held-out prompt file with ``--prompts`` for an out-of-sample rate.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medswallow.console import console
from medswallow.errors import UserError

DEFAULT_RULES = ("dose", "referral", "pii")


@dataclass
class Prompt:
    """One review prompt: what is asked, and what the pre-screen needs to judge the answer."""

    id: str
    text: str
    system: str | None = None
    lang: str = "und"
    expects_referral: bool = False

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": self.text}]


@dataclass
class SafetyResult:
    """Pre-screen verdicts over a prompt set: per prompt unsafe or not, and which rules fired how often."""

    unsafe: dict[str, bool] = field(default_factory=dict)
    by_rule: Counter[str] = field(default_factory=Counter)
    no_answer: int = 0  # empty final answers (reasoning used the whole budget), counted separately
    errors: int = 0  # requests that failed: left out of the rate

    @property
    def n(self) -> int:
        return len(self.unsafe)

    @property
    def k(self) -> int:
        return sum(self.unsafe.values())

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        from medswallow.review.stats import wilson_ci

        return {
            "n": self.n,
            "unsafe": self.k,
            "rate": self.rate if self.n else None,
            "ci95": list(wilson_ci(self.k, self.n)) if self.n else [None, None],
            "by_rule": dict(self.by_rule),
            "no_answer": self.no_answer,
            "errors": self.errors,
        }


# --- prompts -----------------------------------------------------------------------------------------------


def export_prompts(export_dir: Path) -> list[Prompt]:
    """The distinct prompts of a review export (``labels.jsonl``): the prompt set the reviews were made on."""
    labels = export_dir / "labels.jsonl"
    if not labels.is_file():
        raise UserError(f"{labels} not found: the unsafe rate needs the review export's labels.jsonl, or --prompts FILE")
    out: dict[str, Prompt] = {}
    with labels.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{labels}:{n}: not valid JSON; export the review again") from None
            key = f"{row.get('prompt_set', '')}/{row.get('prompt_id', '')}"
            if key not in out and isinstance(row.get("prompt"), str):
                out[key] = Prompt(key, row["prompt"], row.get("system") or None, str(row.get("lang") or "und"))
    if not out:
        raise UserError(f"{labels} has no prompts; review some answers first or pass --prompts FILE")
    return list(out.values())


def file_prompts(paths: list[Path]) -> list[Prompt]:
    """Prompts from review prompt files (``safety/prompts/*.jsonl`` or CSV); a bad row stops with its line."""
    from medswallow.review.prompts import read_prompt_file

    out: list[Prompt] = []
    for path in paths:
        rows, bad = read_prompt_file(path)
        if bad:
            where, why = bad[0]
            raise UserError(f"--prompts: {where}: {why}")
        out += [Prompt(f"{path.stem}/{r.external_id}", r.text, r.system, r.lang, r.expects_referral) for r in rows]
    if not out:
        raise UserError("--prompts: the files hold no prompts")
    return out


# --- judging -----------------------------------------------------------------------------------------------


def judge(prompts: list[Prompt], answers: list[Any], rule_names: tuple[str, ...]) -> SafetyResult:
    """Run the pre-screen rules over each answer (a ChatResult); any rule that fires makes it unsafe."""
    from medswallow.review.prescreen import PromptInfo, check_answer, make_rules

    rules = make_rules(list(rule_names))
    result = SafetyResult()
    for prompt, answer in zip(prompts, answers, strict=True):
        if not answer.ok:
            result.errors += 1
            continue
        if not answer.text.strip():
            result.no_answer += 1
        info = PromptInfo(prompt.text, prompt.lang, prompt.expects_referral)
        fired = [f.rule for f in check_answer(rules, info, answer.text) if f.score > 0]
        result.unsafe[prompt.id] = bool(fired)
        result.by_rule.update(fired)
    return result


def safety_run(
    client: Any, prompts: list[Prompt], params: Any, rules: tuple[str, ...], out_path: Path
) -> SafetyResult:
    """Answer the prompts, judge the answers, write per-prompt verdicts (ids and rules only, no text)."""
    answers = client.chat_many([p.messages() for p in prompts], params, progress="review prompts")
    result = judge(prompts, answers, rules)
    with out_path.open("w", encoding="utf-8") as f:
        for p, a in zip(prompts, answers, strict=True):
            row = {"id": p.id, "unsafe": result.unsafe.get(p.id), "finish_reason": a.finish_reason, "error": a.error}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return result


# --- serving and evaluating one model ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_max_len(model_dir: str, wanted: int) -> int:
    """``wanted`` capped at the model's own context (vLLM refuses a longer --max-model-len)."""
    config = Path(model_dir) / "config.json"
    if config.is_file():
        limit = json.loads(config.read_text()).get("max_position_embeddings")
        if isinstance(limit, int) and limit > 0:
            return min(wanted, limit)
    return wanted


@dataclass
class Side:
    """One model of the comparison: a folder to serve, or a server already running."""

    label: str  # before / after
    model: str  # folder (or hub id) to serve, shown in the table
    url: str | None = None
    served_name: str | None = None


def evaluate(side: Side, suite: Any, prompts: list[Prompt], rules: tuple[str, ...], out: Path, max_model_len: int) -> tuple[dict[str, Any], SafetyResult]:
    """Serve ``side`` (unless it is already served), run the eval suite and the safety prompts, stop the server."""
    from medswallow.inference.server import VLLMServer

    out.mkdir(parents=True, exist_ok=True)
    if side.url is not None:
        return _evaluate_at(side.url, side.served_name or side.label, suite, prompts, rules, out)
    server = VLLMServer(
        model=side.model,
        served_model_name=side.label,
        port=free_port(),
        max_model_len=model_max_len(side.model, max_model_len),
        log_path=out / "server.log",
    )
    with console.status(f"starting vLLM for the {side.label} model ({side.model})"):
        server.start(timeout=1800)
    try:
        return _evaluate_at(server.base_url, side.label, suite, prompts, rules, out)
    finally:
        server.stop()


def _evaluate_at(url: str, name: str, suite: Any, prompts: list[Prompt], rules: tuple[str, ...], out: Path) -> tuple[dict[str, Any], SafetyResult]:
    from medswallow.bench.runner import make_client, run_suite

    results = run_suite(suite, out / "eval", model=name, base_urls=[url])
    client = make_client(suite, name, [url], out / "eval" / "cache")
    safety = safety_run(client, prompts, suite.sampling.params(seed=suite.seed), rules, out / "safety.jsonl")
    return results, safety


# --- the loop ----------------------------------------------------------------------------------------------


@dataclass
class LoopResult:
    before: Side
    after: Side
    accuracy: dict[str, Any]  # medswallow.bench.report.compare output
    safety: dict[str, Any]  # before / after / paired difference
    out_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": asdict(self.before),
            "after": asdict(self.after),
            "accuracy": self.accuracy,
            "safety": self.safety,
        }


def export_reviews(review_db: str, prompt_set: str | None, taxonomy_path: Path | None, out: Path) -> Path:
    """``medswallow review export`` into ``out`` (as the command-line operator)."""
    from medswallow.review.export import export_review
    from medswallow.review.store import OPERATOR, ReviewStore
    from medswallow.review.taxonomy import load_taxonomy

    store = ReviewStore.open(review_db)
    try:
        report = export_review(store, OPERATOR, out, load_taxonomy(taxonomy_path), prompt_set=prompt_set, parquet=False)
    finally:
        store.close()
    skipped = ", ".join(f"{k}: {v}" for k, v in report.dpo_skipped.items()) or "none"
    console.print(f"review export: {report.labels} reviewed answers, {report.dpo_pairs} preference pairs (not pairs: {skipped})")
    return out


def load_dpo_recipe(recipe_path: Path, overrides: list[str], export_dir: Path, out: Path) -> tuple[Any, Any]:
    """The DPO recipe pointed at the export and at ``out``, checked before anything runs."""
    import yaml

    from medswallow.train.registry import load_recipe

    if not recipe_path.is_file():
        raise UserError(f"{recipe_path}: recipe file not found")
    raw = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind != "dpo":
        raise UserError(f"{recipe_path}: the loop trains a DPO recipe (kind: dpo), not kind: {kind}")
    module, recipe = load_recipe(recipe_path, [*overrides, f"data.export={export_dir}", f"train.output_dir={out}"])
    if recipe.method == "lora" and not recipe.export.merge:
        raise UserError(f"{recipe_path}: the loop serves the trained model; set export.merge: true for a LoRA recipe")
    return module, recipe


def train_dpo(module: Any, recipe: Any) -> tuple[Path, str]:
    """Run the DPO recipe; returns (servable model folder, the model it started from)."""
    from medswallow.train.modeling import model_source
    from medswallow.train.runner import run

    result = run(module, recipe)
    if not result.finished or result.model_dir is None:
        raise UserError("DPO training stopped before its last step; run the same loop command again to continue it")
    return result.model_dir, model_source(recipe)


def safety_comparison(before: SafetyResult, after: SafetyResult, seed: int) -> dict[str, Any]:
    """Both rates, and the paired difference over prompts judged both times (bootstrap CI)."""
    from medswallow.bench.scoring import paired_bootstrap_diff

    shared = sorted(set(before.unsafe) & set(after.unsafe))
    diff, lo, hi = paired_bootstrap_diff(
        [float(before.unsafe[i]) for i in shared], [float(after.unsafe[i]) for i in shared], seed=seed
    )
    return {
        "before": before.to_dict(),
        "after": after.to_dict(),
        "paired_n": len(shared),
        "diff": diff if shared else None,
        "ci95": [lo, hi] if shared else [None, None],
    }


def run_loop(
    recipe_path: Path,
    suite_path: Path,
    out: Path,
    *,
    export_dir: Path | None = None,
    review_db: str | None = None,
    prompt_set: str | None = None,
    prompt_files: list[Path] | None = None,
    before_url: str | None = None,
    before_name: str | None = None,
    overrides: list[str] | None = None,
    rules: tuple[str, ...] = DEFAULT_RULES,
    max_model_len: int = 32768,
) -> LoopResult:
    """Review export -> DPO -> eval suite and unsafe rate, before and after; see the module docstring."""
    from medswallow.bench.report import compare
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config
    from medswallow.review.prescreen import make_rules

    if (export_dir is None) == (review_db is None):
        raise UserError("give the reviews either as --export DIR (a review export) or as --review-db URL, not both")
    make_rules(list(rules))  # a typo in --rules fails now, not after training
    suite = load_config(Suite, suite_path)
    out = out.resolve()
    export_dir = (export_dir or out / "export").resolve()
    module, recipe = load_dpo_recipe(recipe_path, list(overrides or []), export_dir, out / "dpo")
    out.mkdir(parents=True, exist_ok=True)
    if review_db is not None:
        taxonomy = recipe.resolve(recipe.data.taxonomy) if recipe.data.taxonomy else None
        export_reviews(review_db, prompt_set, taxonomy, export_dir)
    prompts = file_prompts(prompt_files) if prompt_files else export_prompts(export_dir)

    model_dir, base = train_dpo(module, recipe)
    before = Side("before", base, before_url, before_name)
    after = Side("after", str(model_dir))
    results_before, safety_before = evaluate(before, suite, prompts, rules, out / "before", max_model_len)
    results_after, safety_after = evaluate(after, suite, prompts, rules, out / "after", max_model_len)
    del results_before, results_after  # compare() reads them back from disk with their per-item samples
    result = LoopResult(
        before,
        after,
        compare(out / "before" / "eval", out / "after" / "eval", seed=suite.seed),
        safety_comparison(safety_before, safety_after, suite.seed),
        out,
    )
    (out / "loop.json").write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "loop.md").write_text(loop_markdown(result, rules), encoding="utf-8")
    console.print(loop_table(result, rules))
    return result


# --- reporting ---------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"


def _ci(ci: list[Any] | None) -> str:
    if not ci or ci[0] is None or ci[0] != ci[0]:
        return "–"
    return f"{100 * ci[0]:+.1f} … {100 * ci[1]:+.1f}"


def table_rows(result: LoopResult, rules: tuple[str, ...]) -> list[tuple[str, str, str, str, str]]:
    """(metric, before %, after %, after − before in points, 95% CI of the difference)."""
    rows = []
    for name, r in result.accuracy["tasks"].items():
        diff = r.get("diff")
        rows.append((f"{name} accuracy %", _pct(r["a"]), _pct(r["b"]), "–" if diff is None else f"{100 * diff:+.1f}", _ci(r.get("ci95"))))
    s = result.safety
    label = f"unsafe rate % (pre-screen: {', '.join(rules)}; n={s['after']['n']})"
    diff = s.get("diff")
    rows.append((label, _pct(s["before"]["rate"]), _pct(s["after"]["rate"]), "–" if diff is None else f"{100 * diff:+.1f}", _ci(s.get("ci95"))))
    return rows


def loop_table(result: LoopResult, rules: tuple[str, ...]) -> Any:
    from rich.table import Table

    table = Table(title=f"before: {result.before.model}   after: {result.after.model}", title_justify="left")
    for col in ("metric", "before", "after", "after − before (pts)", "95% CI"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in table_rows(result, rules):
        table.add_row(*row)
    table.caption = "accuracy: paired bootstrap over items; unsafe rate: paired bootstrap over prompts (lower is safer)"
    return table


def loop_markdown(result: LoopResult, rules: tuple[str, ...]) -> str:
    lines = [
        "# Review -> DPO -> eval",
        "",
        f"- before: `{result.before.model}`",
        f"- after: `{result.after.model}`",
        "",
        "| metric | before | after | after − before (pts) | 95% CI |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(result, rules)]
    s = result.safety
    fired = ", ".join(f"{k} {s['before']['by_rule'].get(k, 0)} -> {s['after']['by_rule'].get(k, 0)}" for k in rules)
    lines += [
        "",
        f"Pre-screen rules fired (before -> after): {fired}. Empty answers: {s['before']['no_answer']} -> "
        f"{s['after']['no_answer']}. The pre-screen is an automatic judge, not a clinician review.",
        "",
    ]
    return "\n".join(lines)
