from __future__ import annotations

import pytest

from medswallow.corpus.normalize import Normalizer, match_key
from medswallow.corpus.recipe import NormalizeConfig

DEFAULT = Normalizer(NormalizeConfig())


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ｶﾞｲﾄﾞﾗｲﾝ", "ガイドライン"),  # half-width katakana folded, voiced marks composed
        ("か\u3099", "が"),  # combining dakuten composed (NFC), never dropped
        ("ＣＲＰ １０mg", "CRP 10mg"),  # full-width letters/digits folded
        ("（注）①「再掲」", "（注）①「再掲」"),  # punctuation and circled digits kept (no NFKC)
        ("a\u200bb\ufeffc\u00add", "abcd"),  # invisible characters removed
        ("line\r\nnext\rlast", "line\nnext\nlast"),
        ("x \t\n\n\n\n y", "x\n\n y"),
        ("\x00ctrl\x07", "ctrl"),
    ],
)
def test_default_normalisation(raw, stored):
    assert DEFAULT(raw) == stored


def test_nfkc_only_when_asked():
    nfkc = Normalizer(NormalizeConfig(form="nfkc"))
    assert nfkc("①㎎（注）") == "1mg(注)"
    assert DEFAULT("①㎎（注）") == "①㎎（注）"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ガイドラインでは、CRPを測る。", "ガイドラインでは CRP を測る"),
        ("カ゛ーゼ", "ガーゼ"),  # a spacing voiced mark still matches the composed letter
        ("Hello, World!", "hello world"),
    ],
)
def test_match_key_ignores_formatting_but_not_dakuten(a, b):
    assert match_key(a) == match_key(b)
    assert match_key("ガイドライン") != match_key("カイトライン")
