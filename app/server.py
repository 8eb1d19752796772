"""The review app as an ASGI application: Streamlit plus the session-cookie routes and security headers.

``medswallow review`` runs ``streamlit run app/server.py``; Streamlit finds ``app`` below and serves
``streamlit_app.py`` with the extra routes and middleware of medswallow.review.web.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from medswallow.review.web import SecurityMiddleware, routes

app = st.App(
    Path(__file__).with_name("streamlit_app.py"),
    routes=routes(),
    middleware=[Middleware(SecurityMiddleware)],
)
