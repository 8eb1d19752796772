"""PII engines shared by this test package: loaded once per session (Presidio, Sudachi; GiNZA/spaCy for thorough)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fast_engine():
    from medswallow.pii import PIIEngine

    return PIIEngine(mode="fast").load()


@pytest.fixture(scope="session")
def thorough_engine():
    from medswallow.pii import PIIEngine

    return PIIEngine(mode="thorough").load()


def _found(engine, text: str, label: str | None = None) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.label) for s in engine.analyze(text) if label is None or s.label == label]


@pytest.fixture(scope="session")
def found():
    """found(engine, text, label=None) -> [(surface, label)] of every span the engine finds."""
    return _found
