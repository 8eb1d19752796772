"""The base of every recognizer here: a Presidio PatternRecognizer that also says when context is needed.

Presidio scores context through tokens and lemmas, which does not work for Japanese (no spaces; a label
like 生年月日： is glued to the value). These recognizers keep Presidio's contract (patterns, ``context``,
``validate_result``) and add two class attributes read by the engine's character-window context step:
``NEGATIVE_CONTEXT`` (words that veto a match: 使用期限 before a date, "Lot" before a number) and
``CONTEXT_WINDOW`` (how many characters before/after a match are searched).
"""

from __future__ import annotations

from typing import ClassVar

import regex
from presidio_analyzer import Pattern, PatternRecognizer


class MedPatternRecognizer(PatternRecognizer):
    """Subclasses set ENTITY, LANGUAGE, PATTERNS, CONTEXT (and optionally NEGATIVE_CONTEXT, FLAGS).

    ``PATTERNS`` is a list of ``(name, regex, score)``. A score below the engine threshold (0.5) means the
    pattern alone is not enough and a context word must be found within ``CONTEXT_WINDOW``.
    Patterns run on width-folded text (see ``medswallow.corpus.pii.text.fold``).
    """

    ENTITY: ClassVar[str]
    LANGUAGE: ClassVar[str] = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]]
    CONTEXT: ClassVar[list[str]] = []
    NEGATIVE_CONTEXT: ClassVar[list[str]] = []
    CONTEXT_WINDOW: ClassVar[tuple[int, int]] = (24, 8)
    FLAGS: ClassVar[int] = regex.DOTALL | regex.MULTILINE

    def __init__(self) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            supported_language=self.LANGUAGE if self.LANGUAGE != "any" else "en",
            patterns=[Pattern(name, rx, score) for name, rx, score in self.PATTERNS],
            context=list(self.CONTEXT),
            global_regex_flags=self.FLAGS,
        )

    def rescore(self, match: str, score: float) -> float:
        """Adjust a match's score from its own text (checksums that raise confidence); 0 drops it.

        Presidio's ``validate_result`` can only say "certain" (score 1.0) or "invalid"; identifiers such as
        My Number are still worth reporting with a failing check digit when a label names them, so the
        checksum raises the score here instead.
        """
        return score
