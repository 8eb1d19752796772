"""The review server's own HTTP layer: the session cookie, security headers, and a gate on Streamlit's metrics.

Streamlit keeps a login only in the page's memory, so a reload or a new tab would log the clinician out.
After a login the page hands the session token to this layer through a one-time code (the token itself
never passes through JavaScript), and ``POST /_review/session`` answers with a ``Secure`` (except on
loopback), ``HttpOnly``, ``SameSite=Strict`` cookie that expires with the session. The app reads it back
with ``st.context.cookies`` and checks it against the database on every run (revoked, idle and expired
sessions are refused there). ``app/server.py`` mounts :func:`routes` and :class:`SecurityMiddleware` with
``st.App``; nothing here imports Streamlit.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

COOKIE = "medswallow_session"
ROUTE_PREFIX = "/_review"
HANDOFF_TTL_S = 60.0
COOKIE_MAX_AGE_S = 12 * 3600  # the longest a session lives (AuthSettings.max_session)

# Frame and content-type headers on every HTTP response. The page itself needs Streamlit's inline styles
# and scripts, so the CSP here restricts framing, plugins and the base URL; a reverse proxy may add more.
HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'; object-src 'none'; base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Streamlit's own endpoints that reveal something about the server and are open by default.
PROTECTED = ("/_stcore/metrics",)

_handoffs: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def handoff(token: str) -> str:
    """A one-time code the page exchanges for the session cookie (valid for a minute)."""
    code = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _lock:
        for k in [k for k, (_, exp) in _handoffs.items() if exp < now]:
            del _handoffs[k]
        _handoffs[code] = (token, now + HANDOFF_TTL_S)
    return code


def redeem(code: str) -> str | None:
    """The token behind a one-time code, or None when it is unknown, used or stale."""
    with _lock:
        token, expires = _handoffs.pop(code, ("", 0.0))
    return token if token and expires >= time.monotonic() else None


def _is_loopback(host: str) -> bool:
    return host.split(":")[0].strip("[]") in {"127.0.0.1", "localhost", "::1"}


def cookie_header(token: str | None, scheme: str, host: str) -> str:
    """The Set-Cookie value that stores (or, with None, deletes) the session cookie."""
    parts = [f"{COOKIE}={token or ''}", "Path=/", "HttpOnly", "SameSite=Strict",
             f"Max-Age={COOKIE_MAX_AGE_S if token else 0}"]
    if scheme == "https" or not _is_loopback(host):  # browsers drop Secure cookies on plain http
        parts.append("Secure")
    return "; ".join(parts)


def routes() -> list[Any]:
    """``POST /_review/session`` (one-time code -> cookie) and ``POST /_review/logout`` (cookie removed)."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def session(request: Request) -> Response:
        try:
            code = str(json.loads(await request.body())["code"])
        except (ValueError, KeyError, TypeError):
            return Response("expected {\"code\": ...}", status_code=400)
        token = redeem(code)
        if token is None:
            return Response("unknown or used code", status_code=403)
        resp = Response(status_code=204)
        resp.headers["Set-Cookie"] = cookie_header(token, request.url.scheme, request.headers.get("host", ""))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    async def logout(request: Request) -> Response:
        resp = Response(status_code=204)
        resp.headers["Set-Cookie"] = cookie_header(None, request.url.scheme, request.headers.get("host", ""))
        return resp

    return [Route(f"{ROUTE_PREFIX}/session", session, methods=["POST"]),
            Route(f"{ROUTE_PREFIX}/logout", logout, methods=["POST"])]


def _is_admin(cookie_header_value: str) -> bool:
    from http.cookies import CookieError, SimpleCookie

    from medswallow.review import auth
    from medswallow.review.db import default_db_url
    from medswallow.review.store import ReviewStore

    try:
        jar = SimpleCookie(cookie_header_value)
    except CookieError:
        return False
    if COOKIE not in jar:
        return False
    store = _metrics_store(os.environ.get("MEDSWALLOW_REVIEW_DB", default_db_url()), ReviewStore)
    try:
        return auth.resume(store, jar[COOKIE].value).can("manage_users")
    except auth.AuthError:
        return False


_stores: dict[str, Any] = {}


def _metrics_store(url: str, cls: Any) -> Any:
    with _lock:
        if url not in _stores:
            _stores[url] = cls.open(url)
        return _stores[url]


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SecurityMiddleware:
    """Adds :data:`HEADERS` to HTTP responses; answers 403 on :data:`PROTECTED` paths unless an admin is logged in."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.rstrip("/").endswith(PROTECTED):
            from anyio import to_thread

            cookie = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
            if not await to_thread.run_sync(_is_admin, cookie):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain"), *self._extra()]})
                await send({"type": "http.response.body", "body": b"log in as an admin to see the metrics\n"})
                return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in self._extra() if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)

    @staticmethod
    def _extra() -> list[tuple[bytes, bytes]]:
        return [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
