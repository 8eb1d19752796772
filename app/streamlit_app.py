"""Clinician safety-review app (UI only: all logic lives in medswallow.review).

Start it with ``medswallow review --db DATABASE`` (it runs ``streamlit run app/server.py``, which serves
this script with the session-cookie routes and security headers, with MEDSWALLOW_REVIEW_DB set). Every
page needs a login; the pages offered depend on the user's role, and each page checks the role again
through medswallow.review.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from app_pages import _ui

from medswallow.review.i18n import t

# An emoji favicon is drawn by the browser itself (a Material icon would be fetched from fonts.gstatic.com).
st.set_page_config(page_title=t("app_title", _ui.lang()), page_icon="🩺", layout="wide")
_ui.language_toggle()
lang = _ui.lang()
actor = _ui.current_user()
_ui.cookie_sync()
_ui.page_script(lang)
PAGES = Path(__file__).with_name("app_pages")


def _login() -> None:
    runpy.run_path(str(PAGES / "login.py"), run_name="__page__")


if actor is None:
    # Every page's address leads to the login form, and stays in the address bar (query included):
    # after the login the same address opens the page that was asked for (deep links survive the login).
    login = [st.Page("app_pages/login.py", title=t("login_title", lang), default=True)]
    login += [st.Page(_login, title=t("login_title", lang), url_path=p)
              for p in ("annotate", "adjudicate", "dashboard", "admin", "guidelines")]
    page = st.navigation(login, position="hidden")
else:
    pages = [
        st.Page("app_pages/annotate.py", title=t("page_annotate", lang), icon="📝", default=True),
        st.Page("app_pages/guidelines.py", title=t("page_guidelines", lang), icon="📖"),
    ]
    if actor.can("adjudicate"):
        pages.append(st.Page("app_pages/adjudicate.py", title=t("page_adjudicate", lang), icon="⚖️"))
    if actor.can("dashboard"):
        pages.append(st.Page("app_pages/dashboard.py", title=t("page_dashboard", lang), icon="📊"))
    if actor.can("manage_users"):
        pages.append(st.Page("app_pages/admin.py", title=t("page_admin", lang), icon="⚙️"))
    page = st.navigation(pages)
    st.sidebar.text(t("signed_in_as", lang, name=actor.username, role=t(f"role_{actor.role}", lang)))
    st.sidebar.caption(t("times_in", lang, tz=_ui.time_zone()))
    if st.sidebar.button(t("logout", lang), key="logout"):
        _ui.end_session()
        if _ui.oidc_configured() and getattr(st.user, "is_logged_in", False):
            st.logout()
        st.rerun()
    with st.sidebar:
        _ui.session_warning()

page.run()
