"""Reading the chosen answer out of a model's final-channel text.

Robust to what real outputs look like: full-width letters and digits (ｂ, ２), Japanese separators
(``b、d``, ``2と4``), answer markers in Japanese or English (``答え: b,d``, ``回答：B``, ``Answer: (c)``),
repeated markers (the last one that names labels wins) and bare label lists (``b,d``). Letters inside
words never count: "cardiac" is not an answer of c, "a drug" is not an answer of a.
Only the final channel is ever passed here; reasoning text is not an answer.
"""

from __future__ import annotations

import re
import unicodedata

# Answer markers, Japanese and English; the last one in the text wins.
_MARKER = re.compile(
    r"(?:最終(?:的な)?(?:回答|解答|答え)|正解|回答|解答|答え|answer|final answer|correct answer)"
    r"\s*(?:は|:|：|=|is)?\s*",
    re.IGNORECASE,
)
_SEP = r"(?:\s*(?:,|、|，|・|/|&|と|および|及び|\band\b|\s)\s*)"
_PREFIX = r"(?:選択肢|option|choice)?\s*"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _label_token(labels: list[str], named: bool = True) -> str:
    """Regex of one label, standing alone (not part of a longer word or number), maybe bracketed."""
    if all(lab.isdigit() for lab in labels):
        core = r"\d+"
        guard_l, guard_r = r"(?<![0-9.])", r"(?![0-9]|\.\d)"
    else:
        core = "[A-Za-z]"
        guard_l, guard_r = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    group = f"(?P<lab>{core})" if named else f"(?:{core})"
    return rf"[\(\[（【「]?{guard_l}{group}{guard_r}[\)\]）】」]?"


def normalise(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation (ｂ -> b, ２ -> 2, ： -> :); circled digits too."""
    return unicodedata.normalize("NFKC", text or "")


def _as_label(token: str, labels: list[str]) -> str | None:
    if token in labels:
        return token
    for cand in (token.lower(), token.upper()):
        if cand in labels:
            return cand
    return None


def parse_label_list(segment: str, labels: list[str]) -> list[str] | None:
    """Labels listed at the START of ``segment`` (``b,d`` / ``(B)`` / ``2と4``), in label order; None if none."""
    tok = _label_token(labels)
    head = re.compile(rf"^\s*{_PREFIX}(?:{tok})")
    m = head.match(segment)
    if not m:
        return None
    found = [m.group("lab")]
    rest = segment[m.end() :]
    nxt = re.compile(rf"^{_SEP}+{_PREFIX}(?:{tok})")
    while True:
        m2 = nxt.match(rest)
        if not m2:
            break
        found.append(m2.group("lab"))
        rest = rest[m2.end() :]
    mapped = [_as_label(t, labels) for t in found]
    if any(x is None for x in mapped):
        return None  # e.g. "f" when the labels are a-e: not a valid answer, do not guess
    order = {lab: i for i, lab in enumerate(labels)}
    return sorted({x for x in mapped if x is not None}, key=order.__getitem__)


def _only_labels(text: str, labels: list[str]) -> list[str] | None:
    """The whole text is a label list (maybe with a trailing 。/. and "です")."""
    core = re.sub(r"(?:です|である)?\s*[。.]?\s*$", "", text.strip())
    got = parse_label_list(core, labels)
    if got is None:
        return None
    tok = _label_token(labels, named=False)
    whole = re.compile(rf"^\s*{_PREFIX}(?:{tok})(?:{_SEP}+{_PREFIX}(?:{tok}))*\s*$")
    return got if whole.match(core) else None


def extract_choice(text: str, labels: list[str]) -> list[str] | None:
    """The labels chosen in ``text``, or None when no answer can be read."""
    t = normalise(text)
    if not t.strip():
        return None
    # 1. The last answer marker that is followed by a label list.
    for m in reversed(list(_MARKER.finditer(t))):
        got = parse_label_list(t[m.end() :], labels)
        if got:
            return got
    # 2. The whole output, or its last non-empty line, is a bare label list.
    got = _only_labels(t, labels)
    if got:
        return got
    lines = [ln for ln in t.splitlines() if ln.strip()]
    if lines:
        return _only_labels(lines[-1], labels)
    return None


def extract_number(text: str) -> list[str] | None:
    """A numeric-entry answer (IgakuQA items without choices): after the last marker, else a bare number."""
    t = normalise(text).replace(",", "")
    for m in reversed(list(_MARKER.finditer(t))):
        num = _NUMBER.match(t[m.end() :].strip())
        if num:
            return [_canonical_number(num.group())]
    bare = t.strip().rstrip("。.")
    if _NUMBER.fullmatch(bare):
        return [_canonical_number(bare)]
    return None


def _canonical_number(s: str) -> str:
    f = float(s)
    return str(int(f)) if f.is_integer() else repr(f)


def extract_answer(text: str, labels: list[str]) -> list[str] | None:
    """Dispatch: label list for choice items, a number for items without choices."""
    return extract_choice(text, labels) if labels else extract_number(text)
