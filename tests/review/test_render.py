"""Security: whatever the model writes, the HTML we build can only display it as text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from medswallow.review.render import escape, render_text
from medswallow.review.spans import SpanLabel

ALLOWED_TAGS = {"div", "mark", "br", "sup"}
ALLOWED_ATTRS = {"class", "style"}

HOSTILE = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "[click me](javascript:alert(1))",
    "[link](JaVaScRiPt:alert(document.cookie))",
    "![tracker](https://evil.example/pixel.png)",
    "<a href=\"javascript:alert(1)\">dose table</a>",
    "<svg/onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<<script>script>alert(1)<</script>/script>",
    "```html\n<script>alert(1)</script>\n```",
    "$$\\href{javascript:alert(1)}{x}$$",
    ":red[**urgent**] <details open ontoggle=alert(1)>",
    "<!-- comment --> <base href=https://evil.example/>",
    "javascript&#58;alert(1)",
    "薬は<b onmouseover=alert(1)>1日3回</b>です。",
]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Collect:
    p = _Collect()
    p.feed(markup)
    p.close()
    return p


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("with_span", [False, True])
def test_hostile_output_renders_as_text_only(payload, with_span):
    text = f"前置き {payload} 後書き"
    spans = [SpanLabel(2, len(text) - 2, "wrong_dose", "severe")] if with_span else []
    out = render_text(text, spans, numbered=True)
    parsed = parse(out)
    plain = parse(render_text(text, spans))
    for tag, attrs in parsed.tags + plain.tags:
        assert tag in ALLOWED_TAGS, tag
        assert {k for k, _ in attrs} <= ALLOWED_ATTRS
        for _, value in attrs:
            assert "javascript" not in (value or "").lower() and "url(" not in (value or "").lower()
    # Everything the model wrote comes back as visible text, character for character.
    assert "".join(plain.text) == text
    # Outside the tags built by render_text, no character HTML or markdown acts on survives raw.
    rest = re.sub(r"<sup[^>]*>\[\d+\]</sup>", "", out)
    rest = re.sub(r"</?(div|mark|br)\b[^>]*>", "", rest)
    assert not set(rest) & set("<>[]()!`*_:\"'")


@pytest.mark.parametrize("payload", HOSTILE)
def test_escape_leaves_no_markup_characters(payload):
    out = escape(payload)
    assert not set(out.replace("<br>", "")) & set("<>[]()!`*_:\"'")
    assert html.unescape(out.replace("<br>", "\n")) == payload


def test_spans_and_numbers_are_placed_on_the_right_text():
    text = "安全です。1回120mgを1日3回。"
    out = render_text(text, [SpanLabel(5, 18, "wrong_dose", "severe")], numbered=True)
    assert "[1]</sup>安全です。" in html.unescape(out)
    marked = out.split("<mark", 1)[1].split(">", 1)[1].split("</mark>")[0]
    assert html.unescape(marked.split("</sup>")[-1]) == "1回120mgを1日3回。"
