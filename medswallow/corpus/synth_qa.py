"""Synthetic medical QA: a teacher model served by vLLM turns literature and guideline passages into QA items.

For every passage, every style (``corpora/prompts/synth_qa/<style>.yaml``: exam-style MCQ, short answer,
explanation) and every output language (ja, en), one chat request asks the teacher for a JSON object. The
answer is parsed leniently and validated; each (passage, style, language) item becomes either a
``Document`` (the QA text, with the passage id and the item's provenance in ``meta``) or a ``Rejected``
with the reason as data:

    teacher_error:<why>   the request failed after its retries (not journaled: a rerun asks again)
    truncated             the output was cut by max_tokens (also when cut inside the reasoning)
    no_answer             the final channel was empty
    unparseable_json      no JSON object could be read from the answer
    schema:<field>        a required field is missing, empty or malformed
    answer_not_in_options the MCQ answer names no option
    lang:<detected>       the item is not in the language asked for
    pii_introduced:<LABEL> the PII engine found personal data that is not in the (redacted) passage
    ungrounded            too little of the answer occurs in the passage (see ``grounding_score``), or,
                          with ``grounding_judge``, the teacher asked about the item says the passage does not support it
    duplicate             the same question was already generated in this run
    passage_too_short     (one per passage) too little text to ask about

Personal data: passages are redacted by the PII engine before they are put in a prompt, so the teacher,
the response cache and the journal never see raw identifiers; every generated field (question, options,
answer, explanation: ``text`` and ``meta.qa`` alike) is redacted again, whatever the source's ``pii``
setting, and items with personal data the passage does not hold are rejected.

Failures: a teacher that does not answer stops the run with one line naming its URL. Items whose requests
fail after their retries make the unit fail at its end (unless ``allow_teacher_errors``), so build-corpus
exits non-zero and the same command resumes: validated outcomes are journaled, failures never are.

Resuming: responses are kept in the client's disk cache and every validated outcome in a journal (SQLite,
keyed by a hash of the item id, the redacted passage and the settings), so a rerun re-emits finished items
without any request and asks only for what is missing; a record re-emitted from the journal is identical to
the one first written. Used by build-corpus as the ``synthetic_qa`` source type (hook
``read_synthetic_qa``); ``generate_qa`` runs it on any iterable of documents.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import string
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field

from medswallow.config import StrictModel, validate_data
from medswallow.errors import UserError, did_you_mean
from medswallow.records import Document, Rejected

Style = Literal["mcq", "short_answer", "explanation"]
OutLang = Literal["ja", "en"]
STAGE = "synth_qa"
LETTERS = "ABCDEFGH"
TEMPLATE_FIELDS = ("passage", "source", "title")
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "corpora" / "prompts" / "synth_qa"


def _all_styles() -> list[Style]:
    return ["mcq", "short_answer", "explanation"]


def _both_langs() -> list[OutLang]:
    return ["ja", "en"]


class TeacherSampling(StrictModel):
    temperature: float = Field(0.6, ge=0, description="Model card default; lower gives plainer, more repetitive items.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling (model card default).")
    top_k: int | None = Field(20, description="Model card default; null leaves it to the server.")
    max_tokens: int = Field(2048, gt=0, description="Reasoning and answer together; items cut by it are rejected as truncated.")
    reasoning_effort: Literal["low", "medium", "high"] = Field(
        "low", description="Harmony reasoning effort: 'low' is cheaper; 'medium' or 'high' may give harder, better-grounded items."
    )
    seed: int | None = Field(0, description="Base seed; each item gets its own seed from it (null: unseeded).")


class SynthQAOptions(StrictModel):
    """Settings of the synthetic QA stage (the ``options`` of a ``synthetic_qa`` source)."""

    base_urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000/v1"],
        description="OpenAI-compatible teacher server(s) (`medswallow serve TEACHER`); several = data parallel.",
    )
    model: str = Field(description="Served name of the teacher model.")
    styles: list[Style] = Field(default_factory=lambda: _all_styles(), min_length=1, description="Prompt styles, one request each.")
    languages: list[OutLang] = Field(default_factory=lambda: _both_langs(), min_length=1, description="Languages to write items in.")
    min_passage_chars: int = Field(80, ge=1, description="Shorter passages are rejected as passage_too_short.")
    max_passage_chars: int = Field(6000, ge=100, description="Longer passages are cut to this many characters in the prompt.")
    sampling: TeacherSampling = Field(default_factory=lambda: TeacherSampling.model_validate({}), description="Teacher sampling settings.")
    max_concurrency: int = Field(16, ge=1, description="Requests in flight per worker process.")
    max_retries: int = Field(5, ge=0)
    timeout: float = Field(600, gt=0, description="Seconds per request attempt.")
    cache_dir: str = Field(
        "~/.cache/medswallow/synth_qa",
        description="Response cache and journal (relative paths: to the working directory); keep it to resume.",
    )
    templates_dir: str | None = Field(None, description="Folder of <style>.yaml prompt templates; default: corpora/prompts/synth_qa.")
    pii_check: bool = Field(
        True, description="Reject items in which the PII engine finds personal data absent from the passage "
        "(passages and generated fields are redacted either way)."
    )
    pii_mode: Literal["fast", "thorough"] = Field(
        "fast", description="PII engine mode for passages and generated fields ('thorough' adds NER, ~10x slower)."
    )
    grounding_min: float = Field(
        0.5, ge=0, le=1, description="Share of the answer's content (character bigrams in Japanese, content words "
        "otherwise) that must occur in the passage; lower: rejected as ungrounded. 0 turns the check off."
    )
    grounding_judge: bool = Field(
        False, description="Also ask the teacher whether the passage supports each item that passed the overlap check "
        "(one more request per item; catches fluent items built from passage words that say something else)."
    )
    allow_teacher_errors: bool = Field(
        False, description="false: items whose requests fail after their retries make the build fail (rerun the same "
        "command to ask them again); true: they are quarantined as teacher_error and the build finishes."
    )
    cost_per_million_tokens: dict[str, float] | None = Field(
        None, description="{'prompt': USD, 'completion': USD} to report an estimated cost."
    )
    progress: bool = Field(True, description="Show a progress bar.")


# ---- prompt templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptTemplate:
    style: str
    path: Path
    version: str  # hash of the file: a changed template regenerates its items
    prompts: dict[str, dict[str, str]]  # lang -> {"system", "user"}

    def render(self, lang: str, passage: str, source: str, title: str = "") -> list[dict[str, str]]:
        parts = self.prompts[lang]
        values = {"passage": passage, "source": source, "title": title}
        return [
            {"role": "system", "content": _substitute(parts["system"], values, self.path, lang)},
            {"role": "user", "content": _substitute(parts["user"], values, self.path, lang)},
        ]


def _substitute(text: str, values: dict[str, str], path: Path, lang: str) -> str:
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise UserError(f"{path}: {lang} prompt uses unknown placeholder ${exc.args[0]} (allowed: {', '.join('$' + f for f in TEMPLATE_FIELDS)})") from None
    except ValueError as exc:
        raise UserError(f"{path}: {lang} prompt has a stray '$' ({exc}); write $$ for a literal dollar sign") from None


def load_templates(directory: str | Path | None, styles: Iterable[str], languages: Iterable[str]) -> dict[str, PromptTemplate]:
    """Read and check one template per style; every placeholder must be known and every language present."""
    import yaml

    root = Path(directory).expanduser() if directory else DEFAULT_TEMPLATES
    if not root.is_dir():
        raise UserError(f"prompt template folder {root} not found; set options.templates_dir to a folder of <style>.yaml files")
    available = sorted(p.stem for p in root.glob("*.yaml"))
    out = {}
    for style in styles:
        path = root / f"{style}.yaml"
        if not path.exists():
            raise UserError(f"no prompt template for style '{style}' in {root}{did_you_mean(style, available)}")
        raw = path.read_bytes()
        data = yaml.safe_load(raw) or {}
        prompts = {}
        for lang in languages:
            section = data.get(lang)
            if not isinstance(section, dict) or not section.get("system") or not section.get("user"):
                raise UserError(f"{path}: needs a '{lang}' section with 'system' and 'user' prompts")
            prompts[lang] = {"system": str(section["system"]).strip(), "user": str(section["user"]).strip()}
        template = PromptTemplate(style, path, hashlib.sha256(raw).hexdigest()[:12], prompts)
        for lang in prompts:  # fail now, not after the first passage, on a bad placeholder
            template.render(lang, "x", "x", "x")
        out[style] = template
    return out


# ---- reading the teacher's answer ------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
ALIASES = {"choices": "options", "correct": "answer", "correct_answer": "answer", "rationale": "explanation", "問題": "question", "答え": "answer"}


def extract_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text``: bare, in ``` fences or inside prose; tolerates trailing commas."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        start = cand.find("{")
        while start != -1:
            obj = _balanced_object(cand, start)
            if obj is not None:
                for attempt in (obj, _TRAILING_COMMA.sub(r"\1", obj)):
                    try:
                        value = json.loads(attempt)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(value, dict):
                        return {ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v for k, v in value.items()}
            start = cand.find("{", start + 1)
    return None


def _balanced_object(text: str, start: int) -> str | None:
    depth, in_str, escape = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str | int | float) else ""


_LETTER_ANSWER = re.compile(r"^\(?([A-Ha-hＡ-Ｈａ-ｈ])[\).．:：]?$")


def _answer_letter(answer: Any, options: list[str]) -> str | None:
    """The answer as an option letter: 'B', 'b)', 'Ｂ', a 0-based index, or the option's own text."""
    if isinstance(answer, int) and not isinstance(answer, bool):
        return LETTERS[answer] if 0 <= answer < len(options) else None
    text = unicodedata.normalize("NFKC", _text(answer))
    m = _LETTER_ANSWER.match(text)
    if m:
        idx = LETTERS.index(m.group(1).upper())
        return LETTERS[idx] if idx < len(options) else None
    for i, opt in enumerate(options):
        if text and unicodedata.normalize("NFKC", opt) == text:
            return LETTERS[i]
    return None


def validate_item(style: str, data: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """Check the schema of one parsed item: (normalised item, None) or (None, reason)."""
    if data is None:
        return None, "unparseable_json"
    question = _text(data.get("question"))
    if len(question) < 5:
        return None, "schema:question"
    if style == "mcq":
        options = data.get("options")
        if isinstance(options, dict):  # {"A": "...", "B": "..."}
            options = [options[k] for k in sorted(options)]
        if not isinstance(options, list) or not 3 <= len(options) <= len(LETTERS):
            return None, "schema:options"
        opts = [re.sub(r"^[A-Ha-h][\).．:：]\s*", "", _text(o)) for o in options]
        if any(not o for o in opts) or len(set(opts)) != len(opts):
            return None, "schema:options"
        if data.get("answer") in (None, ""):
            return None, "schema:answer"
        letter = _answer_letter(data.get("answer"), opts)
        if letter is None:
            return None, "answer_not_in_options"
        return {"question": question, "options": opts, "answer": letter, "explanation": _text(data.get("explanation"))}, None
    answer = _text(data.get("answer") or data.get("explanation"))
    if not answer:
        return None, "schema:answer"
    if style == "explanation" and len(answer) < 20:
        return None, "schema:answer"
    return {"question": question, "answer": answer}, None


LABELS_TEXT = {
    "ja": {"question": "問題", "answer": "答え", "explanation": "解説"},
    "en": {"question": "Question", "answer": "Answer", "explanation": "Explanation"},
}


def render_item(style: str, lang: str, item: dict[str, Any]) -> str:
    """The training text of one item (the corpus's QA layout: 問題/答え or Question/Answer)."""
    lab = LABELS_TEXT[lang]
    lines = [f"{lab['question']}: {item['question']}"]
    if style == "mcq":
        lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(item["options"])]
        lines.append(f"{lab['answer']}: {item['answer']}")
        if item.get("explanation"):
            lines.append(f"{lab['explanation']}: {item['explanation']}")
    elif style == "explanation":
        lines.append(f"{lab['explanation']}: {item['answer']}")
    else:
        lines.append(f"{lab['answer']}: {item['answer']}")
    return "\n".join(lines)


def language_reason(text: str, lang: str) -> str | None:
    from medswallow.corpus.langid import detect

    found = detect(text)[0]
    ok = found in ("ja", "mixed") if lang == "ja" else found == "en"
    return None if ok else f"lang:{found}"


def redact_fields(engine: Any, qa: dict[str, Any], passage: str, lang: str) -> tuple[dict[str, Any], list[str]]:
    """``qa`` with every text field redacted, and the labels of PII found in it that ``passage`` does not hold.

    ``passage`` is the redacted passage the teacher saw: a value found here is either invented by the teacher
    or missed in the passage, and is redacted either way. Values never leave this function.
    """
    fields: list[tuple[str, int | None]] = [("question", None), ("answer", None), ("explanation", None)]
    fields += [("options", i) for i in range(len(qa.get("options", [])))]
    texts = [str(qa[k] if i is None else qa[k][i]) for k, i in fields if k in qa]
    present = [(k, i) for k, i in fields if k in qa]
    folded = unicodedata.normalize("NFKC", passage)
    labels: set[str] = set()
    out: dict[str, Any] = {**qa, "options": list(qa["options"])} if "options" in qa else dict(qa)
    for (key, idx), text, (new_text, spans) in zip(present, texts, engine.redact_batch(texts, [lang] * len(texts)), strict=True):
        for span in spans:
            value = unicodedata.normalize("NFKC", text[span.start : span.end]).strip()
            if value and value not in folded:
                labels.add(span.label)
        if idx is None:
            out[key] = new_text
        else:
            out[key][idx] = new_text
    return out, sorted(labels)


# ---- grounding -------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*>")
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:[-'.][a-z0-9]+)*")
_HIRAGANA_ONLY = re.compile(r"^[\u3040-\u309f]+$")
EN_STOPWORDS = frozenset(
    "a an the of in on at to for from by with without and or but not no is are was were be been being it its this that "
    "these those as if then than so such which who whom whose what when where why how do does did has have had can could "
    "may might must should would will shall all any each both either more most other some only same very into over under "
    "about after before between during per via vs".split()
)


def _units(text: str) -> set[str]:
    """Content units of ``text``: character bigrams of Japanese runs (all-hiragana ones, mostly particles and
    endings, left out) and word stems (first 5 characters) of Latin/digit runs without stop words."""
    folded = _PLACEHOLDER.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    units: set[str] = set()
    for run in _RUNS.findall(folded):
        if run[0].isascii():
            if run not in EN_STOPWORDS:
                units.add(run if run[0].isdigit() else run[:5])
        elif len(run) == 1:
            units.add(run)
        else:
            units.update(g for g in (run[i : i + 2] for i in range(len(run) - 1)) if not _HIRAGANA_ONLY.match(g))
    return units


def grounding_score(claim: str, passage: str) -> float:
    """Share of the claim's content units (see ``_units``) that occur in the passage: 0 (none, or the claim
    says nothing but placeholders) to 1. Paraphrases of the passage score high, answers from elsewhere low."""
    units = _units(claim)
    if not units:
        return 0.0
    return len(units & _units(passage)) / len(units)


def item_grounding(style: str, qa: dict[str, Any], passage: str) -> float:
    """How well the passage supports the item: the answer's score; for an MCQ the better of the correct
    option and the explanation (a "which is NOT ..." item has a correct option the passage lacks)."""
    if style == "mcq":
        option = qa["options"][LETTERS.index(qa["answer"])]
        scores = [grounding_score(option, passage)]
        if qa.get("explanation"):
            scores.append(grounding_score(qa["explanation"], passage))
        return max(scores)
    return grounding_score(qa["answer"], passage)


def question_key(question: str) -> str:
    folded = unicodedata.normalize("NFKC", question).lower()
    return hashlib.sha1("".join(ch for ch in folded if ch.isalnum()).encode()).hexdigest()


# ---- journal ---------------------------------------------------------------------------------------


class Journal:
    """Validated outcomes by item id (SQLite, safe for several worker processes).

    Rows are keyed by a hash of the item id (ids may be built from record ids that hold identifiers);
    outcomes hold only redacted fields and reasons.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
            " outcome TEXT NOT NULL, created REAL NOT NULL)"
        )

    def get(self, item_id: str, fingerprint: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT fingerprint, outcome FROM items WHERE item_id = ?", (_key(item_id),)).fetchone()
        if row is None or row[0] != fingerprint:
            return None
        return dict(json.loads(row[1]))

    def put(self, item_id: str, fingerprint: str, outcome: dict[str, Any]) -> None:
        blob = json.dumps(outcome, ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO items (item_id, fingerprint, outcome, created) VALUES (?, ?, ?, ?)",
                (_key(item_id), fingerprint, blob, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


JUDGE_PROMPT = {
    "system": "You check exam items against their source. Answer only from the passage you are given.",
    "user": "Passage:\n{passage}\n\nItem:\n{item}\n\nIs the item's answer stated in or directly implied by the "
            "passage (not merely plausible)? Reply with one JSON object only: {{\"supported\": true}} or {{\"supported\": false}}.",
}


def judge_messages(passage: str, item_text: str) -> list[dict[str, str]]:
    """The grounding judge's request: the (redacted) passage and the rendered item."""
    return [{"role": "system", "content": JUDGE_PROMPT["system"]},
            {"role": "user", "content": JUDGE_PROMPT["user"].format(passage=passage, item=item_text)}]


def judge_verdict(res: Any) -> bool | None:
    """The judge's answer: True/False, or None when it gave none that can be read."""
    if not res.ok or res.truncated:
        return None
    data = extract_json(res.text) or {}
    value = data.get("supported")
    if isinstance(value, str):
        value = {"true": True, "false": False, "yes": True, "no": False}.get(value.strip().lower())
    return value if isinstance(value, bool) else None


def _key(item_id: str) -> str:
    return hashlib.sha256(item_id.encode("utf-8")).hexdigest()


# ---- the stage -------------------------------------------------------------------------------------


@dataclass
class SynthStats:
    passages: int = 0
    items: int = 0
    generated: int = 0
    from_journal: int = 0
    teacher_errors: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: dict[str, Any] = field(default_factory=dict)  # the client's summary: answered, cached, failed, latency
    cost_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"passages": self.passages, "items": self.items, "generated": self.generated,
                "from_journal": self.from_journal, "teacher_errors": self.teacher_errors, "rejected": dict(self.rejected),
                "requests": self.requests, "cost_usd": self.cost_usd}


class _Shown(NamedTuple):
    """A passage as it may leave the stage: PII-redacted text (cut), title and id."""

    text: str
    title: str
    id: str


@dataclass
class _Item:
    passage: Document
    passage_id: str  # the passage's id, or a hash of it when it holds personal data
    text: str  # the passage as the teacher sees it: cut to max_passage_chars and PII-redacted
    style: str
    lang: str
    item_id: str
    fingerprint: str
    messages: list[dict[str, str]]
    seed: int | None


class SynthQAGenerator:
    """Runs the stage over documents; ``client`` defaults to an InferenceClient built from the options."""

    def __init__(self, options: SynthQAOptions, client: Any = None, pii_engine: Any = None) -> None:
        from medswallow.inference import InferenceClient

        self.options = options
        self.cache_dir = Path(options.cache_dir).expanduser()
        self.templates = load_templates(options.templates_dir, options.styles, options.languages)
        self.client = client or InferenceClient(
            options.base_urls, model=options.model, max_concurrency=options.max_concurrency,
            cache_dir=self.cache_dir / "responses", max_retries=options.max_retries, timeout=options.timeout,
        )
        self.journal = Journal(self.cache_dir / "journal.sqlite")
        self._pii = pii_engine
        self.stats = SynthStats()
        self._seen_questions: set[str] = set()
        self._checkpoint: str | None = None  # the teacher's checkpoint, from /v1/models before the first request
        self._errors: Counter[str] = Counter()
        s = options.sampling
        self._settings = json.dumps(
            {"model": options.model, "sampling": s.model_dump(), "max_passage_chars": options.max_passage_chars,
             "templates": {k: t.version for k, t in sorted(self.templates.items())}, "pii": [options.pii_check, options.pii_mode],
             "grounding_min": options.grounding_min, "grounding_judge": options.grounding_judge},
            sort_keys=True,
        )

    @property
    def pii(self) -> Any:
        if self._pii is None:
            from medswallow.pii import PIIEngine

            self._pii = PIIEngine(mode=self.options.pii_mode)
        return self._pii

    def _items(self, doc: Document, shown: _Shown | None = None) -> list[_Item]:
        """The requests for one passage; ``shown`` is what of it may leave here (redacted here if None)."""
        passage, title, passage_id = shown or self._redact_passages([doc])[0]
        digest = hashlib.sha256((self._settings + "\0" + passage).encode()).hexdigest()[:24]
        items = []
        for style in self.options.styles:
            for lang in self.options.languages:
                item_id = f"{passage_id}:{style}:{lang}"
                seed = None
                if self.options.sampling.seed is not None:
                    seed = (self.options.sampling.seed + int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16)) % (2**31)
                messages = self.templates[style].render(lang, passage, doc.source, title)
                items.append(_Item(doc, passage_id, passage, style, lang, item_id, digest, messages, seed))
        return items

    def _redact_passages(self, docs: list[Document]) -> list[_Shown]:
        """Passage, title and id of each document with PII replaced: what a prompt, a cache or a record may hold.

        An id in which the engine finds personal data (a name, an e-mail) is replaced by a hash of it.
        """
        texts: list[str] = []
        langs: list[str | None] = []
        cut = self.options.max_passage_chars
        for doc in docs:
            title = str(doc.meta.get("title", "")) if doc.meta else ""
            lang = doc.lang if doc.lang in ("ja", "en") else None
            # Redacted with some text past the cut, then cut: an identifier across the cut is seen whole.
            texts += [doc.text[: cut + 200], title, f"id: {doc.id}"]
            langs += [lang, lang, None]
        red = [text for text, _ in self.pii.redact_batch(texts, langs)]
        shown = []
        for i, doc in enumerate(docs):
            safe_id = doc.id if red[3 * i + 2] == texts[3 * i + 2] else f"{doc.source}:id-{hashlib.sha256(doc.id.encode()).hexdigest()[:16]}"
            shown.append(_Shown(red[3 * i][:cut], red[3 * i + 1], safe_id))
        return shown

    def _params(self, seed: int | None) -> Any:
        from medswallow.inference import SamplingParams

        s = self.options.sampling
        return SamplingParams(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k, min_p=0.0,
                              max_tokens=s.max_tokens, seed=seed, reasoning_effort=s.reasoning_effort)

    def _provenance(self, item: _Item) -> dict[str, Any]:
        """Where an item comes from; stored with its outcome, so a record re-emitted from the journal is the same."""
        template = self.templates[item.style]
        return {
            "template": f"{template.path.name}@{template.version}", "prompt_lang": item.lang, "seed": item.seed,
            "sampling": self.options.sampling.model_dump(exclude={"seed"}),
            "teacher": self.options.model, "teacher_checkpoint": self._checkpoint or "unknown",
            "passage_sha256": hashlib.sha256(item.text.encode("utf-8")).hexdigest(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def _judge(self, item: _Item, res: Any) -> dict[str, Any]:
        """One teacher result -> a journal outcome: {"status": "generated"|"rejected"|"error", ...}."""
        usage = {"latency_s": round(res.latency_s, 4), "prompt_tokens": res.usage.prompt_tokens,
                 "completion_tokens": res.usage.completion_tokens, "reasoning_tokens": res.usage.reasoning_tokens}
        if not res.ok:
            return {"status": "error", "reason": "teacher_error:" + res.error.split(":")[0].split(" (")[0].replace(" ", "_"), **usage}
        usage["provenance"] = self._provenance(item)
        if res.truncated:
            return {"status": "rejected", "reason": "truncated", "detail": f"finish_reason={res.finish_reason}", **usage}
        if not res.text.strip():
            return {"status": "rejected", "reason": "no_answer", **usage}
        raw, reason = validate_item(item.style, extract_json(res.text))
        if raw is None:
            return {"status": "rejected", "reason": reason, **usage}
        lang_reason = language_reason(render_item(item.style, item.lang, raw), item.lang)
        if lang_reason:
            return {"status": "rejected", "reason": lang_reason, **usage}
        # Redacted whatever the check decides: only redacted fields are ever stored or written.
        qa, labels = redact_fields(self.pii, raw, item.text, item.lang)
        if self.options.pii_check and labels:
            return {"status": "rejected", "reason": f"pii_introduced:{labels[0]}", "detail": ",".join(labels), **usage}
        if self.options.grounding_min > 0:
            score = round(item_grounding(item.style, qa, item.text), 3)
            usage["provenance"]["grounding"] = score
            if score < self.options.grounding_min:
                return {"status": "rejected", "reason": "ungrounded", "detail": f"grounding {score} < {self.options.grounding_min}", **usage}
        return {"status": "generated", "qa": qa, "text": render_item(item.style, item.lang, qa), **usage}

    def _emit(self, item: _Item, outcome: dict[str, Any]) -> Document | Rejected:
        meta = {"passage_id": item.passage_id, "passage_source": item.passage.source, "style": item.style,
                "teacher": self.options.model, "latency_s": outcome.get("latency_s", 0.0),
                "prompt_tokens": outcome.get("prompt_tokens", 0), "completion_tokens": outcome.get("completion_tokens", 0)}
        if "provenance" in outcome:
            meta["provenance"] = outcome["provenance"]
        if outcome["status"] == "generated":
            key = question_key(outcome["qa"]["question"])
            if key not in self._seen_questions:
                self._seen_questions.add(key)
                self.stats.generated += 1
                return Document(id=item.item_id, text=outcome["text"], source="synthetic_qa", lang=item.lang,
                                meta={**meta, "qa": outcome["qa"]})
            outcome = {**outcome, "status": "rejected", "reason": "duplicate"}
        reason = outcome["reason"]
        self.stats.rejected[reason] += 1
        kind = "quarantined" if outcome["status"] == "error" else "dropped"
        return Rejected(id=item.item_id, source="synthetic_qa", stage=STAGE, reason=reason, kind=kind,
                        detail=outcome.get("detail", ""), meta={**meta, "lang": item.lang})

    def run(self, passages: Iterable[Document], batch_passages: int = 64) -> Iterator[Document | Rejected]:
        """Yield one record per (passage, style, language), plus one Rejected per passage too short to use.

        Raises a UserError at the end when requests failed for good (see ``allow_teacher_errors``).
        """
        batch: list[Document] = []
        for doc in passages:
            self.stats.passages += 1
            if len(doc.text.strip()) < self.options.min_passage_chars:
                self.stats.rejected["passage_too_short"] += 1
                yield Rejected(id=self._redact_passages([doc])[0].id, source=doc.source, stage=STAGE, reason="passage_too_short",
                               detail=f"{len(doc.text.strip())} chars < {self.options.min_passage_chars}")
                continue
            batch.append(doc)
            if len(batch) >= batch_passages:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)
        self._finish()
        if self.stats.teacher_errors and not self.options.allow_teacher_errors:
            why = ", ".join(f"{n} {r.removeprefix('teacher_error:')}" for r, n in self._errors.most_common(3))
            raise UserError(
                f"synthetic QA: requests to the teacher at {', '.join(self.options.base_urls)} failed for "
                f"{self.stats.teacher_errors} of {self.stats.items} items ({why}); the answers received are kept in {self.cache_dir}: "
                "fix the teacher and run the same command again (or set options.allow_teacher_errors: true)"
            )

    def _run_batch(self, docs: list[Document]) -> Iterator[Document | Rejected]:
        shown = self._redact_passages(docs)
        items = [it for doc, sh in zip(docs, shown, strict=True) for it in self._items(doc, sh)]
        self.stats.items += len(items)
        outcomes: list[dict[str, Any] | None] = [self.journal.get(it.item_id, it.fingerprint) for it in items]
        todo = [i for i, o in enumerate(outcomes) if o is None]
        self.stats.from_journal += len(items) - len(todo)
        if todo:
            results = self._ask([(items[i].messages, self._params(items[i].seed)) for i in todo])
            judged = {i: self._judge(items[i], res) for i, res in zip(todo, results, strict=True)}
            if self.options.grounding_judge:
                self._ask_judge(items, judged)
            for i in todo:
                # Through JSON, as the journal returns it: a fresh record and a resumed one are the same.
                outcome = json.loads(json.dumps(judged[i], ensure_ascii=False))
                if outcome["status"] == "error":  # failures are asked again on the next run
                    self.stats.teacher_errors += 1
                    self._errors[outcome["reason"]] += 1
                else:
                    self.journal.put(items[i].item_id, items[i].fingerprint, outcome)
                outcomes[i] = outcome
        for item, final in zip(items, outcomes, strict=True):
            assert final is not None
            yield self._emit(item, final)

    def _preflight(self) -> None:
        """Before the first request: the teacher answers and serves the model (else one line naming the URL);
        its checkpoint (``root`` in /v1/models) goes into every item's provenance and the cache namespace."""
        if self._checkpoint is not None:
            return
        model_cards = getattr(self.client, "model_cards", None)
        if model_cards is None:  # a client without /v1/models (tests, offline backends)
            self._checkpoint = "unknown"
            return
        try:
            cards = model_cards()
        except UserError as exc:
            raise UserError(f"synthetic QA teacher: {exc} (options.base_urls)") from None
        roots = sorted({str(c.get("root") or c.get("id")) for c in cards.values()})
        if len(roots) > 1:
            raise UserError(f"synthetic QA teacher: the replicas at {', '.join(cards)} serve different checkpoints ({', '.join(roots)})")
        self._checkpoint = roots[0]
        if hasattr(self.client, "cache_namespace"):
            self.client.cache_namespace = self._checkpoint  # another checkpoint under the same name is asked again

    def _ask_judge(self, items: list[_Item], judged: dict[int, dict[str, Any]]) -> None:
        """Ask the teacher whether each generated item is supported; an unsupported one becomes ``ungrounded``."""
        from medswallow.inference import SamplingParams

        todo = [i for i, o in judged.items() if o["status"] == "generated"]
        if not todo:
            return
        s = self.options.sampling
        requests = [(judge_messages(items[i].text, judged[i]["text"]),
                     SamplingParams(temperature=0.0, top_p=1.0, top_k=None, min_p=0.0, max_tokens=s.max_tokens,
                                    seed=items[i].seed, reasoning_effort=s.reasoning_effort)) for i in todo]
        for i, res in zip(todo, self._ask(requests, label="grounding judge"), strict=True):
            outcome = judged[i]
            if not res.ok:
                judged[i] = {**outcome, "status": "error", "reason": "teacher_error:" + res.error.split(":")[0].split(" (")[0].replace(" ", "_")}
                continue
            verdict = judge_verdict(res)
            outcome["provenance"]["judge"] = verdict
            if verdict is not True:
                detail = "judge: not supported" if verdict is False else "judge: no readable verdict"
                judged[i] = {k: v for k, v in outcome.items() if k not in ("qa", "text")}
                judged[i].update(status="rejected", reason="ungrounded", detail=detail)

    def _ask(self, requests: list[tuple[list[dict[str, str]], Any]], label: str = "synthetic QA") -> list[Any]:
        import asyncio

        from medswallow.console import progress as progress_bar
        from medswallow.inference import run_sync

        self._preflight()
        client = self.client

        async def go() -> list[Any]:
            with progress_bar(disable=not self.options.progress) as bar:
                task = bar.add_task(f"{label} ({self.options.model})", total=len(requests))

                async def one(messages: list[dict[str, str]], params: Any) -> Any:
                    res = await client.chat(messages, params)
                    bar.advance(task)
                    return res

                try:
                    return list(await asyncio.gather(*(one(m, p) for m, p in requests)))
                finally:
                    if hasattr(client, "aclose"):
                        await client.aclose()

        return run_sync(go())

    def _finish(self) -> None:
        summary = self.client.stats.summary()
        self.stats.requests = summary
        prices = self.options.cost_per_million_tokens
        if prices:
            self.stats.cost_usd = round(
                summary["prompt_tokens"] * prices.get("prompt", 0.0) / 1e6 + summary["completion_tokens"] * prices.get("completion", 0.0) / 1e6, 6
            )
        stats_dir = self.cache_dir / "stats"
        stats_dir.mkdir(parents=True, exist_ok=True)
        with (stats_dir / "runs.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": self.options.model, **self.stats.to_dict()}) + "\n")

    def close(self) -> None:
        self.journal.close()


def options_from(raw: dict[str, Any], where: str) -> SynthQAOptions:
    return validate_data(SynthQAOptions, raw, where)


def generate_qa(passages: Iterable[Document], options: SynthQAOptions, client: Any = None, pii_engine: Any = None) -> Iterator[Document | Rejected]:
    """Run the stage over ``passages`` (see the module docstring); the generator's stats are logged at the end."""
    gen = SynthQAGenerator(options, client=client, pii_engine=pii_engine)
    try:
        yield from gen.run(passages)
    finally:
        gen.close()


def read_synthetic_qa(cfg: Any, passages: Iterable[Document]) -> Iterator[Document | Rejected]:
    """build-corpus hook for ``type: synthetic_qa`` sources: ``cfg.options`` are SynthQAOptions."""
    options = options_from(dict(cfg.options or {}), f"synthetic_qa source '{cfg.name}' options")
    yield from generate_qa(passages, options)
