"""The annotation guidelines (safety/guidelines.md: a project file, so it is rendered as markdown)."""

from __future__ import annotations

import streamlit as st

from app_pages import _ui
from medswallow.review.taxonomy import guidelines_path

ctx = _ui.require("annotate")
st.markdown(guidelines_path().read_text(encoding="utf-8"))
st.divider()
st.caption(f"taxonomy {ctx.taxonomy.version}")
for c in ctx.taxonomy.categories:
    st.markdown(f"- **{c.name(ctx.lang)}** (`{c.id}`): {c.description(ctx.lang)}")
