"""Running a suite: load every task, send all requests through the inference layer, score, write the report.

All requests of all task runs go out together (bounded by the client's concurrency), so the server stays
busy across task boundaries. The client's disk cache (``OUT/cache`` by default) stores each answer as it
arrives: a killed run continues without re-asking answered items, and a rerun of a finished run sends no
request at all. Every item in the files is asked, voided and excluded ones included: the robust score
leaves those out, while a benchmark's own evaluator may count them (IgakuQA's counts all 2,000). Truncated
answers are never scored as answers; failed requests are counted, reported and re-asked by the next run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medswallow.bench.extract import extract_answer
from medswallow.bench.likelihood import OptionScores, choose, likelihood_prompts, scores_from_completions
from medswallow.bench.prompts import (
    PromptStyle,
    chat_messages,
    check_template,
    get_likelihood_style,
    get_style,
    likelihood_context,
)
from medswallow.bench.registry import get_task
from medswallow.bench.scoring import per_item_means, summarise
from medswallow.bench.suite import SamplingConfig, Suite, TaskRun
from medswallow.bench.task import Loaded, Task
from medswallow.console import console, progress
from medswallow.errors import UserError
from medswallow.records import Sample


@dataclass
class Prepared:
    """One task run, loaded and ready: its items, prompts and settings."""

    run: TaskRun
    task: Task
    loaded: Loaded
    samples: list[Sample]
    data: str
    style: PromptStyle | None = None
    system: str = ""
    sampling: SamplingConfig | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    limit: int | None = None  # the first N items only (the run's or the command line's --limit)


def prepare(suite: Suite, run: TaskRun, limit: int | None = None) -> Prepared:
    """Load a task run's data and settle its prompt; every user error surfaces here, before model time."""
    task = get_task(run.task)
    data = suite.data_path(run)
    loaded = task.load(data)
    for s, why in loaded.excluded:
        s.meta["excluded"] = why
    samples = loaded.samples + [s for s, _ in loaded.excluded]
    if run.text_only:
        samples = [s for s in samples if s.text_only]
    caps = [x for x in (run.limit, limit) if x is not None]
    if caps:
        samples = samples[: min(caps)]
    prep = Prepared(run=run, task=task, loaded=loaded, samples=samples, data=data)
    prep.limit = min(caps) if caps else None
    where = f"task '{run.run_name}'"
    if run.mode == "generative":
        style = get_style(run.prompt or task.prompt)
        if run.user_template is not None:
            check_template(run.user_template, f"{where} user_template")
            style = PromptStyle(
                name=f"{style.name}+custom",
                user=run.user_template,
                system=style.system,
                choice_line=style.choice_line,
            )
        prep.style = style
        prep.system = task.system if run.system is None else run.system
        prep.sampling = suite.sampling.merged(run.sampling)
    else:
        get_likelihood_style(run.prompt or "standard")
        prep.samples = [s for s in samples if s.choices]  # numeric entries and figure choices have no text
    return prep


def in_robust(s: Sample) -> bool:
    """Whether the robust score counts the item: not voided, not excluded (errata), not left out by the exam."""
    return not (s.voided or s.meta.get("excluded") or s.meta.get("excluded_by_exam"))


def _item_fields(s: Sample) -> dict[str, Any]:
    """What every record carries about its item: subsets and facts the report breaks down by."""
    rec: dict[str, Any] = {
        "category": s.category,
        "text_only": s.text_only,
        "scored": in_robust(s),
    }
    for key in ("exam", "excluded", "excluded_by_exam", "duplicate_of", "figure_choices", "contraindicated"):
        if s.meta.get(key):
            rec[key] = s.meta[key]
    if s.voided:
        rec["voided"] = True
    return rec


# ---- generated answers ------------------------------------------------------------------------------


@dataclass
class ChatJob:
    prep: Prepared
    sample: Sample
    repeat: int
    messages: list[dict[str, str]]
    params: Any


def chat_jobs(prep: Prepared, repeats: int, seed: int) -> list[ChatJob]:
    """One request per item and repeat; repeat r samples with seed ``seed + r`` (its own cache entry)."""
    assert prep.style is not None and prep.sampling is not None
    jobs = []
    for r in range(repeats):
        params = prep.sampling.params(seed=seed + r)
        for s in prep.samples:
            jobs.append(ChatJob(prep, s, r, chat_messages(s, prep.style, prep.system), params))
    return jobs


def chat_record(job: ChatJob, result: Any) -> dict[str, Any]:
    """One answer scored both ways: ``correct`` (robust: the answer a careful grader reads, None when the
    output was cut or failed) and ``official_correct`` (the benchmark's own reading of the same text)."""
    s = job.sample
    answer = None if (result.truncated or result.error) else extract_answer(result.text, s.labels, s.choices)
    rec: dict[str, Any] = {
        "id": s.id,
        "repeat": job.repeat,
        "prompt": job.messages,
        "raw_output": result.text,
        "reasoning": result.reasoning,
        "extracted_answer": answer,
        "gold": s.gold,
        "accepted": s.accepted,
        "correct": job.prep.task.score(s, answer),
        "finish_reason": result.finish_reason,
        "truncated": bool(result.truncated),
        "error": result.error,
        "cached": bool(getattr(result, "cached", False)),
        **_item_fields(s),
    }
    official = job.prep.task.official
    if official is not None:
        # The official harnesses read whatever content came back, cut or not (None reads as empty).
        rec["official_prediction"], rec["official_correct"] = official(
            s, "" if result.error else result.text or ""
        )
    if job.prep.task.points_score:
        rec["points"] = s.points
    if s.always_correct:
        rec["always_correct"] = True
    return rec


# ---- option likelihood ------------------------------------------------------------------------------


@dataclass
class LikelihoodJob:
    prep: Prepared
    sample: Sample
    context: str
    prompts: list[str]


def likelihood_jobs(prep: Prepared) -> list[LikelihoodJob]:
    style = get_likelihood_style(prep.run.prompt or "standard")
    jobs = []
    for s in prep.samples:
        ctx = likelihood_context(s, style)
        jobs.append(LikelihoodJob(prep, s, ctx, likelihood_prompts(ctx, s)))
    return jobs


def likelihood_record(job: LikelihoodJob, scores: OptionScores) -> dict[str, Any]:
    s = job.sample
    pred = choose(s, scores, normalised=False)
    pred_norm = choose(s, scores, normalised=True)
    return {
        "id": s.id,
        "repeat": 0,
        "prompt": job.context,
        "options": s.choices,
        "option_nll": scores.nll,
        "option_tokens": scores.n_tokens,
        "extracted_answer": pred,
        "extracted_answer_norm": pred_norm,
        "gold": s.gold,
        "correct": job.prep.task.score(s, pred),
        "correct_norm": job.prep.task.score(s, pred_norm),
        "truncated": False,
        "error": scores.error,
        **_item_fields(s),
    }


LIKELIHOOD_PARAMS = {
    "max_tokens": 1,
    "temperature": 0.0,
    "top_p": None,
    "top_k": None,
    "min_p": None,
    "prompt_logprobs": 0,
    "reasoning_effort": None,
}


# ---- sending ----------------------------------------------------------------------------------------


async def _gather_all(calls: list[Callable[[], Coroutine[Any, Any, Any]]], label: str) -> list[Any]:
    """Run every call (the client bounds concurrency), with one progress bar over all of them."""
    results: list[Any] = [None] * len(calls)
    with progress() as bar:
        tid = bar.add_task(label, total=len(calls))

        async def one(i: int) -> None:
            results[i] = await calls[i]()
            bar.advance(tid)

        await asyncio.gather(*(one(i) for i in range(len(calls))))
    return results


def send(client: Any, chats: list[ChatJob], lik: list[LikelihoodJob]) -> tuple[list[Any], list[list[Any]]]:
    """All chat and likelihood requests; results in job order.

    A server client gets every request at once (its concurrency bound keeps the servers full across task
    boundaries); an offline backend gets batches, one per sampling setting, which it generates together.
    """
    from medswallow.inference import SamplingParams

    lik_params = SamplingParams(**LIKELIHOOD_PARAMS)  # type: ignore[arg-type]
    prompts = [p for lj in lik for p in lj.prompts]
    if hasattr(client, "aclose"):
        chat_results, flat = _send_concurrently(client, chats, prompts, lik_params)
    else:
        chat_results, flat = _send_batched(client, chats, prompts, lik_params)
    lik_results, at = [], 0
    for lj in lik:
        lik_results.append(flat[at : at + len(lj.prompts)])
        at += len(lj.prompts)
    return chat_results, lik_results


def _send_concurrently(
    client: Any, chats: list[ChatJob], prompts: list[str], lik_params: Any
) -> tuple[list[Any], list[Any]]:
    from medswallow.inference import run_sync

    calls: list[Callable[[], Coroutine[Any, Any, Any]]] = [
        functools.partial(client.chat, j.messages, j.params) for j in chats
    ]
    calls += [functools.partial(client.complete, p, lik_params) for p in prompts]
    if not calls:
        return [], []

    async def main() -> list[Any]:
        try:
            return await _gather_all(calls, f"asking the model ({len(calls)} requests)")
        finally:
            await client.aclose()

    out = run_sync(main())
    return out[: len(chats)], out[len(chats) :]


def _send_batched(
    client: Any, chats: list[ChatJob], prompts: list[str], lik_params: Any
) -> tuple[list[Any], list[Any]]:
    groups: dict[str, list[int]] = {}
    for i, j in enumerate(chats):  # same sampling settings -> one batch (params may hold unhashable extras)
        groups.setdefault(json.dumps(dataclasses.asdict(j.params), sort_keys=True, default=str), []).append(i)
    chat_results: list[Any] = [None] * len(chats)
    for idx in groups.values():
        params = chats[idx[0]].params
        label = f"generating (seed {params.seed}, {len(idx)} requests)"
        for i, res in zip(
            idx, client.chat_many([chats[i].messages for i in idx], params, progress=label), strict=True
        ):
            chat_results[i] = res
    flat = (
        client.complete_many(prompts, lik_params, progress=f"scoring options ({len(prompts)} prompts)")
        if prompts
        else []
    )
    return chat_results, flat


# ---- the whole run ----------------------------------------------------------------------------------


def make_client(suite: Suite, model: str, base_urls: list[str], cache_dir: Path) -> Any:
    """The inference layer's backend for this suite: a server client, or an offline vLLM/transformers one."""
    b = suite.backend
    if b.kind == "server":
        if not base_urls:
            raise UserError(
                "no server to ask: pass --base-url http://HOST:PORT/v1 or set backend.base_urls in the suite"
            )
        from medswallow.inference import InferenceClient

        return InferenceClient(
            base_urls,
            model=model,
            max_concurrency=b.concurrency,
            cache_dir=cache_dir,
            max_retries=b.max_retries,
            timeout=b.timeout,
        )
    if not Path(model).is_dir():
        raise UserError(
            f"backend '{b.kind}' runs a local model: --model must be a model folder, got {model!r}"
        )
    from medswallow.inference.backends import TransformersBackend, VLLMOfflineBackend

    if b.kind == "vllm":
        return VLLMOfflineBackend(model, cache_dir=cache_dir, engine_args=b.engine_args or None)
    return TransformersBackend(model, cache_dir=cache_dir, device=b.device)


def run_suite(
    suite: Suite,
    out_dir: Path,
    model: str | None = None,
    base_urls: list[str] | None = None,
    limit: int | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Run every task of ``suite``; write OUT/results.json, OUT/samples/<run>.jsonl, OUT/report.md + plot."""
    from medswallow.bench.report import write_report

    model = model or suite.model
    if not model:
        raise UserError(
            "no model named: pass --model NAME (the served model name) or set model: in the suite"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(suite.cache_dir) if suite.cache_dir else out_dir / "cache"
    preps = [prepare(suite, run, limit) for run in suite.tasks]
    for p in preps:
        console.print(f"[bold]{p.run.run_name}[/bold]: {len(p.samples)} items from {p.data} ({p.run.mode})")
    chats = [j for p in preps if p.run.mode == "generative" for j in chat_jobs(p, suite.repeats, suite.seed)]
    liks = [j for p in preps if p.run.mode == "likelihood" for j in likelihood_jobs(p)]
    started = time.monotonic()
    own_client = client is None
    if client is None:
        client = make_client(suite, model, list(base_urls or suite.backend.base_urls), cache_dir)
        if hasattr(client, "check"):
            client.check()
    try:
        chat_results, lik_results = send(client, chats, liks)
    finally:
        if own_client and hasattr(client, "close"):
            client.close()  # an offline vLLM backend ends its worker process
    for job, res in zip(chats, chat_results, strict=True):
        job.prep.records.append(chat_record(job, res))
    scores = [scores_from_completions(answers) for answers in lik_results]
    stats = client.stats.summary() if hasattr(client, "stats") else {}
    wall = time.monotonic() - started
    for ljob, sc in zip(liks, scores, strict=True):
        ljob.prep.records.append(likelihood_record(ljob, sc))
    summary = build_results(suite, preps, model, wall, stats)
    write_samples(out_dir, preps)
    (out_dir / "results.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    write_report(summary, out_dir)
    failed = sum(r.get("error") is not None for p in preps for r in p.records)
    if failed:
        console.print(
            f"[yellow]{failed} requests failed and count as wrong; rerun the same command to ask them again[/yellow]"
        )
    return summary


def write_samples(out_dir: Path, preps: list[Prepared]) -> None:
    samples_dir = out_dir / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    for p in preps:
        path = samples_dir / f"{p.run.run_name}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for rec in p.records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _settings(suite: Suite, p: Prepared) -> dict[str, Any]:
    s: dict[str, Any] = {
        "data": p.data,
        "text_only": p.run.text_only,
        "limit": p.limit,
        "scoring": {
            "headline": "robust",
            "official": p.task.official_source if p.run.mode == "generative" else "nii-nlp/med-eval",
        },
    }
    if p.run.mode == "generative":
        assert p.style is not None and p.sampling is not None
        params = p.sampling.params(seed=suite.seed)
        s.update(
            prompt=p.style.name,
            system=p.system,
            repeats=suite.repeats,
            seeds=[suite.seed + r for r in range(suite.repeats)],
            sampling={
                k: getattr(params, k)
                for k in ("temperature", "top_p", "top_k", "min_p", "max_tokens", "reasoning_effort")
            },
        )
        if p.run.user_template is not None:
            s["user_template"] = p.run.user_template
    else:
        s.update(
            prompt=get_likelihood_style(p.run.prompt or "standard").name,
            template_source="nii-nlp/med-eval templates/jmedbench.py",
            continuation="option text",
            normalisation="per token",
        )
    return s


def _official(p: Prepared, suite: Suite) -> dict[str, Any] | None:
    """The benchmark's own evaluator over every asked item, and the items where it and robust disagree."""
    if p.run.mode == "likelihood":
        return {"evaluator": "nii-nlp/med-eval evaluate_mcqa.py (argmin NLL)", "same_as_robust": True}
    if p.task.official is None:
        return None
    recs = [{**r, "correct": r["official_correct"]} for r in p.records]
    summary = summarise(recs, n_boot=suite.bootstrap, seed=suite.seed)
    differ = sorted(
        {r["id"] for r in p.records if r["scored"] and bool(r["correct"]) != bool(r["official_correct"])}
    )
    # The official scripts also run with --text-only (pharma-LLM-eval's pipeline passes it): that number too.
    text_only = per_item_means([r for r in recs if r["text_only"]])
    return {
        "evaluator": p.task.official_source,
        "n": summary["n"],
        "accuracy": summary["accuracy"],
        "ci95": summary["ci95"],
        "points": summary.get("points"),
        "text_only": {
            "n": len(text_only),
            "accuracy": sum(text_only.values()) / len(text_only) if text_only else None,
        },
        "differ": differ,
        "differ_examples": [
            {
                k: r.get(k)
                for k in (
                    "id",
                    "repeat",
                    "raw_output",
                    "extracted_answer",
                    "official_prediction",
                    "gold",
                    "correct",
                    "official_correct",
                )
            }
            for r in p.records
            if r["id"] in set(differ[:10])
        ][:10],
    }


def _subsets(p: Prepared) -> dict[str, Any]:
    """Who is in and out of each number: text-only, figure, voided, excluded, duplicates."""
    scored = [r for r in p.records if r["scored"]]

    def acc(recs: list[dict[str, Any]]) -> dict[str, Any]:
        means = per_item_means(recs)
        return {"n": len(means), "accuracy": sum(means.values()) / len(means) if means else None}

    first = {r["id"]: r for r in p.records}.values()
    return {
        "text_only": acc([r for r in scored if r["text_only"]]),
        "figure": acc([r for r in scored if not r["text_only"]]),
        "figure_choices": sorted(r["id"] for r in first if r.get("figure_choices")),
        "voided": sorted(r["id"] for r in first if r.get("voided")),
        "excluded": {r["id"]: r["excluded"] for r in first if r.get("excluded")},
        "excluded_by_exam": sorted(r["id"] for r in first if r.get("excluded_by_exam")),
        "duplicates": {r["id"]: r["duplicate_of"] for r in first if r.get("duplicate_of")},
    }


def build_results(
    suite: Suite, preps: list[Prepared], model: str, wall_s: float, stats: dict[str, Any]
) -> dict[str, Any]:
    from medswallow import __version__

    tasks: dict[str, Any] = {}
    for p in preps:
        scored = [r for r in p.records if r["scored"]]
        summary = summarise(scored, n_boot=suite.bootstrap, seed=suite.seed)
        entry: dict[str, Any] = {
            "task": p.task.name,
            "title": p.task.title,
            "scoring": p.run.mode,
            "scoring_mode": "robust",
            **summary,
            "published": p.task.published,
            "items_in_data": len(p.loaded.samples) + len(p.loaded.excluded),
            "asked": len({r["id"] for r in p.records}),
            "voided": sum(s.voided for s in p.loaded.samples),
            "excluded": {s.id: why for s, why in p.loaded.excluded},
            "subsets": _subsets(p),
            "official": _official(p, suite),
            "settings": _settings(suite, p),
        }
        if p.run.mode == "likelihood":
            norm = summarise(
                [{**r, "correct": r["correct_norm"]} for r in scored],
                n_boot=suite.bootstrap,
                seed=suite.seed,
            )
            entry["norm"] = {
                "accuracy": norm["accuracy"],
                "ci95": norm["ci95"],
                "by_category": norm.get("by_category", {}),
            }
        tasks[p.run.run_name] = entry
    return {
        "suite": suite.name,
        "model": model,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "medswallow": __version__,
        "seed": suite.seed,
        "repeats": suite.repeats,
        "bootstrap": suite.bootstrap,
        "wall_s": round(wall_s, 3),
        "requests": stats,
        "tasks": tasks,
    }
