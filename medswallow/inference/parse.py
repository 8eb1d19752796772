"""Turn OpenAI-shaped response bodies (as vLLM returns them) into harmony-aware results.

gpt-oss answers in two channels: ``analysis`` (reasoning) and ``final`` (the answer). vLLM splits them into
``message.reasoning`` (newer releases) or ``message.reasoning_content`` (older ones) and ``message.content``,
which is ``None`` when the output stopped inside the reasoning. A server started without harmony parsing
returns the raw channels in ``content``; those are split here too, so reasoning is never scored as an answer.
"""

from __future__ import annotations

import re
from typing import Any

from medswallow.inference.types import (
    TRUNCATING_FINISH_REASONS,
    ChatChoice,
    ChatResult,
    CompletionChoice,
    CompletionResult,
    TokenLogprob,
    Usage,
)

_HARMONY_SEGMENT = re.compile(
    r"<\|channel\|>\s*(?P<channel>\w+)[^<]*?(?:<\|constrain\|>[^<]*)?<\|message\|>(?P<body>.*?)"
    r"(?=<\|end\|>|<\|return\|>|<\|call\|>|<\|start\|>|<\|channel\|>|\Z)",
    re.DOTALL,
)
# With special tokens skipped, "<|channel|>analysis<|message|>R<|end|><|start|>assistant<|channel|>final<|message|>A"
# decodes to "analysisRassistantfinalA".
_SKIPPED_SPECIALS = re.compile(r"\Aanalysis(?P<reasoning>.*?)assistantfinal(?P<final>.*)\Z", re.DOTALL)
# vLLM leaves the header of a message it was cut inside (or that ended before <|message|>) in ``content``:
# "<|start|>assistant" or "<|channel|><|return|>". That is markup, not an answer.
_OPEN_HEADER = re.compile(r"(?:<\|start\|>|<\|channel\|>)(?:(?!<\|message\|>).)*\Z", re.DOTALL)
_SPECIAL = re.compile(r"<\|(?:start|end|message|channel|constrain|return|call|endoftext|startoftext)\|>")


def strip_markup(text: str) -> str:
    """Drop harmony header residue and stray special-token strings from final-channel text."""
    if "<|" not in text:
        return text
    cleaned = _SPECIAL.sub("", _OPEN_HEADER.sub("", text))
    return cleaned if cleaned.strip() else ""


def split_harmony(raw: str) -> tuple[str, str] | None:
    """Split raw harmony output into (reasoning, final); ``None`` when ``raw`` carries no channel markup."""
    if "<|channel|>" in raw:
        reasoning: list[str] = []
        final: list[str] = []
        for m in _HARMONY_SEGMENT.finditer(raw):
            (final if m.group("channel") == "final" else reasoning).append(m.group("body"))
        return "\n".join(reasoning), "\n".join(final)  # vLLM joins messages of one channel the same way
    skipped = _SKIPPED_SPECIALS.match(raw)
    if skipped:
        return skipped.group("reasoning"), skipped.group("final")
    return None


def _usage(body: dict[str, Any]) -> Usage:
    u = body.get("usage") or {}
    details = u.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=int(u.get("prompt_tokens") or 0),
        completion_tokens=int(u.get("completion_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
    )


def _chat_logprobs(lp: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not lp or lp.get("content") is None:
        return None
    out = []
    for item in lp["content"]:
        top = {t["token"]: float(t["logprob"]) for t in item.get("top_logprobs") or []}
        out.append(TokenLogprob(token=item["token"], logprob=float(item["logprob"]), top=top))
    return out


def _completion_logprobs(lp: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not lp or lp.get("tokens") is None:
        return None
    tops = lp.get("top_logprobs") or [None] * len(lp["tokens"])
    return [
        TokenLogprob(token=tok, logprob=float(val) if val is not None else float("nan"), top=dict(top or {}))
        for tok, val, top in zip(lp["tokens"], lp["token_logprobs"], tops, strict=False)
    ]


def _prompt_logprobs(
    items: list[dict[str, Any] | None] | None, prompt_ids: list[int] | None
) -> list[TokenLogprob | None] | None:
    """vLLM's per-position dicts ``{token_id: {logprob, rank, decoded_token}}`` -> the prompt token's entry.

    The prompt token is identified by ``prompt_token_ids`` when the server returned them; otherwise by
    vLLM's ordering, which lists the actual prompt token first.
    """
    if items is None:
        return None
    out: list[TokenLogprob | None] = []
    for pos, item in enumerate(items):
        if not item:
            out.append(None)
            continue
        key = str(prompt_ids[pos]) if prompt_ids and pos < len(prompt_ids) else next(iter(item))
        own = item.get(key) or next(iter(item.values()))
        top = {str(v.get("decoded_token", k)): float(v["logprob"]) for k, v in item.items()}
        out.append(
            TokenLogprob(
                token=str(own.get("decoded_token", "")),
                logprob=float(own["logprob"]),
                top=top,
                token_id=int(key) if key.lstrip("-").isdigit() else None,
                rank=own.get("rank"),
            )
        )
    return out


def chat_choice(choice: dict[str, Any]) -> ChatChoice:
    msg = choice.get("message") or {}
    content = msg.get("content")
    reasoning = msg.get("reasoning")
    if reasoning is None:
        reasoning = msg.get("reasoning_content")
    text = content or ""
    if not reasoning and text:
        split = split_harmony(text)
        if split is not None:
            reasoning, text = split
    text = strip_markup(text)
    finish = choice.get("finish_reason")
    return ChatChoice(
        text=text,
        reasoning=reasoning or "",
        finish_reason=finish,
        truncated=finish in TRUNCATING_FINISH_REASONS,
        logprobs=_chat_logprobs(choice.get("logprobs")),
    )


def parse_chat(body: dict[str, Any]) -> ChatResult:
    """A chat completion body -> ChatResult (raises ValueError when the body has no choices)."""
    raw = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    if not raw:
        raise ValueError("response has no choices")
    choices = [chat_choice(c) for c in raw]
    first = choices[0]
    return ChatResult(
        text=first.text,
        reasoning=first.reasoning,
        finish_reason=first.finish_reason,
        truncated=first.truncated,
        usage=_usage(body),
        logprobs=first.logprobs,
        choices=choices,
    )


def parse_completion(body: dict[str, Any]) -> CompletionResult:
    """A completion body -> CompletionResult (raises ValueError when the body has no choices)."""
    raw = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    if not raw:
        raise ValueError("response has no choices")
    choices = [
        CompletionChoice(
            text=c.get("text") or "",
            finish_reason=c.get("finish_reason"),
            truncated=c.get("finish_reason") in TRUNCATING_FINISH_REASONS,
            logprobs=_completion_logprobs(c.get("logprobs")),
        )
        for c in raw
    ]
    first_raw = raw[0]
    prompt_ids = first_raw.get("prompt_token_ids") or body.get("prompt_token_ids")
    prompt_lp = first_raw.get("prompt_logprobs", body.get("prompt_logprobs"))
    first = choices[0]
    return CompletionResult(
        text=first.text,
        finish_reason=first.finish_reason,
        truncated=first.truncated,
        logprobs=first.logprobs,
        prompt_logprobs=_prompt_logprobs(prompt_lp, prompt_ids),
        usage=_usage(body),
        choices=choices,
    )


class StreamAssembler:
    """Accumulates server-sent chat/completion chunks into the body a non-streaming call would return.

    The assembled body is what gets cached, so a streamed answer and a plain one share one cache entry.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.meta: dict[str, Any] = {}

    def add(self, chunk: dict[str, Any]) -> tuple[str, str]:
        """Fold one chunk in; return the (reasoning, text) delta it carried for the first choice."""
        for k in ("id", "model", "created"):
            if k in chunk:
                self.meta.setdefault(k, chunk[k])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        d_reason, d_text = "", ""
        for c in chunk.get("choices") or []:
            idx = int(c.get("index", 0))
            acc = self.choices.setdefault(idx, {"index": idx, "text": "", "reasoning": "", "finish_reason": None, "lp": []})
            if self.kind == "chat":
                delta = c.get("delta") or {}
                r = delta.get("reasoning") or delta.get("reasoning_content") or ""
                t = delta.get("content") or ""
                lp = (c.get("logprobs") or {}).get("content") or []
            else:
                r, t = "", c.get("text") or ""
                lp = [c["logprobs"]] if c.get("logprobs") else []
            acc["reasoning"] += r
            acc["text"] += t
            acc["lp"].extend(lp)
            if c.get("finish_reason") is not None:
                acc["finish_reason"] = c["finish_reason"]
            if idx == 0:
                d_reason, d_text = r, t
        return d_reason, d_text

    def body(self) -> dict[str, Any]:
        choices = []
        for idx in sorted(self.choices):
            acc = self.choices[idx]
            if self.kind == "chat":
                choice: dict[str, Any] = {
                    "index": idx,
                    "message": {"role": "assistant", "content": acc["text"] or None, "reasoning": acc["reasoning"] or None},
                    "finish_reason": acc["finish_reason"],
                }
                if acc["lp"]:
                    choice["logprobs"] = {"content": acc["lp"]}
            else:
                choice = {"index": idx, "text": acc["text"], "finish_reason": acc["finish_reason"]}
                if acc["lp"]:
                    merged: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": []}
                    for part in acc["lp"]:
                        for k in merged:
                            merged[k].extend(part.get(k) or [])
                    choice["logprobs"] = merged
            choices.append(choice)
        return {**self.meta, "choices": choices, "usage": self.usage or {}}
