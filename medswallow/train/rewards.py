"""Verifiable rewards for GRPO on medical exams: the right answer, a well-formed harmony answer, length, safety.

TRL calls each reward with the batch's prompts, completions, completion token ids and dataset columns.
Every reward here reads the completion **token ids** and parses them with ``openai_harmony``: the text TRL
decodes for gpt-oss has its special tokens skipped (``analysis…assistantfinal…``), which hides where the
reasoning ends and whether the answer was finished. The answer is read from the final channel only (never
from the reasoning) with the eval's extraction (:mod:`medswallow.bench.extract`) and judged by the task's
own scorer, so a reward of 1 means exactly what a correct item means in ``medswallow eval``.

A reward is one small class: ``name`` and ``score(completion, row) -> float``; :data:`REWARDS` lists them.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from medswallow.config import StrictModel
from medswallow.errors import UserError
from medswallow.records import Sample

RETURN_ID = 200002  # <|return|>: the model finished its answer
END_OF_TEXT_ID = 199999  # <|endoftext|>: gpt-oss's pad token, also an EOS of its generation config
CALL_ID = 200012  # <|call|>: a tool call, which an exam answer never is


# --- parsing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCompletion:
    """One completion split into harmony channels; ``problem`` says why it is not a well-formed answer."""

    reasoning: str
    final: str | None  # None: no final channel at all
    problem: str  # "" when well formed
    n_tokens: int

    @property
    def well_formed(self) -> bool:
        return not self.problem


def parse_completion_ids(ids: Sequence[int]) -> ParsedCompletion:
    """Parse completion token ids (what follows ``<|start|>assistant``) with the harmony parser.

    Well formed means: assistant messages only, optional ``analysis`` messages, then exactly one non-empty
    ``final`` message, last, ended by ``<|return|>`` (not cut off by the token budget).
    """
    import openai_harmony as oh

    from medswallow.models.tokenizer import harmony_encoding

    ids = [int(i) for i in ids]
    n = len(ids)
    end = ids[-1] if ids else None
    body = ids[:-1] if end in (RETURN_ID, END_OF_TEXT_ID, CALL_ID) else ids
    try:
        messages = harmony_encoding().parse_messages_from_completion_tokens(
            body, oh.Role.ASSISTANT, strict=False
        )
    except Exception as exc:  # openai_harmony raises HarmonyError (a plain Exception subclass) on bad markup
        return ParsedCompletion("", None, f"not harmony ({str(exc).splitlines()[0][:80]})", n)
    reasoning: list[str] = []
    finals: list[str] = []
    problem = ""
    for m in messages:
        text = "".join(getattr(c, "text", "") for c in m.content)
        if m.author.role != oh.Role.ASSISTANT:
            problem = problem or f"a {m.author.role.value} message inside the completion"
        elif m.channel == "final":
            finals.append(text)
        elif m.channel == "analysis":
            reasoning.append(text)
        else:
            problem = problem or f"unexpected {m.channel or 'unnamed'} channel"
    final = finals[-1] if finals else None
    if not problem:
        problem = _final_problem(messages, finals, end)
    return ParsedCompletion("".join(reasoning), final, problem, n)


def _final_problem(messages: list[Any], finals: list[str], end: int | None) -> str:
    if not finals:
        return "cut off before the final channel" if end != RETURN_ID else "no final channel"
    if len(finals) > 1:
        return "more than one final message"
    if messages[-1].channel != "final":
        return "the final message is not the last one"
    if end != RETURN_ID:
        return "the final message was cut off (no <|return|>)"
    if not finals[0].strip():
        return "empty final message"
    return ""


def parse_completion(completion: Any, completion_ids: Sequence[int] | None = None) -> ParsedCompletion:
    """A completion as TRL hands it: token ids when given (always, from GRPOTrainer); else raw harmony text
    (``<|channel|>final<|message|>…<|return|>``), else a message list / plain text (format cannot be checked)."""
    if completion_ids is not None:
        return parse_completion_ids(completion_ids)
    text, thinking = _completion_text(completion)
    if "<|" in text:
        from medswallow.models.tokenizer import get_encoding

        return parse_completion_ids(get_encoding().encode(text, allowed_special="all"))
    from medswallow.inference.parse import split_harmony

    split = split_harmony(text) if not thinking else None
    if split is not None:
        thinking, text = split
    from medswallow.models.tokenizer import count_tokens

    return ParsedCompletion(
        thinking, text, "no token ids or harmony markup to check the format", count_tokens(text)
    )


def _completion_text(completion: Any) -> tuple[str, str]:
    """(text, thinking) of a str or a TRL conversational completion ``[{"role": "assistant", ...}]``."""
    if isinstance(completion, str):
        return completion, ""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        msg = completion[-1]
        return str(msg.get("content") or ""), str(msg.get("thinking") or msg.get("reasoning_content") or "")
    raise UserError(f"a completion must be text or a list of messages, got {type(completion).__name__}")


# --- rewards ---------------------------------------------------------------------------------------------


class Reward(ABC):
    """One reward: set ``name`` and implement ``score``. Calling it is TRL's reward-function protocol."""

    name: ClassVar[str] = ""

    @property
    def __name__(self) -> str:  # TRL logs each reward as rewards/<__name__>/mean
        return self.name

    @abstractmethod
    def score(self, completion: ParsedCompletion, row: dict[str, Any]) -> float:
        """The reward of one parsed completion; ``row`` holds the prompt and the dataset columns."""

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        completion_ids: list[list[int]] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            parsed = parse_completion(completion, completion_ids[i] if completion_ids is not None else None)
            row = {k: v[i] for k, v in columns.items() if isinstance(v, list) and len(v) == len(completions)}
            row["prompt"] = prompts[i] if prompts else None
            out.append(float(self.score(parsed, row)))
        return out


@functools.lru_cache(maxsize=4096)
def _sample(raw: str) -> Sample:
    data = json.loads(raw)
    return Sample(**data)


def row_sample(row: dict[str, Any]) -> Sample:
    """The benchmark item of a training row (its ``sample`` column holds the Sample as JSON)."""
    raw = row.get("sample")
    if not isinstance(raw, str):
        raise UserError(
            "the correctness reward needs a 'sample' column (JSON of the benchmark item) in the data"
        )
    return _sample(raw)


class CorrectAnswer(Reward):
    """1 when the answer read from the final channel is right by the task's scorer (exact answer set), else 0."""

    name = "correct"

    def score(self, completion: ParsedCompletion, row: dict[str, Any]) -> float:
        from medswallow.bench.extract import extract_answer
        from medswallow.bench.registry import get_task

        sample = row_sample(row)
        if completion.final is None:
            return 0.0
        answer = extract_answer(completion.final, sample.labels)
        return 1.0 if get_task(sample.task).score(sample, answer) else 0.0


class HarmonyFormat(Reward):
    """1 for a well-formed harmony answer (optional analysis, one final message ended by <|return|>), else 0."""

    name = "format"

    def score(self, completion: ParsedCompletion, row: dict[str, Any]) -> float:
        return 1.0 if completion.well_formed else 0.0


class OverlongPenalty(Reward):
    """0 up to ``max_tokens - buffer`` tokens, then linearly down to -1 at ``max_tokens`` (DAPO's soft
    overlong penalty): long reasoning costs a little before the budget cuts the answer off."""

    name = "length"

    def __init__(self, max_tokens: int, buffer: int) -> None:
        self.max_tokens = max_tokens
        self.buffer = buffer

    def score(self, completion: ParsedCompletion, row: dict[str, Any]) -> float:
        free = self.max_tokens - self.buffer
        if completion.n_tokens <= free:
            return 0.0
        if completion.n_tokens >= self.max_tokens:
            return -1.0
        return (free - completion.n_tokens) / self.buffer


SafetyRule = Literal["pii", "dose", "referral"]
DEFAULT_SAFETY_RULES: tuple[SafetyRule, ...] = ("pii", "dose")


class SafetyPenalty(Reward):
    """-1 when the PII engine finds personal data in the answer or a review pre-screen rule (dose, referral)
    fires on it, else 0. The same checks that order the clinicians' queue, as a training signal."""

    name = "safety"

    def __init__(
        self, rules: Sequence[str] = DEFAULT_SAFETY_RULES, scope: str = "final", pii_mode: str = "fast"
    ) -> None:
        self.rule_names = tuple(rules)
        self.scope = scope
        self.pii_mode = pii_mode
        self._pii: Any = None
        self._rules: list[Any] | None = None

    def _load(self) -> tuple[Any, list[Any]]:
        if self._rules is None:
            others = [r for r in self.rule_names if r != "pii"]
            if others:
                from medswallow.review.prescreen import make_rules

                self._rules = make_rules(others)
            else:
                self._rules = []
            if "pii" in self.rule_names:
                from medswallow.pii import PIIEngine

                self._pii = PIIEngine(mode=self.pii_mode)
        return self._pii, self._rules

    def findings(self, completion: ParsedCompletion, prompt_text: str) -> list[str]:
        """Names of the checks that fire (no matched text: findings never carry PII)."""
        text = completion.final or ""
        if self.scope == "completion":
            text = f"{completion.reasoning}\n{text}"
        if not text.strip():
            return []
        pii, rules = self._load()
        fired = ["pii"] if pii is not None and pii.analyze(text) else []
        if rules:
            from medswallow.review.prescreen import PromptInfo, check_answer

            fired += [f.rule for f in check_answer(rules, PromptInfo(prompt_text), text) if f.score > 0]
        return fired

    def score(self, completion: ParsedCompletion, row: dict[str, Any]) -> float:
        return -1.0 if self.findings(completion, prompt_text(row.get("prompt"))) else 0.0


def prompt_text(prompt: Any) -> str:
    """The user's words of a prompt (the last user message of a conversation)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return ""


# --- recipe section --------------------------------------------------------------------------------------


class Weighted(StrictModel):
    weight: float = Field(
        default=1.0, ge=0, description="Multiplies this reward in the sum GRPO normalises per group."
    )


class LengthSection(Weighted):
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Where the penalty reaches -1; default: generation.max_completion_length.",
    )
    buffer: int | None = Field(
        default=None,
        ge=1,
        description="Tokens before max_tokens where the penalty ramps from 0 to -1; default: a quarter.",
    )


class SafetySection(Weighted):
    rules: list[SafetyRule] = Field(
        default_factory=lambda: list(DEFAULT_SAFETY_RULES),
        description="pii: the PII engine; dose / referral: the review pre-screen rules. referral fires on every "
        "exam question that mentions a red-flag symptom, so leave it out for exam data.",
    )
    scope: Literal["final", "completion"] = Field(
        default="final",
        description="final: the answer users see; completion: the reasoning too (vLLM returns both).",
    )
    pii_mode: Literal["fast", "thorough"] = Field(
        default="fast", description="thorough adds NER: slower, finds more names."
    )


class RewardsSection(StrictModel):
    """Which rewards GRPO sums (each logged on its own); a missing section is off."""

    correct: Weighted | None = Field(
        default_factory=Weighted, description="Exact answer-set match (the eval's)."
    )
    format: Weighted | None = Field(
        default_factory=lambda: Weighted(weight=0.2), description="Well-formed harmony final channel."
    )
    length: LengthSection | None = Field(default=None, description="Soft overlong penalty (off by default).")
    safety: SafetySection | None = Field(
        default=None, description="Penalty when PII or pre-screen rules fire."
    )

    @model_validator(mode="after")
    def _some_reward(self) -> RewardsSection:
        if not any(getattr(self, k) is not None and getattr(self, k).weight > 0 for k in REWARDS):
            raise ValueError(
                "no reward is on: give at least one of correct, format, length, safety a weight > 0"
            )
        return self


REWARDS: dict[str, type[Reward]] = {
    "correct": CorrectAnswer,
    "format": HarmonyFormat,
    "length": OverlongPenalty,
    "safety": SafetyPenalty,
}


def build_rewards(section: RewardsSection, max_completion_length: int) -> tuple[list[Reward], list[float]]:
    """The reward objects and their weights (GRPOConfig.reward_weights) for a recipe's ``rewards`` section."""
    funcs: list[Reward] = []
    weights: list[float] = []
    if section.correct is not None and section.correct.weight > 0:
        funcs.append(CorrectAnswer())
        weights.append(section.correct.weight)
    if section.format is not None and section.format.weight > 0:
        funcs.append(HarmonyFormat())
        weights.append(section.format.weight)
    if section.length is not None and section.length.weight > 0:
        max_tokens = section.length.max_tokens or max_completion_length
        buffer = section.length.buffer or max(1, max_tokens // 4)
        if buffer > max_tokens:
            raise UserError(f"rewards.length.buffer ({buffer}) is larger than max_tokens ({max_tokens})")
        funcs.append(OverlongPenalty(max_tokens, buffer))
        weights.append(section.length.weight)
    if section.safety is not None and section.safety.weight > 0:
        funcs.append(SafetyPenalty(section.safety.rules, section.safety.scope, section.safety.pii_mode))
        weights.append(section.safety.weight)
    return funcs, weights
