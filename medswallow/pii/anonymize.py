"""Replace detected spans through presidio-anonymizer: typed placeholders or consistent per-document pseudonyms.

Placeholders (``<PERSON>``, ``<PHONE_NUMBER>``) are the default. Pseudonyms keep text natural for training:
the same value gets the same stand-in everywhere in one document (so "山田さん ... 山田さんの妻" stays coherent)
and unrelated stand-ins in other documents (documents cannot be linked through them). Dates move by one random
offset per document, so intervals (admission to discharge) survive. Stand-ins are drawn from a generator
seeded by a keyed hash of the document: nothing about the original value can be read back from them, and the
mapping lives only in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import regex

from medswallow.pii.text import fold
from medswallow.records import Span

_JA_SURNAMES = ("青木", "石井", "上田", "大川", "岡本", "北村", "小西", "坂口", "杉本", "高野", "中西", "野口", "浜田", "平野", "松田", "宮本", "森下", "山内", "吉川", "和田")
_JA_GIVEN = ("明", "一樹", "花子", "健太", "さくら", "直子", "拓也", "美咲", "隆", "由美", "翔", "恵子", "大輔", "愛", "誠", "優子")
_KANA_SURNAMES = ("アオキ", "イシイ", "ウエダ", "オカモト", "キタムラ", "サカグチ", "タカノ", "ノグチ", "ヒラノ", "マツダ")
_KANA_GIVEN = ("アキラ", "カズキ", "ハナコ", "ケンタ", "サクラ", "ナオコ", "タクヤ", "ミサキ", "タカシ", "ユミ")
_EN_FIRST = ("Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Rowan", "Emery", "Hayden")
_EN_LAST = ("Parker", "Hayes", "Bennett", "Foster", "Russell", "Griffin", "Hughes", "Sullivan", "Coleman", "Warren")
_JA_ADDRESSES = ("東京都千代田区霞が関一丁目1番1号", "大阪府大阪市中央区大手前2丁目", "愛知県名古屋市中区三の丸3-1-2", "福岡県福岡市博多区東公園7-7")
_EN_ADDRESSES = ("100 Sample Street, Springfield, IL 62701", "42 Example Avenue, Apt 3, Portland, OR 97201", "7 Placeholder Road, Austin, TX 73301")
_KANA = regex.compile(r"^[\p{Katakana}ー\s]+$")
_LATIN = regex.compile(r"[A-Za-z]")
_ERAS = (("令和", 2018), ("平成", 1988), ("昭和", 1925), ("大正", 1911), ("明治", 1867))
_ERA_INITIAL = {"R": "令和", "H": "平成", "S": "昭和", "T": "大正", "M": "明治"}


@lru_cache(maxsize=1)
def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def replace_spans(text: str, spans: Sequence[Span], pseudonymize: bool = False) -> str:
    """``text`` with each span replaced by ``<LABEL>`` or, with ``pseudonymize``, a consistent stand-in."""
    if not spans:
        return text
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    results = [RecognizerResult(s.label, s.start, s.end, s.score) for s in spans]
    labels = {s.label for s in spans}
    if pseudonymize:
        fake = Pseudonymizer(text)
        operators = {label: OperatorConfig("custom", {"lambda": fake.for_label(label)}) for label in labels}
    else:
        operators = {label: OperatorConfig("replace", {"new_value": f"<{label}>"}) for label in labels}
    return str(_anonymizer().anonymize(text=text, analyzer_results=results, operators=operators).text)


class Pseudonymizer:
    """Consistent stand-ins for one document (see the module docstring)."""

    def __init__(self, document: str) -> None:
        digest = hashlib.blake2b(document.encode("utf-8"), key=b"medswallow-pseudonyms", digest_size=8).digest()
        self.rng = random.Random(int.from_bytes(digest, "big"))
        self.day_shift = dt.timedelta(days=self.rng.randint(-365, 365) or 1)
        self.seen: dict[tuple[str, str], str] = {}

    def for_label(self, label: str) -> Any:
        def fn(value: str) -> str:
            key = (label, fold(value).replace(" ", ""))
            if key not in self.seen:
                used = set(self.seen.values())
                fake = self.make(label, value)
                for _ in range(20):  # two different people must not get the same stand-in
                    if fake not in used:
                        break
                    fake = self.make(label, value)
                self.seen[key] = fake
            return self.seen[key]

        return fn

    def make(self, label: str, value: str) -> str:
        if label == "PERSON":
            return self._name(value)
        if label == "DATE_TIME":
            return shift_date(value, self.day_shift) or f"<{label}>"
        if label == "LOCATION":
            pool = _EN_ADDRESSES if _LATIN.search(value) and not regex.search(r"\p{Han}", value) else _JA_ADDRESSES
            return self.rng.choice(pool)
        if label == "EMAIL_ADDRESS":
            return f"user{self.rng.randint(100, 999)}@example.com"
        if label == "URL":
            return f"https://example.com/u/{self.rng.randint(1000, 9999)}"
        if label == "AGE":
            return regex.sub(r"[0-9]+", "90", fold(value), count=1)
        return self._same_shape(value)

    def _name(self, value: str) -> str:
        r = self.rng
        parts = value.split()
        if _LATIN.search(value):
            return f"{r.choice(_EN_FIRST)} {r.choice(_EN_LAST)}" if len(parts) > 1 else r.choice(_EN_LAST)
        if _KANA.match(value):
            return f"{r.choice(_KANA_SURNAMES)} {r.choice(_KANA_GIVEN)}" if len(parts) > 1 else r.choice(_KANA_SURNAMES)
        sep = "\u3000" if "\u3000" in value else " " if " " in value else ""
        if len(value.replace(sep, "")) >= 4 or sep:
            return f"{r.choice(_JA_SURNAMES)}{sep}{r.choice(_JA_GIVEN)}"
        return r.choice(_JA_SURNAMES)

    def _same_shape(self, value: str) -> str:
        """Random digits/letters in the layout of the original (separators and width kept)."""
        out = []
        for i, ch in enumerate(value):
            f = fold(ch)
            if f.isdigit() and i == 0 and f == "0":
                out.append(ch)  # keep a leading 0 (Japanese phone numbers, zero-padded IDs)
            elif f.isdigit():
                d = str(self.rng.randint(0, 9))
                out.append(chr(ord(d) + 0xFEE0) if ch != f else d)
            elif f.isascii() and f.isalpha():
                out.append(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") if f.isupper() else self.rng.choice("abcdefghjkmnprstuvwxyz"))
            else:
                out.append(ch)
        return "".join(out)


def shift_date(value: str, delta: dt.timedelta) -> str | None:
    """Move a numeric or era date by ``delta`` and write it back in the same style; None if not parseable."""
    f = fold(value)
    m = regex.fullmatch(r"((?:19|20)[0-9]{2})(\s?年\s?|[/.\-])([0-9]{1,2})(\s?月\s?|[/.\-])([0-9]{1,2})(\s?日)?", f)
    if m:
        new = _shift(int(m[1]), int(m[3]), int(m[5]), delta)
        if new is None:
            return None
        width = 2 if len(m[3]) == 2 else 1
        return f"{new.year}{m[2]}{new.month:0{width}d}{m[4]}{new.day:0{width}d}{m[6] or ''}"
    m = regex.fullmatch(r"(令和|平成|昭和|大正|明治)\s?([0-9]{1,2}|元)\s?年\s?([0-9]{1,2})\s?月\s?([0-9]{1,2})\s?日", f)
    if m:
        year = dict(_ERAS)[m[1]] + (1 if m[2] == "元" else int(m[2]))
        new = _shift(year, int(m[3]), int(m[4]), delta)
        return None if new is None else f"{_era(new.year)}{new.month}月{new.day}日"
    m = regex.fullmatch(r"([RHSTrhst])\s?([0-9]{1,2})([./\-])([0-9]{1,2})([./\-])([0-9]{1,2})", f)
    if m:
        year = dict(_ERAS)[_ERA_INITIAL[m[1].upper()]] + int(m[2])
        new = _shift(year, int(m[4]), int(m[6]), delta)
        if new is None:
            return None
        era = _era(new.year)
        initial = {v: k for k, v in _ERA_INITIAL.items()}[era[:2]]
        return f"{initial}{era[2:-1]}{m[3]}{new.month}{m[5]}{new.day}"
    m = regex.fullmatch(r"([0-9]{1,2})\s?月\s?([0-9]{1,2})\s?日", f)
    if m:
        new = _shift(2001, int(m[1]), int(m[2]), delta)
        return None if new is None else f"{new.month}月{new.day}日"
    return None


def _shift(year: int, month: int, day: int, delta: dt.timedelta) -> dt.date | None:
    try:
        return dt.date(year, month, day) + delta
    except ValueError:
        return None


def _era(year: int) -> str:
    for name, base in _ERAS:
        if year > base:
            n = year - base
            return f"{name}{'元' if n == 1 else n}年"
    return f"{year}年"
