"""English (US-style) identifiers: phones, SSN, record and member numbers, dates, ages, street addresses, ZIP."""

from __future__ import annotations

from typing import ClassVar

from medswallow.pii.recognizers.base import MedPatternRecognizer
from medswallow.pii.recognizers.ja import (
    _MONTHS,
    DATE_CONTEXT,
    DATE_NEGATIVE,
    DATE_NEGATIVE_AFTER,
    valid_month_day,
)
from medswallow.pii.text import digits_only

_SEP = r"(?:\s?[:#=]\s?|\s(?:is|was|of|number)\s(?:[:#]\s?)?|\s)"
_EXT = r"(?:\s?(?:ext\.?|x|extension)\s?[0-9]{1,5})?"


class UsPhoneRecognizer(MedPatternRecognizer):
    """North American phone and fax numbers: (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567.

    Spec: 3-digit area code (first digit 2-9), 3-digit exchange, 4-digit line, optional extension.
    Accuracy: unseparated 10-digit runs are not reported (record numbers look the same).
    """

    ENTITY = "PHONE_NUMBER"
    LANGUAGE = "en"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "nanp",
            r"(?<![0-9A-Za-z\-.])(?:\+?1[-.\s]?)?(?:\([2-9][0-9]{2}\)\s?|[2-9][0-9]{2}[-.\s])[0-9]{3}[-.\s][0-9]{4}(?![0-9]|-[0-9])"
            + _EXT,
            0.7,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["phone", "tel", "cell", "mobile", "fax", "call", "contact", "pager"]


class SocialSecurityNumberRecognizer(MedPatternRecognizer):
    """US Social Security number: AAA-GG-SSSS (or 9 digits after an SSN label).

    Spec (SSA): area 001-899 except 666, group 01-99, serial 0001-9999; numbers of one repeated digit are
    invalid. Hyphenated numbers are reported on their own; a bare 9-digit run needs the SSN label.
    """

    ENTITY = "US_SSN"
    LANGUAGE = "any"
    TRIGGER = r"[0-9]{3}-[0-9]{2}-[0-9]{4}|(?i:ssn|social security)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("hyphenated", r"(?<![0-9\-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9]|-[0-9])", 0.6),
        ("labelled", r"(?<=(?i:ssn|social security(?: number| no\.?| #)?)" + _SEP + r")[0-9]{9}(?![0-9])", 0.85),
    ]
    CONTEXT: ClassVar[list[str]] = ["ssn", "social security"]

    def validate_result(self, pattern_text: str) -> bool | None:
        d = digits_only(pattern_text)
        if len(d) != 9 or len(set(d)) == 1:
            return False
        area, group, serial = d[:3], d[3:5], d[5:]
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            return False
        return None


class EnMedicalRecordNumberRecognizer(MedPatternRecognizer):
    """Medical record, account, encounter and chart numbers written after their label (MRN: 00123456)."""

    ENTITY = "MEDICAL_RECORD_NUMBER"
    LANGUAGE = "any"
    TRIGGER = r"(?i:mrn|record|patient id|pt id|acc(?:oun)?t|encounter|chart|hospital|visit)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "labelled",
            r"(?<=(?i:MRN|medical record(?: number| no\.?| #)?|med\.? rec(?:ord)?\.? #?|record #|patient id|pt id|"
            r"account(?: number| no\.?| #)?|acct\.?(?: #| no\.?)?|encounter(?: id| number| no\.?| #)?|"
            r"chart(?: number| no\.?| #)?|hospital (?:number|no\.?|#)|visit (?:id|number|#))"
            + _SEP
            + r")[A-Za-z]{0,3}-?[0-9][0-9A-Za-z\-]{3,15}(?![0-9A-Za-z])",
            0.85,
        ),
    ]


class HealthPlanIdRecognizer(MedPatternRecognizer):
    """Health plan beneficiary numbers: member/subscriber/policy/group IDs, Medicare MBI, Medicaid IDs."""

    ENTITY = "HEALTH_PLAN_ID"
    LANGUAGE = "any"
    TRIGGER = r"(?i:member|subscriber|policy|group|medicaid|medicare|mbi|insurance|plan id|beneficiary)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "labelled",
            r"(?<=(?i:member(?: id| number| no\.?| #)|subscriber(?: id| number| #)|policy(?: id| number| no\.?| #)?|"
            r"group(?: id| number| no\.?| #)|medicaid(?: id| number| #)?|medicare(?: id| number| #)?|mbi|"
            r"insurance(?: id| number| no\.?| #)|plan id|beneficiary(?: id| number)?)"
            + _SEP
            + r")[A-Z0-9][A-Z0-9\-]{4,19}(?![0-9A-Za-z])",
            0.9,  # above the generic 'ID' label of record numbers: 'Member ID' is a plan ID
        ),
    ]


class EnDateRecognizer(MedPatternRecognizer):
    """Dates in English forms: March 2, 2023 / 2 Mar 2023 / 03/02/2023 / 3-2-23, and month-day with context.

    Spec: month names or numeric M/D/Y (also D/M/Y: one of the first two fields must be a month). Full dates
    are reported on their own, month-day and month-year only next to a context word (DOB, admitted...);
    dates next to Lot/Exp/published/revised are never reported. Years alone are kept (HIPAA allows them).
    """

    ENTITY = "DATE_TIME"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("month_name_day_year", rf"(?<![A-Za-z]){_MONTHS}\.?\s[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s(?:19|20)[0-9]{{2}}(?![0-9])", 0.6),
        ("day_month_name_year", rf"(?<![0-9A-Za-z])[0-9]{{1,2}}(?:st|nd|rd|th)?\s{_MONTHS}\.?,?\s(?:19|20)[0-9]{{2}}(?![0-9])", 0.6),
        ("numeric_mdy", r"(?<![0-9/.\-])[0-9]{1,2}/[0-9]{1,2}/(?:19|20)?[0-9]{2}(?![0-9]|[/\-][0-9])", 0.6),
        ("numeric_mdy_dash", r"(?<![0-9/.\-])[0-9]{1,2}-[0-9]{1,2}-(?:19|20)[0-9]{2}(?![0-9]|[/\-][0-9])", 0.6),
        ("day_mon_year", rf"(?<![0-9A-Za-z])[0-9]{{1,2}}[\-\s](?i:{_MONTHS})[\-\s](?:19|20)?[0-9]{{2}}(?![0-9])", 0.6),
        ("month_name_day", rf"(?<![A-Za-z]){_MONTHS}\.?\s[0-9]{{1,2}}(?:st|nd|rd|th)?(?![0-9]|,\s?(?:19|20)[0-9]{{2}}|\s?(?:mg|mL|units|%))", 0.55),
        ("day_month_name", rf"(?<![0-9A-Za-z.,])[0-9]{{1,2}}\s{_MONTHS}(?![A-Za-z]|\.?,?\s(?:19|20)[0-9]{{2}})", 0.55),
        ("month_name_year", rf"(?<![A-Za-z0-9]\s?){_MONTHS}\.?,?\s(?:19|20)[0-9]{{2}}(?![0-9])", 0.55),
        ("month_year_numeric", r"(?<![0-9/.\-])(?:0?[1-9]|1[0-2])/(?:19|20)[0-9]{2}(?![0-9/])", 0.55),
        ("month_year_range_end", r"(?<=[0-9]{2}/(?:19|20)[0-9]{2}\s?[-–〜~]\s?)(?:0?[1-9]|1[0-2])/(?:19|20)[0-9]{2}(?![0-9/])", 0.55),
        # form boxes with spaces (CMS-1500: "BIRTH DATE: 07 14 1962", "DOS 05 20 24"), only after a date label
        (
            "spaced_form_date",
            r"(?<=(?i:date|dos|dob|birth\sdate|illness)[:\s]{1,3})(?:0[1-9]|1[0-2])\s(?:0[1-9]|[12][0-9]|3[01])\s(?:19|20)?[0-9]{2}(?![0-9])",
            0.7,
        ),
    ]
    CONTEXT = DATE_CONTEXT
    NEGATIVE_CONTEXT = DATE_NEGATIVE
    NEGATIVE_AFTER = DATE_NEGATIVE_AFTER
    CONTEXT_WINDOW = (26, 6)

    def validate_result(self, pattern_text: str) -> bool | None:
        import regex

        nums = [int(n) for n in regex.findall(r"[0-9]+", pattern_text)]
        if not regex.search(r"[A-Za-z]{3}", pattern_text):  # numeric: M/D/Y or D/M/Y, or M/YYYY
            a, b = nums[0], nums[1]
            if len(nums) == 2 and b >= 1900:
                return None if 1 <= a <= 12 else False
            return None if valid_month_day(a, b) or valid_month_day(b, a) else False
        days = [n for n in nums if n < 100]
        return None if all(1 <= d <= 31 for d in days) else False


class EnDashedDateRecognizer(MedPatternRecognizer):
    """Dates with dashes and a two-digit year (6-22-22, DOB 5-22-46), which dose schedules imitate ("10-20-30" units).

    Spec: ``M-D-YY`` with a valid month and day; vetoed inside quotes or next to dose words (units, 朝-昼-夕, split).
    """

    ENTITY = "DATE_TIME"
    LANGUAGE = "any"
    TRIGGER = r"[0-9]-[0-9]{1,2}-[0-9]"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("mdy_dash_short", r"(?<![0-9/.\-\"“「])(?:1[0-2]|0?[1-9])-(?:3[01]|[12][0-9]|0?[1-9])-[0-9]{2}(?![0-9\-/\"”」])", 0.55),
    ]
    NEGATIVE_CONTEXT: ClassVar[list[str]] = ["dose", "units", "scale", "sliding", "insulin", "schedule", "用量", "単位"]
    NEGATIVE_AFTER: ClassVar[list[str]] = ["unit", "単位", "は", "split", "mg", "dose", "schedule"]
    CONTEXT_WINDOW = (24, 8)


class EnAgeRecognizer(MedPatternRecognizer):
    """Ages over 89: 93-year-old, 95 years old, 91 y/o, age 92, aged 97, 90s (HIPAA safe harbour)."""

    ENTITY = "AGE"
    LANGUAGE = "en"
    TRIGGER = r"(?i:year|yr|y/o|yo|y\.o\.|age|birthday|[0-9]\s?[MF]\b|[0-9]/[MF]|, dob|, born)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "years_old",
            r"(?<![0-9.])(?:9[0-9]|1[0-2][0-9])(?:\s?-?\s?(?:years?|yrs?)(?:\s?-?\s?old)?|\s?(?:y/o|yo|y\.o\.))(?![A-Za-z])",
            0.85,
        ),
        ("labelled", r"(?<=(?i:age|aged|age/sex|age\s\(years\))\s?:?\s?)(?:9[0-9]|1[0-2][0-9])(?![0-9.]|\s(?:or|and)\s(?:older|over|above))", 0.85),
        ("age_sex", r"(?<![0-9A-Za-z.\-/])(?:9[0-9]|1[01][0-9])(?=\s?[MF](?![A-Za-z])|/[MF](?![A-Za-z]))", 0.8),
        ("birthday", r"(?<![0-9.])(?:9[0-9]|1[01][0-9])(?=(?:st|nd|rd|th)\sbirthday)", 0.85),
        ("paren_age", r"(?<=\()(?:9[0-9]|1[01][0-9])(?=,\s?(?:DOB|born|[MF]\b))", 0.8),
    ]


_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)"
)


class EnStreetAddressRecognizer(MedPatternRecognizer):
    """US-style street addresses: number, street name and type, optional unit, city, state, ZIP.

    Spec: ``1234 N Oak Street, Apt 5B, Springfield, IL 62704``: the city/state/ZIP tail is part of the span
    when it follows. Case-sensitive (street names are capitalised), so prose like "3 times daily" is not hit.
    """

    ENTITY = "LOCATION"
    LANGUAGE = "en"
    TRIGGER = r"[0-9] [A-Z]"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "street",
            r"(?<![0-9A-Za-z])[0-9]{1,6}\s(?:[NSEW]{1,2}\.?\s)?(?:[A-Z][a-z]+\.?\s|[0-9]{1,3}(?:st|nd|rd|th)\s){1,3}"
            + _STREET_TYPES
            + r"\.?(?![a-z])(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Room|#)\.?\s?#?[0-9A-Za-z\-]+)?"
            r"(?:,\s(?:[A-Z][a-z]+\s?){1,3})?(?:,\s?[A-Z]{2})?(?:\s[0-9]{5}(?:-[0-9]{4})?)?",
            0.75,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["address", "lives", "resides", "home"]


_STATES = (
    r"(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY]|PR|GU)"
)
_PLACE = r"(?:\p{Lu}\p{Ll}+(?:[\s-]\p{Lu}\p{Ll}+){0,2})"


class EnPlaceRecognizer(MedPatternRecognizer):
    """Towns of residence, origin or travel, P.O. boxes and units: ``Dayton, OH``, ``lives alone in Bellevue``.

    Spec: a capitalised place name before ``, ST`` (a US state code); after a place label (City:, County:,
    Birthplace:); or after ``in/from/to/near`` when a residence or travel word (lives, moving, visiting, flying,
    relatives...) comes shortly before. ``P.O. Box N`` and ``Apt/Suite/Unit N`` after a comma. Hospital rooms
    (Rm 5112-B) are not places.
    """

    ENTITY = "LOCATION"
    LANGUAGE = "any"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("city_state", rf"(?<![A-Za-z]){_PLACE}(?=,\s?{_STATES}(?![A-Za-z])|\s{_STATES}\s[0-9]{{5}}(?:-[0-9]{{4}})?(?![0-9]))", 0.7),
        ("city_country", rf"(?<=,\s|\n){_PLACE}(?=,\s(?:Ireland|Japan|Canada|Mexico|Australia|England|Scotland|Wales|Germany|France|Italy|Spain|Korea|China|Taiwan|India|Vietnam|Philippines|Brazil|Hokkaido|Okinawa|Kyoto|Osaka)\b)", 0.6),
        ("labelled", rf"(?<=(?i:city|county|town|birthplace|place\sof\sbirth|residence|hometown|city/state)\s?[:\-]?\s){_PLACE}", 0.7),
        (
            "travel",
            rf"(?<=(?i:lives?|living|resides?|relatives|moving|moved|relocating|visiting|flying|flies|flew|drive|travel\w*|trip|"
            rf"holiday|vacation|cabin|house|daughter's|sister's|son's|brother's|mother's|born|raised|staying|returned|"
            rf"returning|home)\b[^.]{{0,25}}?\b(?:in|from|to|near)\s){_PLACE}",
            0.6,
        ),
        ("po_box", r"(?i:P\.?\s?O\.?\sBox)\s[0-9]{1,6}", 0.8),
        ("unit", r"(?<=,\s)(?:Apt|Apartment|Suite|Ste|Unit)\.?\s?#?[0-9][0-9A-Za-z\-]*", 0.7),
    ]

    def rescore(self, match: str, score: float) -> float:
        from medswallow.pii.names import EN_STOP

        first = match.split()[0] if match.split() else match
        if first.rstrip(".") in ("Apt", "Apartment", "Suite", "Ste", "Unit") or first.startswith("P"):
            return score  # a unit or P.O. box: its own shape, no place name to check
        return 0.0 if first in EN_STOP or first in _NOT_PLACES else score


_NOT_PLACES = frozenset(
    {"Hospital", "Clinic", "Center", "Medical", "Health", "Care", "General", "University", "Memorial", "Regional",
     "County", "Community", "St", "Saint", "Mercy", "Mount", "Kaiser", "The", "Our", "Their", "His", "Her", "Japan",
     "Canada", "Mexico", "Ireland", "China", "India", "Korea", "Vietnam", "Brazil", "Philippines", "Europe", "Asia"}
)


class UsZipCodeRecognizer(MedPatternRecognizer):
    """A US ZIP code written after a ZIP label (a ZIP inside a street address belongs to LOCATION)."""

    ENTITY = "US_ZIP_CODE"
    LANGUAGE = "any"
    TRIGGER = r"(?i:zip|postal)"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("labelled", r"(?<=(?i:zip(?: code)?|postal code)" + _SEP + r")[0-9]{5}(?:-[0-9]{4})?(?![0-9])", 0.85),
    ]


EN_RECOGNIZERS: tuple[type[MedPatternRecognizer], ...] = (
    UsPhoneRecognizer,
    SocialSecurityNumberRecognizer,
    EnMedicalRecordNumberRecognizer,
    HealthPlanIdRecognizer,
    EnDateRecognizer,
    EnDashedDateRecognizer,
    EnAgeRecognizer,
    EnStreetAddressRecognizer,
    EnPlaceRecognizer,
    UsZipCodeRecognizer,
)
