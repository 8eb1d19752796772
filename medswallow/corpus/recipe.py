"""The typed recipe of ``medswallow build-corpus``: sources, stages, mixture, output and executor.

A recipe is YAML validated by these models; every field carries its help text. Source sections are
validated one by one against the model of their ``type`` first, so a mistake names the source, the line
and the closest valid word. Relative paths are relative to the recipe file.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from medswallow.config import StrictModel, apply_overrides, validate_data
from medswallow.errors import UserError, did_you_mean

Lang = Literal["ja", "en", "mixed", "other"]


def _off(value: Any) -> Any:
    """YAML 1.1 reads a bare ``off`` as False; for PII modes it means 'off'."""
    return "off" if value is False else value

PIIMode = Literal["off", "fast", "thorough"]
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# ---------------------------------------------------------------------------------------------- sources


class FieldMap(StrictModel):
    """Which record fields make a document (JSONL, CSV, Parquet and HF dataset sources)."""

    text: str | None = Field(default="text", description="Field holding the document text (ignored when `template` is set).")
    template: str | None = Field(
        default=None, description="Build the text from several fields, e.g. '{title}\\n\\n{abstract}'; a missing field quarantines the record."
    )
    id: str | None = Field(default=None, description="Field with a stable record id; default: file and line number.")
    lang: str | None = Field(default=None, description="Field with a language code to keep in meta (detection still runs).")
    meta: list[str] = Field(default_factory=list, description="Fields copied into the document's meta.")


class SourceCommon(StrictModel):
    """Fields every source has: where it comes from, how it is filtered and how much of it the mixture takes."""

    name: str = Field(description="Unique source name; prefixes document ids and names the source in the manifest.")
    card: str | None = Field(default=None, description="Source card YAML (license, languages, PII risk), relative to the recipe.")
    domain: Literal["medical", "general"] = Field(
        default="medical", description="'general' marks retention text that keeps general ability during domain training."
    )
    pii: PIIMode | None = Field(default=None, description="PII redaction mode for this source; default: pii.mode.")
    quality: bool = Field(default=True, description="Apply the quality heuristics (turn off for templated QA text).")
    dedup: bool = Field(default=True, description="Take part in exact and near-duplicate removal.")
    decontaminate: bool = Field(default=True, description="Check against the benchmark items.")
    budget_tokens: int | None = Field(
        default=None, gt=0, description="Tokens this source contributes to the mixture (up- or down-sampled to it)."
    )
    weight: float | None = Field(
        default=None, gt=0, description="Share of mixture.total_tokens (used when budget_tokens is not set)."
    )
    max_epochs: float = Field(default=4.0, gt=0, description="Upsampling never repeats this source more often than this.")
    max_record_mb: float = Field(default=16.0, gt=0, description="Records larger than this are quarantined, not loaded.")
    id_policy: Literal["redact", "position", "keep"] = Field(
        default="redact",
        description="Record ids taken from the data: 'redact' checks each with the PII engine and replaces one that "
        "holds personal data by its position (file:line); 'position' always uses the position; 'keep' writes them as "
        "they are (only for ids known to be safe, e.g. PMIDs). Without PII redaction on the source, 'redact' keeps them.",
    )

    @field_validator("pii", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        return _off(v)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("use letters, digits, '_', '-' or '.', starting with a letter or digit")
        return v


class PathsMixin(StrictModel):
    paths: list[str] = Field(description="Files or glob patterns (relative to the recipe file).", min_length=1)


class PubMedSource(SourceCommon, PathsMixin):
    """PubMed/MEDLINE baseline XML (``.xml`` or ``.xml.gz``): title + abstract per article."""

    type: Literal["pubmed"]
    require_abstract: bool = Field(default=True, description="Quarantine articles without an abstract (title alone is too thin).")
    exclude_publication_types: list[str] = Field(
        default_factory=lambda: ["Retracted Publication", "Retraction of Publication", "Published Erratum"],
        description="Articles with any of these publication types are dropped.",
    )


class JsonlSource(SourceCommon, PathsMixin):
    """JSON Lines files (``.jsonl`` / ``.jsonl.gz``), one record per line."""

    type: Literal["jsonl"]
    fields: FieldMap = Field(default_factory=lambda: FieldMap(), description="Record fields -> document.")
    encoding: str = Field(default="auto", description="'auto' detects UTF-8/Shift_JIS/CP932/EUC-JP; or a Python codec name.")


class CsvSource(SourceCommon, PathsMixin):
    """CSV/TSV files with a header row (or ``header: false`` for columns named col0, col1, ...)."""

    type: Literal["csv"]
    fields: FieldMap = Field(default_factory=lambda: FieldMap(), description="Record fields -> document.")
    delimiter: str = Field(default=",", description="Field delimiter (use '\\t' for TSV).")
    header: bool = Field(default=True, description="The first row names the columns.")
    encoding: str = Field(default="auto", description="'auto' detects UTF-8/Shift_JIS/CP932/EUC-JP; or a Python codec name.")


class ParquetSource(SourceCommon, PathsMixin):
    """Parquet files (each row group is read in turn; memory stays bounded)."""

    type: Literal["parquet"]
    fields: FieldMap = Field(default_factory=lambda: FieldMap(), description="Record fields -> document.")


class HFSource(SourceCommon):
    """A Hugging Face dataset by id (from the local cache; no hub access) or a local dataset folder."""

    type: Literal["hf"]
    dataset: str = Field(description="HF dataset id already in the local cache, or a local path (load_from_disk or data files).")
    config: str | None = Field(default=None, description="Dataset configuration name.")
    split: str = Field(default="train", description="Split to read.")
    shards: int = Field(default=1, ge=1, description="Split the dataset into this many units of parallel work.")
    fields: FieldMap = Field(default_factory=lambda: FieldMap(), description="Record fields -> document.")


class GuidelineSource(SourceCommon, PathsMixin):
    """Clinical guidelines as PDF, HTML or Markdown: one document per file, headings and lists kept."""

    type: Literal["guideline"]
    drop_selectors: list[str] = Field(
        default_factory=lambda: [
            "nav", "header", "footer", "aside", "script", "style", "noscript", "form", "iframe", "svg",
            "button", "[role=navigation]", "[role=banner]", "[role=contentinfo]", ".breadcrumb", ".breadcrumbs",
            ".nav", ".navbar", ".menu", ".sidebar", ".footer", ".header", ".cookie", ".share", ".pagination",
            "#nav", "#header", "#footer", "#sidebar", "#menu",
        ],
        description="HTML elements removed before extraction (navigation and boilerplate).",
    )
    encoding: str = Field(default="auto", description="Encoding of HTML/Markdown files ('auto' detects Japanese encodings).")


class QASource(SourceCommon, PathsMixin):
    """QA datasets (JSONL/CSV/Parquet) rendered to QA-style text with a template."""

    type: Literal["qa"]
    template: str = Field(
        default="exam_ja",
        description="'exam_ja', 'exam_en', 'qa_ja', 'qa_en', or an inline template using {question} {choices} {answer} {explanation} and any record field.",
    )
    question: str = Field(default="question", description="Field with the question stem.")
    choices: str | None = Field(default="choices", description="Field with the options (list, or dict label -> text); null if none.")
    answer: str | None = Field(default="answer", description="Field with the answer: letter(s), 0-based index, or text.")
    explanation: str | None = Field(default=None, description="Field with an explanation, rendered when present.")
    id: str | None = Field(default=None, description="Field with a stable item id.")
    meta: list[str] = Field(default_factory=list, description="Fields copied into meta.")
    encoding: str = Field(default="auto", description="Encoding of JSONL/CSV files.")


class TextSource(SourceCommon, PathsMixin):
    """Plain text (general-domain retention text, dumps): encoding detected, split into documents."""

    type: Literal["text"]
    split: Literal["file", "paragraph", "line"] = Field(
        default="paragraph", description="One document per file, per blank-line separated block, or per line."
    )
    encoding: str = Field(default="auto", description="'auto' detects UTF-8/Shift_JIS/CP932/EUC-JP; or a Python codec name.")


class SyntheticQASource(SourceCommon):
    """QA documents generated from other sources' passages through a vLLM server.

    Hook point: the reader calls ``medswallow.corpus.synth_qa.read_synthetic_qa(cfg, passages)``, where
    ``cfg`` is this section and ``passages`` iterates the normalised :class:`~medswallow.records.Document`
    objects of the sources named in ``from_sources`` (one unit per passage file); it yields
    ``Document`` (generated QA text) and ``Rejected`` (passages it could not use, with a reason).
    ``options`` is validated by that module.
    """

    type: Literal["synthetic_qa"]
    from_sources: list[str] = Field(min_length=1, description="Names of the sources whose passages are turned into QA.")
    options: dict[str, Any] = Field(default_factory=dict, description="Generation settings, validated by medswallow.corpus.synth_qa.")


SourceConfig = Annotated[
    PubMedSource | JsonlSource | CsvSource | ParquetSource | HFSource | GuidelineSource | QASource | TextSource | SyntheticQASource,
    Field(discriminator="type"),
]

SOURCE_MODELS: dict[str, type[SourceCommon]] = {
    "pubmed": PubMedSource,
    "jsonl": JsonlSource,
    "csv": CsvSource,
    "parquet": ParquetSource,
    "hf": HFSource,
    "guideline": GuidelineSource,
    "qa": QASource,
    "text": TextSource,
    "synthetic_qa": SyntheticQASource,
}


# ---------------------------------------------------------------------------------------------- stages


class NormalizeConfig(StrictModel):
    form: Literal["nfc", "nfkc", "none"] = Field(
        default="nfc", description="Unicode form of the stored text; NFKC folds width and compatibility forms (destructive: ①→1, ㎎→mg)."
    )
    halfwidth_katakana: bool = Field(default=True, description="Fold half-width katakana (ｶﾞｲﾄﾞﾗｲﾝ) to full-width (ガイドライン).")
    fullwidth_alnum: bool = Field(default=True, description="Fold full-width letters and digits (ＣＲＰ１０) to ASCII; punctuation is kept.")


DEFAULT_LANGS: list[Lang] = ["ja", "en", "mixed"]


class LanguageConfig(StrictModel):
    keep: list[Lang] = Field(default_factory=lambda: list(DEFAULT_LANGS), description="Languages kept; others are dropped.")
    mixed_min_share: float = Field(
        default=0.25, gt=0, lt=0.5, description="A document is 'mixed' when both Japanese and Latin letters reach this share."
    )


class QualityConfig(StrictModel):
    min_chars: dict[str, int] = Field(
        default_factory=lambda: {"ja": 40, "mixed": 60, "en": 120, "other": 120},
        description="Minimum characters per language (Japanese carries more per character).",
    )
    max_chars: int = Field(default=2_000_000, description="Longer documents are dropped (usually dumps or tables).")
    max_symbol_ratio: float = Field(default=0.25, description="Share of symbol characters (not letters, digits or usual punctuation).")
    max_dup_line_ratio: float = Field(default=0.3, description="Share of characters in lines that occur more than once.")
    max_dup_ngram_ratio: float = Field(
        default=0.35, description="Share of character 16-grams that repeat inside the document (language independent)."
    )
    min_hiragana_ratio: float = Field(
        default=0.04, description="Japanese prose has hiragana; tables, keyword lists and Chinese text mostly do not."
    )
    min_stopwords_en: int = Field(default=2, description="English text must contain at least this many distinct stop words.")
    min_mean_word_len_en: float = Field(default=3.0, description="English mean word length bounds (Gopher).")
    max_mean_word_len_en: float = Field(default=10.0, description="English mean word length bounds (Gopher).")


class PIIConfig(StrictModel):
    mode: PIIMode = Field(default="fast", description="Default for sources: 'fast' (patterns + light NER), 'thorough' (full NER), 'off'.")
    pseudonymize: bool = Field(default=False, description="Replace with consistent fake values instead of <LABEL> placeholders.")

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        return _off(v)


class DedupConfig(StrictModel):
    exact: bool = Field(default=True, description="Drop documents whose normalised text is identical to an earlier one.")
    near: bool = Field(default=True, description="Drop near-duplicates found with MinHash LSH.")
    bands: int = Field(default=14, ge=1, description="LSH bands; with rows=8 the Jaccard threshold is about (1/14)^(1/8) = 0.72.")
    rows: int = Field(default=8, ge=1, description="Hashes per band; more rows: stricter (fewer, closer pairs).")
    threshold: float = Field(
        default=0.7, gt=0, le=1,
        description="Candidates from a shared band are joined only if their signatures agree on this share "
        "(estimated Jaccard): random band collisions must not chain unrelated documents into one cluster.",
    )
    ngram_ja: int = Field(default=5, ge=1, description="Character shingle length for Japanese and mixed text.")
    ngram_other: int = Field(default=9, ge=1, description="Character shingle length for other text (about two English words).")
    seed: int = Field(default=1, description="Seed of the MinHash permutations.")


class BenchmarkSet(StrictModel):
    """One set of benchmark items to keep out of the training data."""

    task: str | None = Field(default=None, description="A benchmark task of medswallow eval (igakuqa, jmmlu_medical, ...); read through its loader.")
    name: str | None = Field(default=None, description="Name in reports (default: task, or the file name).")
    path: str = Field(description="Local file/folder (or HF dataset id for a task).")
    format: Literal["auto", "jsonl", "text"] = Field(
        default="auto", description="For sets without a task: JSONL (fields below) or text (one item per line)."
    )
    fields: list[str] = Field(
        default_factory=lambda: ["question", "problem_text", "choices", "options", "text"],
        description="JSONL fields joined into the item text (lists are joined too); missing ones are skipped.",
    )
    id_field: str | None = Field(default=None, description="JSONL field with the item id; default: line number.")


class DecontamConfig(StrictModel):
    enabled: bool = Field(default=True, description="Remove documents that reproduce benchmark items.")
    benchmarks: list[BenchmarkSet] = Field(default_factory=list, description="Item sets (benchmarks and any other text set).")
    ngram: int = Field(
        default=13, ge=8, description="Character n-gram length on text without whitespace and punctuation; longer: fewer, surer matches."
    )
    min_overlap: float = Field(
        default=0.5, gt=0, le=1, description="Drop a document holding at least this share of one item's n-grams."
    )


class MixtureConfig(StrictModel):
    total_tokens: int | None = Field(default=None, gt=0, description="Total tokens, shared by sources that give a weight.")


class OutputConfig(StrictModel):
    max_shard_mb: float = Field(default=256, gt=0, description="Target size of one Parquet shard (text bytes).")
    compression: Literal["zstd", "snappy", "gzip", "none"] = Field(default="zstd", description="Parquet compression.")
    rejected_text_chars: int = Field(
        default=500, ge=0, description="Characters of each rejected document kept in rejected/ (PII redacted); 0: none."
    )
    unit_mb: float = Field(
        default=8.0, ge=0,
        description="Input files smaller than 1 MB are read together in units of about this size: thousands of small "
        "files make a few tasks and a few work files, not one each. 0: one unit per file.",
    )


class ExecutorConfig(StrictModel):
    kind: Literal["local", "ray"] = Field(default="local", description="'local' worker processes, or a Ray cluster.")
    workers: int | None = Field(default=None, ge=1, description="Tasks run at once; default: the CPU count.")
    ray_address: str | None = Field(default=None, description="Ray cluster address ('auto' joins a running cluster); default: a local one.")
    cpus_per_task: int = Field(default=1, ge=1, description="CPUs Ray reserves per task.")
    mem_per_task_gb: float = Field(default=2.0, gt=0, description="Memory Ray reserves per task.")


class Recipe(StrictModel):
    """A corpus build: sources, then normalise -> language -> quality -> PII -> decontaminate -> dedup -> mixture."""

    name: str = Field(default="corpus", description="Name of the dataset (used in the dataset card).")
    description: str = Field(default="", description="One paragraph for the dataset card.")
    seed: int = Field(default=0, description="Seed of every random choice (sampling, shard order): same inputs + seed = same bytes.")
    sources: list[SourceConfig] = Field(min_length=1, description="The sources, in priority order (earlier wins a duplicate).")
    normalize: NormalizeConfig = Field(default_factory=lambda: NormalizeConfig())
    languages: LanguageConfig = Field(default_factory=lambda: LanguageConfig())
    quality: QualityConfig = Field(default_factory=lambda: QualityConfig())
    pii: PIIConfig = Field(default_factory=lambda: PIIConfig())
    dedup: DedupConfig = Field(default_factory=lambda: DedupConfig())
    decontamination: DecontamConfig = Field(default_factory=lambda: DecontamConfig())
    mixture: MixtureConfig = Field(default_factory=lambda: MixtureConfig())
    output: OutputConfig = Field(default_factory=lambda: OutputConfig())
    executor: ExecutorConfig = Field(default_factory=lambda: ExecutorConfig())

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _file: str = PrivateAttr(default="recipe")
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        weighted = [s.name for s in self.sources if s.weight is not None and s.budget_tokens is None]
        if weighted and self.mixture.total_tokens is None:
            raise ValueError(
                f"sources {', '.join(weighted)} give a weight but mixture.total_tokens is not set; "
                "set it or give budget_tokens instead"
            )
        for s in self.sources:
            if isinstance(s, SyntheticQASource):
                unknown = [n for n in s.from_sources if n not in names]
                if unknown:
                    raise ValueError(f"source '{s.name}': from_sources names unknown source '{unknown[0]}'{did_you_mean(unknown[0], names)}")
        return self

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def where(self, path: tuple[Any, ...]) -> str:
        """``recipe.yaml line 12`` for a key path of the recipe (the closest line known)."""
        for n in range(len(path), 0, -1):
            if path[:n] in self._lines:
                return f"{self._file} line {self._lines[path[:n]]}"
        return self._file

    def source(self, name: str) -> SourceCommon:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def pii_mode(self, source: SourceCommon) -> str:
        return source.pii or self.pii.mode

    def data_hash(self) -> str:
        """Hash of everything that decides the output bytes (the executor section does not)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"executor"}), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class SourceCard(StrictModel):
    """What a source is: where it comes from, its license, languages and PII risk (corpora/cards/*.yaml)."""

    name: str = Field(description="Human-readable name.")
    kind: str = Field(description="The source type that reads it (pubmed, jsonl, guideline, ...).")
    description: str = Field(description="What the data is, in one or two sentences.")
    license: str = Field(description="License or terms of use; 'research use only' where no license is stated.")
    languages: list[str] = Field(description="Languages present.")
    domain: Literal["medical", "general"] = "medical"
    pii_risk: Literal["none", "low", "medium", "high"] = Field(description="How likely the text holds personal data.")
    homepage: str | None = None
    citation: str | None = None
    notes: str = ""
    loader: dict[str, Any] = Field(default_factory=dict, description="An example recipe entry that reads it.")


# ---------------------------------------------------------------------------------------------- loading


def _source_lines(lines: dict[tuple[Any, ...], int], i: int) -> dict[tuple[Any, ...], int]:
    return {k[2:]: v for k, v in lines.items() if k[:2] == ("sources", i) and len(k) > 2}


def _check_sources(data: dict[str, Any], lines: dict[tuple[Any, ...], int], where: str) -> list[str]:
    """Validate each source against the model of its type, so errors name the source and its own fields.

    Returns the problems of every source (a recipe with three mistakes gets three lines, not one per run).
    """
    sources = data.get("sources")
    if not isinstance(sources, list):
        return []
    problems: list[str] = []
    for i, src in enumerate(sources):
        line = lines.get(("sources", i))
        at = f"{where} line {line}" if line else where
        if not isinstance(src, dict):
            problems.append(f"{at}: sources.{i} must be a mapping with at least 'name' and 'type'")
            continue
        label = f"source '{src.get('name', i)}'"
        kind = src.get("type")
        if kind is None:
            problems.append(f"{at}: {label} has no 'type'; add one of: {', '.join(SOURCE_MODELS)}")
            continue
        if kind not in SOURCE_MODELS:
            tline = lines.get(("sources", i, "type"), line)
            problems.append(
                f"{where} line {tline}: {label}: unknown source type '{kind}'{did_you_mean(str(kind), list(SOURCE_MODELS))}"
            )
            continue
        try:
            validate_data(SOURCE_MODELS[kind], src, f"{where} ({label})", _source_lines(lines, i))
        except UserError as exc:
            problems.extend(_problem_lines(exc))
    return problems


def _problem_lines(exc: UserError) -> list[str]:
    return [ln.strip() for ln in str(exc).removeprefix("invalid recipe:").splitlines() if ln.strip()]


def _override_problems(overrides: list[str]) -> list[str]:
    """Unknown keys of ``--set`` overrides, blamed on the option (the recipe file is not at fault)."""
    from medswallow.config import _field_names, parse_override

    problems = []
    for item in overrides:
        keys, _ = parse_override(item)
        model: Any = Recipe
        for depth, key in enumerate(keys):
            names = list(getattr(model, "model_fields", {}))
            if not names:
                break
            if key not in names:
                problems.append(f"--set {item}: unknown field '{'.'.join(keys[: depth + 1])}'{did_you_mean(key, names)}")
                break
            if key == "sources" or depth == len(keys) - 1:
                break  # a source's fields depend on its type: validation checks them
            nested = _field_names(model, (key,))
            model = next((m for m in _models_of(model, key)), None) if nested else None
            if model is None:
                break
    return problems


def _models_of(model: Any, key: str) -> list[Any]:
    from medswallow.config import _innermost_model

    found = _innermost_model(model.model_fields[key].annotation)
    return [found] if found is not None else []


def _blame_overrides(problems: list[str], overrides: list[str], where: str) -> list[str]:
    """A problem with a field given by ``--set`` names the option, not the recipe file."""
    from medswallow.config import parse_override

    keys = {".".join(parse_override(item)[0]): item for item in overrides}
    out = []
    for line in problems:
        for key, item in keys.items():
            if f"field '{key}'" in line and line.startswith(f"{where}:"):
                line = f"--set {item}:" + line[len(where) + 1 :]
                break
        out.append(line)
    return out


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load a recipe YAML, apply ``--set`` overrides, validate with file/line/field messages (all of them)."""
    # The line-tracking loader of medswallow.config is reused so messages match other recipes.
    from medswallow.config import _load_with_lines

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: recipe file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: recipe is not UTF-8 text") from None
    data, lines = _load_with_lines(text, str(p))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: a recipe must be a YAML mapping (key: value), got {type(data).__name__}")
    overrides = list(overrides or [])
    problems = _override_problems(overrides)
    if problems:
        raise UserError("invalid --set:\n  " + "\n  ".join(problems))
    try:
        data = apply_overrides(data, overrides)
    except (IndexError, ValueError, TypeError) as exc:
        raise UserError(f"--set: cannot apply the override ({exc}); check the key path") from None
    problems = _check_sources(data, lines, str(p))
    try:
        recipe = validate_data(Recipe, data, str(p), lines)
    except UserError as exc:
        # Source problems were reported one source at a time above, with their own field names.
        rest = [ln for ln in _problem_lines(exc) if not (problems and "'sources." in ln)]
        problems += _blame_overrides(rest, overrides, str(p))
        raise UserError("invalid recipe:\n  " + "\n  ".join(problems)) from None
    if problems:
        raise UserError("invalid recipe:\n  " + "\n  ".join(_blame_overrides(problems, overrides, str(p))))
    recipe._base_dir = p.parent.resolve()
    recipe._file = str(p)
    recipe._lines = lines
    return recipe


def load_card(path: Path) -> SourceCard:
    from medswallow.config import load_config

    return load_config(SourceCard, path)
