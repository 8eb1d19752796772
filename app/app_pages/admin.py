"""Admin: users, prompt sets, generation, pre-screen, assignment, export, audit log."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _ui
from medswallow.errors import UserError
from medswallow.review import auth, prescreen, prompts, queue
from medswallow.review.i18n import error_text, t
from medswallow.review.models import ROLES
from medswallow.review.render import markdown_literal
from medswallow.review.store import audit_entries

ctx = _ui.require("manage_users")
lang, s, me = ctx.lang, ctx.store, ctx.actor
tabs = st.tabs([t(k, lang) for k in ("tab_users", "tab_prompts", "tab_generate", "tab_prescreen", "tab_assign", "tab_export", "tab_audit")])


def run_safely(fn):  # type: ignore[no-untyped-def]
    """Show a user error as a message instead of a traceback."""
    try:
        return fn()
    except UserError as exc:
        st.error(markdown_literal(error_text(str(exc), lang)))
        return None


sets = [p.name for p in prompts.list_prompt_sets(s)]

with tabs[0]:
    users = auth.list_users(s, me)
    st.dataframe(pd.DataFrame([asdict(u) for u in users]), hide_index=True)
    with st.form("add_user", clear_on_submit=True):
        st.markdown(f"**{t('add_user', lang)}**")
        c1, c2 = st.columns(2)
        name = c1.text_input(t("username", lang), key="new_user")
        role = c2.selectbox(t("role", lang), ROLES, format_func=lambda r: t(f"role_{r}", lang), key="new_role")
        display = c1.text_input(t("display_name", lang), key="new_display")
        email = c2.text_input(t("email", lang), key="new_email")
        oidc = st.checkbox(t("oidc_only", lang), key="new_oidc")
        password = st.text_input(t("password", lang), type="password", key="new_password")
        if st.form_submit_button(t("add_user", lang)):
            if run_safely(lambda: auth.add_user(s, me, name.strip(), role, None if oidc else password, display, email or None)):
                st.success(t("user_added", lang, name=markdown_literal(name)))
    others = [u.username for u in users if u.username != me.username]
    if others:
        c1, c2, c3 = st.columns([3, 1, 1])
        who = c1.selectbox(t("username", lang), others, key="manage_who")
        if c2.button(t("unlock", lang), key="unlock"):
            run_safely(lambda: auth.unlock(s, me, who))
            st.rerun()
        active = next(u.active for u in users if u.username == who)
        if c3.button(t("deactivate" if active else "activate", lang), key="toggle_active"):
            run_safely(lambda: auth.set_active(s, me, who, not active))
            st.rerun()

with tabs[1]:
    st.dataframe(pd.DataFrame([{"name": p.name, "prompts": p.n_prompts, "description": p.description}
                               for p in prompts.list_prompt_sets(s)]), hide_index=True)
    upload = st.file_uploader(t("upload_prompts", lang), type=["jsonl", "csv"], key="upload")
    set_name = st.text_input(t("set_name", lang), key="upload_name")
    if upload is not None and st.button(t("import", lang), key="do_import"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            rep = run_safely(lambda: prompts.import_prompt_file(s, me, path, name=set_name or None))
        if rep:
            st.success(t("imported", lang, name=markdown_literal(rep.name), added=rep.added, unchanged=rep.unchanged,
                         skipped=len(rep.skipped)))
            for where, reason in rep.skipped[:20]:
                st.warning(markdown_literal(f"{where}: {reason}"))

with tabs[2]:
    if not sets:
        st.info(t("no_data", lang))
    else:
        gset = st.selectbox(t("prompt_set", lang), sets, key="gen_set")
        targets = st.text_area(t("targets", lang), placeholder="tiny-gptoss@http://127.0.0.1:8000/v1#step-1000", key="gen_targets")
        c1, c2, c3, c4, c5 = st.columns(5)
        max_tokens = c1.number_input(t("max_tokens", lang), 16, 32768, 2048, key="gen_max_tokens")
        temperature = c2.number_input(t("temperature", lang), 0.0, 2.0, 0.6, key="gen_temperature")
        top_p = c3.number_input(t("top_p", lang), 0.0, 1.0, 0.95, key="gen_top_p")
        seed = c4.number_input(t("seed", lang), 0, 2**31 - 1, 0, key="gen_seed")
        effort = c5.selectbox(t("reasoning_effort", lang), ["low", "medium", "high"], index=1, key="gen_effort")
        if st.button(t("run", lang), key="gen_run", type="primary"):
            from medswallow.inference import SamplingParams
            from medswallow.review import generate

            bar = st.progress(0.0)

            def on_progress(target, done: int, total: int) -> None:  # type: ignore[no-untyped-def]
                bar.progress(done / total, text=markdown_literal(f"{target.model} {target.checkpoint}: {done}/{total}"))

            def go():  # type: ignore[no-untyped-def]
                parsed = [generate.ModelTarget.parse(line) for line in targets.splitlines() if line.strip()]
                params = SamplingParams(max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p),
                                        seed=int(seed), reasoning_effort=effort)
                return generate.generate(s, me, prompts.prompt_set_id(s, gset), parsed, params,
                                         on_progress=on_progress, show_progress=False)

            for rep in run_safely(go) or []:
                st.success(t("generated", lang, model=markdown_literal(f"{rep.target.model}#{rep.target.checkpoint}"), saved=rep.saved,
                             done=rep.already_done, failed=rep.failed))

with tabs[3]:
    pset = st.selectbox(t("prompt_set", lang), [None, *sets], format_func=lambda x: t("all_sets", lang) if x is None else x, key="ps_set")
    rules = st.multiselect(t("rules", lang), list(prescreen.RULES), default=["dose", "referral", "empty"], key="ps_rules")
    judge = st.text_input(t("judge_target", lang), key="ps_judge")
    if st.button(t("run", lang), key="ps_run"):
        def go_prescreen():  # type: ignore[no-untyped-def]
            from medswallow.review.generate import ModelTarget

            settings = None
            if judge.strip():
                tgt = ModelTarget.parse(judge)
                settings = prescreen.JudgeSettings(tgt.base_url, tgt.model)
            ids = prompts.generation_ids(s, pset) if pset else None
            return prescreen.run_prescreen(s, me, ids, rules=rules, judge=settings)

        rep = run_safely(go_prescreen)
        if rep:
            st.success(t("prescreened", lang, flagged=rep.flagged, n=rep.generations))

with tabs[4]:
    if sets:
        aset = st.selectbox(t("prompt_set", lang), sets, key="as_set")
        annotators = [u for u in auth.list_users(s, me) if u.active and u.role in ("annotator", "adjudicator")]
        chosen = st.multiselect(t("annotators", lang), [u.username for u in annotators],
                                default=[u.username for u in annotators if u.role == "annotator"], key="as_who")
        k = st.number_input(t("k", lang), 1, 10, 2, key="as_k")
        if st.button(t("run", lang), key="as_run"):
            ids = [u.id for u in annotators if u.username in chosen]
            made = run_safely(lambda: queue.assign(s, me, prompts.generation_ids(s, aset), ids, int(k)))
            if made is not None:
                st.success(t("assigned", lang, n=made))

with tabs[5]:
    out_dir = st.text_input(t("out_dir", lang), value="out/review-export", key="ex_dir")
    eset = st.selectbox(t("prompt_set", lang), [None, *sets], format_func=lambda x: t("all_sets", lang) if x is None else x, key="ex_set")
    if st.button(t("run", lang), key="ex_run"):
        from medswallow.review.export import export_review

        rep = run_safely(lambda: export_review(s, me, out_dir, ctx.taxonomy, eset))
        if rep:
            st.success(t("exported", lang, labels=rep.labels, pairs=rep.dpo_pairs))
            for f in rep.files:
                if f.suffix == ".jsonl":
                    st.download_button(t("download", lang, name=f.name), f.read_bytes(), file_name=f.name, key=f"dl_{f.name}")

with tabs[6]:
    entries = audit_entries(s, me, limit=200)
    st.caption(t("times_in", lang, tz=_ui.time_zone()))
    st.dataframe(pd.DataFrame([{**asdict(e), "at": _ui.local_time(e.at), "detail": str(e.detail)} for e in entries]),
                 hide_index=True)
