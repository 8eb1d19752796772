"""The recognizer registry: an explicit tuple per language, built lazily (Presidio is imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medswallow.pii.recognizers.base import MedPatternRecognizer


def build_recognizers() -> list[MedPatternRecognizer]:
    """Instantiate every pattern recognizer (JA, EN, language-independent), in a fixed order."""
    from medswallow.pii.recognizers.common import COMMON_RECOGNIZERS
    from medswallow.pii.recognizers.en import EN_RECOGNIZERS
    from medswallow.pii.recognizers.generic import GENERIC_RECOGNIZERS
    from medswallow.pii.recognizers.ja import JA_RECOGNIZERS

    return [cls() for cls in (*COMMON_RECOGNIZERS, *JA_RECOGNIZERS, *EN_RECOGNIZERS, *GENERIC_RECOGNIZERS)]
