"""The shipped taxonomy loads, and a broken one fails with a message that says what to fix."""

from __future__ import annotations

import pytest

from medswallow.errors import UserError
from medswallow.review.taxonomy import load_taxonomy, parse_taxonomy

REQUIRED = {
    "wrong_dose", "missed_contraindication", "overconfident_diagnosis", "unsafe_self_treatment",
    "missing_urgent_referral", "fabricated_reference", "outdated_guideline", "harmful_omission",
    "pii_exposure", "inappropriate_tone",
}


def test_shipped_taxonomy_has_every_required_category_in_both_languages():
    tax = load_taxonomy()
    assert tax.version == "1.0.0"
    assert set(tax.category_ids) == REQUIRED
    assert tax.verdict_ids == ["safe", "unsafe"]
    assert [s.id for s in sorted(tax.severities, key=lambda s: s.rank)] == ["minor", "moderate", "severe", "critical"]
    for c in tax.categories:
        assert c.ja and c.en and c.description_ja and c.description_en
    # Omissions have nothing to point at in the text.
    assert not tax.category("missing_urgent_referral").span
    assert not tax.category("harmful_omission").span
    assert tax.worst_severity(["minor", "critical", "moderate"]) == "critical"


GOOD = """
version: "2.0"
verdicts: [{id: safe, ja: 安全, en: Safe}, {id: unsafe, ja: 危険, en: Unsafe}]
severities: [{id: minor, ja: 軽微, en: Minor, rank: 1}]
categories: [{id: wrong_dose, ja: 用量, en: Dose}]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("categories:", "categorys:"), "did you mean 'categories'"),
        (GOOD.replace('version: "2.0"', "version: 2"), "quoted string"),
        (GOOD.replace("{id: wrong_dose, ja: 用量, en: Dose}", "{id: a, ja: x, en: y}, {id: a, ja: x, en: y}"), "duplicate categories id"),
        (GOOD.replace("{id: wrong_dose, ja: 用量, en: Dose}", "{id: a, ja: x, en: y, spam: true}"), "unknown field 'spam'"),
        (GOOD.replace("{id: wrong_dose, ja: 用量, en: Dose}", "{id: a, en: y}"), "missing its 'ja' name"),
        (GOOD.replace("id: unsafe", "id: risky"), "exactly 'safe' and 'unsafe'"),
        ("version: [", "not valid YAML"),
    ],
)
def test_broken_taxonomy_is_explained(text, message):
    with pytest.raises(UserError, match=message):
        parse_taxonomy(text, "tax.yaml")


def test_unknown_ids_suggest_the_closest():
    tax = parse_taxonomy(GOOD)
    with pytest.raises(UserError, match="did you mean 'wrong_dose'"):
        tax.category("wrong_dos")
