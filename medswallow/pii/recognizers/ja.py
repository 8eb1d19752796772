"""Japanese identifiers Presidio lacks: phones, 〒, My Number, insurance and record numbers, dates, ages, addresses.

Every pattern runs on width-folded text (０３－１２３４ reads as 03-1234) and uses explicit lookarounds instead
of ``\\b``: ``\\b`` sees no boundary between kana/kanji and digits, so ``電話03-1234-5678`` would be missed.
"""

from __future__ import annotations

from typing import ClassVar

from medswallow.pii.recognizers.base import MedPatternRecognizer
from medswallow.pii.recognizers.checksums import luhn_ok, my_number_ok
from medswallow.pii.text import digits_only

_NB = r"(?:(?<![0-9A-Za-z+\-.])|(?<=TEL|Tel|tel|FAX|Fax|fax|PHS))"  # no digit/letter/+ glued before (TEL03-...: yes)
_NA = r"(?![0-9]|-[0-9])"  # no digit glued after
_EXT = r"(?:\s?[(]?\s?(?:内線|内|ext\.?|Ext\.?|EXT\.?)\s?[0-9]{1,5}[)]?)?"
_SEP = r"\s?[:#]?\s?"
_KNUM = "〇一二三四五六七八九十"


class JpPhoneRecognizer(MedPatternRecognizer):
    """Japanese telephone and fax numbers.

    Spec: domestic numbers start with 0 and have 10 digits (fixed lines: area code 2-5 digits, e.g. 03-1234-5678,
    0120-123-456) or 11 digits (mobile/IP: 090/080/070/050-1234-5678). Written with hyphens, spaces,
    parentheses (03(1234)5678, (03)1234-5678), full-width digits, the long-vowel mark as a dash, or +81 with the
    leading 0 dropped. An extension (内線123, ext. 12) next to the number is part of the span.
    Accuracy: separated forms are reported on their own (digit count is checked); an unseparated 10-11 digit
    run needs a context word (電話, TEL, 連絡先...), since record numbers look the same.
    """

    ENTITY = "PHONE_NUMBER"
    LANGUAGE = "ja"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("separated", _NB + r"0[0-9]{1,4}[-ー\s][0-9]{1,4}[-ー\s][0-9]{3,4}" + _NA + _EXT, 0.7),
        ("parenthesised", _NB + r"(?:\(0[0-9]{1,4}\)\s?[0-9]{1,4}[-ー]?[0-9]{4}|0[0-9]{1,4}\([0-9]{1,4}\)[0-9]{4})" + _NA + _EXT, 0.7),
        ("international", r"(?<![0-9A-Za-z])\+81[-\s]?(?:\(0\))?[0-9]{1,4}[-\s]?[0-9]{1,4}[-\s]?[0-9]{3,4}" + _NA + _EXT, 0.8),
        ("mobile_contiguous", _NB + r"0[789]0[0-9]{8}" + _NA, 0.6),
        ("contiguous", _NB + r"0[0-9]{9,10}" + _NA + _EXT, 0.3),
        ("extension", r"(?<=(?:内線|ext\.?|Ext\.?|EXT\.?|extension)\s?)[0-9]{2,5}(?![0-9])", 0.7),
        ("local_seven", r"(?<=(?i:ph|phone|tel|cell|home\sphone|call)\.?:?\s)[0-9]{3}[-\s][0-9]{4}(?![0-9])", 0.7),
    ]
    CONTEXT: ClassVar[list[str]] = ["電話", "tel", "携帯", "連絡先", "自宅", "fax", "ファックス", "ファクス", "phone", "内線"]

    def validate_result(self, pattern_text: str) -> bool | None:
        core = pattern_text
        for mark in ("内線", "内", "ext", "Ext", "EXT"):
            if mark in core:
                core = core.split(mark)[0]
        d = digits_only(core)
        if len(d) <= 5 or (len(d) == 7 and not d.startswith("0")):
            return None  # an extension alone, or a 7-digit local number after a phone label
        if d.startswith("81") and "+" in core:
            return None if len(d) in (11, 12) else False
        return None if len(d) in (10, 11) and d.startswith("0") else False


class JpPostalCodeRecognizer(MedPatternRecognizer):
    """Japanese postal code (郵便番号): 3 digits, hyphen, 4 digits.

    Spec: written after 〒 (the mark is part of the span) or after the label 郵便番号; the hyphen may be
    missing. A bare 123-4567 is not reported (too many other numbers look the same).
    """

    ENTITY = "JP_POSTAL_CODE"
    LANGUAGE = "ja"
    TRIGGER = r"〒|郵便番号"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("mark", r"〒\s?[0-9]{3}-?[0-9]{4}" + _NA, 0.9),
        ("label", r"(?<=郵便番号" + _SEP + r")[0-9]{3}-?[0-9]{4}" + _NA, 0.85),
    ]
    CONTEXT: ClassVar[list[str]] = ["〒", "郵便番号", "住所"]


class JpMyNumberRecognizer(MedPatternRecognizer):
    """Individual Number (マイナンバー / 個人番号).

    Spec: 12 digits, optionally grouped 4-4-4 by spaces or hyphens; the 12th is a check digit (see
    ``checksums.my_number_ok``). Accuracy: a valid check digit alone is reported (1 in 11 random 12-digit
    numbers passes, so lot or accession numbers of exactly 12 digits can be hit); a failing check digit is
    reported only next to マイナンバー / 個人番号.
    """

    ENTITY = "JP_MY_NUMBER"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("twelve_digits", r"(?<![0-9\-])[0-9]{4}[-\s]?[0-9]{4}[-\s]?[0-9]{4}(?![0-9]|-[0-9])", 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = ["マイナンバー", "個人番号", "my number", "individual number"]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = ["lot", "ロット", "jan", "検体番号"]
    CONTEXT_WINDOW = (16, 0)

    def rescore(self, match: str, score: float) -> float:
        return 0.85 if my_number_ok(match) else score


class JpInsuranceNumberRecognizer(MedPatternRecognizer):
    """Health-insurance identifiers: 保険者番号, 被保険者証の記号・番号, 被保険者番号, 公費負担者番号, 受給者番号.

    Spec: 保険者番号 is 8 digits (6 for 国民健康保険) whose last digit is a Luhn check digit; 記号 is up to
    ~10 characters (digits, sometimes a kanji/kana prefix), 番号 up to ~10 digits; 公費負担者番号 8 digits,
    受給者番号 7 digits. All are reported only after their label: the label is what makes them identifiers.
    The value alone is the span (the label stays readable). A failing Luhn digit lowers but keeps the score.
    """

    ENTITY = "JP_INSURANCE_NUMBER"
    LANGUAGE = "any"
    TRIGGER = r"保険者|記号|受給者|公費|枝番|保険証"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("insurer", r"(?<=保険者番号" + _SEP + r")[0-9]{6}(?:[0-9]{2})?" + _NA, 0.75),
        (
            "symbol_number",
            r"(?<=記号\s?[・･/]\s?番号" + _SEP + r")(?:[\p{Han}\p{Hiragana}\p{Katakana}]{1,4}\s?)?[0-9A-Za-z\-]{1,12}\s?[・･/,、]\s?[0-9\-]{1,12}" + _NA,
            0.85,
        ),
        ("symbol", r"(?<=記号" + _SEP + r")(?:[\p{Han}\p{Hiragana}\p{Katakana}]{1,4}\s?)?[0-9A-Za-z][0-9A-Za-z\-]{0,11}" + _NA, 0.85),
        ("number", r"(?<=記号[^\n]{1,30}?[\s、,・]番号" + _SEP + r")[0-9][0-9\-]{0,11}" + _NA, 0.85),
        (
            "insured_number",
            r"(?<=(?:被保険者番号|被保険者証番号|保険証番号|公費負担者番号|受給者番号|枝番)" + _SEP + r")[0-9A-Za-z][0-9A-Za-z\-]{0,13}" + _NA,
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["保険", "被保険者", "記号", "番号"]

    def rescore(self, match: str, score: float) -> float:
        d = digits_only(match)
        if len(d) in (6, 8) and d == match.strip() and luhn_ok(d):
            return max(score, 0.95)
        return score


class JpMedicalRecordNumberRecognizer(MedPatternRecognizer):
    """Patient identifiers of a hospital: 患者ID, 患者番号, カルテ番号/カルテNo, 診察券番号, ID.

    Spec: a label, then an alphanumeric value of 4-16 characters with at least one digit (hyphens allowed).
    Only labelled values are reported: without the label they are indistinguishable from lab codes.
    """

    ENTITY = "MEDICAL_RECORD_NUMBER"
    LANGUAGE = "any"
    TRIGGER = r"ID|患者番号|カルテ|診察券|病歴番号|登録番号|受付番号"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "labelled",
            r"(?<=(?:患者\s?ID|患者番号|カルテ\s?(?:番号|No\.?|ID)|診察券\s?(?:番号|No\.?)|ID\s?No\.?|(?<![A-Za-z]|,\s)ID|病歴番号|登録番号|受付番号)"
            + _SEP
            + r")[A-Za-z]{0,3}-?[0-9][0-9A-Za-z\-]{2,15}"
            + _NA,
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["患者", "カルテ", "診察券", "id"]


_ERA = r"(?:令和|平成|昭和|大正|明治)"
_N12 = rf"(?:[0-9]{{1,2}}|[{_KNUM}]{{1,3}})"
_ERA_Y = rf"(?:元|[0-9]{{1,2}}|[{_KNUM}]{{1,3}})"
_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"

DATE_CONTEXT = [
    "生年月日", "生まれ", "生", "誕生", "入院", "退院", "転院", "手術", "術", "死亡", "永眠", "逝去", "受診", "来院",
    "初診", "再診", "外来", "予約", "次回", "発症", "検査日", "採血", "記載日", "紹介日", "処方日", "日付",
    "dob", "d.o.b", "born", "birth", "admitted", "admission", "discharged", "discharge", "surgery", "operation",
    "died", "death", "expired", "visit", "seen", "appointment", "follow-up", "onset", "date",
]
"""Words that tie a date to a person (birth, admission, surgery, discharge, death, visit)."""

DATE_NEGATIVE = [
    "使用期限", "有効期限", "期限", "lot", "ロット", "exp", "製造", "改訂", "改定", "発売", "承認", "公開",
    "accessed", "published", "revised", "updated", "version", "ver.", "校正", "点検", "保守", "記入例", "例：",
    "amendment", "approved", "dated", "edition", "effective", "irb", "calibrat", "作成日", "施行日", "版 ", "(v", "（v",
]
"""Words before a date that make it not about a person (lot expiry, publication, revision of a guideline)."""

DATE_NEGATIVE_AFTER = ["版", "改訂", "改定", "発行", "公開", "発売", "作成", "edition", "version", "guideline"]
"""Words right after a date that make it a document's date (2019年3月版, 2021年改訂)."""


def valid_month_day(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _kanji_int(text: str) -> int | None:
    digits = {c: i for i, c in enumerate("〇一二三四五六七八九")}
    if text.isdigit():
        return int(text)
    if text == "元":
        return 1
    if all(c in digits for c in text):
        return int("".join(str(digits[c]) for c in text))
    total, cur = 0, 0
    for c in text:
        if c == "十":
            total += (cur or 1) * 10
            cur = 0
        elif c in digits:
            cur = digits[c]
        else:
            return None
    return total + cur


class JpDateRecognizer(MedPatternRecognizer):
    """Calendar dates in Japanese and numeric forms (the dates HIPAA asks to remove when tied to a person).

    Spec: era dates 令和5年3月2日 / 昭和五十五年四月一日 / 令和元年, era initials R5.3.2 / H30/4/1 / S55.4.1,
    western 2023年3月2日 / 2023/03/02 / 2023-3-2 / 2023.3.2, month-day 3月2日. Full dates are reported on
    their own; year-month (2023年3月) needs a context word (入院, 生年月日...). A date next to
    使用期限 / Lot / 改訂 / 版 is not about a person and is never reported. Month and day are range-checked.
    """

    ENTITY = "DATE_TIME"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("era_full", rf"{_ERA}\s?{_ERA_Y}\s?年\s?{_N12}\s?月\s?{_N12}\s?日", 0.6),
        ("era_initial", r"(?<![0-9A-Za-z])[RHSTrhst]\s?(?:元|[0-9]{1,2})[./\-年][0-9]{1,2}[./\-月][0-9]{1,2}日?(?![0-9]|[./\-][0-9])", 0.6),
        ("western_kanji", r"(?<![0-9])(?:19|20)[0-9]{2}\s?年\s?[0-9]{1,2}\s?月\s?[0-9]{1,2}\s?日", 0.6),
        ("western_numeric", r"(?<![0-9./\-])(?:19|20)[0-9]{2}[/.\-][0-9]{1,2}[/.\-][0-9]{1,2}(?![0-9]|[./\-][0-9])", 0.6),
        ("era_year_month", rf"{_ERA}\s?{_ERA_Y}\s?年\s?{_N12}\s?月(?!\s?{_N12}\s?日|[上中下]旬|頃)", 0.55),
        ("western_year_month", r"(?<![0-9])(?:19|20)[0-9]{2}\s?年\s?[0-9]{1,2}\s?月(?!\s?[0-9]{1,2}\s?日|[上中下]旬)", 0.55),
        ("month_day", r"(?<![0-9/.\-])(?<![0-9]\s?年\s?)[0-9]{1,2}\s?月\s?[0-9]{1,2}\s?日", 0.55),
    ]
    CONTEXT = DATE_CONTEXT
    NEGATIVE_CONTEXT = DATE_NEGATIVE
    NEGATIVE_AFTER = DATE_NEGATIVE_AFTER
    CONTEXT_WINDOW = (14, 6)

    def validate_result(self, pattern_text: str) -> bool | None:
        import regex

        nums = regex.findall(rf"[0-9]+|元|[{_KNUM}]+", pattern_text)
        values = [_kanji_int(n) for n in nums]
        if any(v is None for v in values):
            return False
        if len(values) >= 3:
            month, day = values[-2], values[-1]
        elif len(values) == 2 and "月" in pattern_text and "日" in pattern_text and "年" not in pattern_text:
            month, day = values[0], values[1]
        else:
            month, day = values[-1], 1
        assert month is not None and day is not None
        return None if valid_month_day(month, day) else False


class JpShortDateRecognizer(MedPatternRecognizer):
    """Month/day written with a slash (7/31夕より, RTC 6/11, 次回 8/5), in any language.

    Spec: ``M/D`` with a valid month and day. It collides with doses (3/4錠, 8/2 mg), scores (NRS 6/10, Apgar
    8/9, grade 2/6), vertebrae (L4/5) and ratios (70/30: no month 70): a unit or count word right after, a score
    word just before, or a letter or digit glued on either side vetoes it.
    """

    ENTITY = "DATE_TIME"
    LANGUAGE = "any"
    TRIGGER = r"[0-9]/[0-9]"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("slash_month_day", r"(?<![0-9A-Za-z/.+])(?<![0-9]-)(?:1[0-2]|0?[1-9])/(?:3[01]|[12][0-9]|0?[1-9])(?![0-9/]|\.[0-9]|,[0-9]|\s?(?:mg|mL|ml|mcg|μg|units?|cm|mm|kg|cores?)\b|錠|量|本|包|枚|回|例|名|人|点|倍|セット)", 0.55),
        ("range_end", r"(?<=(?:1[0-2]|0?[1-9])/(?:3[01]|[12][0-9]|0?[1-9])\s?[-〜~～]\s?)(?:1[0-2]|0?[1-9])/(?:3[01]|[12][0-9]|0?[1-9])(?![0-9/]|\.[0-9])", 0.55),
    ]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = [
        *DATE_NEGATIVE, "grade", "nrs", "vas", "apgar", "mini-cog", "mmt", "score", "スコア", "bp ", "血圧", "ecog", "gcs",
        "視力", "ratio", "比", "n1", "n2", "リンパ節", "上肢", "下肢", "セット", "tlc", "murmur", "雑音", "分画", "pain",
        "adl", "ehl", "katz", "lawton", "reassessed", "mmse", "moca", "strength", "power", "mrc", "cms-1500", "パネル",
    ]
    NEGATIVE_AFTER: ClassVar[list[str]] = [
        *DATE_NEGATIVE_AFTER, "単位", "%", "of ", "x", "×", "g ", "l ", "iu", "cap", "tab", "puff", "dose", ",0",
    ]
    CONTEXT_WINDOW = (10, 5)


class JpAgeRecognizer(MedPatternRecognizer):
    """Ages over 89 (90歳, 満92歳, 90歳代, 年齢: 93), which HIPAA's safe harbour removes; younger ages stay."""

    ENTITY = "AGE"
    LANGUAGE = "any"
    TRIGGER = r"歳|才|年齢"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("years", r"(?<![0-9.±])(?:9[0-9]|1[0-2][0-9])\s?(?:歳|才)(?!代|以上|超|未満|～|〜)", 0.85),
        ("kanji_years", r"(?<![〇一二三四五六七八九十百])(?:九十[一二三四五六七八九]?|百[一二三四五六七八九十]*)\s?(?:歳|才)(?!代|以上)", 0.85),
        ("label", r"(?<=年齢" + _SEP + r")(?:9[0-9]|1[0-2][0-9])(?![0-9.])", 0.85),
    ]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = ["平均", "mean", "目安", "以上の", "≥", ">"]
    CONTEXT_WINDOW = (6, 0)


_PREF = r"(?:東京都|北海道|(?:京都|大阪)府|\p{Han}{2,3}県)"
_MUNI = r"(?:\p{Han}{1,5}(?:市|区|郡|町|村)){1,3}"
_KANA_MUNI = r"(?:[\p{Hiragana}\p{Katakana}ー]{2,6}(?:市|町|村))"
_NUM = rf"(?:[0-9]+|[{_KNUM}]+)"
_STREET = (
    rf"[\p{{Han}}\p{{Katakana}}ー]{{0,8}}?(?:大字|字)?[\p{{Han}}\p{{Katakana}}ー]{{0,6}}?(?:{_NUM}条[\p{{Han}}]{{0,2}})?\s?"
    rf"{_NUM}\s?(?:丁目|番地?|号|-|の)(?:\s?{_NUM}\s?(?:丁目|番地?|号|-|の)?){{0,3}}"
)
_BUILDING = (
    r"(?:\s?[\p{Han}\p{Katakana}\p{Hiragana}ーA-Za-z]{1,14}?\s?(?:[0-9]{1,4}\s?号室|[0-9]{1,4}(?=[\s、。,.)）\p{Hiragana}]|$)|[A-Z]?-?[0-9]{1,4}号室))?"
)
# An address starts after a label or at a word start (never inside a kanji/katakana word such as 病院名).
_ADDR_LABEL = r"(?:(?<=住所|現住所|自宅|居住地|在住|住まい|所在地|連絡先|送付先)|(?<![\p{Han}\p{Katakana}ー々]))"


class JpAddressRecognizer(MedPatternRecognizer):
    """Postal addresses below the prefecture level (the prefecture is included in the span when written).

    Spec: [都道府県] + 市区町村 (up to three levels: 横浜市港北区) + 町名/大字 + 丁目・番地・号 in arabic or kanji
    numerals or hyphens (西新宿二丁目8番1号, 本町1-2-3) + optional building and room (〇〇ハイツ203号室).
    A municipality on its own is reported only with 在住/住所/自宅 next to it. The span starts after a
    label, space or punctuation so words before the address are never swallowed.
    """

    ENTITY = "LOCATION"
    LANGUAGE = "ja"
    TRIGGER = r"[市区郡町村]"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("street", rf"{_ADDR_LABEL}(?:{_PREF}?\s?{_MUNI}|{_PREF}\s?{_KANA_MUNI})\s?{_STREET}{_BUILDING}", 0.75),
        ("municipality", rf"{_ADDR_LABEL}{_PREF}?\s?(?:{_MUNI}|{_KANA_MUNI})(?=在住|に住|在|へ転居|から転居)", 0.6),
        ("labelled_municipality", r"(?<=(?:住所|現住所|居住地|出身地?|実家)" + _SEP + rf"){_PREF}?\s?(?:{_MUNI}|{_KANA_MUNI})", 0.6),
        # a city or ward on its own: in brackets, after a prefecture, or before 在住/に/へ/出身 (川越市, 岐阜県多治見市)
        (
            "bare_municipality",
            rf"(?:(?<={_PREF})|(?<=[（(、\s]))(?:{_MUNI}|{_KANA_MUNI})(?![\p{{Han}}])(?=[）)、。\s]|に|へ|で|から|出身|在住|の実家|$)",
            0.6,
        ),
        # a building and room after a space, following a street number (豊橋市花田町 12-5 コーポ花田 203)
        (
            "building",
            r"(?<=[0-9](?:号|番地?)?[ ]{1,2})(?![\p{Han}]*番号)[\p{Han}\p{Katakana}ー\p{Hiragana}][\p{Han}\p{Katakana}ー\p{Hiragana}A-Za-z]{1,13}\s?[0-9]{1,4}(?:\s?(?:号室|F|階))?(?:[0-9]{1,4}号室)?(?=[\s、。)）(（]|$)",
            0.7,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["住所", "自宅", "在住", "居住", "〒"]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = ["病室", "病棟"]
    CONTEXT_WINDOW = (6, 0)


JA_RECOGNIZERS: tuple[type[MedPatternRecognizer], ...] = (
    JpPhoneRecognizer,
    JpPostalCodeRecognizer,
    JpMyNumberRecognizer,
    JpInsuranceNumberRecognizer,
    JpMedicalRecordNumberRecognizer,
    JpDateRecognizer,
    JpShortDateRecognizer,
    JpAgeRecognizer,
    JpAddressRecognizer,
)
