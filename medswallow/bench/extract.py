"""Reading the answer a model committed to out of its final-channel text, as a careful human grader would.

What counts, in order: the last answer marker that names labels (``答え: b``, ``【答え】b``, ``答：b``,
``**答え**: **b**``, ``答え → b``, ``Answer: (C)``, a ``## 最終回答`` heading); else the last sentence that
commits to labels (``bが正解です``, ``bを選びます``); else a first or last line that is only labels
(``b`` then the reasoning on the next lines; ``a, c（2つ選択）``) or a label with its own choice text
(``e: 川崎病``, ``e) 川崎病``). Negated and hypothetical mentions never count (``答えはaではない``,
``もし答えがaなら``), and a stated alternative (``aまたはb``, ``aかb``) is no answer at all. Full-width
letters and digits, circled digits, ``、`` and markdown are folded first; letters inside words never count
("cardiac" is not c). Only the final channel is read: reasoning is never an answer.
"""

from __future__ import annotations

import re
import unicodedata

# Answer markers, Japanese and English (after NFKC: full-width colons and brackets are folded).
_MARKER = re.compile(
    r"(?:【\s*|\[\s*)?"
    r"(?:最終(?:的な)?(?:回答|解答|答え|結論)|(?<!不)正解|正答|回答|解答|答え|結論"
    r"|final\s+answer|correct\s+answer|answer\b|答(?=\s*[:=]))"
    r"(?:\s*[】\]])?"
    r"\s*(?:は|:|=|is\b|→|⇒|->|=>|として)?\s*(?:[:,、]\s*)?",
    re.IGNORECASE,
)
# Between listed labels; a line break only where the next line is nothing but a label (a bulleted list).
_SEP = r"(?:[ \t]*(?:,|、|・|/|&|と|および|及び|\band\b|[ \t])[ \t]*)"
_OR = re.compile(r"^\s*(?:または|もしくは|あるいは|か|\bor\b)\s*")
_PREFIX = r"(?:選択肢|option|choice)?\s*"
# What may follow a label list and undo it: negation, hypothesis, hedging.
_NEGATED = re.compile(
    r"^\s*[)）]?\s*(?:では(?:ない|なく|ありません|ないです)|じゃない|でない|ではな|は(?:誤り|不正解|間違い|正しくない)"
    r"|が(?:誤り|間違い)|\bis\s+(?:not|incorrect|wrong)\b|\bisn't\b)",
    re.IGNORECASE,
)
_INSTEAD = re.compile(r"^\s*[)）]?\s*(?:ではなく|じゃなく|でなく)[、,\s]*")
_HYPOTHETICAL_AFTER = re.compile(
    r"^\s*[)）]?\s*(?:なら|ならば|だとすると|とすると|だとしたら|であれば|と仮定|の場合|かもしれ|だろうか|でしょうか|\?)"
)
_HYPOTHETICAL_BEFORE = re.compile(r"(?:もし|仮に|\bif\b|\bsuppose\b)[^。.\n]*$", re.IGNORECASE)
# A sentence that commits to labels without a marker: "bが正解です", "以上より b を選びます".
_COMMIT = r"\s*(?:が|を)\s*(?:正解|正答|答え|最も適切|選び|選択|選ぶ)"
_MARKDOWN = re.compile(r"\*\*|__|`|(?m:^\s{0,3}#{1,6}\s*)|(?m:^\s*>\s?)|(?m:^[ \t]*[-*+・•][ \t]+)")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_PAREN_REMARK = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")


class _Ambiguous(Exception):
    """The text names alternatives (``aまたはb``): no answer, whatever else it says."""


def normalise(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation (ｂ -> b, ２ -> 2, ： -> :); circled digits too.

    Markdown emphasis, headings, quotes and ``\\boxed{}`` are dropped: they decorate an answer, not change it.
    """
    t = unicodedata.normalize("NFKC", text or "")
    t = _BOXED.sub(r"\1", t)
    return _MARKDOWN.sub("", t)


def final_channel(text: str) -> str:
    """The final channel of ``text`` when raw harmony markup reached us; the text itself otherwise."""
    if "<|channel|>" not in (text or ""):
        return text or ""
    from medswallow.inference.parse import split_harmony

    split = split_harmony(text)
    return split[1] if split else text


def _label_token(labels: list[str], named: bool = True) -> str:
    """Regex of one label, standing alone (not part of a longer word or number), maybe bracketed."""
    if all(lab.isdigit() for lab in labels):
        core = r"\d+"
        guard_l, guard_r = r"(?<![0-9.])", r"(?![0-9つ個日年歳%]|\.\d)"
    else:
        core = "[A-Za-z]"
        guard_l, guard_r = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9'])"
    group = f"(?P<lab>{core})" if named else f"(?:{core})"
    return rf"[\(\[（【「]?{guard_l}{group}{guard_r}[\)\]）】」]?"


def _as_label(token: str, labels: list[str]) -> str | None:
    if token in labels:
        return token
    for cand in (token.lower(), token.upper()):
        if cand in labels:
            return cand
    return None


def _label_list(segment: str, labels: list[str]) -> tuple[list[str], int] | None:
    """Labels listed at the START of ``segment`` and where the list ends; None if none.

    Raises ``_Ambiguous`` when the list offers alternatives ("aまたはb", "a or b", "aかb").
    """
    tok = _label_token(labels)
    m = re.match(rf"^\s*{_PREFIX}(?:{tok})", segment)
    if not m:
        return None
    found = [m.group("lab")]
    at = m.end()
    alone = _label_token(labels, named=False)  # a next line that is only a label continues the list
    nxt = re.compile(
        rf"^(?:{_SEP}+|[ \t]*,?[ \t]*\n\s*(?=(?:{alone})[ \t]*[,、]?[ \t]*(?:\n|$))){_PREFIX}(?:{tok})"
    )
    alt = re.compile(rf"^{_PREFIX}(?:{tok})")
    while True:
        rest = segment[at:]
        m2 = nxt.match(rest)
        if m2:
            found.append(m2.group("lab"))
            at += m2.end()
            continue
        o = _OR.match(rest)
        other = alt.match(rest[o.end() :]) if o else None
        if other and _as_label(other.group("lab"), labels):
            raise _Ambiguous
        break
    mapped = [_as_label(t, labels) for t in found]
    if any(x is None for x in mapped):
        return None  # e.g. "f" when the labels are a-e: not a valid answer, do not guess
    order = {lab: i for i, lab in enumerate(labels)}
    return sorted({x for x in mapped if x is not None}, key=order.__getitem__), at


def parse_label_list(segment: str, labels: list[str]) -> list[str] | None:
    """Labels listed at the START of ``segment`` (``b,d`` / ``(B)`` / ``2と4``), in label order; None if none."""
    try:
        got = _label_list(segment, labels)
    except _Ambiguous:
        return None
    return got[0] if got else None


def _stated(text: str, start: int, labels: list[str]) -> list[str] | None:
    """The labels stated at ``start`` unless negated or hypothetical ("aではなくb" gives b)."""
    got = _label_list(text[start:], labels)
    if not got:
        return None
    found, end = got
    after = text[start + end :]
    instead = _INSTEAD.match(after)
    if instead:
        return _stated(text, start + end + instead.end(), labels)
    if _NEGATED.match(after) or _HYPOTHETICAL_AFTER.match(after):
        return None
    return found


def _choice_text_label(segment: str, labels: list[str], choices: list[str] | None) -> str | None:
    """The one label whose choice text ``segment`` starts with (``川崎病`` for ``e: 川崎病``), if exactly one."""
    if not choices:
        return None
    line = segment.strip().split("\n")[0].strip().rstrip("。.")
    hits = [lab for lab, c in zip(labels, choices, strict=False) if c and normalise(c).strip() == line]
    return hits[0] if len(hits) == 1 else None


def _line_answer(line: str, labels: list[str], choices: list[str] | None) -> list[str] | None:
    """A line that is only labels (maybe ``です。`` or a remark in brackets after them), or one label with
    its own choice text (``e: 川崎病``, ``e) 川崎病``, ``e. 川崎病``)."""
    for core in (
        line.strip(),
        _PAREN_REMARK.sub("", line.strip()),
    ):  # "(c)" is a label, "（2つ選択）" a remark
        got = _line_labels(re.sub(r"(?:です|である)?\s*[。.]?\s*$", "", core), labels, choices)
        if got:
            return got
    return None


def _line_labels(core: str, labels: list[str], choices: list[str] | None) -> list[str] | None:
    got = _label_list(core, labels)
    if not got:
        return None
    found, end = got
    rest = core[end:]
    if not rest.strip():
        return found
    if len(found) == 1 and choices and re.match(r"^\s*[:.)）]?\s*", rest):
        text = re.sub(r"^\s*[:.)）]?\s*", "", rest)
        if _choice_text_label(text, labels, choices) == found[0]:
            return found
    return None


def extract_choice(text: str, labels: list[str], choices: list[str] | None = None) -> list[str] | None:
    """The labels chosen in ``text``, or None when no answer can be read (or the text hedges between two)."""
    t = normalise(final_channel(text))
    if not t.strip():
        return None
    try:
        return _extract_choice(t, labels, choices)
    except _Ambiguous:
        return None


def _extract_choice(t: str, labels: list[str], choices: list[str] | None) -> list[str] | None:
    # 1. The last answer marker followed by labels that are stated (not negated, not hypothetical).
    for m in reversed(list(_MARKER.finditer(t))):
        if _HYPOTHETICAL_BEFORE.search(t[: m.start()].split("\n")[-1]):
            continue
        got = _stated(t, m.end(), labels)
        if got:
            return got
        by_text = _choice_text_label(t[m.end() :], labels, choices)
        if by_text:
            return [by_text]
    # 2. The last sentence that commits to labels: "bが正解です", "b を選びます".
    tok = _label_token(labels, named=False)
    commit = re.compile(rf"(?:{tok})(?:{_SEP}+(?:{tok}))*(?={_COMMIT})")
    for m in reversed(list(commit.finditer(t))):
        if _HYPOTHETICAL_BEFORE.search(t[: m.start()].split("\n")[-1]):
            continue
        if _NEGATED.match(re.sub(r"^" + _COMMIT, "", t[m.end() :])):
            continue
        listed = _label_list(m.group(), labels)
        if listed and listed[1] == len(m.group()):
            return listed[0]
    # 3. The last line, else the first, is the answer by itself (the reasons may follow it).
    lines = [ln for ln in t.splitlines() if ln.strip()]
    for line in (lines[-1], lines[0]) if lines else ():
        got = _line_answer(line, labels, choices)
        if got:
            return got
    return None


def _thousands(t: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", t)


def extract_number(text: str) -> list[str] | None:
    """A numeric-entry answer (IgakuQA items without choices), units allowed after it (``26 Torr``,
    ``1,130 kcal``, ``２．１g/日``): after the last marker, else a line that is a number, else ``= number``
    ending the last line. ``約26`` (an approximation) is no answer."""
    t = _thousands(normalise(final_channel(text)))
    for m in reversed(list(_MARKER.finditer(t))):
        if _HYPOTHETICAL_BEFORE.search(t[: m.start()].split("\n")[-1]):
            continue
        num = re.match(r"\s*(-?\d+(?:\.\d+)?)(?![\d.])", t[m.end() :])
        if num and not _NEGATED.match(t[m.end() + num.end() :]):
            return [canonical_number(num.group(1))]
    lines = [ln.strip() for ln in t.splitlines() if ln.strip()]
    unit = r"\s*(?:[A-Za-z%/]+(?:/[^\s。.]+)?|[^\s\d。.]{1,4})?\s*(?:です)?\s*[。.]?\s*"
    for line in (lines[-1], lines[0]) if lines else ():
        bare = re.fullmatch(rf"(-?\d+(?:\.\d+)?){unit}", line)
        if bare:
            return [canonical_number(bare.group(1))]
    if lines:
        eq = re.search(rf"=\s*(-?\d+(?:\.\d+)?){unit}$", lines[-1])
        if eq:
            return [canonical_number(eq.group(1))]
    return None


def canonical_number(s: str) -> str:
    """``26.0`` -> ``26``, ``0.40`` -> ``0.4``: numbers compared by value."""
    f = float(s)
    return str(int(f)) if f.is_integer() else repr(f)


def extract_answer(text: str, labels: list[str], choices: list[str] | None = None) -> list[str] | None:
    """Dispatch: label list for choice items (``choices`` lets ``e: 川崎病`` count), a number otherwise."""
    return extract_choice(text, labels, choices) if labels else extract_number(text)
