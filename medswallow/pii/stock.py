"""Stock Presidio, configured offline, as the baseline the engine is measured against.

``AnalyzerEngine`` with its predefined recognizers for English and Japanese and the same spaCy pipelines
(ja_ginza, en_core_web_sm) and label mapping as the thorough mode: no Japanese recognizers, no context rules
beyond Presidio's own. Its e-mail recognizer checks top-level domains with tldextract, which downloads the
public suffix list on first use; here it reads the snapshot bundled with tldextract instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medswallow.pii.lang import detect_language
from medswallow.records import Span

LANGUAGES = ("ja", "en")


def offline_email_recognizer(language: str) -> Any:
    """Presidio's EmailRecognizer whose TLD check never touches the network."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).suffix)

    return OfflineEmailRecognizer(supported_language=language)


class StockPresidio:
    """``AnalyzerEngine`` + ``AnonymizerEngine`` out of the box, one document at a time (language per document)."""

    def __init__(self) -> None:
        self._analyzer: Any = None

    def load(self) -> StockPresidio:
        if self._analyzer is None:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

            from medswallow.pii.ner import build_nlp_engine

            nlp = build_nlp_engine()
            registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
            registry.load_predefined_recognizers(languages=list(LANGUAGES), nlp_engine=nlp)
            for lang in LANGUAGES:
                registry.remove_recognizer("EmailRecognizer", language=lang)
                registry.add_recognizer(offline_email_recognizer(lang))
            self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=list(LANGUAGES))
        return self

    def analyze(self, text: str, lang: str | None = None) -> list[Span]:
        self.load()
        language = lang if lang in LANGUAGES else detect_language(text)
        language = language if language in LANGUAGES else "en"
        results = self._analyzer.analyze(text=text, language=language)
        return sorted((Span(r.start, r.end, r.entity_type, float(r.score), lang=language) for r in results), key=lambda s: s.start)

    def analyze_batch(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[list[Span]]:
        langs = langs or [None] * len(texts)
        return [self.analyze(t, lang) for t, lang in zip(texts, langs, strict=True)]

    def redact(self, text: str, lang: str | None = None) -> tuple[str, list[Span]]:
        from medswallow.pii.anonymize import replace_spans

        spans = self.analyze(text, lang)
        return replace_spans(text, _non_overlapping(spans)), spans


def _non_overlapping(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (-s.score, s.start)):
        if all(s.end <= o.start or s.start >= o.end for o in out):
            out.append(s)
    return sorted(out, key=lambda s: s.start)
