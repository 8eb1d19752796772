"""The engine never crashes: whatever the text, it returns valid spans (property tests over generated text)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medswallow.pii.names import HONORIFICS, NAME_LABELS

# Pieces that exercise the label/value, honorific and identifier logic, next to arbitrary characters.
PIECES = [
    *NAME_LABELS, *HONORIFICS, "：", ":", " ", "\u3000", "\n", "\t", "\r", "\x00", "\x1f", "\u200b", "\ufeff",
    "YAMADA", "Taro", "ABC", "K.", "Nakamura", "SMITH, JOHN", "山田", "太郎", "やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "ﾀﾛｳ",
    "03-1234-5678", "０３－１２３４", "〒", "123-4567", "令和", "5年", "3月2日", "R6.6.3", "MRN", "#", "Dr.", "Mr.",
    "Claimant:", "Member:", "記号", "番号", "保険者番号", "個人番号", "病", "、", "。", "(", ")", "（", "）", "「", "」",
    "@", "taro@example.jp", "http://", "www.", "5/6", "93歳", "Age: 94", "-", "ー", "0", "9", "１２", "😀", "Ⅻ", "㍻",
    "①", "St", "Ave", "Apt 2R", "et al.", "한국", "中文", "é",
]
_TEXT = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=24
).map("".join)
_LABEL_VALUE = st.tuples(
    st.sampled_from([*NAME_LABELS, "Patient", "Claimant", "Member", "MRN", "ID", "記号", "生年月日"]),
    st.sampled_from(["：", ":", " ", "", "\u3000", "\n"]),
    st.text(max_size=12),
).map("".join)


def _check(engine, text: str) -> None:
    spans = engine.analyze(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans), (text, spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False)), spans
    redacted, _ = engine.redact(text)
    assert isinstance(redacted, str)


@settings(max_examples=250, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_TEXT, _LABEL_VALUE, st.text(max_size=40)))
def test_any_text_gives_valid_spans(fast_engine, text):
    _check(fast_engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "\n", "\x00", "氏名：YAMADA Taro", '{"text":"氏名：ABC"}', "氏名：", "患者名:\nABC", "様", "さん",
        "Dr.", "MRN:", "〒", "記号", "氏名：ABC 様", "主治医：Dr. K", "保護者：　　", "\ud7ff\ue000\U0010ffff",
    ],
)
def test_edge_shapes(fast_engine, text):
    _check(fast_engine, text)


@pytest.mark.parametrize("unit", ["A", "Aa ", "あ", "山", "ー", "1", "-", "\n", "様", "氏名：", "Dr. Aa ", "@.", "0-"])
def test_long_runs_of_one_unit(fast_engine, unit):
    """Long runs stay linear (a quadratic pattern would take minutes here) and still give valid spans."""
    _check(fast_engine, unit * (6000 // len(unit)))


def test_a_failing_document_is_reported_and_the_batch_goes_on():
    from medswallow.pii import PIIEngine
    from medswallow.pii.stage import DocFailure, analyze_each

    class FailsOnOne(PIIEngine):
        """A real engine that raises on one document, as a bug would."""

        def analyze_batch(self, texts, langs=None):
            if any("山田花子" in t for t in texts):
                raise IndexError("list index out of range")
            return super().analyze_batch(texts, langs)

    engine = FailsOnOne()
    out = analyze_each(engine, ["電話 03-1234-5678", "患者：山田花子様", "Dr. Emily Carter"], [None, None, None])
    assert isinstance(out[1], DocFailure)
    assert out[1].reason.startswith("PII engine error: IndexError in ") and "山田" not in out[1].reason
    assert [s.label for s in out[0]] == ["PHONE_NUMBER"] and [s.label for s in out[2]] == ["PERSON"]
