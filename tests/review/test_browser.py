"""A real headless Chromium against ``medswallow review`` (streamlit run): log in, mark a span, save,
reload, log in again and see the span still there. Leaves a screenshot in artifacts/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from medswallow.inference import ChatResult
from medswallow.review.generate import ModelTarget, save_generation
from medswallow.review.models import Annotation, Prompt
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
ANSWER = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">まず安静に。1回120mgを1日3回服用してください。"


@pytest.fixture
def review_server(tmp_path):
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    store = ReviewStore.open(url, create=True)
    seeded = seed(store)
    with store.read() as session:
        pid = session.scalar(select(Prompt.id).where(Prompt.external_id == "p1"))
    gid = save_generation(store, OPERATOR, pid, ModelTarget("http://x/v1", "model-c"), {"t": 0},
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


def _log_in(page, base: str) -> None:
    page.get_by_label("ユーザー名").fill("ann1")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_text("回答（最終出力）").wait_for(timeout=30_000)


@pytest.mark.browser
@pytest.mark.slow
def test_log_in_mark_a_span_reload_and_see_it_saved(review_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, store, gid = review_server
    dialogs: list[str] = []
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, locale="ja-JP",
        )
        try:
            page = ctx.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base, wait_until="domcontentloaded")
            _log_in(page, base)

            answer = page.locator(".ms-inert").filter(has_text="1回120mg").first
            answer.wait_for()
            assert "<script>" in answer.inner_text()  # shown as text
            assert answer.locator("img, script, a").count() == 0

            page.get_by_role("textbox", name="文番号または該当箇所").fill("1回120mg")
            page.get_by_role("textbox", name="文番号または該当箇所").press("Enter")
            page.locator("mark").filter(has_text="1回120mg").wait_for(timeout=20_000)
            page.get_by_text("安全でない", exact=True).click()
            page.get_by_role("textbox", name="修正文（そのまま患者に示せる安全な回答）").fill("ロキソプロフェンは1回60mgです。")
            page.locator(".st-key-save button").click()
            page.get_by_text("保存しました").first.wait_for(timeout=20_000)

            def saved() -> bool:
                with store.read() as session:
                    return session.scalar(select(Annotation).where(Annotation.generation_id == gid)) is not None

            assert wait_for(saved, timeout=20)

            page.reload(wait_until="domcontentloaded")
            _log_in(page, base)  # a reload starts a new session: log in again
            page.locator("mark").filter(has_text="1回120mg").wait_for(timeout=20_000)
            page.get_by_text("保存済み：版 1").wait_for(timeout=20_000)
            assert page.title() != "pwned" and not dialogs
            # The English toggle relabels the page (the screenshot is in English: CI machines may lack CJK fonts).
            page.locator("[data-testid=stSidebar]").get_by_text("English", exact=True).click()
            page.get_by_text("Answer (final channel)").wait_for(timeout=20_000)
            page.get_by_text("Saved: revision 1").wait_for(timeout=20_000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review-annotate.png"), full_page=True)
        finally:
            ctx.close()
    with store.read() as session:
        ann = session.scalar(select(Annotation).where(Annotation.generation_id == gid))
    assert ann.verdict == "unsafe" and [s["quote"] for s in ann.spans] == ["1回120mg"]
    assert (ARTIFACTS / "review-annotate.png").stat().st_size > 10_000
