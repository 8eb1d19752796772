"""Generate answers to a prompt set through the inference layer, for one or more models side by side.

Each answer is saved the moment it arrives, keyed by (prompt, model, checkpoint, sampling settings),
so an interrupted run resumes where it stopped and a rerun with the same settings asks for nothing.
Requests that fail after the client's retries are not saved (a rerun asks again) and are counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.review.models import Generation, Prompt
from medswallow.review.store import Actor, ReviewStore

if TYPE_CHECKING:
    from medswallow.inference import ChatResult, SamplingParams


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """Where to get answers from: a server, the model name it serves, and a checkpoint label to show."""

    base_url: str
    model: str
    checkpoint: str = ""

    @classmethod
    def parse(cls, spec: str) -> ModelTarget:
        """``MODEL@URL`` or ``MODEL@URL#CHECKPOINT`` (the command line's --target)."""
        spec = spec.strip()
        checkpoint = ""
        if "#" in spec:
            spec, checkpoint = spec.rsplit("#", 1)
        if "@" not in spec:
            raise UserError(
                f"--target {spec!r}: expected MODEL@BASE_URL[#CHECKPOINT], "
                "for example tiny-gptoss@http://127.0.0.1:8000/v1#step-1000"
            )
        model, url = spec.split("@", 1)
        if not model or not url.startswith(("http://", "https://")):
            raise UserError(f"--target {spec!r}: the model name is empty or the URL does not start with http(s)://")
        return cls(base_url=url, model=model, checkpoint=checkpoint)


@dataclass(slots=True)
class GenerationReport:
    target: ModelTarget
    requested: int = 0
    saved: int = 0
    already_done: int = 0
    failed: int = 0
    truncated: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def sampling_record(params: SamplingParams) -> dict[str, Any]:
    """Every sampling setting, as stored with each generation."""
    data = asdict(params)
    if isinstance(data.get("stop"), tuple):
        data["stop"] = list(data["stop"])
    return data


def settings_hash(sampling: dict[str, Any]) -> str:
    blob = json.dumps(sampling, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def messages_for(prompt: Prompt) -> list[dict[str, str]]:
    messages = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    messages.append({"role": "user", "content": prompt.text})
    return messages


def _pending_prompts(store: ReviewStore, prompt_set_id: int, target: ModelTarget, shash: str) -> tuple[list[Prompt], int]:
    with store.read() as session:
        prompts = list(session.scalars(select(Prompt).where(Prompt.prompt_set_id == prompt_set_id).order_by(Prompt.id)))
        if not prompts:
            raise UserError(f"prompt set {prompt_set_id} has no prompts; import some first")
        done = set(
            session.scalars(
                select(Generation.prompt_id).where(
                    Generation.prompt_id.in_([p.id for p in prompts]),
                    Generation.model == target.model,
                    Generation.checkpoint == target.checkpoint,
                    Generation.settings_hash == shash,
                )
            )
        )
    return [p for p in prompts if p.id not in done], len(done)


def save_generation(
    store: ReviewStore,
    actor: Actor,
    prompt_id: int,
    target: ModelTarget,
    sampling: dict[str, Any],
    result: ChatResult,
) -> int | None:
    """Store one answer; returns its id, or None when an answer with the same key already exists."""
    actor.require("generate")
    shash = settings_hash(sampling)
    with store.write(actor) as (session, audit):
        exists = session.scalar(
            select(Generation.id).where(
                Generation.prompt_id == prompt_id,
                Generation.model == target.model,
                Generation.checkpoint == target.checkpoint,
                Generation.settings_hash == shash,
            )
        )
        if exists is not None:
            audit("generation.skip_duplicate", "generation", exists)
            return None
        gen = Generation(
            prompt_id=prompt_id,
            model=target.model,
            checkpoint=target.checkpoint,
            base_url=target.base_url,
            sampling=sampling,
            settings_hash=shash,
            reasoning=result.reasoning or "",
            text=result.text or "",
            finish_reason=result.finish_reason or "",
            truncated=bool(result.truncated),
            latency_s=float(result.latency_s or 0.0),
        )
        session.add(gen)
        session.flush()
        audit(
            "generation.create",
            "generation",
            gen.id,
            prompt_id=prompt_id,
            model=target.model,
            checkpoint=target.checkpoint,
            finish_reason=gen.finish_reason,
        )
        return gen.id


def generate(
    store: ReviewStore,
    actor: Actor,
    prompt_set_id: int,
    targets: list[ModelTarget],
    params: SamplingParams,
    max_concurrency: int = 8,
    on_progress: Callable[[ModelTarget, int, int], None] | None = None,
    show_progress: bool = True,
) -> list[GenerationReport]:
    """Answer every prompt of the set with every target; returns one report per target."""
    actor.require("generate")
    from medswallow.inference import InferenceClient

    if not targets:
        raise UserError("no model to generate with: give at least one --target MODEL@URL")
    sampling = sampling_record(params)
    shash = settings_hash(sampling)
    reports = []
    for target in targets:
        todo, done = _pending_prompts(store, prompt_set_id, target, shash)
        report = GenerationReport(target, requested=len(todo), already_done=done)
        reports.append(report)
        if not todo:
            continue
        client = InferenceClient(target.base_url, model=target.model, max_concurrency=max_concurrency)
        client.check()
        finished = 0

        def on_result(
            i: int,
            result: ChatResult,
            todo: list[Prompt] = todo,
            report: GenerationReport = report,
            target: ModelTarget = target,
        ) -> None:
            nonlocal finished
            finished += 1
            if result.error is not None:
                report.failed += 1
                reason = result.error.split(":")[0]
                report.errors[reason] = report.errors.get(reason, 0) + 1
            elif save_generation(store, actor, todo[i].id, target, sampling, result) is not None:
                report.saved += 1
                report.truncated += int(bool(result.truncated))
            if on_progress is not None:
                on_progress(target, finished, len(todo))

        label = f"{target.model}{'#' + target.checkpoint if target.checkpoint else ''}"
        client.chat_many(
            [messages_for(p) for p in todo],
            params,
            progress=f"answers from {label}" if show_progress else None,
            on_result=on_result,
        )
    return reports
