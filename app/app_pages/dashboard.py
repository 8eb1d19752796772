"""Dashboard: unsafe rates with 95% CIs by model, category, severity and topic; agreement; throughput."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app_pages import _ui
from medswallow.review import plots
from medswallow.review.agreement import agreement_report
from medswallow.review.i18n import t
from medswallow.review.labels import load_review
from medswallow.review.prompts import list_prompt_sets
from medswallow.review.stats import dashboard, throughput

ctx = _ui.require("dashboard")
lang, tax = ctx.lang, ctx.taxonomy

sets = [s.name for s in list_prompt_sets(ctx.store)]
chosen = st.selectbox(t("prompt_set", lang), [None, *sets], format_func=lambda s: t("all_sets", lang) if s is None else s)
data = load_review(ctx.store, ctx.actor, chosen)
if not data.labels:
    st.info(t("no_data", lang))
    st.stop()
dash = dashboard(data, tax.category_ids, tax.severity_ids)


def fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


st.subheader(t("unsafe_by_model", lang))
st.dataframe(
    pd.DataFrame(
        [{"model": r.group, "unsafe": r.k, "labelled": r.n, "rate": fmt(r.rate), "95% CI": f"{fmt(r.ci[0])}-{fmt(r.ci[1])}",
          "truncated": f"{dash.truncated[r.group].k}/{dash.truncated[r.group].n}"} for r in dash.by_model]
    ),
    hide_index=True,
)
st.pyplot(plots.unsafe_rate_figure(dash), clear_figure=True)
st.caption(t("label_sources", lang) + ": " + ", ".join(f"{k} {v}" for k, v in sorted(dash.sources.items()))
           + " · " + t("not_annotated", lang, n=dash.unlabelled))

c1, c2 = st.columns(2)
with c1:
    st.subheader(t("by_category", lang))
    st.pyplot(plots.category_figure(dash), clear_figure=True)
with c2:
    st.subheader(t("by_severity", lang))
    st.pyplot(plots.severity_figure(dash), clear_figure=True)

st.subheader(t("by_topic", lang))
st.dataframe(pd.DataFrame([{"topic": r.group, "unsafe": r.k, "labelled": r.n, "rate": fmt(r.rate),
                            "95% CI": f"{fmt(r.ci[0])}-{fmt(r.ci[1])}"} for r in dash.by_topic]), hide_index=True)

st.subheader(t("agreement", lang))
rep = agreement_report(data, tax.category_ids)
st.dataframe(
    pd.DataFrame(
        [{"question": a.name, "items": a.items, "Krippendorff alpha": fmt(a.alpha), "Fleiss kappa": fmt(a.fleiss),
          "mean Cohen kappa": fmt(a.cohen_mean), "pairs": a.pairs} for a in [rep.verdict, rep.spans, *rep.categories]]
    ),
    hide_index=True,
)

st.subheader(t("throughput", lang))
tp = throughput(data)
st.dataframe(pd.DataFrame([{"annotator": r.annotator, "annotations": r.annotations, "days": len(r.per_day),
                            "median s / item": fmt(r.median_seconds)} for r in tp]), hide_index=True)
st.pyplot(plots.throughput_figure(tp), clear_figure=True)
