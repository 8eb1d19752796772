"""The review server's HTTP layer: the one-time handoff, the session cookie's flags, security headers,
and Streamlit's metrics behind an admin login (a real Starlette app and a real review database)."""

from __future__ import annotations

import pytest

from medswallow.review import web
from medswallow.review.auth import login

from .conftest import PASSWORD, make_team


def test_a_handoff_code_works_once():
    code = web.handoff("tok-123")
    assert web.redeem(code) == "tok-123"
    assert web.redeem(code) is None and web.redeem("made-up") is None


@pytest.mark.parametrize(
    ("scheme", "host", "secure"),
    [("http", "127.0.0.1:8501", False), ("http", "localhost:8501", False), ("https", "review.hospital.jp", True),
     ("http", "review.hospital.jp", True)],
)
def test_the_cookie_is_http_only_strict_expiring_and_secure_off_loopback(scheme, host, secure):
    value = web.cookie_header("tok", scheme, host)
    assert value.startswith(f"{web.COOKIE}=tok;") and "HttpOnly" in value and "SameSite=Strict" in value
    assert f"Max-Age={web.COOKIE_MAX_AGE_S}" in value and ("Secure" in value) == secure
    assert "Max-Age=0" in web.cookie_header(None, scheme, host)


@pytest.fixture
def client(sqlite_store, monkeypatch):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    monkeypatch.setenv("MEDSWALLOW_REVIEW_DB", str(sqlite_store.url))
    make_team(sqlite_store)

    async def metrics(_request):  # stands in for Streamlit's own /_stcore/metrics
        return PlainTextResponse("sessions 1\n")

    app = Starlette(routes=[*web.routes(), Route("/_stcore/metrics", metrics)],
                    middleware=[Middleware(web.SecurityMiddleware)])
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c, sqlite_store


def test_metrics_only_for_a_logged_in_admin_and_headers_everywhere(client):
    c, store = client
    denied = c.get("/_stcore/metrics")
    assert denied.status_code == 403 and "sessions" not in denied.text
    assert denied.headers["x-frame-options"] == "SAMEORIGIN"
    c.cookies.set(web.COOKIE, login(store, "ann1", PASSWORD))
    assert c.get("/_stcore/metrics").status_code == 403  # an annotator is not enough
    c.cookies.set(web.COOKIE, login(store, "admin1", PASSWORD))
    ok = c.get("/_stcore/metrics")
    assert ok.status_code == 200 and ok.text == "sessions 1\n"
    assert "frame-ancestors 'self'" in ok.headers["content-security-policy"]


def test_the_session_route_sets_the_cookie_for_a_valid_code_only(client):
    c, store = client
    token = login(store, "ann1", PASSWORD)
    assert c.post(f"{web.ROUTE_PREFIX}/session", content=b'{"code": "guess"}').status_code == 403
    assert c.post(f"{web.ROUTE_PREFIX}/session", content=b"not json").status_code == 400
    resp = c.post(f"{web.ROUTE_PREFIX}/session", json={"code": web.handoff(token)})
    assert resp.status_code == 204 and "HttpOnly" in resp.headers["set-cookie"]
    assert token in resp.headers["set-cookie"]
    gone = c.post(f"{web.ROUTE_PREFIX}/logout")
    assert gone.status_code == 204 and "Max-Age=0" in gone.headers["set-cookie"]
