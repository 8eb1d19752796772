"""Identifiers found by their label, whatever the kind: "ID label + ID-shaped value", in Japanese and English.

Forms and headers name their identifiers (Accession:, NPI, DL#, 旅券番号, 在留カード, 第…号): a lexicon of
identifier labels, a separator, and a value that looks like an identifier (at least four digits, letters and
dashes allowed) finds the kinds no dedicated recognizer covers. Labels of numbers that are not about a
person (lot, serial, kit, protocol, jRCT, IND, room) are excluded by name. US ZIP codes after a state code
and social-media handles live here too: both are found by their neighbourhood, not their own shape.
"""

from __future__ import annotations

from typing import ClassVar

import regex

from medswallow.pii.recognizers.base import MedPatternRecognizer
from medswallow.pii.recognizers.checksums import dea_ok, luhn_ok
from medswallow.pii.text import digits_only

_EN_ID_LABELS = (
    r"(?i:accession(?:\s?(?:no\.?|number|#))?|acc(?:ession)?\.?\s?#?|specimen(?:\s?(?:no\.?|number|id|#))?|fin|"
    r"npi|(?:rendering|billing|referring)\snpi|dea(?:\s?(?:no\.?|number|#))?|d\.?l\.?\s?#?|(?:[A-Z]{2}\s)?dl|"
    r"driver'?s?\slicen[cs]e(?:\s?(?:no\.?|number|#))?|(?:[A-Z]{2}\s)?lic(?:ense|ence)?\.?\s?(?:no\.?|number|#)?|"
    r"(?:u\.s\.\s)?passport(?:\s?(?:no\.?|number|#))?(?:\s\([A-Za-z ]+\))?|claim(?:\s?(?:no\.?|number|id|#))?|"
    r"auth(?:orization)?(?:\s?(?:no\.?|number|#))?|pa\sapproval\s?#?|(?:me\s)?case(?:\s?(?:no\.?|number|#))?|"
    r"referral\s?#|rx\s?#?|rx\snumber|invoice(?:\s?(?:no\.?|number|#))?|insured'?s\sid\snumber|id\snumber|"
    r"employee\sid|ipledge(?:\sid)?|orcid|case\s(?:id|no\.?)|statement\snumber|member\sid|subscriber\sid|"
    r"medicaid(?:\sid)?|medicare(?:\sid)?|mbi|confirmation(?:\s?(?:no\.?|number|#))?|ticket(?:\s?#)?|"
    r"reference(?:\s?(?:no\.?|number|#))|ref\.?\s?#|residence\scard|certificate(?:\s?(?:no\.?|number|#))|"
    r"(?:surgical\s)?pathology|cytology|id)"
)
_JA_ID_LABELS = (
    r"(?:[\p{Han}\p{Katakana}ー]{0,8}(?:番号|No\.?|ＮＯ|ID)|在留カード|旅券|パスポート|診察券|カルテ|運転免許証?|"
    r"手帳|受給者証|保険証|証券|ORCID|検体|標本|病理|社員証?)"
)
_NOT_PERSONAL = (
    "lot", "serial", "kit", "message", "msg", "protocol", "jrct", "ind ", "ind#", "nct", "ロット", "製造", "シリアル", "キット",
    "試験", "治験", "プロトコル", "部屋", "病室", "室", "型", "品", "版", "jan", "yj", "ndc", "cpt", "icd", "clia",
    "ncpdp", "ein", "fein", "group", "グループ", "保険者", "公費負担者", "医療機関", "事業所", "施設", "機関", "薬局",
    "レセプト", "インシデント", "incident", "complaint", "苦情", "interpreter", "通訳", "study", "subject", "registration",
    "irb", "倫理", "承認", "bin ", "bin#", "pcn", "bed ", "room", "rm ", "gate", "ward", "病棟", "電話", "tel:", "tel ", "tel.", "fax", "phone",
    "郵便", "zip", "内線", "ext",
)
"""Words in a label that make its number not about a person (neutral or a trap: lot, protocol, room...)."""
_SEP = r"\s?(?:[:：#＃]|No\.|no\.)?\s?(?:[:：#]\s?)?(?:第\s?)?"
_VALUE = r"[A-Za-z]{0,4}[-]?[0-9][0-9A-Za-z]*(?:[-.][0-9A-Za-z]+){0,4}"


class LabelledIdRecognizer(MedPatternRecognizer):
    """Any personal or record identifier written after an identifier label (EN and JA lexicons above).

    Spec: label, optional ``:``/``#``/``No.``/``第``, then a value of letters, digits and dashes with at least four
    digits (``S24-03318``, ``PF48120375KA``, ``036-118204``). NPI (Luhn with the 80840 prefix) and DEA (check digit)
    values are reported even without a label. Accuracy: values after a label that names something other than a
    person (lot, kit, protocol, room, group, insurer) are left alone; an unlabelled table column is missed.
    """

    ENTITY = "ID_NUMBER"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("en_label", rf"(?<=(?<![A-Za-z]){_EN_ID_LABELS}{_SEP})(?<![0-9A-Za-z\-]){_VALUE}(?![0-9A-Za-z])", 0.8),
        ("ja_label", rf"(?<={_JA_ID_LABELS}(?:[（(][^）)\n]{{1,6}}[）)])?[^\n\S]?{_SEP}[^\n\S]?)(?<![0-9A-Za-z\-]){_VALUE}(?![0-9A-Za-z])", 0.8),
        ("npi", r"(?<![0-9A-Za-z\-])[12][0-9]{9}(?![0-9A-Za-z\-])", 0.1),
        ("dea", r"(?<![0-9A-Za-z\-])[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}(?![0-9A-Za-z\-])", 0.1),
    ]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = list(_NOT_PERSONAL)
    CONTEXT_WINDOW = (14, 0)

    def rescore(self, match: str, score: float) -> float:
        d = digits_only(match)
        if len(d) < 4 or regex.fullmatch(r"[0-9]+\.[0-9]+-[0-9]+\.[0-9]+", match):  # a reference range
            return 0.0
        if len(match) == 10 and match.isdigit() and luhn_ok("80840" + match):
            return max(score, 0.85)
        if len(match) == 9 and match[:2].isalpha() and dea_ok(match):
            return max(score, 0.85)
        return score if score >= 0.5 else 0.0


class UsZipAfterStateRecognizer(MedPatternRecognizer):
    """A US ZIP or ZIP+4 right after a two-letter state code (``Fayetteville, AR 72703-4418``)."""

    ENTITY = "US_ZIP_CODE"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "after_state",
            r"(?<=(?<![A-Za-z])(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|"
            r"T[NX]|UT|V[TA]|W[AVIY]|PR|GU),?\s)[0-9]{5}(?:-[0-9]{4})?(?![0-9])",
            0.7,  # below a street address that runs on to the ZIP: the address span wins there
        ),
    ]


class SocialHandleRecognizer(MedPatternRecognizer):
    """Social-media handles and LINE IDs (``@kofi_mensah_md``, ``LINE ID mari_oshima0707``): a person's account."""

    ENTITY = "URL"
    LANGUAGE = "any"
    TRIGGER = r"@|(?i:line)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("handle", r"(?<![A-Za-z0-9._%+\-@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28}[A-Za-z0-9_])?(?![A-Za-z0-9_@]|\.[A-Za-z])", 0.75),
        ("line_id", r"(?<=LINE\s?(?:ID)?\s?[:：]?\s?)(?<![A-Za-z0-9_@])[A-Za-z0-9_.\-]{4,30}(?![A-Za-z0-9_@])", 0.4),
    ]
    CONTEXT: ClassVar[list[str]] = ["line"]


GENERIC_RECOGNIZERS: tuple[type[MedPatternRecognizer], ...] = (
    LabelledIdRecognizer,
    UsZipAfterStateRecognizer,
    SocialHandleRecognizer,
)


_CELL_SPLIT = regex.compile(r"\s*\|\s*|[ \t\u3000]{2,}|\t")
_ID_HEADER = regex.compile(r"(?i)^(?:mrn|id|患者id|patient\sid|rx\s?#?|カルテ番号|患者番号|診察券番号|番号|acct\s?#?|account|fin)$")
_NAME_HEADER = regex.compile(r"(?i)^(?:name|patient(?:\sname)?|氏名|患者名|患者氏名|initials|イニシャル|prescriber|staff|physician)$")
_AGE_HEADER = regex.compile(r"(?i)^(?:age|年齢)$")
_ID_CELL = regex.compile(r"[A-Za-z]{0,3}-?[0-9]{5,12}")
_NAME_CELL = regex.compile(r"[\p{L}][\p{L}.,'\- ]{0,30}")
_AGE_CELL = regex.compile(r"(?:9[0-9]|1[01][0-9])")


def _cells(line: str, offset: int) -> list[tuple[int, int]]:
    """(start, end) of each non-empty cell of a table line, split at '|', tabs or runs of two or more spaces."""
    cells, pos = [], 0
    for m in _CELL_SPLIT.finditer(line):
        if m.start() > pos:
            cells.append((offset + pos, offset + m.start()))
        pos = m.end()
    if pos < len(line):
        cells.append((offset + pos, offset + len(line)))
    return cells


def table_column_values(text: str) -> list[tuple[int, int, str]]:
    """Values in the identifier, name and age columns of plain-text tables, found from the header row.

    A header row has three or more cells, one of them an identifier (MRN, ID, Rx#, カルテ番号), name (Name, 氏名,
    Initials) or age (Age, 年齢) heading. Each following row with the same number of cells gives the value
    under that heading when it has the column's shape (digits for identifiers, letters for names, 90 or more
    for ages). Returns (start, end, label) with ``ID_NUMBER``, ``PERSON`` or ``AGE``.
    """
    out: list[tuple[int, int, str]] = []
    lines = text.split("\n")
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    i = 0
    while i < len(lines):
        header = _cells(lines[i], offsets[i])
        kinds: dict[int, str] = {}
        if len(header) >= 3:
            for k, (s, e) in enumerate(header):
                cell = text[s:e].strip()
                if _ID_HEADER.match(cell):
                    kinds[k] = "ID_NUMBER"
                elif _NAME_HEADER.match(cell):
                    kinds[k] = "PERSON"
                elif _AGE_HEADER.match(cell):
                    kinds[k] = "AGE"
        if not kinds:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip():
            row = _cells(lines[j], offsets[j])
            if set(text[s:e] for s, e in row) <= {"-", "—", ":---", "---"} or all(set(text[s:e]) <= set("-:|— ") for s, e in row):
                j += 1  # a markdown rule line
                continue
            if len(row) != len(header):
                break
            for k, label in kinds.items():
                s, e = row[k]
                cell = text[s:e]
                shape = _ID_CELL if label == "ID_NUMBER" else _NAME_CELL if label == "PERSON" else _AGE_CELL
                if shape.fullmatch(cell) and (label != "PERSON" or any(ch.isalpha() for ch in cell)):
                    out.append((s, e, label))
            j += 1
        i = j
    return out
