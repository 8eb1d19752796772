"""The PII/PHI engine: find personal data in Japanese and English clinical text and replace it.

``PIIEngine(mode="fast")`` runs the pattern recognizers (Presidio ``PatternRecognizer`` subclasses with
checksums and context words), Sudachi-based Japanese name finding and cue-based English name finding;
``mode="thorough"`` adds full spaCy NER (GiNZA for Japanese, en_core_web_sm for English) through Presidio's
``SpacyNlpEngine``. Both share one interface. Nothing heavy is loaded until the first call, so an engine
pickles cheaply into worker processes and loads its models there.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import regex

from medswallow.errors import UserError, did_you_mean
from medswallow.pii.candidate import Candidate
from medswallow.pii.labels import LABELS
from medswallow.pii.lang import Segment, detect_language, segments, span_language
from medswallow.pii.text import fold
from medswallow.records import Span

MODES = ("fast", "thorough")
SCORE_THRESHOLD = 0.5
PENDING_MIN = 0.3
"""Name candidates scoring in [PENDING_MIN, threshold) go to window NER in the fast mode."""
CONTEXT_BOOST = 0.35
"""Presidio's default context similarity factor: a context word lifts a 0.2-0.3 pattern over the threshold."""


class _Pipeline:
    """The loaded parts of an engine (built on first use, never pickled)."""

    def __init__(self, mode: str) -> None:
        from medswallow.pii.names import EnglishNameFinder, JapaneseNameFinder
        from medswallow.pii.recognizers import build_recognizers

        self.recognizers = build_recognizers()
        self.context = {
            id(r): (
                [w.lower() for w in r.CONTEXT],
                [w.lower() for w in r.NEGATIVE_CONTEXT],
                [w.lower() for w in r.NEGATIVE_AFTER],
                r.CONTEXT_WINDOW,
            )
            for r in self.recognizers
        }
        self.ja_names = JapaneseNameFinder()
        self.en_names = EnglishNameFinder()
        self.ner: Any = None
        self.window_ner: Any = None
        if mode == "thorough":
            from medswallow.pii.ner import NerRecognizer

            self.ner = NerRecognizer()
        else:
            from medswallow.pii.ner import WindowNer

            self.window_ner = WindowNer()


class PIIEngine:
    """Detect and redact PII/PHI in Japanese and English text; see the module docstring.

    Args:
        mode: ``fast`` (default; no NER over whole documents) or ``thorough`` (adds GiNZA/English NER).
        pseudonymize: replace with consistent fake values per document instead of ``<LABEL>`` placeholders.
        labels: report only these labels (default: all of ``LABELS``).
        score_threshold: drop candidates scoring below this.
    """

    def __init__(
        self,
        mode: str = "fast",
        pseudonymize: bool = False,
        labels: Iterable[str] | None = None,
        score_threshold: float = SCORE_THRESHOLD,
    ) -> None:
        if mode not in MODES:
            raise UserError(f"unknown PII mode '{mode}'{did_you_mean(mode, MODES)}")
        chosen = tuple(labels) if labels is not None else tuple(LABELS)
        for label in chosen:
            if label not in LABELS:
                raise UserError(f"unknown PII label '{label}'{did_you_mean(label, tuple(LABELS))}")
        self.mode = mode
        self.pseudonymize = pseudonymize
        self.labels = frozenset(chosen)
        self.score_threshold = score_threshold
        self._pipe: _Pipeline | None = None
        self._anonymizer: Any = None

    # -- pickling: models load in the worker, never travel ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "pseudonymize": self.pseudonymize,
            "labels": self.labels,
            "score_threshold": self.score_threshold,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pipe = None
        self._anonymizer = None

    def __repr__(self) -> str:
        return f"PIIEngine(mode={self.mode!r}, pseudonymize={self.pseudonymize})"

    @property
    def pipeline(self) -> _Pipeline:
        if self._pipe is None:
            self._pipe = _Pipeline(self.mode)
        return self._pipe

    def load(self) -> PIIEngine:
        """Load every model the mode may use now (otherwise each loads on first need); returns self."""
        pipe = self.pipeline
        pipe.ja_names.tokens("準備", 0, 2).__next__()
        if pipe.ner is not None:
            pipe.ner.load()
        if pipe.window_ner is not None:
            for lang in ("ja", "en"):
                pipe.window_ner.nlp(lang)
        return self

    # -- analysis ---------------------------------------------------------------------------------------
    def analyze(self, text: str, lang: str | None = None) -> list[Span]:
        """Find PII spans (Python str offsets, end exclusive), sorted by start; ``lang`` auto-detected if None."""
        return self.analyze_batch([text], [lang])[0]

    def analyze_batch(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[list[Span]]:
        """``analyze`` over many texts; the thorough mode batches NER through ``nlp.pipe``."""
        if langs is None:
            langs = [None] * len(texts)
        if len(langs) != len(texts):
            raise UserError(f"got {len(texts)} texts but {len(langs)} languages")
        pipe = self.pipeline
        doc_langs = [lang or detect_language(text) for text, lang in zip(texts, langs, strict=True)]
        segs = [segments(text, lang) for text, lang in zip(texts, doc_langs, strict=True)]
        ner_hits: list[list[Candidate]] = [[] for _ in texts]
        if pipe.ner is not None:
            ner_hits = pipe.ner.find_batch(texts, segs)
        all_cands = [self._candidates(text, seg) + extra for text, seg, extra in zip(texts, segs, ner_hits, strict=True)]
        if pipe.window_ner is not None:
            pending: list[tuple[int, Candidate]] = []
            for i, cands in enumerate(all_cands):
                sure = [(c.start, c.end) for c in cands if c.label == "PERSON" and c.score >= self.score_threshold]
                pending.extend(
                    (i, c)
                    for c in cands
                    if c.label == "PERSON"
                    and PENDING_MIN <= c.score < self.score_threshold
                    and not any(s <= c.start and c.end <= e for s, e in sure)  # already covered by a cue
                )
            if pending:
                pipe.window_ner.confirm(texts, pending)
        return [
            self._finalize(text, lang, seg, cands)
            for text, lang, seg, cands in zip(texts, doc_langs, segs, all_cands, strict=True)
        ]

    def _candidates(self, text: str, segs: list[Segment]) -> list[Candidate]:
        pipe = self.pipeline
        folded = fold(text)
        lower = folded.lower()
        cands: list[Candidate] = []
        # Every recognizer runs on every document: mixed documents exist, and a pattern written for one
        # language cannot fire on the other's script (kanji addresses, capitalised English streets).
        for rec in pipe.recognizers:
            if rec.ENTITY not in self.labels:
                continue
            ctx, neg, neg_after, (wb, wa) = pipe.context[id(rec)]
            for res in rec.analyze(folded, [rec.ENTITY], None):
                s, e = res.start, res.end
                score = rec.rescore(folded[s:e], res.score)
                if score <= 0:
                    continue
                before, after = lower[max(0, s - wb) : s], lower[e : e + wa]
                # vetoes read the label on the same line, and only what sits right after the value
                line_before = before[before.rfind("\n") + 1 :]
                if any(w in line_before for w in neg) or any(after.lstrip(" ").startswith(w) for w in neg_after):
                    continue
                if score < self.score_threshold and ctx and any(w in before or w in after for w in ctx):
                    score = min(1.0, score + CONTEXT_BOOST)
                cands.append(Candidate(s, e, rec.ENTITY, score, type(rec).__name__))
        from medswallow.pii.recognizers.generic import table_column_values

        for s, e, label in table_column_values(folded):
            if label in self.labels:
                cands.append(Candidate(s, e, label, 0.6, "table-column"))
        if "PERSON" in self.labels:
            # English cues run over the whole text (romaji names sit inside Japanese sentences, and a cue
            # may span a segment boundary); Sudachi runs on the Japanese segments only.
            hits = pipe.en_names.find(text)
            for seg in segs:
                if seg.lang == "ja":
                    hits += pipe.ja_names.find(text, seg.start, seg.end)
            cands.extend(Candidate(h.start, h.end, "PERSON", h.score, h.source) for h in hits)
        return cands

    def _finalize(self, text: str, lang: str, segs: list[Segment], cands: list[Candidate]) -> list[Span]:
        kept = [c for c in cands if c.score >= self.score_threshold and c.label in self.labels and c.end > c.start]
        if "PERSON" in self.labels:
            kept += propagate_names(text, kept, self.score_threshold)
            kept += bracket_readings(text, kept, self.score_threshold)
        merged = resolve_overlaps(kept)
        return [
            Span(c.start, c.end, c.label, round(c.score, 4), lang=span_language(text, c.start, c.end, segs, lang, by_script=c.label == "PERSON"))
            for c in merged
        ]

    # -- redaction -------------------------------------------------------------------------------------
    def redact_text(self, text: str, lang: str | None = None) -> str:
        """``text`` with every PII span replaced: the one call for short strings (ids, metadata values, prompts)."""
        return self.redact(text, lang)[0]

    def redact(self, text: str, lang: str | None = None) -> tuple[str, list[Span]]:
        """Replace every PII span by ``<LABEL>`` (or a consistent pseudonym); returns (new text, spans found)."""
        return self.redact_batch([text], [lang])[0]

    def redact_batch(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[tuple[str, list[Span]]]:
        """``redact`` over many texts (NER batched in the thorough mode)."""
        from medswallow.pii.anonymize import replace_spans

        all_spans = self.analyze_batch(texts, langs)
        return [
            (replace_spans(text, spans, pseudonymize=self.pseudonymize), spans)
            for text, spans in zip(texts, all_spans, strict=True)
        ]


def resolve_overlaps(cands: list[Candidate]) -> list[Candidate]:
    """One span per character: same-label overlaps merge; across labels the higher score (then longer) wins."""
    by_label: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: (c.start, -c.end)):
        group = by_label.setdefault(c.label, [])
        if group and c.start < group[-1].end:
            last = group[-1]
            group[-1] = Candidate(last.start, max(last.end, c.end), c.label, max(last.score, c.score), last.source)
        else:
            group.append(c)
    pool = [c for group in by_label.values() for c in group]
    pool.sort(key=lambda c: (-c.score, -(c.end - c.start), c.start))
    # taken spans never overlap, so sorted by start they are sorted by end too: one bisect per candidate
    starts: list[int] = []
    taken: list[Candidate] = []
    for c in pool:
        k = bisect.bisect_left(starts, c.end)  # spans starting before c ends: only taken[k - 1] can overlap
        if k == 0 or taken[k - 1].end <= c.start:
            starts.insert(k, c.start)
            taken.insert(k, c)
    return taken


_JA_WORD_CHAR = regex.compile(r"[\p{Han}\p{Katakana}ー]")
_EN_POSSESSIVE_OR_EPONYM = regex.compile(r"(?:'s|’s|s')|\s?(?i:disease|syndrome|sign|et al|and colleagues)")
_SAINT_BEFORE = regex.compile(r"(?:St|Saint|Mt)\.?\s$")
_NOT_AFTER_NAME = ("市", "区", "町", "村", "県", "郡", "駅", "病院", "大学", "医院", "クリニック", "通り", "線", "川", "山")


def propagate_names(text: str, kept: list[Candidate], threshold: float) -> list[Candidate]:
    """Other mentions of a name confirmed once in the document (そうたちゃん ... そうたの母 -> both).

    Only names of two or more characters (three for Latin script) spread, never into a longer word, an
    eponym (川崎病) or a place (川崎市).
    """

    from medswallow.pii.names import EN_EPONYM_HEADS, EN_STOP, EPONYM_HEADS, NAME_LABELS, ROLE_WORDS

    folded = fold(text)
    names: set[str] = set()
    for c in kept:
        if c.label != "PERSON":
            continue
        surface = folded[c.start : c.end]
        names.add(surface)
        parts = surface.split()
        if len(parts) > 1:
            names.update(parts)
    covered = bytearray(len(text) + 1)  # 1 where a PERSON span already sits (an O(1) test per match)
    for c in kept:
        if c.label == "PERSON":
            covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    out: list[Candidate] = []
    for name in names:
        latin = name.isascii()
        if len(name) < (3 if latin else 2) or name in EN_STOP or name in ROLE_WORDS or name in NAME_LABELS:
            continue
        # str.find and a one-character edge test: a compiled pattern per name and document costs more than the rest
        s = folded.find(name)
        while s >= 0:
            e = s + len(name)
            before_ch, after_ch = folded[s - 1 : s], folded[e : e + 1]
            s_next = folded.find(name, s + 1)
            glued = (
                any(ch.isascii() and ch.isalpha() for ch in before_ch + after_ch)
                if latin
                else any(_JA_WORD_CHAR.match(ch) for ch in (before_ch, after_ch) if ch)
            )
            if glued or all(covered[s:e]):
                s = s_next
                continue
                continue
            after = folded[e : e + 8]
            if any(after.startswith(h) for h in EPONYM_HEADS) or after.startswith(_NOT_AFTER_NAME):
                s = s_next
                continue
            if latin and (
                _EN_POSSESSIVE_OR_EPONYM.match(after)
                or EN_EPONYM_HEADS.match(folded[e : e + 30])
                or _SAINT_BEFORE.search(folded[max(0, s - 7) : s])
            ):
                s = s_next
                continue
            out.append(Candidate(s, e, "PERSON", threshold + 0.05, "propagated"))
            covered[s:e] = b"\x01" * (e - s)
            s = s_next
    return out


_READING = r"[\p{Han}々\p{Hiragana}\p{Katakana}ーｦ-ﾟ・A-Za-z'\-]+(?:[ 　][\p{Han}々\p{Hiragana}\p{Katakana}ーｦ-ﾟ・A-Za-z'\-]+){0,3}"
"""A name written in one script: kanji, kana or romaji words (no digits, no punctuation but ・ ' -)."""


def bracket_readings(text: str, kept: list[Candidate], threshold: float) -> list[Candidate]:
    """The other writing of a name in brackets next to it: 森 春香（モリ ハルカ）, Dr. Ito（伊藤 修）, 小川 颯太（おがわ そうた）.

    A bracket right after a name, or a phrase right before a bracketed name, is the same person written in
    another script when it is a name in that script: kana only, romaji words all capitalised (not an acronym),
    or kanji surname and given name with a space. Roles in brackets (日勤, ICN, 同居) have none of these shapes.
    """
    import regex

    after = regex.compile(rf"[ 　]?[（(](?P<v>{_READING})[）)]")
    before = regex.compile(rf"(?P<v>{_READING})[ 　]?[（(]$")
    folded = fold(text)
    out: list[Candidate] = []
    for c in kept:
        if c.label != "PERSON":
            continue
        base = _script(folded[c.start : c.end])
        m = after.match(folded, c.end)
        if m is not None:
            if _reading_shaped(m.group("v"), base):
                out.append(Candidate(m.start("v"), m.end("v"), "PERSON", threshold + 0.05, "reading"))
            continue
        if c.start > 0 and folded[c.start - 1] in "(（" and c.end < len(folded) and folded[c.end] in ")）":
            line_start = folded.rfind("\n", 0, c.start) + 1
            lo = max(line_start, c.start - 30)
            mb = before.search(folded[lo : c.start])
            if mb is not None and _reading_shaped(mb.group("v"), base):
                out.append(Candidate(lo + mb.start("v"), lo + mb.end("v"), "PERSON", threshold + 0.05, "reading"))
    return out


def _script(value: str) -> str:
    import regex

    if regex.fullmatch(r"[\p{Hiragana}\p{Katakana}ーｦ-ﾟ・ 　]+", value):
        return "kana"
    if regex.fullmatch(r"[A-Za-z'\- .]+", value):
        return "latin"
    if regex.fullmatch(r"[\p{Han}々 　]+", value):
        return "han"
    return "mixed"


def _reading_shaped(value: str, base: str) -> bool:
    from medswallow.pii.names import EN_STOP, NOT_INITIALS

    kind = _script(value)
    words = value.replace("・", " ").split()
    if kind == base or kind == "mixed" or not words or len(value) > 24:
        return False
    if kind == "latin":
        return all(w[0].isupper() and w not in EN_STOP and w not in NOT_INITIALS for w in words) and not (
            len(words) == 1 and (words[0].isupper() or len(words[0]) < 3)
        )
    if kind == "han":
        return len(words) == 2 and all(len(w) <= 4 for w in words)
    return len(value.replace(" ", "").replace("・", "")) >= 2


def count_labels(spans: Iterable[Span]) -> dict[str, int]:
    """Counts by entity type (what manifests and stats may show: never the values)."""
    return dict(sorted(Counter(s.label for s in spans).items()))
