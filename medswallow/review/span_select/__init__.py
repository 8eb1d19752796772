"""Mouse span selection: what the static component (``index.html`` here) is given, and what its events do.

The component shows the answer from :func:`medswallow.review.render.segments` (so invisible characters
appear as markers and the mapping back to the stored text is exact), lets the clinician select text with
the mouse and press 1-9 for a category (taxonomy order), and sends one event per action. The offsets it
sends are Python code-point offsets into the stored answer: the JavaScript side counts code points, not
UTF-16 units, and a marker is selected whole. This module has no Streamlit import: the app declares the
component with :data:`STATIC_DIR` and passes each event to :func:`apply_event`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from medswallow.errors import UserError
from medswallow.review.render import segments
from medswallow.review.spans import SpanLabel
from medswallow.review.taxonomy import Taxonomy

STATIC_DIR = Path(__file__).resolve().parent

# One colour per category key (1-9), readable under dark text; severity is drawn as the underline.
PALETTE = ["#f9d6d5", "#d6eaf8", "#d5f5e3", "#fcf3cf", "#e8daef", "#fae5d3", "#d1f2eb", "#f2d7d5", "#d6dbdf"]
UNDERLINE = ["1px dotted", "2px solid", "3px solid", "4px double"]


def span_categories(tax: Taxonomy) -> list[str]:
    """Categories that can be marked on text, in taxonomy order (key 1 is the first)."""
    return [c.id for c in tax.categories if c.span]


def component_args(
    text: str, spans: list[SpanLabel], tax: Taxonomy, lang: str, severity: str, words: dict[str, str]
) -> dict[str, Any]:
    """Everything the component draws, as JSON-ready data."""
    cats = span_categories(tax)
    ranks = {s: i for i, s in enumerate(tax.severity_ids)}
    return {
        "segments": [
            {"s": g.start, "e": g.end, "t": g.shown, "k": g.kind, "sp": list(g.spans), "n": g.sentence}
            for g in segments(text, spans, numbered=True)
        ],
        "spans": [
            {
                "start": s.start, "end": s.end, "category": s.category, "severity": s.severity, "note": s.note,
                "color": PALETTE[cats.index(s.category) % len(PALETTE)] if s.category in cats else PALETTE[-1],
                "line": UNDERLINE[min(ranks.get(s.severity, 1), len(UNDERLINE) - 1)],
                "label": f"{tax.category(s.category).name(lang)}・{tax.severity(s.severity).name(lang)}",
            }
            for s in spans
        ],
        "categories": [
            {"id": c, "name": tax.category(c).name(lang), "color": PALETTE[i % len(PALETTE)]}
            for i, c in enumerate(cats[:9])
        ],
        "severities": [{"id": s, "name": tax.severity(s).name(lang)} for s in tax.severity_ids],
        "severity": severity,
        "words": words,
        "length": len(text),
    }


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    start, end = max(0, start), min(len(text), end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def apply_event(
    spans: list[SpanLabel], event: dict[str, Any], text: str, tax: Taxonomy
) -> tuple[list[SpanLabel], str | None]:
    """The spans after one component event, and the new default severity when the event sets one.

    Events: ``add`` (start, end, category, severity), ``edit`` (index, category and/or severity),
    ``remove`` (index), ``severity`` (the default for the next span). Anything malformed is a UserError.
    """
    action = event.get("action")
    cats = span_categories(tax)
    if action == "severity":
        sev = str(event.get("severity"))
        if sev not in tax.severity_ids:
            raise UserError(f"unknown severity {sev!r}")
        return list(spans), sev
    if action == "add":
        try:
            start, end = _trim(text, int(event["start"]), int(event["end"]))
        except (KeyError, TypeError, ValueError):
            raise UserError("the selection has no start/end offsets") from None
        cat, sev = str(event.get("category")), str(event.get("severity"))
        if cat not in cats:
            raise UserError(f"unknown span category {cat!r}")
        if sev not in tax.severity_ids:
            raise UserError(f"unknown severity {sev!r}")
        if start >= end:
            raise UserError("the selection is empty")
        new = SpanLabel(start, end, cat, sev, text[start:end])
        if any((s.start, s.end, s.category) == (start, end, cat) for s in spans):
            raise UserError(f"span {start}-{end} with category {cat!r} is marked twice")
        return [*spans, new], sev
    if action in ("edit", "remove"):
        try:
            index = int(event["index"])
            old = spans[index]
        except (KeyError, TypeError, ValueError, IndexError):
            raise UserError("that span is no longer there") from None
        out = list(spans)
        if action == "remove":
            del out[index]
            return out, None
        cat = str(event.get("category") or old.category)
        sev = str(event.get("severity") or old.severity)
        if cat not in cats:
            raise UserError(f"unknown span category {cat!r}")
        if sev not in tax.severity_ids:
            raise UserError(f"unknown severity {sev!r}")
        out[index] = replace(old, category=cat, severity=sev)
        return out, None
    raise UserError(f"unknown span action {action!r}")
