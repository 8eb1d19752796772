"""Clinician safety-review app (UI only: all logic lives in medswallow.review).

Start it with ``medswallow review --db DATABASE`` (it runs ``streamlit run app/streamlit_app.py`` with
MEDSWALLOW_REVIEW_DB set). Every page needs a login; the pages offered depend on the user's role, and
each page checks the role again through medswallow.review.
"""

from __future__ import annotations

import streamlit as st
from app_pages import _ui

from medswallow.review import auth
from medswallow.review.i18n import t

st.set_page_config(page_title="Safety review", page_icon=":material/health_and_safety:", layout="wide")
_ui.language_toggle()
lang = _ui.lang()
actor = _ui.current_user()

if actor is None:
    page = st.navigation([st.Page("app_pages/login.py", title=t("login_title", lang), icon=":material/login:")])
else:
    pages = [
        st.Page("app_pages/annotate.py", title=t("page_annotate", lang), icon=":material/edit_note:", default=True),
        st.Page("app_pages/guidelines.py", title=t("page_guidelines", lang), icon=":material/menu_book:"),
    ]
    if actor.can("adjudicate"):
        pages.append(st.Page("app_pages/adjudicate.py", title=t("page_adjudicate", lang), icon=":material/gavel:"))
    if actor.can("dashboard"):
        pages.append(st.Page("app_pages/dashboard.py", title=t("page_dashboard", lang), icon=":material/monitoring:"))
    if actor.can("manage_users"):
        pages.append(st.Page("app_pages/admin.py", title=t("page_admin", lang), icon=":material/settings:"))
    page = st.navigation(pages)
    st.sidebar.caption(t("signed_in_as", lang, name=actor.username, role=t(f"role_{actor.role}", lang)))
    if st.sidebar.button(t("logout", lang), key="logout"):
        auth.logout(_ui.store(), st.session_state.pop("token"))
        if _ui.oidc_configured() and getattr(st.user, "is_logged_in", False):
            st.logout()
        st.rerun()

page.run()
