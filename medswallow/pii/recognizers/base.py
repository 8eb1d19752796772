"""The base of every recognizer here: a Presidio PatternRecognizer that also says when context is needed.

Presidio scores context through tokens and lemmas, which does not work for Japanese (no spaces; a label
like 生年月日： is glued to the value). These recognizers keep Presidio's contract (patterns, ``context``,
``validate_result``) and add two class attributes read by the engine's character-window context step:
``NEGATIVE_CONTEXT`` / ``NEGATIVE_AFTER`` (words before / after a match that veto it: 使用期限 before a date,
版 after it) and ``CONTEXT_WINDOW`` (how many characters before/after a match are searched).
"""

from __future__ import annotations

from typing import Any, ClassVar

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult


def lookbehind_to_group(rx: str) -> str:
    """``(?<=LABEL)VALUE`` -> ``(?:LABEL)(?P<v>VALUE)``: same span, much faster.

    Patterns are written with a leading lookbehind (the label is context, not part of the span), which the
    regex engine must try at every position; the rewritten form lets it jump to the label's first character.
    """
    if not rx.startswith("(?<="):
        return rx
    depth, i, in_class = 0, 0, False
    while i < len(rx):
        ch = rx[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return "(?:" + rx[4:i] + ")(?P<v>" + rx[i + 1 :] + ")"
        i += 1
    raise ValueError(f"unbalanced lookbehind in {rx!r}")


class MedPatternRecognizer(PatternRecognizer):
    """Subclasses set ENTITY, LANGUAGE, PATTERNS, CONTEXT (and optionally NEGATIVE_CONTEXT, FLAGS).

    ``PATTERNS`` is a list of ``(name, regex, score)``. A score below the engine threshold (0.5) means the
    pattern alone is not enough and a context word must be found within ``CONTEXT_WINDOW``.
    Patterns run on width-folded text (see ``medswallow.pii.text.fold``).
    """

    ENTITY: ClassVar[str]
    LANGUAGE: ClassVar[str] = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]]
    CONTEXT: ClassVar[list[str]] = []
    NEGATIVE_CONTEXT: ClassVar[list[str]] = []
    NEGATIVE_AFTER: ClassVar[list[str]] = []
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

    TRIGGER: ClassVar[str | None] = None
    """A cheap regex that must occur somewhere in the text before the patterns run (labels, @, 〒...)."""

    def _compiled(self) -> list[tuple[Pattern, Any, bool]]:
        cached = self.__dict__.get("_compiled_patterns")
        if cached is None:
            cached = []
            patterns: list[Pattern] = self.__dict__["patterns"]  # set by PatternRecognizer.__init__
            for p in patterns:
                rx = regex.compile(lookbehind_to_group(p.regex), self.FLAGS)
                cached.append((p, rx, "v" in rx.groupindex))
            self.__dict__["_compiled_patterns"] = cached
            self.__dict__["_trigger"] = regex.compile(self.TRIGGER, self.FLAGS) if self.TRIGGER else None
        return cached

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: int | None = None
    ) -> list[RecognizerResult]:
        """Presidio's pattern analysis (validate/invalidate semantics kept) with a value group and a trigger.

        Spans come from the ``v`` group when a pattern has one, so a label can be matched but left readable.
        """
        compiled = self._compiled()
        trigger = self.__dict__["_trigger"]
        if trigger is not None and trigger.search(text) is None:
            return []
        results: list[RecognizerResult] = []
        for pattern, rx, has_value in compiled:
            for m in rx.finditer(text):
                start, end = m.span("v") if has_value else m.span()
                if end <= start:
                    continue
                matched = text[start:end]
                score = pattern.score
                valid = self.validate_result(matched)
                if valid is False or self.invalidate_result(matched):
                    continue
                if valid:
                    score = EntityRecognizer.MAX_SCORE
                results.append(
                    RecognizerResult(
                        self.supported_entities[0],
                        start,
                        end,
                        score,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
        return results

    def rescore(self, match: str, score: float) -> float:
        """Adjust a match's score from its own text (checksums that raise confidence); 0 drops it.

        Presidio's ``validate_result`` can only say "certain" (score 1.0) or "invalid"; identifiers such as
        My Number are still worth reporting with a failing check digit when a label names them, so the
        checksum raises the score here instead.
        """
        return score
