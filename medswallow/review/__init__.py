"""Clinician safety review: store, auth, taxonomy, queue, pre-screen, agreement, statistics and export.

All review logic lives here and is tested without Streamlit; ``app/`` only draws it. Submodules import
SQLAlchemy and friends, so import them directly (``from medswallow.review.store import ReviewStore``):
this package itself imports nothing heavy.
"""
