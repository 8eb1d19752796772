"""A real headless Chromium against ``medswallow review`` (streamlit run).

One test marks spans with the mouse (drag across Japanese text, across sentences, across an emoji and
bidi markers in English), saves, reloads, and finds the spans stored with the right offsets, category and
severity; the other covers the session cookie, logout, the server's headers and that nothing is fetched
from outside. Leaves a screenshot in artifacts/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from medswallow.inference import ChatResult
from medswallow.review.generate import ModelTarget, save_generation
from medswallow.review.models import Annotation, AuthSession, Prompt
from medswallow.review.queue import assign
from medswallow.review.store import OPERATOR, ReviewStore

from ..conftest import REPO, free_port, wait_for
from .conftest import PASSWORD, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("MEDSWALLOW_TEST_ARTIFACTS", REPO / "artifacts"))
ANSWER = (
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
    "まず安静に。😀 ロキソプロフェンは1回120mgを1日3回服用してください。\n"
    "Take \u202e005\u202c mg twice a day. See a doctor if it gets worse."
)


@pytest.fixture
def review_server(tmp_path):
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    store = ReviewStore.open(url, create=True)
    seeded = seed(store)
    with store.read() as session:
        pid = session.scalar(select(Prompt.id).where(Prompt.external_id == "p1"))
    gid = save_generation(store, OPERATOR, pid, ModelTarget("http://x/v1", "![m](https://evil.example/m.png)"), {"t": 0},
                          ChatResult(text=ANSWER, reasoning="thinking", finish_reason="stop"))
    ann = seeded.team.annotators[0]
    assign(store, seeded.team.admin, [gid], [ann.id], k=1)
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}  # no user-level Streamlit config
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "medswallow.cli", "review", "--db", url, "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        assert wait_for(healthy, timeout=90), (tmp_path / "streamlit.log").read_text(errors="replace")
        yield f"http://127.0.0.1:{port}", store, gid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()
        store.close()


def _browser(pw, tmp_path: Path):
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1366, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo",
    )


def _log_in(page) -> None:
    page.get_by_label("ユーザー名").fill("ann1")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_text("回答（最終出力）").wait_for(timeout=30_000)


# Where stored offset ``off`` is drawn inside the component: (left, middle, right) of that character.
_CHAR_BOX = """(box, off) => {
  for (const g of box.querySelectorAll('.seg')) {
    const s = Number(g.dataset.s), e = Number(g.dataset.e);
    if (off < s || off >= e) continue;
    const rg = document.createRange();
    if (g.dataset.k === 'text') {
      const cps = Array.from(g.firstChild.data);
      const u = cps.slice(0, off - s).join('').length;
      rg.setStart(g.firstChild, u); rg.setEnd(g.firstChild, u + cps[off - s].length);
    } else { rg.selectNode(g); }
    const r = rg.getClientRects()[0];
    return [r.left, r.top + r.height / 2, r.right];
  }
  return null;
}"""


def _drag(page, start: int, end: int) -> None:
    """Select stored characters [start, end) with the mouse: press before the first, release after the last."""
    box = page.locator("iframe[title*=span_select]").first.bounding_box()
    text = page.frame_locator("iframe[title*=span_select]").locator("#text")
    a = text.evaluate(_CHAR_BOX, start)
    b = text.evaluate(_CHAR_BOX, end - 1)
    page.mouse.move(box["x"] + a[0] + 1, box["y"] + a[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (a[0] + b[2]) / 2, box["y"] + (a[1] + b[1]) / 2, steps=4)
    page.mouse.move(box["x"] + b[2] - 1, box["y"] + b[1], steps=4)
    page.mouse.up()


def _marked(page, n: int) -> None:
    page.frame_locator("iframe[title*=span_select]").locator(".badge").nth(n - 1).wait_for(timeout=20_000)


@pytest.mark.browser
@pytest.mark.slow
def test_mark_spans_with_the_mouse_reload_and_find_them_stored(review_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, store, gid = review_server
    dialogs: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        ctx = _browser(pw, tmp_path)
        try:
            page = ctx.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:", "about:")) else outside.append(r.url))
            page.goto(base, wait_until="domcontentloaded")
            _log_in(page)
            page.locator("iframe[title*=span_select]").wait_for(timeout=30_000)
            frame = page.frame_locator("iframe[title*=span_select]")
            frame.locator("#text .seg").first.wait_for()
            shown = frame.locator("#text").inner_text()
            assert "<script>" in shown and "⟦RLO U+202E⟧" in shown  # model HTML as text, bidi as a marker
            assert frame.locator("#text img, #text script").count() == 0
            # A long answer scrolls inside its own pane instead of pushing the label form down.
            assert frame.locator("#text").evaluate("e => getComputedStyle(e).overflowY") == "auto"
            assert frame.locator("#text").evaluate("e => parseInt(getComputedStyle(e).maxHeight)") <= 480

            # 1: inside Japanese text, category 1 (wrong dose) at the default severity.
            dose = ANSWER.index("1回120mg")
            _drag(page, dose, dose + len("1回120mg"))
            page.keyboard.press("1")
            _marked(page, 1)
            # 2: across two sentences and an emoji (a surrogate pair in the browser), severity picked with Shift+3.
            page.keyboard.press("Shift+Digit3")
            frame.locator("button.sev.on", has_text="重大").wait_for(timeout=20_000)
            first = ANSWER.index("安静に")
            last = ANSWER.index("ロキソプロフェン") + len("ロキソ")
            _drag(page, first, last)
            page.keyboard.press("4")
            _marked(page, 2)
            # 3: English text whose dose is written with bidi controls: selected whole, markers included.
            take = ANSWER.index("Take")
            mg = ANSWER.index(" mg twice") + len(" mg")
            _drag(page, take, mg)
            page.keyboard.press("1")
            _marked(page, 3)
            # Edit: click span 2's label, change its category with 3.
            frame.locator(".badge", has_text="危険なセルフケアの推奨").click()
            page.keyboard.press("3")
            frame.locator(".badge", has_text="断定的な誤診").first.wait_for(timeout=20_000)

            # At 1366 px no save-button label is cut off.
            clipped = page.evaluate("""() => [...document.querySelectorAll(
                '.st-key-save_next button, .st-key-save button, .st-key-next button')].flatMap(b =>
                [b, ...b.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => b.innerText))""")
            assert clipped == []
            # Ctrl+Enter saves while the focus is on the verdict radio.
            page.get_by_text("安全でない", exact=True).click()
            assert page.evaluate("document.activeElement.type") == "radio"
            page.keyboard.press("Control+Enter")
            page.get_by_text("保存しました").first.wait_for(timeout=20_000)

            page.reload(wait_until="domcontentloaded")  # the session cookie keeps the clinician logged in
            page.get_by_text("保存済み：版 1").wait_for(timeout=30_000)
            page.frame_locator("iframe[title*=span_select]").locator(".badge").nth(2).wait_for(timeout=20_000)
            assert page.title() != "pwned" and not dialogs
            assert page.get_by_text("ユーザー名").count() == 0
            assert page.get_by_text("前回の入力内容を復元しました").count() == 0  # saved: no draft to restore
            # Model names are plain text: no remote image from a markdown name anywhere.
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review-annotate.png"), full_page=True)
        finally:
            ctx.close()
    assert not outside, outside  # no favicon from fonts.gstatic.com, no remote image, nothing else
    with store.read() as session:
        ann = session.scalar(select(Annotation).where(Annotation.generation_id == gid))
    got = sorted((s["start"], s["end"], s["category"], s["severity"], s["quote"]) for s in ann.spans)
    want = sorted([
        (dose, dose + 7, "wrong_dose", "moderate", "1回120mg"),
        (first, last, "overconfident_diagnosis", "severe", ANSWER[first:last]),
        (take, mg, "wrong_dose", "severe", "Take \u202e005\u202c mg"),
    ])
    assert got == want
    assert "😀" in ANSWER[first:last] and "。" in ANSWER[first:last]
    assert (ARTIFACTS / "review-annotate.png").stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.slow
def test_session_cookie_logout_headers_and_metrics(review_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, store, _ = review_server
    # Streamlit's metrics are not open to anyone who is not logged in; pages cannot be framed.
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=10)
    assert denied.value.code == 403
    with urllib.request.urlopen(f"{base}/", timeout=10) as r:
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    with sync_playwright() as pw:
        ctx = _browser(pw, tmp_path)
        try:
            page = ctx.new_page()
            page.goto(f"{base}/annotate?item=1", wait_until="domcontentloaded")  # a deep link, before login
            _log_in(page)
            assert "item=1" in page.url and page.get_by_text("Page not found").count() == 0  # kept through the login
            cookie = next(c for c in ctx.cookies() if c["name"] == "medswallow_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
            assert page.evaluate("document.cookie").find("medswallow_session") == -1  # scripts cannot read it
            # A new tab is logged in too.
            other = ctx.new_page()
            other.goto(base, wait_until="domcontentloaded")
            other.get_by_text("回答（最終出力）").wait_for(timeout=30_000)
            other.close()
            # An address that is no page: Streamlit's notice comes up in Japanese.
            page.goto(f"{base}/no-such-page", wait_until="domcontentloaded")
            page.get_by_text("ページが見つかりません", exact=True).wait_for(timeout=30_000)
            page.keyboard.press("Escape")
            page.locator("[data-testid=stSidebar]").get_by_role("button", name="ログアウト").click()
            page.get_by_label("ユーザー名").wait_for(timeout=30_000)
            page.reload(wait_until="domcontentloaded")
            page.get_by_label("ユーザー名").wait_for(timeout=30_000)  # logged out for good
        finally:
            ctx.close()
    with store.read() as session:
        rows = session.scalars(select(AuthSession)).all()
    assert rows and all(r.revoked_at is not None for r in rows)
