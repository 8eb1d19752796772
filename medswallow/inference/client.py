"""Async client for OpenAI-compatible servers (vLLM): bounded concurrency, retries, disk cache, streaming.

One ``InferenceClient`` talks to one served model behind one or more base URLs (data-parallel replicas:
each request goes to the replica with the fewest requests in flight, and a retry prefers another one).

- Concurrency: at most ``max_concurrency`` HTTP requests in flight in total, across all base URLs.
- Retries: 408/425/429/5xx answers, dropped or reset connections, timeouts and unreadable bodies are
  retried up to ``max_retries`` times with exponential backoff and jitter (a ``Retry-After`` header is
  honoured). Other 4xx answers (bad request, unknown model) fail at once: retrying cannot fix them.
- Failure: a request that fails for good returns a result with ``error`` set; it is counted once in
  ``stats.failed`` and never cached (see medswallow.inference.types).
- Cache: ``cache_dir`` keeps every successful response (medswallow.inference.cache); a rerun answers
  finished requests from disk and sends only the rest.

Seeds and caching: with ``seed=None`` and temperature > 0 the same request twice is still one cache entry,
so it gets the same answer; ask for several samples with ``n`` or distinct seeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from medswallow.errors import UserError, require
from medswallow.inference.cache import ResponseCache, cache_key
from medswallow.inference.parse import StreamAssembler, parse_chat, parse_completion
from medswallow.inference.types import (
    ChatResult,
    CompletionResult,
    SamplingParams,
    failed_chat,
    failed_completion,
)

# Per endpoint kind: how a response body becomes a result, and how a failure is recorded.
_PARSE: dict[str, Any] = {"chat": parse_chat, "completion": parse_completion}
_FAILED: dict[str, Any] = {"chat": failed_chat, "completion": failed_completion}

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp
    from rich.table import Table

T = TypeVar("T")
Messages = list[dict[str, Any]] | str
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ENDPOINTS = {"chat": "/chat/completions", "completion": "/completions"}


@dataclass
class ClientStats:
    """Counts of one client's lifetime. Each logical request lands in exactly one of answered/cached/failed."""

    answered: int = 0
    cached: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # final failures by reason class
    retry_reasons: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # requests answered by a server

    @property
    def requests(self) -> int:
        return self.answered + self.cached + self.failed

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else 0.0

        return {
            "requests": self.requests,
            "answered": self.answered,
            "cached": self.cached,
            "failed": self.failed,
            "attempts": self.attempts,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": {"mean": round(sum(lat) / len(lat), 4) if lat else 0.0, "p50": pct(0.5), "p95": pct(0.95), "max": pct(1.0)},
            "errors": dict(self.errors),
            "retry_reasons": dict(self.retry_reasons),
        }

    def table(self, title: str = "inference requests") -> Table:
        from rich.table import Table

        s = self.summary()
        t = Table(title=title)
        for col in ("requests", "answered", "cached", "failed", "retries", "prompt tok", "completion tok", "p50 s", "p95 s"):
            t.add_column(col, justify="right")
        lat = s["latency_s"]
        t.add_row(*(str(v) for v in (s["requests"], s["answered"], s["cached"], s["failed"], s["retries"],
                                     s["prompt_tokens"], s["completion_tokens"], lat["p50"], lat["p95"])))
        return t


@dataclass
class ChatDelta:
    """One streamed piece of a chat answer; the last event carries the whole ``result``."""

    reasoning: str = ""
    text: str = ""
    result: ChatResult | None = None


@dataclass
class _Outcome:
    body: dict[str, Any] | None
    error: str | None
    attempts: int
    latency_s: float
    base_url: str | None


@dataclass
class _LoopState:
    """aiohttp sessions and semaphores belong to one event loop; the sync helpers start fresh loops."""

    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    semaphore: asyncio.Semaphore
    inflight: dict[str, int]


class _RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _FatalError(Exception):
    pass


def _normalise_urls(base_urls: str | Sequence[str]) -> list[str]:
    from urllib.parse import urlsplit

    urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
    if not urls:
        raise UserError("InferenceClient needs at least one base URL, e.g. http://127.0.0.1:8000/v1")
    out = []
    for u in urls:
        u = u.strip().rstrip("/")
        if not u.startswith(("http://", "https://")):
            raise UserError(f"base URL {u!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        parts = urlsplit(u)
        try:
            port = parts.port
        except ValueError:  # checked here: the HTTP library would fail each attempt and retry a URL that cannot work
            raise UserError(f"base URL {u!r} has an invalid port (allowed: 1-65535), e.g. http://127.0.0.1:8000/v1") from None
        if not parts.hostname or port == 0:
            raise UserError(f"base URL {u!r} names no host or port, e.g. http://127.0.0.1:8000/v1")
        out.append(u)
    return out


def _as_messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return list(messages)


def _error_message(text: str) -> str:
    """The server's own message out of an error body, shortened (never the request: it may hold PII).

    OpenAI-style bodies say ``{"error": {"message": ...}}``; routes vLLM does not know answer FastAPI's
    ``{"detail": ...}``.
    """
    try:
        data = json.loads(text)
        err = data.get("error") or data.get("detail") or data if isinstance(data, dict) else data
        msg = (err.get("message") or err.get("detail") or "") if isinstance(err, dict) else str(err)
    except (json.JSONDecodeError, AttributeError):
        msg = text
    msg = " ".join(str(msg).split())
    return msg[:200]


def _http_reason(status: int, text: str, base_url: str) -> str:
    """``http STATUS: message``, with the likely fix when a base URL without /v1 meets a 404."""
    reason = f"http {status}: {_error_message(text)}"
    if status == 404 and not base_url.endswith("/v1"):
        reason += f" (the base URL {base_url} lacks /v1: try {base_url}/v1)"
    return reason


def _describe(exc: BaseException) -> str:
    """A short, stable reason class for a transport failure."""
    import aiohttp

    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"dns lookup failed: cannot resolve host {exc.host!r}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__} at {exc.host} port {exc.port}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated response"
    if isinstance(exc, aiohttp.ClientOSError | ConnectionResetError):
        return "connection reset"
    if isinstance(exc, aiohttp.ClientError):
        return f"connection error ({type(exc).__name__})"
    if isinstance(exc, json.JSONDecodeError | ValueError):
        return "malformed response"
    return type(exc).__name__


def _sampling_body(model: str, params: SamplingParams) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "n": params.n}
    for name in ("temperature", "top_p", "top_k", "min_p", "max_tokens", "seed"):
        value = getattr(params, name)
        if value is not None:
            body[name] = value
    if params.stop is not None:
        body["stop"] = params.stop_list()
    if params.prompt_logprobs is not None:
        body["prompt_logprobs"] = params.prompt_logprobs
    return body


def build_chat_body(model: str, messages: Messages, params: SamplingParams) -> dict[str, Any]:
    """The OpenAI chat request for ``params`` (vLLM extensions top_k, min_p, prompt_logprobs at top level)."""
    body = _sampling_body(model, params)
    body["messages"] = _as_messages(messages)
    if params.reasoning_effort is not None:
        body["reasoning_effort"] = params.reasoning_effort
    if params.logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = params.logprobs
    return {**body, **(params.extra or {})}


def build_completion_body(model: str, prompt: str, params: SamplingParams) -> dict[str, Any]:
    """The OpenAI completion request for ``params``."""
    body = _sampling_body(model, params)
    body["prompt"] = prompt
    if params.logprobs is not None:
        body["logprobs"] = params.logprobs
    if params.prompt_logprobs is not None:
        # The prompt's own token ids tell which entry of each position is the prompt token.
        body["return_token_ids"] = True
    return {**body, **(params.extra or {})}


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when an event loop is already running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class InferenceClient:
    """Chat and completion requests against an OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        model: str,
        max_concurrency: int = 16,
        cache_dir: str | Path | None = None,
        max_retries: int = 5,
        timeout: float = 600,
        api_key: str | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        cache_namespace: str = "",
    ) -> None:
        if max_concurrency < 1:
            raise UserError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0, got {max_retries}")
        self.base_urls = _normalise_urls(base_urls)
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.cache_namespace = cache_namespace
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.stats = ClientStats()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One session per event loop: the sync helpers run their own loop (in a thread when the caller
        # already has one), and an aiohttp session must not cross loops.
        self._states: dict[int, _LoopState] = {}
        self._rng = random.Random()

    # ---- request bodies ---------------------------------------------------------------------------

    def chat_body(self, messages: Messages, params: SamplingParams) -> dict[str, Any]:
        """The request body sent to /chat/completions (also what the cache key is made of)."""
        return build_chat_body(self.model, messages, params)

    def completion_body(self, prompt: str, params: SamplingParams) -> dict[str, Any]:
        """The request body sent to /completions."""
        return build_completion_body(self.model, prompt, params)

    def key(self, kind: str, body: dict[str, Any]) -> str:
        return cache_key(kind, body, self.cache_namespace)

    # ---- event-loop state -------------------------------------------------------------------------

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is None or state.loop is not loop:
            aiohttp = require("aiohttp", "serve")
            connector = aiohttp.TCPConnector(limit=self.max_concurrency + 4, ttl_dns_cache=300)
            session = aiohttp.ClientSession(connector=connector, headers=self._headers)
            state = _LoopState(loop, session, asyncio.Semaphore(self.max_concurrency), dict.fromkeys(self.base_urls, 0))
            self._states[id(loop)] = state
        return state

    async def aclose(self) -> None:
        """Close the HTTP session of the running loop (the sync helpers do this themselves)."""
        state = self._states.pop(id(asyncio.get_running_loop()), None)
        if state is not None:
            await state.session.close()

    async def __aenter__(self) -> InferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _pick_url(self, state: _LoopState, avoid: str | None) -> str:
        candidates = [u for u in self.base_urls if u != avoid] or self.base_urls
        least = min(state.inflight[u] for u in candidates)
        return self._rng.choice([u for u in candidates if state.inflight[u] == least])

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        delay = cap / 2 + self._rng.uniform(0, cap / 2)  # "equal jitter": spread out, never near zero
        return max(delay, min(retry_after or 0.0, self.backoff_max))

    # ---- the request loop -------------------------------------------------------------------------

    async def _attempt(self, state: _LoopState, url: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with state.session.post(url + ENDPOINTS[kind], json=body, timeout=timeout) as resp:
            if resp.status == 200:
                data = await resp.json(content_type=None)
                if not isinstance(data, dict) or not data.get("choices"):
                    raise _RetryableError("malformed response")
                return data
            text = await resp.text(errors="replace")
            reason = _http_reason(resp.status, text, url)
            if resp.status in RETRY_STATUSES:
                retry_after = resp.headers.get("Retry-After")
                raise _RetryableError(reason, float(retry_after) if retry_after and retry_after.isdigit() else None)
            raise _FatalError(reason)

    async def _send(self, kind: str, body: dict[str, Any]) -> _Outcome:
        import aiohttp

        state = self._loop_state()
        # Latency is the time requests spent in flight: the clock runs only inside the concurrency
        # limit, so waiting behind this client's own queue (and retry backoff) is not counted.
        spent = 0.0
        avoid: str | None = None
        reason = "no attempt made"
        for attempt in range(self.max_retries + 1):
            url = self._pick_url(state, avoid)
            retry_after = None
            async with state.semaphore:
                state.inflight[url] += 1
                self.stats.attempts += 1
                t0 = time.monotonic()
                try:
                    data = await self._attempt(state, url, kind, body)
                    return _Outcome(data, None, attempt + 1, spent + time.monotonic() - t0, url)
                except _FatalError as exc:
                    return _Outcome(None, str(exc), attempt + 1, spent + time.monotonic() - t0, url)
                except _RetryableError as exc:
                    reason, retry_after = exc.reason, exc.retry_after
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    reason = _describe(exc)
                finally:
                    state.inflight[url] -= 1
                spent += time.monotonic() - t0
            if attempt < self.max_retries:
                self.stats.retries += 1
                self.stats.retry_reasons[reason.split(":")[0]] += 1
                avoid = url if len(self.base_urls) > 1 else None
                await asyncio.sleep(self._backoff(attempt, retry_after))
        n = self.max_retries + 1
        return _Outcome(None, f"{reason} (gave up after {n} attempt{'s' if n > 1 else ''})", n, spent, None)

    def _record(self, outcome: _Outcome, usage_prompt: int, usage_completion: int) -> None:
        if outcome.error is not None:
            self.stats.failed += 1
            self.stats.errors[outcome.error.split(":")[0].split(" (")[0]] += 1
            return
        self.stats.answered += 1
        self.stats.latencies.append(outcome.latency_s)
        self.stats.prompt_tokens += usage_prompt
        self.stats.completion_tokens += usage_completion

    def _from_cache(self, key: str) -> tuple[dict[str, Any], float] | None:
        if self.cache is None:
            return None
        return self.cache.get(key)

    # ---- public API: single requests --------------------------------------------------------------

    async def chat(self, messages: Messages, params: SamplingParams | None = None) -> ChatResult:
        """One chat request. Never raises for server or network failures: see ``ChatResult.error``."""
        params = params or SamplingParams()
        body = self.chat_body(messages, params)
        key = self.key("chat", body)
        hit: ChatResult | None = self._cached("chat", key)
        if hit is not None:
            return hit
        outcome = await self._send("chat", body)
        res: ChatResult = self._finish("chat", outcome, key)
        return res

    def _cached(self, kind: str, key: str) -> Any:
        """A result from the disk cache, or None."""
        hit = self._from_cache(key)
        if hit is None:
            return None
        self.stats.cached += 1
        res = _PARSE[kind](hit[0])
        res.cached, res.latency_s, res.key = True, hit[1], key
        return res

    def _finish(self, kind: str, outcome: _Outcome, key: str) -> Any:
        """Parse, cache and count a sent request; a malformed body becomes a failure with its reason."""
        raw = outcome.body
        if raw is not None:
            try:
                res = _PARSE[kind](raw)
            except (ValueError, KeyError, TypeError) as exc:
                outcome = _Outcome(None, f"malformed response: {exc}", outcome.attempts, outcome.latency_s, outcome.base_url)
            else:
                res.latency_s, res.attempts, res.base_url, res.key = outcome.latency_s, outcome.attempts, outcome.base_url, key
                if self.cache is not None:
                    self.cache.put(key, kind, raw, outcome.latency_s)
                self._record(outcome, res.usage.prompt_tokens, res.usage.completion_tokens)
                return res
        self._record(outcome, 0, 0)
        return _FAILED[kind](outcome.error or "unknown error", key, outcome.attempts, outcome.latency_s)

    async def complete(self, prompt: str, params: SamplingParams | None = None) -> CompletionResult:
        """One raw-prompt completion (no chat template). Never raises for server or network failures."""
        params = params or SamplingParams()
        body = self.completion_body(prompt, params)
        key = self.key("completion", body)
        hit: CompletionResult | None = self._cached("completion", key)
        if hit is not None:
            return hit
        outcome = await self._send("completion", body)
        res: CompletionResult = self._finish("completion", outcome, key)
        return res

    async def chat_stream(self, messages: Messages, params: SamplingParams | None = None) -> AsyncIterator[ChatDelta]:
        """Stream a chat answer: reasoning and final-channel deltas, then one event with the full result.

        A failure before the first delta is retried like any request; a stream that breaks after text
        was shown ends with a result whose ``error`` says so (the partial text is kept, nothing is cached).
        """
        import aiohttp

        params = params or SamplingParams()
        body = self.chat_body(messages, params)
        key = self.key("chat", body)
        hit = self._from_cache(key)
        if hit is not None:
            self.stats.cached += 1
            res = parse_chat(hit[0])
            res.cached, res.latency_s, res.key = True, hit[1], key
            yield ChatDelta(reasoning=res.reasoning, text=res.text)
            yield ChatDelta(result=res)
            return
        state = self._loop_state()
        stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        spent = 0.0  # time in flight, as in _send: queueing behind the concurrency limit is not latency
        reason = "no attempt made"
        avoid: str | None = None
        for attempt in range(self.max_retries + 1):
            url = self._pick_url(state, avoid)
            assembler = StreamAssembler("chat")
            shown = False
            retry_after: float | None = None
            fatal = False
            async with state.semaphore:
                state.inflight[url] += 1
                self.stats.attempts += 1
                t0 = time.monotonic()
                try:
                    timeout = aiohttp.ClientTimeout(total=self.timeout)
                    async with state.session.post(url + ENDPOINTS["chat"], json=stream_body, timeout=timeout) as resp:
                        if resp.status != 200:
                            text = await resp.text(errors="replace")
                            reason = _http_reason(resp.status, text, url)
                            fatal = resp.status not in RETRY_STATUSES
                            header = resp.headers.get("Retry-After")
                            retry_after = float(header) if header and header.isdigit() else None
                        else:
                            finished = False
                            async for raw in resp.content:
                                line = raw.decode("utf-8", errors="replace").strip()
                                if not line.startswith("data:"):
                                    continue
                                payload = line[5:].strip()
                                if payload == "[DONE]":
                                    finished = True
                                    break
                                d_reason, d_text = assembler.add(json.loads(payload))
                                if d_reason or d_text:
                                    shown = True
                                    yield ChatDelta(reasoning=d_reason, text=d_text)
                            if not finished:
                                raise aiohttp.ClientPayloadError("stream ended without [DONE]")
                            outcome = _Outcome(assembler.body(), None, attempt + 1, spent + time.monotonic() - t0, url)
                            yield ChatDelta(result=self._finish("chat", outcome, key))
                            return
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    reason = _describe(exc)
                finally:
                    state.inflight[url] -= 1
                spent += time.monotonic() - t0
            if shown or fatal or attempt == self.max_retries:
                if shown:
                    reason = f"stream broken after partial output: {reason}"
                elif not fatal:
                    n = attempt + 1
                    reason = f"{reason} (gave up after {n} attempt{'s' if n > 1 else ''})"
                self._record(_Outcome(None, reason, attempt + 1, spent, url), 0, 0)
                partial = parse_chat(assembler.body()) if assembler.choices else ChatResult()
                partial.error, partial.finish_reason, partial.key = reason, "error", key
                partial.attempts, partial.latency_s = attempt + 1, spent
                yield ChatDelta(result=partial)
                return
            self.stats.retries += 1
            self.stats.retry_reasons[reason.split(":")[0]] += 1
            avoid = url if len(self.base_urls) > 1 else None
            await asyncio.sleep(self._backoff(attempt, retry_after))

    # ---- public API: many requests ----------------------------------------------------------------

    async def _gather(
        self,
        call: Callable[[Any], Coroutine[Any, Any, T]],
        items: Sequence[Any],
        progress: str | None,
        on_result: Callable[[int, T], None] | None,
    ) -> list[T]:
        from medswallow.console import console
        from medswallow.console import progress as progress_bar

        results: list[T | None] = [None] * len(items)
        failed = 0
        with progress_bar(disable=progress is None) as bar:
            task = bar.add_task(progress or "", total=len(items))

            async def one(i: int, item: Any) -> None:
                nonlocal failed
                res = await call(item)
                results[i] = res
                if getattr(res, "error", None) is not None:
                    failed += 1
                    bar.update(task, description=f"{progress} [red]({failed} failed)[/red]")
                bar.advance(task)
                if on_result is not None:
                    on_result(i, res)

            await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        if failed and progress is not None:
            console.print(f"[yellow]{progress}: {failed} of {len(items)} requests failed[/yellow] ({dict(self.stats.errors)})")
        return [r for r in results if r is not None] if len(items) else []

    async def achat_many(
        self,
        conversations: Sequence[Messages],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, ChatResult], None] | None = None,
    ) -> list[ChatResult]:
        """Many chat requests, ``max_concurrency`` at a time; results in input order."""
        p = params or SamplingParams()
        return await self._gather(lambda m: self.chat(m, p), conversations, progress, on_result)

    async def acomplete_many(
        self,
        prompts: Sequence[str],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, CompletionResult], None] | None = None,
    ) -> list[CompletionResult]:
        p = params or SamplingParams()
        return await self._gather(lambda x: self.complete(x, p), prompts, progress, on_result)

    def chat_many(
        self,
        conversations: Sequence[Messages],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, ChatResult], None] | None = None,
    ) -> list[ChatResult]:
        """Sync helper around ``achat_many`` (a progress bar when ``progress`` names the work)."""
        return run_sync(self._closing(self.achat_many(conversations, params, progress, on_result)))

    def complete_many(
        self,
        prompts: Sequence[str],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, CompletionResult], None] | None = None,
    ) -> list[CompletionResult]:
        return run_sync(self._closing(self.acomplete_many(prompts, params, progress, on_result)))

    async def _closing(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        finally:
            await self.aclose()

    # ---- server checks ----------------------------------------------------------------------------

    async def served_model_cards(self) -> dict[str, list[dict[str, Any]] | str]:
        """Per base URL, the entries of its ``/models`` answer (``id``, ``root`` = checkpoint, ...), or why none came."""
        import aiohttp

        state = self._loop_state()
        out: dict[str, list[dict[str, Any]] | str] = {}
        for url in self.base_urls:
            try:
                async with state.session.get(url + "/models", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    if resp.status != 200:
                        out[url] = _http_reason(resp.status, await resp.text(errors="replace"), url)
                        continue
                    data = await resp.json(content_type=None)
                    out[url] = [dict(m) for m in data.get("data", []) if isinstance(m, dict) and "id" in m]
            except (TimeoutError, aiohttp.ClientError) as exc:
                out[url] = _describe(exc)
            except (ValueError, AttributeError):
                out[url] = "malformed /models answer"
        return out

    async def served_models(self) -> dict[str, list[str]]:
        """Model names served at each base URL (an empty list where the server did not answer)."""
        cards = await self.served_model_cards()
        return {url: [m["id"] for m in v] if isinstance(v, list) else [] for url, v in cards.items()}

    def model_cards(self) -> dict[str, dict[str, Any]]:
        """The ``/models`` entry of ``model`` at each base URL; a UserError naming the URL and the fix otherwise."""
        cards = run_sync(self._closing(self.served_model_cards()))
        found = {}
        for url, entries in cards.items():
            if isinstance(entries, str):
                raise UserError(f"no OpenAI-compatible server answers at {url} ({entries}); start one with: medswallow serve MODEL")
            names = [m["id"] for m in entries]
            if self.model not in names:
                raise UserError(f"{url} does not serve model '{self.model}' (it serves: {', '.join(names) or 'nothing'})")
            found[url] = next(m for m in entries if m["id"] == self.model)
        return found

    def check(self) -> None:
        """Raise a UserError unless every base URL answers and serves ``model``."""
        self.model_cards()
