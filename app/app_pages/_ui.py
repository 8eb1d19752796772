"""Shared UI pieces of the review app: the store, the logged-in user, inert text, the label editor.

UI only: every decision (who may do what, what a valid label is) is made in ``medswallow.review``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from medswallow.errors import UserError
from medswallow.review import auth
from medswallow.review.i18n import t
from medswallow.review.queue import AnnotationInput, AnnotationView
from medswallow.review.render import escape, render_text
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


def current_user() -> Actor | None:
    """The logged-in user, or None (an expired session is cleared with a message)."""
    s = store()
    token = st.session_state.get("token")
    if not token and oidc_configured() and getattr(st.user, "is_logged_in", False):
        try:
            token = auth.login_oidc(s, str(st.user.email))
            st.session_state["token"] = token
        except UserError as exc:
            st.session_state["auth_message"] = str(exc)
            return None
    if not token:
        return None
    try:
        return auth.resume(s, token)
    except auth.AuthError as exc:
        st.session_state.pop("token", None)
        st.session_state["auth_message"] = str(exc)
        return None


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
        st.error(t("no_access", lang(), reason=permission.replace("_", " ")))
        st.stop()
    return Ctx(store(), actor, lang(), taxonomy())


def show_inert(text: str, spans: list[SpanLabel] | tuple[SpanLabel, ...] = (), numbered: bool = False) -> None:
    """Model output, rendered as text only (see medswallow.review.render)."""
    st.html(render_text(text, spans, numbered=numbered))


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


def span_editor(key: str, answer: str, tax: Taxonomy, lng: str, spans: list[SpanLabel]) -> None:
    """Add spans by sentence numbers or a pasted passage (Enter submits); list them with remove buttons."""
    st.markdown(f"**{t('spans', lng)}**")
    span_cats = [c.id for c in tax.categories if c.span]
    with st.form(f"span_form_{key}", clear_on_submit=True, border=True):
        ref = st.text_input(t("span_ref", lng), help=t("span_ref_help", lng), key=f"span_ref_{key}")
        c1, c2 = st.columns(2)
        cat = c1.selectbox(
            t("category", lng), span_cats, format_func=lambda c: tax.category(c).name(lng),
            key=choice_key("span_cat", key, lng, span_cats[0]),
        )
        sev = c2.selectbox(
            t("severity", lng), tax.severity_ids, format_func=lambda s: tax.severity(s).name(lng),
            key=choice_key("span_sev", key, lng, tax.severity_ids[1]),
        )
        note = st.text_input(t("note", lng), key=f"span_note_{key}")
        if st.form_submit_button(t("add_span", lng)):
            try:
                start, end = locate(answer, ref)
                spans.append(SpanLabel(start, end, cat, sev, answer[start:end], note))
                st.rerun()
            except UserError as exc:
                st.error(str(exc))
    if not spans:
        st.caption(t("no_spans", lng))
    for i, s in enumerate(spans):
        c1, c2 = st.columns([5, 1])
        with c1:
            st.html(
                f"<div><b>{i + 1}.</b> {escape(tax.category(s.category).name(lng))} / "
                f"{escape(tax.severity(s.severity).name(lng))}: «{escape(s.quote)}»</div>"
            )
        if c2.button("", icon=":material/delete:", help=t("remove_span", lng), key=f"rm_{key}_{i}"):
            spans.pop(i)
            st.rerun()


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
    corrected = st.text_area(
        t("corrected_text", lng), value=initial.corrected_text if initial else "", height=140, key=f"fix_{key}"
    )
    confidence = 3
    if with_confidence:
        confidence = st.slider(t("confidence", lng), 1, 5, value=initial.confidence if initial else 3, key=f"conf_{key}")
    comment = st.text_input(t("comment", lng), value=initial.comment if initial else "", key=f"comment_{key}")
    return {"verdict": verdict, "categories": cats, "severity": severity, "corrected_text": corrected,
            "confidence": confidence, "comment": comment}


def to_input(values: dict, spans: list[SpanLabel]) -> AnnotationInput:
    """Only span categories go in ``spans``; item-level categories stay item-level."""
    span_cats = {s.category for s in spans}
    return AnnotationInput(
        verdict=values["verdict"],
        categories=[c for c in values["categories"] if c not in span_cats],
        spans=list(spans),
        severity=values["severity"],
        corrected_text=values["corrected_text"],
        confidence=int(values["confidence"]),
        comment=values["comment"],
    )
