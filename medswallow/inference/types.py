"""The inference layer's value types: sampling settings in, chat and completion results out.

They are plain dataclasses with no heavy imports, shared by the HTTP client and the offline backends, so
code written against one backend runs against the others.

Failure contract: a request that still fails after its retries does not raise; its result comes back with
``error`` set (a short reason such as ``"http 503: ..."`` or ``"timeout after 3 attempts"``), empty
``text`` and ``finish_reason == "error"``. Every request therefore ends exactly once, either answered or
failed with a recorded reason; ``ok`` tells the two apart. Failed results are never cached, so a rerun
asks again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ReasoningEffort = Literal["low", "medium", "high"]

# Reasons that mean the output was cut by the token budget (vLLM reports "length").
TRUNCATING_FINISH_REASONS = frozenset({"length", "max_tokens"})


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to sample. Defaults are the model card's recommendations for Medical-GPT-OSS-Swallow.

    ``None`` leaves a field to the server's default (for the sampling knobs) or off (for ``stop``,
    ``logprobs``, ``prompt_logprobs``). Every field that is sent is part of the cache key.
    ``logprobs``: number of top alternatives to return per generated token (0 = only the chosen token).
    ``prompt_logprobs``: same for every prompt token (vLLM extension; needed for likelihood scoring).
    ``reasoning_effort`` applies to chat only (harmony system message); completions take a raw prompt.
    ``extra`` is merged into the request body as is (e.g. ``{"repetition_penalty": 1.05}``).
    """

    temperature: float | None = 0.6
    top_p: float | None = 0.95
    top_k: int | None = 20
    min_p: float | None = 0.0
    max_tokens: int | None = 1024
    seed: int | None = None
    n: int = 1
    stop: tuple[str, ...] | list[str] | str | None = None
    reasoning_effort: ReasoningEffort | None = "medium"
    logprobs: int | None = None
    prompt_logprobs: int | None = None
    extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"SamplingParams.max_tokens must be >= 1, got {self.max_tokens}")
        if self.reasoning_effort not in (None, "low", "medium", "high"):
            raise ValueError(f"SamplingParams.reasoning_effort must be low, medium or high, got {self.reasoning_effort!r}")

    def stop_list(self) -> list[str] | None:
        if self.stop is None:
            return None
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class TokenLogprob:
    """One token with its log-probability; ``top`` maps every candidate the server reported at this
    position (token text, the token itself included) to its log-probability.

    ``rank`` (1 = most likely) and ``token_id`` are filled when the server reports them (vLLM does for
    prompt tokens).
    """

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)
    token_id: int | None = None
    rank: int | None = None


@dataclass(slots=True)
class ChatChoice:
    """One sampled answer of a chat request.

    ``text`` is the final channel only; ``reasoning`` the analysis channel. ``truncated`` is True when the
    token budget cut the output, including inside the reasoning (then ``text`` is empty or partial and must
    not be scored as an answer).
    """

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    truncated: bool = False
    logprobs: list[TokenLogprob] | None = None


@dataclass(slots=True)
class ChatResult:
    """The result of one chat request (the fields of the first choice, plus all ``choices`` when n > 1)."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None
    attempts: int = 0
    base_url: str | None = None
    key: str = ""
    logprobs: list[TokenLogprob] | None = None
    choices: list[ChatChoice] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class CompletionChoice:
    text: str = ""
    finish_reason: str | None = None
    truncated: bool = False
    logprobs: list[TokenLogprob] | None = None


@dataclass(slots=True)
class CompletionResult:
    """The result of one raw-prompt completion request.

    ``prompt_logprobs`` has one entry per prompt token (``None`` for the first, which has no context):
    the prompt token itself with its logprob, rank and the top alternatives. Sum a tail of it to score
    an option by likelihood (see ``prompt_logprob_sum``).
    """

    text: str = ""
    finish_reason: str | None = None
    truncated: bool = False
    logprobs: list[TokenLogprob] | None = None
    prompt_logprobs: list[TokenLogprob | None] | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None
    attempts: int = 0
    base_url: str | None = None
    key: str = ""
    choices: list[CompletionChoice] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def prompt_logprob_sum(self, last_n_tokens: int) -> float:
        """Sum of the logprobs of the last ``last_n_tokens`` prompt tokens (the continuation's likelihood)."""
        if not self.prompt_logprobs:
            raise ValueError("no prompt logprobs: request them with SamplingParams(prompt_logprobs=0)")
        if not 0 < last_n_tokens < len(self.prompt_logprobs):
            raise ValueError(f"last_n_tokens must be in 1..{len(self.prompt_logprobs) - 1}, got {last_n_tokens}")
        tail = self.prompt_logprobs[-last_n_tokens:]
        return sum(t.logprob for t in tail if t is not None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_chat(error: str, key: str = "", attempts: int = 0, latency_s: float = 0.0) -> ChatResult:
    return ChatResult(finish_reason="error", error=error, key=key, attempts=attempts, latency_s=latency_s)


def failed_completion(error: str, key: str = "", attempts: int = 0, latency_s: float = 0.0) -> CompletionResult:
    return CompletionResult(finish_reason="error", error=error, key=key, attempts=attempts, latency_s=latency_s)
