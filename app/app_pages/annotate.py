"""Annotate: the annotator's queue item — prompt, answer (inert), hints, spans and the item label."""

from __future__ import annotations

import streamlit as st

from app_pages import _ui
from medswallow.errors import UserError
from medswallow.review import queue
from medswallow.review.i18n import error_text, t
from medswallow.review.render import markdown_literal

ctx = _ui.require("annotate")
lang, tax = ctx.lang, ctx.taxonomy

done, total = queue.my_progress(ctx.store, ctx.actor)
st.progress(done / total if total else 1.0, text=t("progress", lang, done=done, total=total))
rows = queue.my_assignments(ctx.store, ctx.actor)
if not rows:
    st.info(t("queue_empty", lang))
    st.stop()

# Which item: the one in the URL (survives a reload), else the one being worked on, else the next pending.
ids = [r.assignment_id for r in rows]
wanted = st.query_params.get("item")
current = int(wanted) if wanted and wanted.isdigit() and int(wanted) in ids else st.session_state.get("current_item")
if current not in ids:
    nxt = queue.next_item(ctx.store, ctx.actor)
    current = nxt.assignment_id if nxt else ids[0]
labels = {
    r.assignment_id: f"#{r.assignment_id} [{t('item_done' if r.status == 'done' else 'item_pending', lang)}] {r.prompt_excerpt[:40]}"
    for r in rows
}
picker = f"item_picker_{lang}"


def _picked() -> None:
    st.session_state["current_item"] = st.session_state[picker]
    st.query_params["item"] = str(st.session_state[picker])


if st.session_state.get(picker) != current:
    st.session_state[picker] = current
current = st.selectbox(t("open_item", lang), ids, format_func=labels.__getitem__, key=picker, on_change=_picked)
st.session_state["current_item"] = current
st.query_params["item"] = str(current)

item = queue.get_item(ctx.store, ctx.actor, current)
saved = queue.my_annotation(ctx.store, ctx.actor, current)
key = str(current)
spans = _ui.drafts(key, saved.spans if saved else ())

left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(f"**{t('prompt', lang)}**")
    _ui.show_inert(item.prompt)
    st.markdown(f"**{t('answer', lang)}**")
    st.caption(t("answer_help", lang))
    if item.truncated:
        st.warning(t("truncated_warning", lang))
    _ui.invisible_warning(item.answer, lang)
    _ui.answer_selector(key, item.answer, tax, lang, spans)
    with st.expander(t("reasoning", lang), expanded=False):
        _ui.show_inert(item.reasoning or "-")
    if item.hints:
        st.markdown(f"**{t('hints', lang)}**")
        for h in item.hints:
            _ui.hint(h.message)
    _ui.guidelines_link(lang)

with right:
    _ui.span_editor(key, item.answer, tax, lang, spans)
    values = _ui.label_fields(key, tax, lang, saved)
    if saved:
        st.caption(t("saved_before", lang, revision=saved.revision, when=_ui.local_time(saved.updated_at)))
    # The main button on its own row, full width: three in a row truncate their labels at 1366 px.
    save_next = st.button(t("save_next", lang), type="primary", shortcut="Ctrl+Enter", key="save_next", width="stretch")
    c2, c3 = st.columns(2)
    save_only = c2.button(t("save", lang), shortcut="Ctrl+S", key="save", width="stretch")
    go_next = c3.button(t("next_item", lang), shortcut="Alt+N", key="next", width="stretch")
    st.caption(t("shortcuts", lang))

    saved_now = False
    if save_next or save_only:
        if values["verdict"] is None:
            st.error(t("choose_verdict", lang))
        else:
            try:
                view = queue.save_annotation(ctx.store, ctx.actor, current, _ui.to_input(values, spans), tax)
                st.toast(t("saved", lang, revision=view.revision), icon=":material/check:")
                st.session_state[f"spans_{key}"] = list(view.spans)
                saved_now = True
                _ui.drop_draft(ctx.actor, key)
                if save_next:
                    go_next = True
            except UserError as exc:
                st.error(markdown_literal(error_text(str(exc), lang)))
    if go_next:
        nxt = queue.next_item(ctx.store, ctx.actor)
        if nxt is not None and nxt.assignment_id != current:
            st.session_state["current_item"] = nxt.assignment_id
            st.query_params["item"] = str(nxt.assignment_id)
            st.rerun()
        elif nxt is None:
            st.info(t("queue_empty", lang))

_ui.keep_item_draft(ctx.actor, key, values, spans, saved, saved_now)
