"""Clinical guidelines as PDF, HTML or Markdown: one document per file, as Markdown-like text.

Headings become ``#`` lines and list items ``-``/``1.`` lines in all three formats, so the model sees one
structure whatever the source. HTML loses navigation and boilerplate (``drop_selectors``) and keeps the
``<main>``/``<article>`` part when there is one; PDF loses running headers, footers and page numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from medswallow.corpus.sources.base import Item, SourceReader, Unit, detect_encoding, read_text_file

BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "blockquote", "pre", "table", "tbody", "thead", "tr",
    "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "caption", "details", "summary", "address", "hr",
}
HEADINGS = {f"h{i}": i for i in range(1, 7)}
SKIP_TAGS = {"script", "style", "noscript", "template", "head", "-comment", "img", "svg"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^\s*(?:[-–—]\s*)?(?:page\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?(?:\s*[-–—])?\s*$|^\s*\d{1,4}\s*ページ\s*$", re.IGNORECASE)
_SPACES = re.compile(r"\s+")  # HTML: any run of whitespace in text is one space; blocks make the newlines


class GuidelineReader(SourceReader):
    suffixes = (".pdf", ".html", ".htm", ".xhtml", ".md", ".markdown")

    def read(self, unit: Unit) -> Iterator[Item]:
        name = unit.path.lower()
        if name.endswith(".pdf"):
            text, why = pdf_text(unit.path, self.max_record_bytes)
        elif name.endswith((".html", ".htm", ".xhtml")):
            text, why = self._html(unit.path)
        else:
            raw, why = read_text_file(unit.path, self.cfg.encoding, self.max_record_bytes)
            text = markdown_text(raw) if raw is not None else None
        if text is None:
            yield self.quarantine(unit.rel, why, unit)
            return
        if not text.strip():
            yield self.quarantine(unit.rel, "no_text", unit, detail="no text could be extracted (scanned PDF or empty page?)")
            return
        yield self.document(unit.rel, text, unit, format=name.rsplit(".", 1)[-1])

    def _html(self, path: str) -> tuple[str | None, str]:
        with open(path, "rb") as f:
            data = f.read(self.max_record_bytes + 1)
        if not data.strip():
            return None, "empty_file"
        if len(data) > self.max_record_bytes:
            return None, "record_too_large"
        declared = self.cfg.encoding
        m = _META_CHARSET.search(data[:4096])
        if declared == "auto" and m:
            declared = m.group(1).decode("ascii").lower()
            declared = "cp932" if declared in ("shift_jis", "shift-jis", "sjis", "x-sjis") else declared
        try:
            enc = detect_encoding(data[: 256 * 1024], declared)
            html = data.decode(enc or "utf-8")
        except (UnicodeDecodeError, LookupError):
            enc = detect_encoding(data[: 256 * 1024], "auto")
            if enc is None:
                return None, "unknown_encoding"
            try:
                html = data.decode(enc)
            except UnicodeDecodeError:
                return None, f"undecodable:{enc}"
        return html_text(html, self.cfg.drop_selectors), "ok"


# ---------------------------------------------------------------------------------------------- HTML


def html_text(html: str, drop_selectors: list[str]) -> str:
    """Readable text of an HTML page: boilerplate removed, headings and lists kept as Markdown lines."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for selector in drop_selectors:
        for node in tree.css(selector):
            node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.css_first("[role=main]") or tree.body
    if root is None:
        return ""
    out: list[str] = []
    try:
        _walk(root, out, [])
    except RecursionError:  # absurdly deep nesting: fall back to flat text rather than lose the page
        out = [root.text(separator="\n")]
    return _tidy("".join(out))


def _walk(node, out: list[str], lists: list[list[int]], in_pre: bool = False) -> None:  # type: ignore[no-untyped-def]
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            raw = child.text(deep=False) or ""
            text = raw if in_pre else _SPACES.sub(" ", raw)
            if text == " " and (not out or out[-1].endswith(("\n", " "))):
                continue  # whitespace between blocks carries nothing
            out.append(text)
            continue
        if tag in SKIP_TAGS:
            continue
        if tag == "br":
            out.append("\n")
        elif tag in HEADINGS:
            title = " ".join(child.text(separator=" ").split())
            if title:
                _gap(out, 2)
                out.append(f"{'#' * HEADINGS[tag]} {title}")
                _gap(out, 2)
        elif tag in ("ul", "ol"):
            lists.append([0] if tag == "ol" else [-1])
            _gap(out, 1 if len(lists) > 1 else 2)
            _walk(child, out, lists, in_pre)
            lists.pop()
            _gap(out, 1 if lists else 2)
        elif tag == "li":
            marker = "-"
            if lists and lists[-1][0] >= 0:
                lists[-1][0] += 1
                marker = f"{lists[-1][0]}."
            indent = "  " * max(len(lists) - 1, 0)
            _gap(out, 1)
            out.append(f"{indent}{marker} ")
            _walk(child, out, lists, in_pre)
        elif tag in ("td", "th"):
            out.append(" | ")
            _walk(child, out, lists, in_pre)
        elif tag in BLOCK_TAGS:
            gap = 2 if tag in ("p", "section", "article", "blockquote", "table", "pre") else 1
            _gap(out, gap)
            _walk(child, out, lists, in_pre or tag == "pre")
            _gap(out, gap)
        else:
            _walk(child, out, lists, in_pre)


def _gap(out: list[str], newlines: int) -> None:
    """End the output with at least ``newlines`` line breaks (blocks next to each other do not add up)."""
    tail = "".join(out[-4:]).rstrip(" ")
    have = len(tail) - len(tail.rstrip("\n"))
    if out and have < newlines:
        out.append("\n" * (newlines - have))


def _tidy(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" ")) if line.lstrip().startswith(("-", *"0123456789")) else 0
        line = line.strip()
        if line.startswith("|"):
            line = line.strip("| ").strip()
        lines.append(" " * indent + line)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------------------------------------- Markdown

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__|\*|_|~~|`)(?=\S)(.+?)(?<=\S)\1")
_MD_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MD_FRONT = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def markdown_text(md: str) -> str:
    """Markdown without markup noise: links and images become their text, emphasis markers go,
    headings and list markers stay (they are the structure)."""
    md = _MD_FRONT.sub("", md.replace("\r\n", "\n"))
    out = []
    in_code = False
    for line in md.split("\n"):
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            line = _MD_IMAGE.sub(r"\1", line)
            line = _MD_LINK.sub(r"\1", line)
            line = _MD_TAG.sub("", line)
            line = _MD_EMPH.sub(r"\2", line)
            if re.match(r"^\s*\|?\s*:?-{3,}", line):  # table separator row
                continue
            if line.strip().startswith("|"):
                line = " | ".join(c.strip() for c in line.strip().strip("|").split("|"))
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


# ---------------------------------------------------------------------------------------------- PDF


def pdf_text(path: str, max_bytes: int) -> tuple[str | None, str]:
    """Text of a PDF, running headers/footers and page numbers removed; or ``(None, reason)``."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-object warnings are noise here
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
        if not head.strip():
            return None, "empty_file"
        if b"%PDF" not in head:
            return None, "not_a_pdf"
        import os

        if os.path.getsize(path) > max_bytes:
            return None, "record_too_large"
        reader = PdfReader(path)
        if reader.is_encrypted:
            return None, "encrypted_pdf"
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        # pypdf raises a variety of types on damaged files; any of them means this file is unreadable.
        return None, f"unreadable_pdf:{type(exc).__name__}"
    return _clean_pages(pages), "ok"


def _clean_pages(pages: list[str]) -> str:
    split = [[ln.strip() for ln in p.splitlines()] for p in pages]
    # A line on at least half of the pages (and 3+ pages) is a running header or footer.
    counts = Counter(ln for lines in split for ln in set(lines) if ln)
    running = {ln for ln, c in counts.items() if len(pages) >= 3 and c >= max(3, len(pages) // 2)}
    out = []
    for lines in split:
        kept = [ln for ln in lines if ln and ln not in running and not _PAGE_NUMBER.match(ln)]
        out.append(_unwrap(kept))
    text = "\n\n".join(t for t in out if t.strip())
    text = re.sub(r"([A-Za-z])-\n([a-z])", r"\1\2", text)  # re-join words hyphenated at line ends
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_SENTENCE_END = tuple(".。!?！？:：;")
_LIST_START = re.compile(r"^(?:[-•・*]|\(?\d{1,3}[.)]|[①-⑳])\s*")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


def _unwrap(lines: list[str]) -> str:
    """Join lines the PDF wrapped at the page width; keep real line ends (short lines, sentence ends, lists)."""
    if not lines:
        return ""
    width = max(len(ln) for ln in lines)
    out = [lines[0]]
    for ln in lines[1:]:
        prev = out[-1]
        wrapped = len(prev) >= 0.7 * width and not prev.endswith(_SENTENCE_END) and not _LIST_START.match(ln)
        if wrapped:
            joiner = "" if _CJK.match(prev[-1]) and _CJK.match(ln[0]) else " "
            out[-1] = prev + joiner + ln
        else:
            out.append(ln)
    return "\n".join(out)
