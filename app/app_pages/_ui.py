"""Shared UI pieces of the review app: the store, the logged-in user, inert text, the label editor.

UI only: every decision (who may do what, what a valid label is) is made in ``medswallow.review``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from medswallow.errors import UserError
from medswallow.review import auth
from medswallow.review.i18n import error_text, t
from medswallow.review.queue import AnnotationInput, AnnotationView
from medswallow.review.render import escape, invisible_characters, markdown_literal, render_text
from medswallow.review.spans import SpanLabel, locate
from medswallow.review.store import Actor, ReviewStore
from medswallow.review.taxonomy import Taxonomy, load_taxonomy


@st.cache_resource(show_spinner=False)
def _store(url: str) -> ReviewStore:
    return ReviewStore.open(url)


def store() -> ReviewStore:
    from medswallow.review.db import default_db_url

    return _store(os.environ.get("MEDSWALLOW_REVIEW_DB", default_db_url()))


def taxonomy() -> Taxonomy:
    return load_taxonomy()


def lang() -> str:
    return str(st.session_state.get("lang", "ja"))


def language_toggle() -> None:
    st.sidebar.segmented_control(
        t("language", lang()), ["ja", "en"], key="lang", default="ja",
        format_func=lambda x: "日本語" if x == "ja" else "English",
    )
    if st.session_state.get("lang") is None:  # clicking the selected option again clears it
        st.session_state["lang"] = "ja"


def oidc_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (see the README)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


@st.cache_resource(show_spinner=False)
def _cookie_component():  # type: ignore[no-untyped-def]
    import streamlit.components.v1 as components

    from medswallow.review.session_cookie import STATIC_DIR

    return components.declare_component("session_cookie", path=str(STATIC_DIR))


def _cookie_token() -> str | None:
    from medswallow.review.web import COOKIE

    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this run (AppTest, scripts)
        return None
    return str(value) if value else None


def cookie_sync() -> None:
    """Ask the server to set or remove the session cookie when a login or logout just happened."""
    pending = st.session_state.get("cookie_pending") or {"action": "none", "code": ""}
    with st.sidebar:  # always drawn, at the same place: a component that comes and goes shifts the page
        result = _cookie_component()(**pending, key="session_cookie", default=None)
    if isinstance(result, dict) and result.get("action") == pending["action"]:
        st.session_state.pop("cookie_pending", None)


def start_session(token: str) -> None:
    """After a login: keep the token for this page and hand it to the server for the HttpOnly cookie."""
    from medswallow.review.web import handoff

    st.session_state["token"] = token
    st.session_state["cookie_pending"] = {"action": "set", "code": handoff(token)}
    st.session_state.pop("dead_cookie", None)


def end_session() -> None:
    """Logout: the session row is revoked, the cookie removed, this page's state forgotten (drafts stay)."""
    token = st.session_state.pop("token", None)
    if token:
        auth.logout(store(), token)
    cookie = _cookie_token()
    if cookie:
        auth.logout(store(), cookie)
        st.session_state["dead_cookie"] = cookie  # this page's view of the cookie is stale until a reload
    st.session_state["cookie_pending"] = {"action": "clear", "code": ""}
    st.session_state.pop("uid", None)


# Drafts: what a clinician typed for an item, kept in the server's memory per user, so that a reload, a new
# tab, a logout or an expired session loses nothing (until the server restarts). Saving an item drops its draft.
_DRAFT_PREFIXES = ("fix_", "comment_", "conf_", "verdict_", "cats_", "sev_", "spans_", "span_ref_", "span_note_")


@st.cache_resource(show_spinner=False)
def _draft_boxes() -> dict[tuple[str, int], dict[str, object]]:
    return {}


def _box(actor: Actor) -> dict[str, object]:
    return _draft_boxes().setdefault((str(store().url), int(actor.id or 0)), {})


def _draft_keys() -> list[str]:
    return [k for k in st.session_state if isinstance(k, str) and k.startswith(_DRAFT_PREFIXES)]


def keep_draft(actor: Actor) -> None:
    """Remember this page's unsaved input for ``actor`` (called at the end of the annotate/adjudicate pages)."""
    box = _box(actor)
    for k in _draft_keys():
        value = st.session_state[k]
        box[k] = list(value) if isinstance(value, list) else value


def _item_key(k: str, key: str) -> bool:
    return k.endswith(f"_{key}") or f"_{key}_" in k


def drop_draft(actor: Actor, key: str) -> None:
    box = _box(actor)
    for k in [k for k in box if _item_key(k, key)]:
        del box[k]


def keep_item_draft(
    actor: Actor, key: str, values: dict, spans: list[SpanLabel], saved: AnnotationView | None, saved_now: bool = False
) -> None:
    """Remember one item's input as a draft while it differs from what is saved (else forget the draft)."""
    if saved_now or _unchanged(values, spans, saved):
        drop_draft(actor, key)
        return
    box = _box(actor)
    for k in _draft_keys():
        if _item_key(k, key):
            value = st.session_state[k]
            box[k] = list(value) if isinstance(value, list) else value


def _unchanged(values: dict, spans: list[SpanLabel], saved: AnnotationView | None) -> bool:
    def span_key(ss: list[SpanLabel] | tuple[SpanLabel, ...]) -> list[tuple]:
        return sorted((s.start, s.end, s.category, s.severity, s.note) for s in ss)

    if saved is None:
        return (values["verdict"] is None and not spans and not values["categories"] and values["severity"] is None
                and not values["corrected_text"].strip() and not values["comment"].strip())
    return (
        values["verdict"] == saved.verdict
        and span_key(spans) == span_key(saved.spans)
        and set(values["categories"]) == set(saved.categories) - {s.category for s in saved.spans}
        and values["severity"] in (None, saved.severity)
        and values["corrected_text"] == saved.corrected_text
        and values["comment"] == saved.comment
        and values.get("confidence", saved.confidence) == saved.confidence
    )


def _restore_draft(actor: Actor) -> None:
    box = _box(actor)
    restored = False
    for k, value in box.items():
        if k not in st.session_state:
            st.session_state[k] = list(value) if isinstance(value, list) else value
            restored = True
    if restored:
        st.session_state["draft_note"] = True


def current_user() -> Actor | None:
    """The logged-in user, or None (an expired session is cleared with a message, its input kept as a draft).

    The token comes from this page's memory or from the session cookie (a reload or a new tab).
    """
    s = store()
    token = st.session_state.get("token")
    if not token:
        cookie = _cookie_token()
        if cookie and cookie != st.session_state.get("dead_cookie"):
            token = cookie
            st.session_state["token"] = token
    if not token and oidc_configured() and getattr(st.user, "is_logged_in", False):
        try:
            token = auth.login_oidc(s, str(st.user.email))
            start_session(token)
        except UserError as exc:
            st.session_state["auth_message"] = error_text(str(exc), lang())
            return None
    if not token:
        return None
    try:
        actor = auth.resume(s, token)
    except auth.AuthError as exc:
        st.session_state.pop("token", None)
        if token == _cookie_token():
            st.session_state["dead_cookie"] = token
        uid = st.session_state.pop("uid", None)
        if uid is not None and _draft_keys():
            keep_draft(Actor(uid, "", "annotator"))
            st.session_state["auth_message"] = t("session_expired_draft", lang())
        else:
            st.session_state["auth_message"] = error_text(str(exc), lang())
        return None
    if st.session_state.get("uid") != actor.id:
        st.session_state["uid"] = actor.id
        _restore_draft(actor)
    return actor


def session_warning() -> None:
    """A warning, refreshed every 30 s, when the session is about to end (auth.session_status only looks:
    checking does not extend the session). $MEDSWALLOW_REVIEW_WARN_MINUTES sets how early (default 5)."""
    from datetime import timedelta

    settings = auth.AuthSettings(warn_before=timedelta(minutes=int(os.environ.get("MEDSWALLOW_REVIEW_WARN_MINUTES", "5"))))

    @st.fragment(run_every=30)
    def _check() -> None:
        try:
            status = auth.session_status(store(), st.session_state.get("token"), settings)
        except auth.AuthError:
            return  # the next full run shows the login page (and keeps the draft)
        if status.warn:
            key = "session_warning" if status.ends_by == "idle" else "session_limit_warning"
            st.warning(t(key, lang(), minutes=int(status.remaining.total_seconds() // 60)), icon=":material/timer:")

    _check()


def local_time(when: datetime) -> str:
    """A stored (UTC) time in the reviewers' time zone: $MEDSWALLOW_REVIEW_TZ, Asia/Tokyo by default."""
    from zoneinfo import ZoneInfo

    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(ZoneInfo(time_zone())).strftime("%Y-%m-%d %H:%M")


def time_zone() -> str:
    return os.environ.get("MEDSWALLOW_REVIEW_TZ", "Asia/Tokyo")


@dataclass
class Ctx:
    store: ReviewStore
    actor: Actor
    lang: str
    taxonomy: Taxonomy


def require(permission: str) -> Ctx:
    """Stop the page unless a user is logged in and their role allows ``permission``."""
    actor = current_user()
    if actor is None:
        st.warning(t("login_required", lang()))
        st.stop()
    assert actor is not None
    if not actor.can(permission):
        st.error(t("no_access", lang(), reason=t(f"perm_{permission}", lang())))
        st.stop()
    if st.session_state.pop("draft_note", False):
        st.info(t("draft_restored", lang()))
    return Ctx(store(), actor, lang(), taxonomy())


def show_inert(text: str, spans: list[SpanLabel] | tuple[SpanLabel, ...] = (), numbered: bool = False) -> None:
    """Model output, rendered as text only (see medswallow.review.render)."""
    st.html(render_text(text, spans, numbered=numbered))


def invisible_warning(text: str, lng: str) -> None:
    """A warning above an answer that holds invisible characters (each is shown as a marker in the text)."""
    found = invisible_characters(text)
    if found:
        shown = " ".join(dict.fromkeys(m for _, m in found))
        st.warning(t("invisible_chars", lng, n=len(found), chars=shown))


def guidelines_link(lng: str) -> None:
    """A link to the guidelines page; the guidelines inline when the page runs on its own."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link("app_pages/guidelines.py", label=t("guidelines_link", lng), icon=":material/menu_book:")
    except StreamlitAPIException:  # not started through streamlit_app.py's navigation
        from medswallow.review.taxonomy import guidelines_path

        with st.expander(t("guidelines_link", lng)):
            st.markdown(guidelines_path().read_text(encoding="utf-8"))


def hint(message: str) -> None:
    st.html(
        '<div style="border-left:4px solid #e67e22;background:#fdf2e9;padding:4px 8px;margin:2px 0">'
        f"{escape(message)}</div>"
    )


def drafts(key: str, initial: tuple[SpanLabel, ...] = ()) -> list[SpanLabel]:
    """The spans being edited for one item (kept in the session until saved)."""
    state_key = f"spans_{key}"
    if state_key not in st.session_state:
        st.session_state[state_key] = list(initial)
    spans: list[SpanLabel] = st.session_state[state_key]
    return spans


@st.cache_resource(show_spinner=False)
def _span_component():  # type: ignore[no-untyped-def]
    import streamlit.components.v1 as components

    from medswallow.review.span_select import STATIC_DIR

    return components.declare_component("span_select", path=str(STATIC_DIR))


SEVERITY_KEY = "span_severity"  # the severity of the next span: the last one chosen, on every item


def next_severity(tax: Taxonomy) -> str:
    sev = st.session_state.get(SEVERITY_KEY)
    return sev if sev in tax.severity_ids else tax.severity_ids[1]


def _set_next_severity(key: str, sev: str) -> None:
    st.session_state[SEVERITY_KEY] = sev
    for lng in ("ja", "en"):  # the keyboard form shows the same default (set before it is drawn)
        st.session_state[f"span_sev_{key}_{lng}"] = sev


def answer_selector(key: str, answer: str, tax: Taxonomy, lng: str, spans: list[SpanLabel], height: int = 420) -> None:
    """The answer, where spans are marked with the mouse (select, then 1-9), clicked to edit, Delete to remove.

    The answer scrolls inside its own pane, so a long answer never pushes the label form off the screen.
    """
    from medswallow.review.span_select import apply_event, component_args

    words = {w: t(f"sel_{w}", lng) for w in ("categories", "severity", "help", "editing", "sent", "select_first")}
    args = component_args(answer, spans, tax, lng, next_severity(tax), words)
    args["height"] = height
    event = _span_component()(**args, key=f"select_{key}", default=None)
    seen = f"select_seen_{key}"
    if not isinstance(event, dict) or event.get("id") in (None, st.session_state.get(seen)):
        return
    st.session_state[seen] = event["id"]
    try:
        new, sev = apply_event(spans, event, answer, tax)
    except UserError as exc:
        st.error(markdown_literal(error_text(str(exc), lng)))
        return
    spans[:] = new
    if sev is not None:
        _set_next_severity(key, sev)
    st.rerun()


def span_editor(key: str, answer: str, tax: Taxonomy, lng: str, spans: list[SpanLabel]) -> None:
    """The keyboard path: add spans by sentence numbers or a pasted passage (Enter submits); the list of
    spans with their category, severity and note, each removable.

    The form keeps its choices after an add (the severity stays what was chosen last), and a passage that
    cannot be found stays in the box to be corrected.
    """
    st.markdown(f"**{t('spans', lng)}**")
    span_cats = [c.id for c in tax.categories if c.span]
    clear = f"span_ref_clear_{key}"
    if st.session_state.pop(clear, False):
        st.session_state[f"span_ref_{key}"] = ""
    with st.form(f"span_form_{key}", clear_on_submit=False, border=True):
        ref = st.text_input(t("span_ref", lng), help=t("span_ref_help", lng), key=f"span_ref_{key}",
                            placeholder=t("span_ref_placeholder", lng))
        c1, c2 = st.columns(2)
        cat = c1.selectbox(
            t("category", lng), span_cats, format_func=lambda c: tax.category(c).name(lng),
            key=choice_key("span_cat", key, lng, span_cats[0]),
        )
        sev = c2.selectbox(
            t("severity", lng), tax.severity_ids, format_func=lambda s: tax.severity(s).name(lng),
            key=choice_key("span_sev", key, lng, next_severity(tax)),
        )
        note = st.text_input(t("note", lng), key=f"span_note_{key}", placeholder=t("note_placeholder", lng))
        if st.form_submit_button(t("add_span", lng)):
            try:
                start, end = locate(answer, ref)
                if any((s.start, s.end, s.category) == (start, end, cat) for s in spans):
                    raise UserError(f"span {start}-{end} with category {cat!r} is marked twice")
                spans.append(SpanLabel(start, end, cat, sev, answer[start:end], note))
                st.session_state[SEVERITY_KEY] = sev
                st.session_state[clear] = True
                st.rerun()
            except UserError as exc:
                st.error(markdown_literal(error_text(str(exc), lng)))
    if not spans:
        st.caption(t("no_spans", lng))
    for i, s in enumerate(spans):
        c1, c2, c3 = st.columns([5, 1, 1])
        with c1:
            st.html(
                f"<div><b>{i + 1}.</b> {escape(tax.category(s.category).name(lng))} / "
                f"{escape(tax.severity(s.severity).name(lng))}: «{escape(s.quote)}»"
                + (f'<br><span style="color:#555">{escape(t("note", lng))}: {escape(s.note)}</span>' if s.note else "")
                + "</div>"
            )
        ident = f"{key}_{s.start}_{s.end}_{s.category}"
        with c2.popover("", icon=":material/edit_note:", help=t("edit_note", lng)):
            st.text_input(t("note", lng), value=s.note, key=f"note_edit_{ident}", on_change=_set_note,
                          args=(spans, i, f"note_edit_{ident}"), placeholder=t("note_placeholder", lng))
        if c3.button("", icon=":material/delete:", help=t("remove_span", lng), key=f"rm_{ident}"):
            spans.pop(i)
            st.rerun()


def _set_note(spans: list[SpanLabel], i: int, widget: str) -> None:
    from dataclasses import replace

    if i < len(spans):
        spans[i] = replace(spans[i], note=str(st.session_state.get(widget, "")))


def span_details(spans: list[SpanLabel] | tuple[SpanLabel, ...], tax: Taxonomy, lng: str) -> None:
    """Each span's category, severity, quote and note (read-only: the adjudicator's view of a label)."""
    if not spans:
        st.caption(t("no_spans", lng))
        return
    rows = "".join(
        f"<li>{escape(tax.category(s.category).name(lng))} / {escape(tax.severity(s.severity).name(lng))}: "
        f"«{escape(s.quote)}»" + (f" — {escape(t('note', lng))}: {escape(s.note)}" if s.note else "") + "</li>"
        for s in spans
    )
    st.html(f'<ol class="ms-span-details" style="margin:0;padding-left:1.4em">{rows}</ol>')


def choice_key(name: str, key: str, lng: str, initial: object) -> str:
    """The session key of a choice widget whose option labels depend on the language.

    Streamlit keeps a choice by its displayed label, so relabelling a widget in place would drop it: each
    language gets its own widget, and the value (a language-independent id) moves over on a toggle.
    """
    k = f"{name}_{key}_{lng}"
    if k not in st.session_state:
        other = f"{name}_{key}_{'en' if lng == 'ja' else 'ja'}"
        st.session_state[k] = st.session_state.get(other, initial)
    return k


# Two fixes to Streamlit's own page, installed once per browser tab:
# - Ctrl+Enter pressed on a radio button or checkbox never reaches Streamlit's shortcut handler (the widget
#   library treats Enter on them as a press and stops it): in the capture phase, click the button that
#   carries the Ctrl+Enter shortcut instead.
# - Streamlit's "Page not found" dialog is English only: on the Japanese UI its text is replaced.
_PAGE_SCRIPT = """<script>
document.documentElement.dataset.msLang = "%(lang)s";
if (!window.__msReview) {
  window.__msReview = true;
  document.addEventListener("keydown", function (e) {
    if (!(e.ctrlKey || e.metaKey) || e.key !== "Enter" || e.repeat) return;
    const t = e.target;
    if (!t || t.tagName !== "INPUT" || (t.type !== "radio" && t.type !== "checkbox")) return;
    const kbd = document.querySelector('button kbd[aria-label^="Shortcut"][aria-label$="Enter"]');
    if (!kbd) return;
    e.preventDefault();
    e.stopPropagation();
    kbd.closest("button").click();
  }, true);
  const words = %(words)s;
  function translate() {
    if (document.documentElement.dataset.msLang !== "ja") return;
    document.querySelectorAll('[role="dialog"]').forEach(function (d) {
      const w = document.createTreeWalker(d, NodeFilter.SHOW_TEXT);
      for (let n = w.nextNode(); n; n = w.nextNode()) {
        if (n.data.trim() === "Page not found") n.data = words.title;
        else if (/no corresponding file was found|does not seem to exist/.test(n.data)) n.data = words.body;
      }
    });
  }
  new MutationObserver(translate).observe(document.body, { childList: true, subtree: true, characterData: true });
  translate();
}
</script>"""


def page_script(lng: str) -> None:
    """The shell's fixes to Streamlit's page (see _PAGE_SCRIPT); drawn in the sidebar, where it takes no room."""
    import json

    words = json.dumps({"title": t("page_not_found_title", "ja"), "body": t("page_not_found", "ja")})
    with st.sidebar:
        st.html(_PAGE_SCRIPT % {"lang": "ja" if lng == "ja" else "en", "words": words}, unsafe_allow_javascript=True)


def label_fields(key: str, tax: Taxonomy, lng: str, initial: AnnotationView | None, with_confidence: bool = True) -> dict:
    """The item-level fields; returns their values (the caller adds the spans and validates)."""
    verdict = st.radio(
        t("verdict", lng), tax.verdict_ids, horizontal=True,
        key=choice_key("verdict", key, lng, initial.verdict if initial else None),
        format_func=lambda v: tax.verdict(v).name(lng),
    )
    # Categories that come from spans are shown on the spans, not repeated here.
    from_spans = {s.category for s in initial.spans} if initial else set()
    cats = st.multiselect(
        t("item_categories", lng), tax.category_ids,
        key=choice_key("cats", key, lng, [c for c in initial.categories if c not in from_spans] if initial else []),
        format_func=lambda c: tax.category(c).name(lng),
    )
    severity = st.selectbox(
        t("item_severity", lng), [None, *tax.severity_ids],
        key=choice_key("sev", key, lng, initial.severity if initial else None),
        format_func=lambda s: t("severity_from_spans", lng) if s is None else tax.severity(s).name(lng),
    )
    # Initial values go through the session state (never value=), so a restored draft takes their place.
    st.session_state.setdefault(f"fix_{key}", initial.corrected_text if initial else "")
    st.session_state.setdefault(f"comment_{key}", initial.comment if initial else "")
    corrected = st.text_area(
        t("corrected_text", lng), height=140, key=f"fix_{key}", placeholder=t("corrected_placeholder", lng)
    )
    confidence = 3
    if with_confidence:
        st.session_state.setdefault(f"conf_{key}", initial.confidence if initial else 3)
        confidence = st.slider(t("confidence", lng), 1, 5, key=f"conf_{key}")
    comment = st.text_input(t("comment", lng), key=f"comment_{key}", placeholder=t("note_placeholder", lng))
    values = {"verdict": verdict, "categories": cats, "severity": severity, "corrected_text": corrected,
              "comment": comment}
    if with_confidence:
        values["confidence"] = confidence
    return values


def to_input(values: dict, spans: list[SpanLabel]) -> AnnotationInput:
    """Only span categories go in ``spans``; item-level categories stay item-level."""
    span_cats = {s.category for s in spans}
    return AnnotationInput(
        verdict=values["verdict"],
        categories=[c for c in values["categories"] if c not in span_cats],
        spans=list(spans),
        severity=values["severity"],
        corrected_text=values["corrected_text"],
        confidence=int(values.get("confidence", 3)),
        comment=values["comment"],
    )
