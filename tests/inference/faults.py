"""Local servers that misbehave on purpose: an OpenAI-shaped fake and a fault-injecting proxy.

Both run an aiohttp app on 127.0.0.1 in a background thread. A *plan* decides, per request, what happens:
``"ok"``, ``"reset"`` (the connection is dropped without an answer), ``"503"``, ``"429"`` (with
Retry-After: 0), ``"400"``, ``"slow"`` (answers after ``slow_s``), ``"malformed"`` (HTTP 200 with a body
that is not a completion), or ``"truncated"`` (HTTP 200 whose body stops half-way). The servers count what
they receive and what they answer successfully, per prompt, so tests can check that nothing is lost or
counted twice.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, web

Plan = Callable[[str, int], str]  # (prompt text, how many times this prompt was seen before) -> action


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return str(body["messages"][-1]["content"])
    return str(body.get("prompt", ""))


def fake_body(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic OpenAI-shaped answer: the final channel echoes the prompt, reasoning says so."""
    text = f"echo: {prompt_of(body)}"
    n = int(body.get("n", 1))
    if "messages" in body:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": text, "reasoning": "thinking"}, "finish_reason": "stop"}
            for i in range(n)
        ]
    else:
        choices = [{"index": i, "text": text, "finish_reason": "stop"} for i in range(n)]
    return {"id": "fake", "model": body.get("model"), "choices": choices, "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


class _Base:
    def __init__(self, plan: Plan | None = None, slow_s: float = 3.0) -> None:
        self.plan: Plan = plan or (lambda prompt, seen: "ok")
        self.slow_s = slow_s
        self.port = _free_port()
        self.received = 0
        self.seen: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # prompt -> successful answers sent
        self.actions: Counter[str] = Counter()
        self.inflight = 0
        self.max_inflight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            return await self._handle_counted(request)
        finally:
            with self._lock:
                self.inflight -= 1

    async def _handle_counted(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = prompt_of(body)
        with self._lock:
            self.received += 1
            action = self.plan(prompt, self.seen[prompt])
            self.seen[prompt] += 1
            self.actions[action] += 1
        if action == "reset":
            assert request.transport is not None
            request.transport.abort()
            await asyncio.sleep(0.05)
            return web.Response(status=500)
        if action in ("503", "429", "400"):
            headers = {"Retry-After": "0"} if action == "429" else {}
            return web.json_response({"error": {"message": f"injected {action}"}}, status=int(action), headers=headers)
        if action == "slow":
            await asyncio.sleep(self.slow_s)
        if action == "malformed":
            return web.json_response({"object": "error", "detail": "not a completion"})
        if action == "truncated":
            resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "1000"})
            await resp.prepare(request)
            await resp.write(b'{"choices": [{"index": 0, "mess')
            assert request.transport is not None
            request.transport.abort()
            return resp
        resp = await self._answer(request, body)
        if resp.status == 200:
            with self._lock:
                self.answered[prompt] += 1
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "fake-model"}]})

    def start(self) -> _Base:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._handle)
            app.router.add_post("/v1/completions", self._handle)
            app.router.add_get("/v1/models", self._models)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> _Base:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeOpenAIServer(_Base):
    """Answers every request itself (see ``fake_body``); streaming supported."""

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        data = fake_body(body)
        if not body.get("stream"):
            return web.json_response(data)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        msg = data["choices"][0]["message"]
        for delta in ({"reasoning": msg["reasoning"]}, {"content": msg["content"]}):
            chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": data["usage"]}
        await resp.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp


class FaultProxy(_Base):
    """Forwards to a real server (``upstream`` base URL) unless the plan injects a fault."""

    def __init__(self, upstream: str, plan: Plan | None = None, slow_s: float = 3.0) -> None:
        super().__init__(plan, slow_s)
        self.upstream = upstream.rstrip("/")
        self._session: ClientSession | None = None

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self._session is None:
            self._session = ClientSession()
        path = request.path.removeprefix("/v1")
        async with self._session.post(self.upstream + path, json=body) as up:
            payload = await up.read()
            return web.Response(body=payload, status=up.status, content_type="application/json")

    async def _models(self, request: web.Request) -> web.Response:
        """The upstream's own model list: a client checking what is served sees the real server."""
        if self._session is None:
            self._session = ClientSession()
        async with self._session.get(self.upstream + "/models") as up:
            return web.Response(body=await up.read(), status=up.status, content_type="application/json")

    def stop(self) -> None:
        if self._session is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(5)
        super().stop()
