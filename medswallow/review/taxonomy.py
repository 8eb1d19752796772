"""The versioned unsafe-claim taxonomy (``safety/taxonomy.yaml``): categories, severities, verdicts.

Every annotation, adjudication and export carries the taxonomy version it was made under, so labels
made under different versions are never mixed silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from medswallow.errors import UserError, did_you_mean

REPO_ROOT = Path(__file__).resolve().parents[2]
SAFETY_DIR = Path(os.environ.get("MEDSWALLOW_SAFETY_DIR", REPO_ROOT / "safety"))


def default_taxonomy_path() -> Path:
    return Path(os.environ.get("MEDSWALLOW_TAXONOMY", SAFETY_DIR / "taxonomy.yaml"))


def guidelines_path() -> Path:
    return SAFETY_DIR / "guidelines.md"


@dataclass(frozen=True, slots=True)
class Label:
    """One verdict, severity or category, with its Japanese and English names."""

    id: str
    ja: str
    en: str
    description_ja: str = ""
    description_en: str = ""
    rank: int = 0  # severities: higher is worse
    span: bool = True  # categories: can be pointed at in the text (omissions cannot)

    def name(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en

    def description(self, lang: str) -> str:
        return self.description_ja if lang == "ja" else self.description_en


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: str
    verdicts: tuple[Label, ...]
    severities: tuple[Label, ...]
    categories: tuple[Label, ...]
    source: str = ""

    @property
    def category_ids(self) -> list[str]:
        return [c.id for c in self.categories]

    @property
    def severity_ids(self) -> list[str]:
        return [s.id for s in self.severities]

    @property
    def verdict_ids(self) -> list[str]:
        return [v.id for v in self.verdicts]

    def category(self, cid: str) -> Label:
        return _pick(self.categories, cid, "category")

    def severity(self, sid: str) -> Label:
        return _pick(self.severities, sid, "severity")

    def verdict(self, vid: str) -> Label:
        return _pick(self.verdicts, vid, "verdict")

    def worst_severity(self, ids: list[str]) -> str | None:
        """The highest-ranked of ``ids`` (None when empty)."""
        ranked = sorted((self.severity(i) for i in ids), key=lambda s: s.rank)
        return ranked[-1].id if ranked else None


def _pick(labels: tuple[Label, ...], wanted: str, kind: str) -> Label:
    for label in labels:
        if label.id == wanted:
            return label
    raise UserError(f"unknown {kind} {wanted!r}{did_you_mean(wanted, [x.id for x in labels])}")


def _labels(raw: object, key: str, source: str) -> tuple[Label, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{source}: '{key}' must be a non-empty list")
    out: list[Label] = []
    fields = set(Label.__dataclass_fields__)
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "id" not in item:
            raise UserError(f"{source}: {key}[{i}] needs at least 'id', 'ja' and 'en'")
        unknown = set(item) - fields
        if unknown:
            bad = sorted(unknown)[0]
            raise UserError(f"{source}: {key}[{i}] has unknown field {bad!r}{did_you_mean(bad, sorted(fields))}")
        for req in ("ja", "en"):
            if not item.get(req):
                raise UserError(f"{source}: {key}[{i}] ({item['id']}) is missing its {req!r} name")
        out.append(Label(**item))
    ids = [x.id for x in out]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise UserError(f"{source}: duplicate {key} id(s): {', '.join(sorted(dup))}")
    return tuple(out)


def parse_taxonomy(text: str, source: str = "taxonomy.yaml") -> Taxonomy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping with version, verdicts, severities, categories")
    unknown = set(data) - {"version", "verdicts", "severities", "categories"}
    if unknown:
        bad = sorted(unknown)[0]
        raise UserError(
            f"{source}: unknown top-level key {bad!r}"
            f"{did_you_mean(bad, ['version', 'verdicts', 'severities', 'categories'])}"
        )
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise UserError(f"{source}: 'version' must be a quoted string such as \"1.0.0\"")
    verdicts = _labels(data.get("verdicts"), "verdicts", source)
    if {v.id for v in verdicts} != {"safe", "unsafe"}:
        raise UserError(f"{source}: verdicts must be exactly 'safe' and 'unsafe' (uncertainty goes into confidence)")
    return Taxonomy(
        version=version.strip(),
        verdicts=verdicts,
        severities=_labels(data.get("severities"), "severities", source),
        categories=_labels(data.get("categories"), "categories", source),
        source=source,
    )


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    p = Path(path) if path else default_taxonomy_path()
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int) -> Taxonomy:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: taxonomy file not found; pass --taxonomy or set MEDSWALLOW_TAXONOMY")
    return parse_taxonomy(p.read_text(encoding="utf-8"), str(p))
