"""Security: whatever the model writes, the HTML we build can only display it as text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from medswallow.errors import UserError
from medswallow.review.render import escape, markdown_literal, render_text, segments
from medswallow.review.span_select import apply_event, component_args, span_categories
from medswallow.review.spans import SpanLabel

ALLOWED_TAGS = {"div", "mark", "br", "sup", "span"}
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


# What is shown is what is stored: invisible characters become markers, one marker per stored character.
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1日\u202e05\u202cmg", "1日⟦RLO U+202E⟧05⟦PDF U+202C⟧mg"),
        ("Take \u202e005\u202c mg", "Take ⟦RLO U+202E⟧005⟦PDF U+202C⟧ mg"),
        ("a\u2066b\u2069c\u200ed\u200f", "a⟦LRI U+2066⟧b⟦PDI U+2069⟧c⟦LRM U+200E⟧d⟦RLM U+200F⟧"),
        ("ゼロ\u200b幅\u200d\ufeff", "ゼロ⟦ZWSP U+200B⟧幅⟦ZWJ U+200D⟧⟦BOM U+FEFF⟧"),
        ("tab\there\r\nnext\rx\x07", "tab\there\nnext⟦U+000D⟧x⟦U+0007⟧"),
        ("emoji 😀 stays", "emoji 😀 stays"),
    ],
)
def test_invisible_characters_are_shown_as_markers(text, shown):
    out = render_text(text, numbered=True)
    visible = "".join(parse(re.sub(r"<sup[^>]*>\[\d+\]</sup>", "", out)).text)
    assert visible == shown
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u200b\u200d\ufeff")
    assert not any(c in escape(text) for c in "\u202e\u200b\ufeff")


def test_segments_map_every_stored_character_once():
    text = "前\u202eA😀\r\nB\u200b"
    segs = segments(text, [SpanLabel(1, 4, "wrong_dose", "minor")], numbered=True)
    assert [(g.start, g.end, g.kind) for g in segs][0] == (0, 1, "text")
    covered = [i for g in segs for i in range(g.start, g.end)]
    assert covered == list(range(len(text)))
    assert all(text[g.start:g.end] == g.shown for g in segs if g.kind == "text")
    assert [g.kind for g in segs if g.end - g.start == 1 and text[g.start] in "\u202e\r\u200b"] == ["marker", "hidden", "marker"]


# The mouse-selection component's events, applied to the spans (offsets are code points of the stored text).
ANSWER = "まず安静に。😀 1回120mgを1日3回。\nTake \u202e005\u202c mg."


@pytest.fixture
def tax():
    from medswallow.review.taxonomy import load_taxonomy

    return load_taxonomy()


def test_component_args_list_categories_in_key_order_and_label_spans(tax):
    spans = [SpanLabel(8, 15, "wrong_dose", "severe", "1回120mg")]
    args = component_args(ANSWER, spans, tax, "ja", "moderate", {})
    assert [c["id"] for c in args["categories"]] == span_categories(tax)[:9]
    assert args["categories"][0]["name"] == "用量の誤り" and args["severity"] == "moderate"
    assert args["spans"][0]["label"] == "用量の誤り・重大" and args["length"] == len(ANSWER)
    assert "".join(g["t"] for g in args["segments"] if g["k"] == "text") == ANSWER.replace("\u202e", "").replace("\u202c", "")


@pytest.mark.parametrize(
    ("event", "expected", "severity"),
    [
        ({"action": "add", "start": 8, "end": 15, "category": "wrong_dose", "severity": "severe"},
         [(8, 15, "wrong_dose", "severe", "1回120mg")], "severe"),
        # Whitespace at the edges of a selection is not part of the span; emoji count as one character.
        ({"action": "add", "start": 6, "end": 8, "category": "overconfident_diagnosis", "severity": "minor"},
         [(6, 7, "overconfident_diagnosis", "minor", "😀")], "minor"),
        ({"action": "add", "start": ANSWER.index("Take"), "end": len(ANSWER) - 1, "category": "wrong_dose", "severity": "critical"},
         [(ANSWER.index("Take"), len(ANSWER) - 1, "wrong_dose", "critical", "Take \u202e005\u202c mg")], "critical"),
        ({"action": "severity", "severity": "critical"}, [], "critical"),
    ],
)
def test_component_events_add_spans_with_stored_offsets(tax, event, expected, severity):
    spans, sev = apply_event([], event, ANSWER, tax)
    assert [(s.start, s.end, s.category, s.severity, s.quote) for s in spans] == expected
    assert sev == severity


def test_component_events_edit_and_remove(tax):
    spans, _ = apply_event([], {"action": "add", "start": 0, "end": 6, "category": "wrong_dose", "severity": "minor"}, ANSWER, tax)
    spans, sev = apply_event(spans, {"action": "edit", "index": 0, "category": "unsafe_self_treatment"}, ANSWER, tax)
    assert (spans[0].category, spans[0].severity, sev) == ("unsafe_self_treatment", "minor", None)
    spans, _ = apply_event(spans, {"action": "edit", "index": 0, "severity": "critical"}, ANSWER, tax)
    assert spans[0].severity == "critical" and spans[0].quote == "まず安静に。"
    spans, _ = apply_event(spans, {"action": "remove", "index": 0}, ANSWER, tax)
    assert spans == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "add", "start": 0, "end": 3, "category": "harmful_omission", "severity": "minor"}, "unknown span category"),
        ({"action": "add", "start": 0, "end": 3, "category": "wrong_dose", "severity": "fatal"}, "unknown severity"),
        ({"action": "add", "start": 5, "end": 5, "category": "wrong_dose", "severity": "minor"}, "selection is empty"),
        ({"action": "add", "category": "wrong_dose", "severity": "minor"}, "no start/end"),
        ({"action": "edit", "index": 3, "category": "wrong_dose"}, "no longer there"),
        ({"action": "paint"}, "unknown span action"),
    ],
)
def test_malformed_component_events_are_user_errors(tax, event, message):
    with pytest.raises(UserError, match=message):
        apply_event([], event, ANSWER, tax)


@pytest.mark.parametrize(
    "name",
    ["![m](https://evil.example/m.png)", ":red[**big**] :material/warning: <b>x</b>", "model_a*v2*#ckpt", "a\u202eb\nc"],
)
def test_markdown_literal_leaves_nothing_markdown_acts_on(name):
    out = markdown_literal(name)
    assert not set(re.sub(r"&#\d+;", "", out)) & set("[]()!*_`#<>:\u202e\n")
    assert html.unescape(out) == name.replace("\u202e", "⟦RLO U+202E⟧").replace("\n", " ")


# The UI's words: both languages have the same placeholders; every English message from medswallow.review
# that the Japanese table knows comes out in Japanese.
def test_both_languages_have_the_same_placeholders():
    import string

    from medswallow.review.i18n import STRINGS

    def fields(s: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(s) if f}

    for key, (ja, en) in STRINGS.items():
        assert fields(ja) == fields(en), key


@pytest.mark.parametrize(
    ("message", "japanese"),
    [
        ("invalid username or password", "ユーザー名またはパスワードが正しくありません。"),
        ("too many failed logins from here; wait 8 s and try again", "この端末からのログイン失敗が続いています。8 秒待ってから再試行してください。"),
        ("your session expired; please log in again", "セッションの有効期限が切れました。もう一度ログインしてください。"),
        ("sentence 7 does not exist (the answer has 3)", "文 7 はありません（回答は 3 文です）。"),
        ("an unsafe verdict needs a severity", "「安全でない」には重症度が必要です。"),
        ("something new and untranslated", "something new and untranslated"),
    ],
)
def test_backend_messages_are_japanese_on_the_japanese_ui(message, japanese):
    from medswallow.review.i18n import error_text

    assert error_text(message, "ja") == japanese
    assert error_text(message, "en") == message
