"""Login page: a local account (argon2id) or, when configured, the hospital's identity provider."""

from __future__ import annotations

import streamlit as st

from app_pages import _ui
from medswallow.errors import UserError
from medswallow.review import auth
from medswallow.review.i18n import error_text, t
from medswallow.review.render import markdown_literal

lang = _ui.lang()
st.title(t("app_title", lang))
message = st.session_state.pop("auth_message", None)
if message:
    st.info(markdown_literal(message))

with st.form("login", border=True):
    st.subheader(t("login_title", lang))
    username = st.text_input(t("username", lang), key="login_user", autocomplete="username",
                             placeholder=t("username_placeholder", lang))
    password = st.text_input(t("password", lang), type="password", key="login_password", autocomplete="current-password")
    submitted = st.form_submit_button(t("login_button", lang), type="primary")
if submitted:
    try:
        # Failed logins slow down the client's address, never the account (st.context.ip_address: None on localhost).
        ip = st.context.ip_address  # not a str without a browser behind the run (AppTest)
        _ui.start_session(auth.login(_ui.store(), username.strip(), password, source=ip if isinstance(ip, str) else ""))
        st.rerun()
    except UserError as exc:
        st.error(markdown_literal(error_text(str(exc), lang)))

if _ui.oidc_configured():
    st.button(t("login_oidc", lang), on_click=st.login, key="login_oidc")
