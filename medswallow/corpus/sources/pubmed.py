"""PubMed/MEDLINE baseline XML (``PubmedArticleSet``, ``.xml`` or ``.xml.gz``): title + abstract per article.

Parsed as a stream with defusedxml, which refuses entity declarations (billion laughs, quadratic blowup,
external entities) instead of expanding them; memory stays flat because each article is freed once read.
An article with a Japanese (or other) ``OtherAbstract`` also yields that version as its own document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from medswallow.corpus.sources.base import (
    STREAM_ERRORS,
    Item,
    SourceReader,
    Unit,
    open_binary,
    sniff,
    unreadable_detail,
)

# MEDLINE language codes (ISO 639-2) of the two languages the mixture is about.
LANG_CODES = {"eng": "en", "jpn": "ja"}
# Children of PubmedArticleSet; each is freed once read (books and deletions are not abstracts).
TOP_LEVEL = {"PubmedArticle", "PubmedBookArticle", "DeleteCitation"}


def _text(el: Element | None) -> str:
    """All text inside an element (abstracts carry inline <i>, <sup>, <sub> markup)."""
    if el is None:
        return ""
    return " ".join("".join(el.itertext()).split())


def _abstract(parent: Element | None) -> str:
    """Abstract paragraphs, with the section label of structured abstracts ("METHODS: ...")."""
    if parent is None:
        return ""
    parts = []
    for at in parent.iter("AbstractText"):
        body = _text(at)
        if not body:
            continue
        label = at.get("Label")
        parts.append(f"{label}: {body}" if label else body)
    return "\n".join(parts)


class PubMedReader(SourceReader):
    suffixes = (".xml", ".xml.gz")

    def read(self, unit: Unit) -> Iterator[Item]:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse

        head, err = sniff(unit.path)
        if err:
            yield self.quarantine(unit.rel, err, unit, detail=unreadable_detail(err))
            return
        if not head.strip():
            yield self.quarantine(unit.rel, "empty_file", unit)
            return
        n = 0
        try:
            with open_binary(unit.path) as f:
                root: Element | None = None
                for event, el in iterparse(f, events=("start", "end")):
                    if root is None and event == "start":
                        root = el
                    if event != "end" or el.tag not in TOP_LEVEL:
                        continue
                    if el.tag == "PubmedArticle":
                        n += 1
                        yield from self._article(el, unit, n)
                    el.clear()
                    if root is not None:
                        root.remove(el)  # keep memory flat over 30k-article files
        except DefusedXmlException as exc:
            yield self.quarantine(
                f"{unit.rel}@{n}", "xml_entities_forbidden", unit,
                detail=f"{type(exc).__name__}: entity declarations are refused (XML bomb protection); {n} articles read before",
            )
        except ParseError as exc:
            line = getattr(exc, "position", (0, 0))[0]
            yield self.quarantine(
                f"{unit.rel}@{n}", "xml_syntax_error", unit,
                detail=f"malformed XML at line {line}; the rest of the file after article {n} is skipped",
            )
        except STREAM_ERRORS as exc:
            yield self.quarantine(
                f"{unit.rel}@{n}", "truncated_file", unit,
                detail=f"{type(exc).__name__} after {n} articles; the rest of the file is lost",
            )

    def _article(self, art: Element, unit: Unit, n: int) -> Iterator[Item]:
        cit = art.find("MedlineCitation")
        pmid = _text(cit.find("PMID")) if cit is not None else ""
        local = pmid or f"{unit.rel}#{n}"
        article = cit.find("Article") if cit is not None else None
        if article is None:
            yield self.quarantine(local, "missing_field:Article", unit)
            return
        pub_types = [_text(p) for p in article.iter("PublicationType")]
        meta: dict[str, Any] = {
            "pmid": pmid or None,
            "journal": _text(article.find("Journal/Title")) or None,
            "year": _text(article.find("Journal/JournalIssue/PubDate/Year")) or None,
            "publication_types": pub_types,
            "article_language": _text(article.find("Language")) or None,
        }
        excluded = [p for p in pub_types if p in self.cfg.exclude_publication_types]
        title = _text(article.find("ArticleTitle"))
        abstract = _abstract(article.find("Abstract"))
        lang = LANG_CODES.get(meta["article_language"] or "", None)
        versions = [(local, title, abstract, lang)]
        vernacular = _text(article.find("VernacularTitle"))
        for other in cit.findall("OtherAbstract") if cit is not None else []:
            code = other.get("Language", "")
            body = _abstract(other)
            if body:
                versions.append((f"{local}/{code or 'other'}", vernacular or title, body, LANG_CODES.get(code)))
        for vid, vtitle, body, vlang in versions:
            if excluded:
                yield self._dropped(vid, unit, f"publication_type:{excluded[0]}")
                continue
            if not body and self.cfg.require_abstract:
                yield self.quarantine(vid, "missing_field:Abstract", unit, detail="article has no abstract")
                continue
            if not vtitle and not body:
                yield self.quarantine(vid, "missing_field:ArticleTitle", unit)
                continue
            text = f"{vtitle}\n\n{body}" if vtitle and body else (vtitle or body)
            yield self.document(vid, text, unit, **meta, declared_lang=vlang)

    def _dropped(self, local_id: str, unit: Unit, reason: str) -> Item:
        rej = self.quarantine(local_id, reason, unit)
        rej.kind = "dropped"
        return rej
