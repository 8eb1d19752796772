"""Every page of the Streamlit app through AppTest: login gates, roles, inert output, saving labels."""

from __future__ import annotations

import html
import json
import sys
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from medswallow.inference import ChatResult
from medswallow.review.auth import login
from medswallow.review.generate import ModelTarget, save_generation
from medswallow.review.i18n import t
from medswallow.review.models import Annotation, Prompt
from medswallow.review.queue import AnnotationInput, assign, save_annotation
from medswallow.review.spans import SpanLabel
from medswallow.review.store import OPERATOR, ReviewStore

from .conftest import PASSWORD, seed

APP = Path(__file__).resolve().parents[2] / "app"
PAGES = ["annotate", "adjudicate", "dashboard", "admin", "guidelines"]
HOSTILE = (
    "<script>document.title='pwned'</script><img src=x onerror=alert(1)> "
    "[click](javascript:alert(1)) ![t](https://evil.example/p.png) 1回120mgを1日3回。"
)


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A review database with answers assigned to ann1 and ann2 (one hostile), for the app to open."""
    if str(APP) not in sys.path:
        sys.path.insert(0, str(APP))
    url = f"sqlite:///{tmp_path / 'app.db'}"
    store = ReviewStore.open(url, create=True)
    seeded = seed(store)
    with store.read() as session:
        pid = session.scalar(select(Prompt.id).where(Prompt.external_id == "p1"))
    hostile = save_generation(store, OPERATOR, pid, ModelTarget("http://x/v1", "![m](https://evil.example/m.png)"), {"t": 0},
                              ChatResult(text=HOSTILE, reasoning="<script>alert('r')</script>", finish_reason="stop"))
    team = seeded.team
    a, b = team.annotators[:2]
    assign(store, team.admin, [hostile, *seeded.generation_ids], [a.id, b.id], k=2)
    monkeypatch.setenv("MEDSWALLOW_REVIEW_DB", url)
    yield store, seeded, hostile
    store.close()


def app(page: str | None = None, token: str | None = None, lang: str = "ja"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP / ("streamlit_app.py" if page is None else f"app_pages/{page}.py")), default_timeout=60)
    if token:
        at.session_state["token"] = token
    at.session_state["lang"] = lang
    return at.run()


def html_bodies(at) -> str:
    return "\n".join(h.proto.body for h in at.html)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_without_login(app_env, page):
    at = app(page)
    assert not at.exception
    assert [w.value for w in at.warning] == [t("login_required", "ja")]
    assert len(at.html) == 0 and len(at.dataframe) == 0 and len(at.button) == 0


def test_app_shows_only_the_login_form_until_logged_in(app_env):
    at = app()
    assert not at.exception
    assert [ti.value for ti in at.title] == [t("app_title", "ja")]
    assert len(at.main.html) == 0  # the sidebar holds only the shell's page script
    at.text_input(key="login_user").input("ann1")
    at.text_input(key="login_password").input("wrong-password-123")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.error[0].value == "ユーザー名またはパスワードが正しくありません。" and "token" not in at.session_state
    at.text_input(key="login_user").input("ann1")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert at.session_state["token"]
    at.switch_page("app_pages/annotate.py").run()
    assert not at.exception and len(at.html) >= 2


def test_expired_or_forged_session_goes_back_to_login(app_env):
    at = app("annotate", token="forged-token")
    assert [w.value for w in at.warning] == [t("login_required", "ja")]


@pytest.mark.parametrize("page", ["adjudicate", "dashboard", "admin"])
def test_annotator_cannot_reach_adjudicator_or_admin_pages(app_env, page):
    store, _, _ = app_env
    at = app(page, token=login(store, "ann1", PASSWORD))
    assert not at.exception
    assert len(at.error) == 1 and "not allowed" not in at.error[0].value  # Japanese message
    assert len(at.dataframe) == 0 and len(at.html) == 0


def component_args(at) -> dict:
    """The arguments of the mouse-selection component (AppTest cannot run its JavaScript)."""
    comps = [c for c in at.get("component_instance") if c.proto.component_name.endswith("span_select")]
    assert len(comps) == 1
    return json.loads(comps[0].proto.json_args)


def test_annotate_page_renders_model_output_inert_and_saves_a_span(app_env):
    store, seeded, hostile = app_env
    at = app("annotate", token=login(store, "ann1", PASSWORD), lang="en")
    assert not at.exception
    bodies = html_bodies(at)
    for raw in ("<script", "<img", "javascript:", "](", "onerror="):
        assert raw not in bodies
    # The hostile answer comes first (equal priority, oldest first); the component gets it as plain text
    # pieces (drawn with textContent), and the pieces put together are the stored answer.
    args = component_args(at)
    assert "".join(g["t"] for g in args["segments"]) == HOSTILE and args["spans"] == []
    assert len(at.expander) >= 1 and at.expander[0].label.startswith("Reasoning")
    # Mark sentence 2 ("1回120mgを1日3回。") as a wrong dose, then save the item as unsafe.
    aid = _first_assignment(store, "ann1")
    at.text_input(key=f"span_ref_{aid}").input("1回120mg")
    at.selectbox(key=f"span_cat_{aid}_en").select("wrong_dose")
    at.button[0].click().run()  # the span form's submit button comes first
    assert not at.exception and not at.error
    assert at.text_input(key=f"span_ref_{aid}").value == ""  # cleared after a successful add
    [span] = component_args(at)["spans"]
    assert span["label"] == "Wrong dose・Moderate" and HOSTILE[span["start"]:span["end"]] == "1回120mg"
    at.radio(key=f"verdict_{aid}_en").set_value("unsafe")
    at.text_area(key=f"fix_{aid}").input("ロキソプロフェンは1回60mg、1日3回までです。")
    at.button(key="save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with store.read() as session:
        ann = session.scalar(select(Annotation).where(Annotation.assignment_id == aid))
    assert ann.verdict == "unsafe" and ann.spans[0]["quote"] == "1回120mg" and ann.spans[0]["category"] == "wrong_dose"
    assert ann.corrected_text.startswith("ロキソプロフェン")
    # Saved a moment ago, shown in Japan time (the default time zone), not UTC.
    local = ann.updated_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    at.run()
    assert any(f"{local:%Y-%m-%d %H:%M}" in c.value for c in at.caption)


def test_span_form_keeps_the_chosen_severity_and_a_passage_that_failed(app_env):
    store, _, _ = app_env
    at = app("annotate", token=login(store, "ann1", PASSWORD), lang="ja")
    aid = _first_assignment(store, "ann1")
    at.text_input(key=f"span_ref_{aid}").input("1回120mg")
    at.selectbox(key=f"span_sev_{aid}_ja").select("severe")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # The next span starts at the severity chosen last, not at the first or the default one.
    assert at.selectbox(key=f"span_sev_{aid}_ja").value == "severe"
    assert component_args(at)["severity"] == "severe"
    # A span's note can be edited afterwards.
    [span] = component_args(at)["spans"]
    at.text_input(key=f"note_edit_{aid}_{span['start']}_{span['end']}_wrong_dose").input("添付文書では1回60mg").run()
    assert component_args(at)["spans"][0]["note"] == "添付文書では1回60mg"
    # A passage that is not in the answer stays in the box, with a Japanese message.
    at.text_input(key=f"span_ref_{aid}").input("回答にない文章をここに貼り付けた")
    at.button[0].click().run()
    assert not at.exception
    assert at.error[0].value == "その文言は回答中に見つかりません。そのまま貼り付けるか、文番号で指定してください。"
    assert at.text_input(key=f"span_ref_{aid}").value == "回答にない文章をここに貼り付けた"
    at.button(key="save").click().run()  # no verdict chosen
    assert not at.exception and at.error[-1].value == t("choose_verdict", "ja")


def test_invisible_characters_are_shown_as_markers_and_warned_about(app_env):
    store, seeded, _ = app_env
    with store.read() as session:
        pid = session.scalar(select(Prompt.id).where(Prompt.external_id == "p4"))
    answer = "Take \u202e005\u202c mg.\u200b 1日\u202e05\u202cmg"
    gid = save_generation(store, OPERATOR, pid, ModelTarget("http://x/v1", "model-d"), {"t": 0},
                          ChatResult(text=answer, reasoning="", finish_reason="stop"))
    ann3 = seeded.team.annotators[2]
    assign(store, seeded.team.admin, [gid], [ann3.id], k=1)
    at = app("annotate", token=login(store, "ann3", PASSWORD), lang="ja")
    assert not at.exception
    assert "見えない文字" in at.warning[0].value and "⟦RLO U+202E⟧" in at.warning[0].value
    segs = component_args(at)["segments"]
    shown = "".join(g["t"] for g in segs)
    assert shown == "Take ⟦RLO U+202E⟧005⟦PDF U+202C⟧ mg.⟦ZWSP U+200B⟧ 1日⟦RLO U+202E⟧05⟦PDF U+202C⟧mg"
    assert not any(c in shown for c in "\u202e\u202c\u200b")
    # Each marker stands for exactly one stored character, so offsets map back exactly.
    assert all(g["e"] - g["s"] == 1 for g in segs if g["k"] == "marker")
    assert all(answer[g["s"]:g["e"]] == g["t"] for g in segs if g["k"] == "text")


def test_drafts_survive_an_expired_session_and_a_new_login(app_env):
    from medswallow.review.models import AuthSession

    store, _, _ = app_env
    at = app(token=login(store, "ann1", PASSWORD), lang="ja")
    assert not at.exception
    aid = _first_assignment(store, "ann1")
    long_fix = "ロキソプロフェンはワルファリンの作用を強めるため併用は避け、" * 20
    at.radio(key=f"verdict_{aid}_ja").set_value("unsafe")
    at.text_area(key=f"fix_{aid}").input(long_fix)
    at.run()
    with store.read() as session:  # 40 minutes without activity: past the idle timeout
        seen = session.scalar(select(AuthSession.last_seen_at))
    with store.engine.begin() as conn:
        conn.execute(update(AuthSession).values(last_seen_at=seen - timedelta(minutes=40)))
    at.button(key="save").click().run()
    assert not at.exception
    assert [i.value for i in at.info] == [t("session_expired_draft", "ja")]
    with store.read() as session:
        assert session.scalar(select(Annotation).where(Annotation.assignment_id == aid)) is None
    at.text_input(key="login_user").input("ann1")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.text_area(key=f"fix_{aid}").value == long_fix
    assert at.radio(key=f"verdict_{aid}_ja").value == "unsafe"
    assert t("draft_restored", "ja") in [i.value for i in at.info]


def test_a_draft_follows_the_clinician_to_a_new_tab_until_it_is_saved(app_env):
    store, _, _ = app_env
    token = login(store, "ann1", PASSWORD)
    first = app(token=token, lang="ja")
    aid = _first_assignment(store, "ann1")
    first.text_area(key=f"fix_{aid}").input("1回60mgまで。")
    first.radio(key=f"verdict_{aid}_ja").set_value("unsafe").run()
    # A new tab (a new Streamlit session, same login): the unsaved input is there.
    second = app(token=token, lang="ja")
    assert second.text_area(key=f"fix_{aid}").value == "1回60mgまで。"
    assert t("draft_restored", "ja") in [i.value for i in second.info]
    second.radio(key=f"verdict_{aid}_ja").set_value("safe")
    second.text_area(key=f"fix_{aid}").input("")
    second.button(key="save").click().run()
    assert not second.exception and not second.error, [e.value for e in second.error]
    # Saved: a third tab, opened on that item's link, shows the saved label and no draft.
    from streamlit.testing.v1 import AppTest

    third = AppTest.from_file(str(APP / "streamlit_app.py"), default_timeout=60)
    third.session_state["token"], third.session_state["lang"] = token, "ja"
    third.query_params["item"] = str(aid)
    third.run()
    assert third.text_area(key=f"fix_{aid}").value == "" and t("draft_restored", "ja") not in [i.value for i in third.info]
    assert third.radio(key=f"verdict_{aid}_ja").value == "safe"


def test_adjudicator_sees_both_labels_and_decides(app_env, taxonomy):
    store, seeded, hostile = app_env
    team = seeded.team
    from medswallow.review.models import Assignment

    with store.read() as session:
        rows = session.execute(select(Assignment.id, Assignment.annotator_id).where(Assignment.generation_id == hostile)).all()
    dose = HOSTILE.index("1回120mg")
    span = SpanLabel(dose, dose + 7, "wrong_dose", "critical", "1回120mg", "max 60 mg ![n](https://evil.example/n.png)")
    for aid, uid in rows:
        who = next(a for a in team.annotators if a.id == uid)
        inp = (AnnotationInput("unsafe", categories=["harmful_omission"], spans=[span], severity="severe")
               if who.username == "ann1" else AnnotationInput("safe"))
        save_annotation(store, who, aid, inp, taxonomy)
    at = app("adjudicate", token=login(store, "adj1", PASSWORD), lang="en")
    assert not at.exception
    titles = [html.unescape(e.label) for e in at.expander]  # labels are markdown-literal
    assert any(x.startswith("ann1: Unsafe") for x in titles) and any(x.startswith("ann2: Safe") for x in titles)
    bodies = html_bodies(at)
    assert "<script" not in bodies and "<img" not in bodies
    # Each annotator's spans with category, severity and note; the model name as text, not markdown.
    details = [h.proto.body for h in at.html if "ms-span-details" in h.proto.body]
    assert details and "Wrong dose / Critical" in details[0] and "max 60 mg" in details[0]
    assert "&#33;&#91;n&#93;&#40;https&#58;" in details[0]
    assert "&#33;&#91;m&#93;&#40;https&#58;&#47;&#47;evil.example" in bodies
    assert not any("evil.example" in m.value for m in at.markdown)
    key = f"adj{hostile}"
    at.radio(key=f"verdict_{key}_en").set_value("unsafe")
    at.multiselect(key=f"cats_{key}_en").select("harmful_omission")
    at.selectbox(key=f"sev_{key}_en").select("severe")
    at.button(key="adj_save").click().run()
    assert not at.exception and at.success[0].value == t("adj_saved", "en")


def test_dashboard_and_admin_pages_render_for_an_admin(app_env, taxonomy):
    store, seeded, _ = app_env
    ann = seeded.team.annotators[0]
    from medswallow.review.queue import my_assignments

    for row in my_assignments(store, ann):
        save_annotation(store, ann, row.assignment_id, AnnotationInput("safe"), taxonomy)
    token = login(store, "admin1", PASSWORD)
    dash = app("dashboard", token=token, lang="en")
    assert not dash.exception and len(dash.dataframe) == 4
    admin = app("admin", token=token, lang="en")
    assert not admin.exception and len(admin.tabs) == 7
    admin.text_input(key="new_user").input("nurse.new")
    admin.text_input(key="new_password").input("a-long-new-password")
    admin.button[0].click().run()
    assert not admin.exception and admin.success[0].value == t("user_added", "en", name="nurse.new")
    # The password typed into the form is nowhere on the page.
    assert "a-long-new-password" not in str(admin.main) and "a-long-new-password" not in html_bodies(admin)


def test_a_warning_comes_before_the_idle_timeout(app_env, monkeypatch):
    store, _, _ = app_env
    monkeypatch.setenv("MEDSWALLOW_REVIEW_WARN_MINUTES", "60")  # the 30-minute idle timeout is within the hour
    at = app(token=login(store, "ann1", PASSWORD), lang="ja")
    assert not at.exception
    assert any(w.value == t("session_warning", "ja", minutes=29) for w in at.sidebar.warning)
    monkeypatch.setenv("MEDSWALLOW_REVIEW_WARN_MINUTES", "5")
    assert not app(token=login(store, "ann1", PASSWORD), lang="ja").sidebar.warning


def test_guidelines_page_and_language_toggle(app_env):
    store, _, _ = app_env
    token = login(store, "ann1", PASSWORD)
    ja = app("guidelines", token=token, lang="ja")
    en = app("guidelines", token=token, lang="en")
    assert not ja.exception and not en.exception
    assert any("注釈ガイドライン" in m.value for m in ja.markdown)
    # The taxonomy is shown as text (st.html of escaped text), never run through markdown.
    assert any("用量の誤り" in h.proto.body for h in ja.html) and any("Wrong dose" in h.proto.body for h in en.html)
    main = app(token=token, lang="en")
    assert not main.exception


def _first_assignment(store, username):
    from medswallow.review.models import Assignment, User

    with store.read() as session:
        uid = session.scalar(select(User.id).where(User.username == username))
        return session.scalar(
            select(Assignment.id).where(Assignment.annotator_id == uid).order_by(Assignment.priority.desc(), Assignment.id)
        )
