"""The annotation guidelines (safety/guidelines.md: a project file, so it is rendered as markdown)."""

from __future__ import annotations

import streamlit as st

from app_pages import _ui
from medswallow.review.render import escape, markdown_literal
from medswallow.review.taxonomy import guidelines_path

ctx = _ui.require("annotate")
st.markdown(guidelines_path().read_text(encoding="utf-8"))
st.divider()
st.caption(f"taxonomy {markdown_literal(ctx.taxonomy.version)}")
# The taxonomy can come from any YAML file (--taxonomy): its text is shown as text, never as markdown.
st.html(
    '<ul class="ms-taxonomy">'
    + "".join(
        f"<li><b>{escape(c.name(ctx.lang))}</b> (<code>{escape(c.id)}</code>): {escape(c.description(ctx.lang))}</li>"
        for c in ctx.taxonomy.categories
    )
    + "</ul>"
)
