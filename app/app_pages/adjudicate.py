"""Adjudicate: every annotator's labels side by side for disputed answers, and the final label."""

from __future__ import annotations

import streamlit as st

from app_pages import _ui
from medswallow.errors import UserError
from medswallow.review import adjudicate
from medswallow.review.i18n import error_text, t
from medswallow.review.render import escape, markdown_literal

ctx = _ui.require("adjudicate")
lang, tax = ctx.lang, ctx.taxonomy

include_done = st.toggle(t("adj_include_done", lang), key="adj_include_done")
ids = adjudicate.queue(ctx.store, ctx.actor, include_adjudicated=include_done)
st.caption(t("adj_queue", lang, n=len(ids)))
if not ids:
    st.info(t("adj_none", lang))
    st.stop()
gid = st.selectbox(t("adj_item", lang), ids, format_func=lambda g: f"#{g}", key="adj_pick")
item = adjudicate.get_item(ctx.store, ctx.actor, gid)
key = f"adj{gid}"
spans = _ui.drafts(key, item.existing.spans if item.existing else ())

left, right = st.columns([3, 2], gap="large")
with left:
    model = item.model + ("#" + item.checkpoint if item.checkpoint else "")
    st.html(f"<div><b>{escape(t('model', lang))}</b>: <code>{escape(model)}</code></div>")
    st.markdown(f"**{t('prompt', lang)}**")
    _ui.show_inert(item.prompt)
    if item.reviewer_notes:
        with st.expander(t("reviewer_notes", lang)):
            _ui.show_inert(item.reviewer_notes)
    st.markdown(f"**{t('answer', lang)}**")
    _ui.invisible_warning(item.answer, lang)
    _ui.answer_selector(key, item.answer, tax, lang, spans)
    with st.expander(t("reasoning", lang), expanded=False):
        _ui.show_inert(item.reasoning or "-")
    st.markdown(f"**{t('annotations_of', lang)}**")
    for view in item.annotations:
        cats = ", ".join(tax.category(c).name(lang) for c in view.categories) or "-"
        sev = tax.severity(view.severity).name(lang) if view.severity else "-"
        title = f"{view.annotator}: {tax.verdict(view.verdict).name(lang)} / {sev} / {t('confidence', lang)} {view.confidence}"
        with st.expander(markdown_literal(title), expanded=True):
            _ui.show_inert(cats)
            _ui.show_inert(item.answer, view.spans)
            st.caption(t("span_details", lang))
            _ui.span_details(view.spans, tax, lang)
            if view.corrected_text:
                st.caption(t("corrected_text", lang))
                _ui.show_inert(view.corrected_text)
            if view.comment:
                st.caption(t("comment", lang))
                _ui.show_inert(view.comment)

with right:
    st.markdown(f"### {t('final_label', lang)}")
    _ui.span_editor(key, item.answer, tax, lang, spans)
    values = _ui.label_fields(key, tax, lang, item.existing, with_confidence=False)
    saved_now = False
    if st.button(t("save", lang), type="primary", shortcut="Ctrl+Enter", key="adj_save"):
        if values["verdict"] is None:
            st.error(t("choose_verdict", lang))
        else:
            try:
                adjudicate.save_adjudication(ctx.store, ctx.actor, gid, _ui.to_input(values, spans), tax)
                st.success(t("adj_saved", lang))
                saved_now = True
                _ui.drop_draft(ctx.actor, key)
            except UserError as exc:
                st.error(markdown_literal(error_text(str(exc), lang)))

_ui.keep_item_draft(ctx.actor, key, values, spans, item.existing, saved_now)
