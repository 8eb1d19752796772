"""Person names without a name list: Sudachi's name features and honorific/label cues (JA), cue patterns (EN).

Japanese: SudachiPy tags surnames and given names (名詞,固有名詞,人名,姓/名) from its ~3M-entry dictionary, and
marks out-of-vocabulary words. A run of name tokens is a name candidate; a following honorific (様, さん, 先生,
Dr...) or a preceding label (氏名, 主治医, 妻...) confirms it; a following disease word (病, 症候群, 反射...) makes
it an eponym and drops it. Unknown names are caught by the cue alone: the characters between a label and an
honorific, or right before an honorific, are a name unless they are a role word (患者さん, 看護師さん).

English: capitalised tokens after a title (Dr., Mrs.), a field label (Patient:, Signed by), a relation word
(wife, son) or before a credential (", MD"); eponyms ("Cushing syndrome") and citations ("Smith et al.") are
dropped. Candidates no cue confirms go to NER: on short windows in the fast mode, everywhere in the thorough
mode (see ``ner.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import regex

from medswallow.pii.text import fold

HONORIFICS = (
    "様", "さま", "さん", "殿", "氏", "先生", "君", "くん", "ちゃん", "医師", "看護師", "薬剤師", "技師",
    "Dr", "Ns", "NS", "Ph", "MSW", "師長", "主任", "婦長", "院長", "部長", "医長", "教授", "准教授", "講師",
    "御侍史", "侍史", "御机下", "机下", "御中",
)
"""Words written right after a name. A name run followed by one of these is a person."""

KANA_NAME_LABELS = frozenset({"氏名", "患者名", "名前", "お名前", "フリガナ", "ふりがな", "カナ", "カナ氏名", "患者氏名"})
"""Labels after which a katakana-only phrase is the reading of a name."""

WEAK_HONORIFICS = ("医師", "看護師", "薬剤師", "技師", "Dr", "Ns", "NS", "先生方")
"""Titles written after a name that also follow plain nouns (担当医師): a cue only next to a proper noun."""
_AGE_AFTER = regex.compile(r"\s?[0-9]{1,3}\s?(?:歳|才)")

STRONG_HONORIFICS = ("様", "さま", "さん", "殿", "氏", "先生", "君", "くん", "ちゃん", "御侍史", "侍史", "御机下", "机下")

NAME_LABELS = (
    "氏名", "患者名", "名前", "お名前", "患者", "本人", "主治医", "担当医", "担当看護師", "担当薬剤師", "担当", "記載者",
    "記録者", "記載医", "作成者", "紹介医", "紹介元医師", "依頼医", "医師", "看護師", "薬剤師", "署名", "サイン",
    "家族", "妻", "夫", "長男", "長女", "次男", "次女", "三男", "三女", "母", "父", "息子", "娘", "兄", "姉", "弟",
    "妹", "孫", "祖母", "祖父", "嫁", "婿", "配偶者", "キーパーソン", "KP", "連絡先", "保護者", "代理人", "申請者",
    "Dr.", "Dr", "フリガナ", "ふりがな", "カナ", "ローマ字", "宛先", "差出人", "送信者", "From", "To", "助手", "術者",
    "執刀医", "麻酔科医", "麻酔科", "技師", "臨床検査技師", "検査技師", "放射線技師", "報告者", "検査者", "確認者", "担当者",
    "Ns", "NS", "担当Ns", "看護師長", "研修医", "指導医", "管理栄養士", "栄養士", "理学療法士", "作業療法士", "言語聴覚士",
    "MSW", "ケアマネジャー", "ケアマネ", "相談員", "面会者", "付添", "付き添い", "同伴者", "依頼者", "処方医", "調剤者",
    "申込者", "夫・", "Ph",
)
"""Words written right before a name (field labels, roles, family relations)."""

RELATIONS_JA = frozenset(
    {"妻", "夫", "長男", "長女", "次男", "次女", "三男", "三女", "母", "父", "息子", "娘", "兄", "姉", "弟", "妹", "孫", "祖母", "祖父", "嫁", "婿", "配偶者", "甥", "姪", "叔母", "叔父", "伯母", "伯父"}
)
"""Family words: 「孫の〇〇」 names the grandchild."""

ROLE_WORDS = frozenset(
    {
        "患者", "医師", "主治医", "担当医", "看護師", "薬剤師", "家族", "担当", "皆", "奥", "旦那", "息子", "娘", "お子",
        "子", "赤ちゃん", "お母", "お父", "母", "父", "妻", "夫", "兄", "姉", "弟", "妹", "孫", "先生", "方", "本人",
        "ご本人", "ご家族", "利用者", "相談員", "職員", "スタッフ", "技師", "医", "担当者", "事務", "受付", "院長",
        "主任", "師長", "医長", "部長", "教授", "講師", "同僚", "友人", "隣人", "彼", "彼女", "紹介", "記載", "記録",
        "長男", "長女", "次男", "次女", "配偶者", "保護者", "キーパーソン", "お客", "患児", "児", "新患", "初診",
        "ケアマネ", "ケアマネージャー", "ヘルパー", "訪問", "介護", "病棟", "外来", "当院", "他院", "貴院", "御中",
        "主人", "隣", "大家", "八百屋", "医者", "近所", "友達", "兄弟", "姉妹", "親", "両親", "家主", "管理人", "担任", "上司",
        "部下", "社長", "店長", "運転手", "皆様", "患者様", "利用者様", "関係者", "ご主人", "奥様", "お嬢", "坊ちゃん", "神",
        "仏", "お客様", "業者", "先方", "各位", "皆さま", "看護", "薬局", "病院", "医院", "クリニック", "科", "内科", "外科",
    }
)
"""Words that take honorifics but are not names (患者さん, 看護師さん, ご家族様)."""

EPONYM_HEADS = (
    "病", "症候群", "症", "病変", "反射", "徴候", "兆候", "サイン", "試験", "テスト", "法", "分類", "型", "線", "細胞",
    "腫", "甲状腺炎", "脳症", "麻痺", "現象", "スコア", "基準", "式", "小体", "管", "嚢", "結節", "手術", "術", "変性",
    "痛", "輪", "斑", "点", "骨折", "憩室", "潰瘍", "腺", "膜", "孔", "靭帯", "神経", "動脈", "静脈", "三徴", "の法則",
    "氏病", "氏症候群", "病型", "リンパ腫", "肉腫", "白血病", "脳炎", "髄膜炎", "体", "ヘルニア", "ショック", "効果",
    "指数", "曲線", "染色", "鉗子", "チューブ", "カテーテル", "手技", "縫合", "反応", "変異", "奇形", "母斑",
    "らの", "ら(", "ら（", "ら,", "ら、", "et al",
)
"""What follows a name in an eponym or a citation (川崎病, バセドウ病, Babinski反射, 田中ら): not a person."""

NOT_NAME_WORDS = frozenset({"パーキンソン", "アルツハイマー", "バセドウ", "クッシング", "ベーチェット", "シェーグレン", "メニエール"})
"""Eponym names that Sudachi tags as person names and that appear without their disease head ("パーキンソン症状")."""

_SPACE = frozenset(" \u3000\t")
_JA_CHARS = regex.compile(r"^[\p{Han}\p{Hiragana}\p{Katakana}ー々]+$")
_KANJI_KATA = regex.compile(r"^[\p{Han}\p{Katakana}ー々]+$")
_KATA_ONLY = regex.compile(r"^[\p{Katakana}ー]+$")
_BREAK = ("改行", "*", "*", "*")
_KANJI_ONLY = regex.compile(r"^[\p{Han}々]+$")
_INSTITUTION_SUFFIXES = (
    "科", "院", "室", "棟", "部", "課", "局", "所", "センター", "会", "学会", "大学", "団", "省", "庁", "県", "市", "区",
    "町", "村", "薬局", "クリニック",
)
_COUNTERS = frozenset("歳才月日年人名回代錠包本枚個度時分秒週")
SELF_INTRO = ("と申し", "といいます", "と言います", "です")
"""A name followed by these introduces its writer (山田と申します)."""


@dataclass(slots=True)
class NameHit:
    """A name found by a finder (offsets in the full document)."""

    start: int
    end: int
    score: float
    source: str


@dataclass(slots=True)
class _Tok:
    start: int
    end: int
    surface: str
    pos: tuple[str, ...]
    oov: bool

    @property
    def is_name(self) -> bool:
        """Sudachi says person name (Latin-script tokens are left to the English finder)."""
        return len(self.pos) > 2 and self.pos[1] == "固有名詞" and self.pos[2] == "人名" and bool(_JA_CHARS.match(self.surface))

    @property
    def is_space(self) -> bool:
        return self.pos[0] == "空白" or (self.surface != "" and all(c in _SPACE for c in self.surface))

    @property
    def is_name_like(self) -> bool:
        """Could be part of an unknown name: OOV, a proper noun, or a kanji/katakana noun that is no role word."""
        if self.is_name:
            return True
        if self.surface in ROLE_WORDS or not _JA_CHARS.match(self.surface) or self.surface.endswith(_INSTITUTION_SUFFIXES):
            return False
        if self.oov:
            return True
        if len(self.pos) > 2 and (
            self.pos[2] == "助数詞可能" or (self.pos[2] in ("副詞可能", "サ変可能", "サ変形状詞可能") and len(self.surface) > 1)
        ):
            return False  # 日, 本日, 入院: words that sit before names but never are one (one-kanji 朔, 心 may be)
        return self.pos[0] == "名詞" and self.pos[1] in ("固有名詞", "普通名詞") and bool(_KANJI_KATA.match(self.surface))


def _load_sudachi() -> Any:
    from sudachipy import dictionary

    return dictionary.Dictionary(dict="core").create()


def _role_like(tok: _Tok) -> bool:
    return tok.surface in ROLE_WORDS or (
        not tok.is_name and not tok.oov and bool(_KANJI_ONLY.match(tok.surface)) and tok.surface.endswith(_ROLE_ENDINGS)
    ) or tok.surface in ("臨床", "主任", "担当", "病棟", "外来")


_ROLE_ENDINGS = ("師", "士", "医", "者", "科", "員", "長", "官", "手")


def _eponym_follows(folded: str, end: int) -> bool:
    after = folded[end : end + 12].lstrip(" ")
    return any(after.startswith(h) for h in EPONYM_HEADS) or any(
        after[1:].startswith(h) or after[2:].startswith(h) for h in ("病", "症候群", "動脈炎", "甲状腺炎", "脳症", "反射", "徴候")
    )


class JapaneseNameFinder:
    """Finds Japanese person names in a text with Sudachi tokens and cue words (see the module docstring)."""

    MAX_CHUNK = 4000  # Sudachi refuses inputs over ~49 KB; lines are cut well below that

    def __init__(self) -> None:
        self._tok: Any = None
        self._dic: Any = None
        self._mode: Any = None
        self._pos: dict[int, tuple[str, ...]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def _tokenizer(self) -> Any:
        if self._tok is None:
            from sudachipy import dictionary, tokenizer

            self._dic = dictionary.Dictionary(dict="core")
            self._tok = self._dic.create()
            self._mode = tokenizer.Tokenizer.SplitMode.C
        return self._tok

    def _pos_of(self, pos_id: int) -> tuple[str, ...]:
        pos = self._pos.get(pos_id)
        if pos is None:
            pos = self._pos[pos_id] = tuple(self._dic.pos_of(pos_id))
        return pos

    def tokens(self, text: str, start: int, end: int) -> Iterator[_Tok]:
        """Sudachi tokens of ``text[start:end]`` with document offsets; every newline becomes a break token."""
        tok = self._tokenizer()
        pos = start
        while pos < end:
            stop = min(end, pos + self.MAX_CHUNK)
            if stop < end:  # cut after a newline so no token straddles two chunks
                nl = text.rfind("\n", pos, stop)
                stop = nl + 1 if nl > pos else stop
            for t in tok.tokenize(text[pos:stop], self._mode):
                surface = t.surface()
                if "\n" in surface:
                    yield _Tok(pos + t.begin(), pos + t.end(), "\n", _BREAK, False)
                else:
                    yield _Tok(pos + t.begin(), pos + t.end(), surface, self._pos_of(t.part_of_speech_id()), t.is_oov())
            pos = stop

    def find(self, text: str, start: int = 0, end: int | None = None) -> list[NameHit]:
        end = len(text) if end is None else end
        folded = fold(text)
        toks = list(self.tokens(text, start, end))
        hits = self._sudachi_runs(folded, toks)
        hits.extend(self._cue_names(folded, toks))
        hits.extend(self._kana_child_names(folded, start, end))
        hits.extend(ja_label_names(folded, start, end))
        return hits

    # -- names Sudachi knows ---------------------------------------------------------------------------
    def _sudachi_runs(self, folded: str, toks: list[_Tok]) -> list[NameHit]:
        hits: list[NameHit] = []
        i, n = 0, len(toks)
        while i < n:
            if not toks[i].is_name:
                i += 1
                continue
            j = i
            while j + 1 < n and (
                toks[j + 1].is_name
                or (toks[j + 1].is_space and j + 2 < n and toks[j + 2].is_name and toks[j + 1].end - toks[j + 1].start == 1)
            ):
                j += 1
            # an unknown second half of a given name (瑠璃|葉, 凛|空): one kanji glued on, then a boundary
            if (
                j + 1 < n
                and len(toks[j + 1].surface) == 1
                and _KANJI_KATA.match(toks[j + 1].surface)
                and toks[j + 1].pos[0] in ("名詞", "接尾辞")
                and toks[j + 1].surface not in ROLE_WORDS
                and toks[j + 1].surface not in HONORIFICS
                and toks[j + 1].surface not in _COUNTERS
                and (
                    j + 2 >= n
                    or toks[j + 2].pos[0] in ("補助記号", "空白", "改行", "接尾辞", "助詞", "助動詞")
                    or toks[j + 2].surface in HONORIFICS
                )
                and not any(folded[toks[j + 1].start :].startswith(h) for h in EPONYM_HEADS)
            ):
                j += 1
            if toks[j].is_name and toks[j].pos[3] == "姓" and not _eponym_follows(folded, toks[j].end):
                j = self._given_name_tail(toks, j)
            # a given name after a surname Sudachi read as a place or common noun (川崎(地名)　博, ミウラ マサル)
            b = i - 1
            if b >= 0 and toks[b].is_space and toks[b].end - toks[b].start == 1:
                b -= 1
            if toks[i].pos[3] == "名" and b >= 0 and b < i and self._surname_like(toks[b]):
                i = b
            run = [t for t in toks[i : j + 1] if not t.is_space]
            hit = self._score_run(folded, toks[i].start, toks[j].end, run)
            if hit is not None:
                hits.append(hit)
            i = j + 1
        return hits

    @staticmethod
    def _given_name_tail(toks: list[_Tok], j: int) -> int:
        """After a surname, an unknown given name of 1-3 kanji that Sudachi cut into odd pieces (心|愛, 颯|真).

        Returns the index of the last token of the name (``j`` when there is no such tail).
        """
        n = len(toks)
        k = j + 1
        if k < n and toks[k].is_space and toks[k].end - toks[k].start == 1:
            k += 1
        first, chars = k, 0
        while k < n and k - first < 3 and _KANJI_ONLY.match(toks[k].surface) and toks[k].pos[0] in ("名詞", "接頭辞", "副詞"):
            if toks[k].surface in ROLE_WORDS or toks[k].surface in HONORIFICS:
                break
            chars += len(toks[k].surface)
            k += 1
        if k == first or chars > 3:
            return j
        if k < n and toks[k].pos[0] not in ("空白", "改行", "補助記号", "助詞", "助動詞", "接尾辞") and not toks[k].is_space:
            return j
        tail = toks[first:k]
        if len(tail) == 1 and len(tail[0].surface) >= 2 and len(tail[0].pos) > 2 and tail[0].pos[2] in (
            "サ変可能", "副詞可能", "サ変形状詞可能", "形状詞可能"
        ):
            return j  # 田中 入院, 佐藤 本日: a word, not a given name
        return k - 1

    @staticmethod
    def _surname_like(tok: _Tok) -> bool:
        return (
            tok.is_name_like
            and tok.pos[0] == "名詞"
            and (tok.pos[1] == "固有名詞" or bool(_KATA_ONLY.match(tok.surface)) or tok.oov)
            and len(tok.surface) <= 6
        )

    def _score_run(self, folded: str, s: int, e: int, run: list[_Tok]) -> NameHit | None:
        after = folded[e : e + 8]
        if any(after.startswith(h) for h in EPONYM_HEADS):
            return None
        surface = folded[s:e]
        honorific = self._has_honorific(folded, e)
        if surface in NOT_NAME_WORDS and not honorific:
            return None
        names = [t for t in run if t.is_name]
        kinds = {t.pos[3] for t in names}
        if len(run) >= 2:
            score = 0.7
        elif kinds & {"姓", "名"}:
            score = 0.35
        else:  # 人名,一般: mostly foreign names (パーキンソン), needs a cue
            score = 0.25
        if honorific:
            score += 0.45
        if self._has_label(folded, s):
            score += 0.35
        elif self._isolated(folded, s, e):
            score += 0.3
        return NameHit(s, e, min(score, 1.0), "sudachi")

    @staticmethod
    def _has_honorific(folded: str, end: int) -> bool:
        after = folded[end : end + 6].lstrip(" )）")
        return any(after.startswith(h) for h in HONORIFICS) or after.startswith(SELF_INTRO)

    @staticmethod
    def _has_label(folded: str, start: int) -> bool:
        line_start = folded.rfind("\n", 0, start) + 1
        before = folded[max(line_start, start - 16) : start]
        before = before.rstrip(" :・,、(「")
        return any(before.endswith(lbl) for lbl in NAME_LABELS) or before.endswith("の")

    @staticmethod
    def _isolated(folded: str, start: int, end: int) -> bool:
        """A name alone on its line, or set off by spaces (a signature: 〇〇病院　長谷川　(03-...))."""
        before = folded[start - 1] if start > 0 else "\n"
        after = folded[end] if end < len(folded) else "\n"
        return before in " \n" and after in " \n(（"

    # -- names Sudachi does not know: cue words alone --------------------------------------------------
    def _cue_names(self, folded: str, toks: list[_Tok]) -> list[NameHit]:
        """Unknown names: name-like tokens directly before a strong honorific or directly after a name label."""
        hits: list[NameHit] = []
        n = len(toks)
        for k, t in enumerate(toks):
            if t.surface in STRONG_HONORIFICS or (
                t.surface.startswith(("様", "さん")) and not t.surface.startswith(NOT_HONORIFIC_WORDS)
            ):
                hit = self._before_honorific(folded, toks, k)
            elif t.surface in WEAK_HONORIFICS or (t.surface in ("(", "（") and _AGE_AFTER.match(folded, t.end)):
                # 鶴見風花医師, 羽生陽向（88歳）: a cue only when a word before it is a name, unknown or proper noun
                hit = self._before_honorific(folded, toks, k, need_proper=True)
            elif t.surface in NAME_LABELS or (k + 1 < n and (t.surface + toks[k + 1].surface) in NAME_LABELS):
                hit = self._after_label(folded, toks, k + (0 if t.surface in NAME_LABELS else 1))
            else:
                continue
            if hit is not None:
                hits.append(hit)
        return hits

    @staticmethod
    def _before_honorific(folded: str, toks: list[_Tok], k: int, need_proper: bool = False) -> NameHit | None:
        j = k - 1
        if j >= 0 and toks[j].surface in (")", "）"):
            j -= 1
        if j >= 0 and toks[j].is_space:
            j -= 1
        words: list[_Tok] = []
        # right before the honorific a verbal-noun reading is still a name (帯刀先生)
        if j >= 0 and not need_proper and _KANJI_ONLY.match(toks[j].surface) and toks[j].pos[0] == "名詞" and toks[j].surface not in ROLE_WORDS and len(toks[j].pos) > 2 and toks[j].pos[2] in ("サ変可能", "サ変形状詞可能"):
            words.append(toks[j])
            j -= 1
        while j >= 0 and len(words) < 4:
            if toks[j].is_name_like or (words and toks[j].pos[0] in ("接頭辞", "副詞") and _KANJI_ONLY.match(toks[j].surface)):
                words.append(toks[j])
                j -= 1
            elif toks[j].is_space and words and j - 1 >= 0 and toks[j - 1].is_name_like:
                j -= 1
            else:
                break
        if not words or (j >= 0 and toks[j].surface in ("お", "ご", "御")):  # お隣さん, ご主人様
            return None
        if need_proper and not any(w.is_name or w.oov or w.pos[1] == "固有名詞" for w in words):
            return None
        s, e = words[-1].start, words[0].end
        if len(folded[s:e].replace(" ", "")) > 8 or any(folded[s:e].endswith(w) for w in ("科", "病院", "医院", "薬局")):
            return None
        return NameHit(s, e, 0.6, "honorific")

    @staticmethod
    def _after_label(folded: str, toks: list[_Tok], k: int) -> NameHit | None:
        n = len(toks)
        j = k + 1
        while j < n and (toks[j].is_space or toks[j].surface in (":", "：", "・") or toks[j].surface in NAME_LABELS):
            j += 1
        if j >= n or toks[j].start - toks[k].end > 8:
            return None
        # only a colon- or space-separated label (氏名：, 主治医 ) makes the next word a name on its own
        sep = folded[toks[k].end : toks[j].start]
        relation_no = sep == "" and toks[j].surface == "の" and toks[k].surface in RELATIONS_JA
        if relation_no:  # 孫の帯刀 悠真: skip the particle
            j += 1
            if j >= n:
                return None
        elif ":" not in sep and " " not in sep and "・" not in sep and toks[k].surface not in ("Dr.", "Dr"):
            return None
        words: list[_Tok] = []
        m = j
        while m < n and len(words) < 3:
            if toks[m].is_name_like:
                words.append(toks[m])
                m += 1
            elif toks[m].is_space and words and m + 1 < n and toks[m + 1].is_name_like and toks[m].end - toks[m].start == 1:
                m += 1
            else:
                break
        # the label alone does not make 循環器内科 a name: one word must be a name, unknown, or a proper noun,
        # or (after 氏名/フリガナ) the words are all katakana: a reading of the name (サガ ソウタ)
        if not words:  # 氏名：YAMADA Taro: no Japanese word follows (romaji is the English finder's)
            return None
        kana_reading = toks[k].surface in KANA_NAME_LABELS and all(_KATA_ONLY.match(w.surface) for w in words)
        if not kana_reading and not any(w.is_name or w.oov or w.pos[1] == "固有名詞" for w in words):
            return None
        while len(words) > 1 and _role_like(words[0]):
            words = words[1:]  # 臨床 検査技師 田中: the role words before the name are not part of it
        s, e = words[0].start, words[-1].end
        if len(folded[s:e].replace(" ", "")) > 10:
            return None
        if any(folded[e:].startswith(h) for h in EPONYM_HEADS):
            return None
        return NameHit(s, e, 0.6, "label")

    @staticmethod
    def _kana_child_names(folded: str, start: int, end: int) -> list[NameHit]:
        """Hiragana given names before ちゃん/くん/さん (そうたちゃん), which Sudachi often splits apart."""
        hits = []
        for m in _KANA_BEFORE_HONORIFIC.finditer(folded, start, end):
            if m.group() not in KANA_NOT_NAMES:
                hits.append(NameHit(m.start(), m.end(), 0.6, "kana-honorific"))
        return hits


# 様 followed by 子/々/式/態/相 is a word of its own (服用して様子を見る), not an honorific.
NOT_HONORIFIC_WORDS = ("様子", "様々", "様式", "様態", "様相", "さんぽ", "さんご")
_KANA_BEFORE_HONORIFIC = regex.compile(
    r"(?<![\p{Hiragana}ー])[\p{Hiragana}ー]{2,5}(?=(?:ちゃん|くん|君|さん|様)(?![子々式態相ぽご]))"
)
KANA_NOT_NAMES = frozenset(
    {
        "おばあ", "おじい", "おかあ", "おとう", "おねえ", "おにい", "ばあ", "じい", "かあ", "とう", "ねえ", "にい", "みな",
        "みなさ", "あか", "おくさ", "おこさ", "おじょう", "おぼっ", "ぼっ", "おまわり", "おいしゃ", "かんごし", "おきゃく",
        "おかみ", "おやじ", "だんな", "おくさま", "みなさま", "おきゃくさ", "ごくろう", "おつかれ", "おだいじに", "ありがとう",
        "すみません", "ください", "ちゃん", "いただき", "よろしく", "おねが", "ごめん", "ちゃ", "では", "には", "とは",
    }
)
"""Hiragana words before さん/ちゃん that are not names (おばあちゃん, みなさん, お疲れさま)."""


PENDING_SCORE = 0.3
"""Score of a name candidate that needs NER to agree before it is reported (see ``ner.WindowNer``)."""

_EN_TOKEN = r"(?:O'\p{Lu}\p{Ll}+|Mc\p{Lu}\p{Ll}+|Mac\p{Lu}\p{Ll}+|\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*|[A-Z]{2,}(?:[-'][A-Z]+)*(?![a-z]))"
_EN_PARTICLE = r"(?:(?:de|van|von|der|den|da|di|del|della|la|le|du|bin|ibn|al|el|ter)[ ])"
_EN_NAME = rf"(?<![A-Za-z]){_EN_TOKEN}(?:[ ]\"{_EN_TOKEN}\")?(?:[ ](?:[A-Z]\.[ ]?)?{_EN_PARTICLE}{{0,2}}{_EN_TOKEN}){{0,2}}"  # one line only: names never wrap
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Nurse|Sister)"
_EN_LABELS = (
    r"(?i:patient(?:'s)?\s?name|patient|name|pt|attending(?:\sphysician)?|physician|provider|surgeon|nurse|rn|"
    r"pharmacist|signed(?:\sby)?|electronically\ssigned\sby|dictated\sby|transcribed\sby|referred\sby|"
    r"referring(?:\sphysician|\sdoctor|\sprovider)?|pcp|primary\scare(?:\sphysician|\sprovider)?|"
    r"emergency\scontact|contact|next\sof\skin|nok|guardian|caregiver|cc|author|seen\sby|examined\sby|"
    r"from|to|dear|sincerely|regards|verified\sby|reviewed\sby|ordered\sby|prescriber|prescribed\sby|caller|re|"
    r"regarding|assistant|surgeon|anesthesiologist|anaesthetist|resident|fellow|intern|technician|therapist|scribe|"
    r"interpreter|witness|informant|historian|accompanied\sby|spouse|parent|patient\sname|name\sof\spatient|"
    r"member|employee|screener|reporter|reported\sby|attendees|staff|claimant|guarantor|donor|decedent|insured|"
    r"subscriber|participant(?:\sname)?(?:\s\(print\))?|completed\sby|signature(?:\sof\s[a-z/ ]+)?|"
    r"person\sobtaining\sconsent|obtained\sby|authors?|crc|coordinator|recipient|requester|requested\sby|applicant|"
    r"beneficiary|client|caller/pt|pt/caller|read\sby|performed\sby|collected\sby|drawn\sby|notified|"
    r"patient'?s\sname|insured'?s\sname|(?:[0-9]+[a-z]?\.\s)?patient'?s\sname|discussant|presenter|moderator|"
    r"counsel(?:l)?or|social\sworker|case\smanager|aide|cna|sitter|proxy|poa|agent|surrogate|contact\sname|"
    r"emergency\scontact\sname|responsible\sparty|submitted\sby|prepared\sby|approved\sby|attested\sby|"
    r"translated\sby|interpreted\sby|photo\scredit|operator|candidate|contact\s\([a-z]+\)|goes\sby)"
)
_RELATIONS = (
    r"(?:wife|husband|son|daughter|mother|father|sister|brother|spouse|partner|friend|neighbor|neighbour|caregiver|"
    r"niece|nephew|grandson|granddaughter|fiancée?|boyfriend|girlfriend|aunt|uncle|cousin|mom|dad|grandma|grandpa|"
    r"grandmother|grandfather|nurse|pharmacist|navigator|aide|tech|technician|therapist|phlebotomist|coordinator|"
    r"epidemiologist|chaplain|dietitian|midwife|doula|counsel(?:l)?or|scheduler|receptionist|operator|investigator|"
    r"(?:spoke|talked|called|met)\s(?:with|to))"
)
_CREDENTIALS = (
    r"(?:MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|PharmD|PhD|DDS|MSW|LCSW|CNA|LPN|APRN|FNP|FNP-C|CNM|CRNA|MDI|RRT|CRA|CRC|"
    r"MA|BSN|CCRC|PGY-?[0-9]|RD|PT|OT|SLP|DPT|LMSW|CMA|EMT|CPhT|RPh|ScD|MPH|MBBS)"
)

EN_STOP = frozenset(
    {
        "The", "This", "That", "He", "She", "They", "His", "Her", "Patient", "Pt", "Name", "Denies", "Reports", "Presents",
        "History", "Plan", "Assessment", "Diagnosis", "Chief", "Complaint", "Education", "Unknown", "None", "No", "Yes",
        "Male", "Female", "Mr", "Mrs", "Ms", "Dr", "Date", "Admission", "Discharge", "Medications", "Allergies",
        "Physical", "Exam", "Review", "Systems", "Social", "Family", "Past", "Medical", "Surgical", "Hospital",
        "Clinic", "Department", "Emergency", "Internal", "Medicine", "Cardiology", "Oncology", "Surgery", "Nursing",
        "Pharmacy", "Laboratory", "Lab", "Results", "Report", "Note", "Notes", "Summary", "Course", "Follow", "Up",
        "Instructions", "Signed", "Electronically", "Referred", "Attending", "Physician", "Nurse", "Contact", "Phone",
        "Address", "Email", "Type", "Stage", "Grade", "Class", "Left", "Right", "Bilateral", "Normal", "Negative",
        "Positive", "Primary", "Care", "Provider", "Team", "Service", "Unit", "Ward", "Room", "Bed", "Floor",
        "Insurance", "Member", "Policy", "Group", "Record", "Number", "ID", "MRN", "DOB", "SSN", "Age", "Sex",
        "Dear", "Sincerely", "Regards", "Thank", "Thanks", "Hello", "Hi", "From", "To", "Subject", "Re", "Cc",
        "Mother", "Father", "Wife", "Husband", "Son", "Daughter", "Sister", "Brother", "Spouse", "Guardian",
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March",
        "April", "May", "June", "July", "August", "September", "October", "November", "December", "Today",
        "Yesterday", "Tomorrow", "Morning", "Evening", "Night", "Afternoon", "Continue", "Start", "Stop", "Take",
        "Reviewed", "Verified", "Ordered", "Dictated", "Seen", "Examined", "Prescriber", "Prescribed", "Author",
        "Caregiver", "Partner", "Friend", "Next", "Kin", "Will", "Should", "Please", "Call", "Return", "Home",
        "Ns", "NS", "Ph", "Portal", "Safety", "Information", "Status", "Identifier", "Advocate",
        "Here", "Not", "Sure", "Going", "Feeling", "Calling", "Writing", "Sorry", "Glad", "Happy", "Concerned", "Worried",
        "Japanese", "English", "Chinese", "American", "Canadian", "British", "National", "Resident",
        "Caller", "Callback", "Callers", "Telephone", "Encounter", "Documented", "Dx",
        "Triage", "Claims", "Claim", "Services", "Center", "Leaflet", "Relations", "Applications", "Clinical",
        "Falls", "Guarantor", "Claimant", "Donor", "Employee", "Screener", "Reporter", "Attendees", "Staff", "Decedent",
        "Signature", "Print", "Participant", "Coordinator", "Authors", "Recipient", "Applicant", "Subscriber", "Insured",
        "Drug", "NEG", "POS", "Background", "Methods", "Conclusion", "Objective", "Subjective", "Benign", "Small", "Joint",
        "Living", "Medicare", "Medicaid", "Log", "Mild", "Moderate", "Severe", "Large", "Acute", "Chronic", "Abnormal",
        "Stable", "Improved", "Unchanged",
    }
)
"""Capitalised words that follow the same cues but are not names (headers, weekdays, roles)."""

NOT_INITIALS = frozenset(
    {"U.S.", "U.K.", "A.M.", "P.M.", "M.D.", "D.O.", "R.N.", "N.P.", "B.S.", "M.S.", "P.A.", "I.V.", "E.R.", "O.R.", "N.B.",
     "P.O.", "Q.D.", "B.I.D.", "T.I.D.", "Q.I.D.", "P.R.N.", "D.C.", "U.S.A.", "E.U.", "M.A.", "B.A.", "R.N.C."}
)
"""Abbreviations written like initials."""

EN_EPONYM_HEADS = regex.compile(
    r"^(?:'s|’s|s')?\s?(?:disease|syndrome|sign|signs|test|reflex|law|criteria|score|scale|classification|operation|"
    r"procedure|maneuver|manoeuvre|method|lymphoma|sarcoma|tumou?r|palsy|phenomenon|triad|ulcer|node|nodes|fracture|"
    r"type|equation|formula|index|technique|repair|incision|position|approach|cell|cells|body|bodies|disorder|"
    r"anomaly|malformation|thyroiditis|encephalopathy|ratio|curve|stain|staging|rule|effect|murmur|point|line|"
    r"hernia|diverticulum|shock|regimen|protocol|et\s?al|and\scolleagues|group|pupil|cyst|esophagus|level|monitor|"
    r"nodule|acted?|act|hunt|catheter|tube|bag|position|maneuver|pills?|tablets?|capsules?|-BE)\b",
    regex.IGNORECASE,
)
"""What follows an eponym or a citation: "Cushing syndrome", "Babinski sign", "Smith et al."."""

EN_NOT_NAME_WORDS = regex.compile(
    r"(?i)\b(?:scale|score|syndrome|disease|sign|test|criteria|index|classification|coma|procedure|catheter|"
    r"hospital|clinic|center|centre|medical|university|practice|community|general|department|health|care|"
    r"road|street|drive|avenue|court|way|lane|place|terrace|boulevard|hill|view|park|institute|foundation|"
    r"pharmacy|laboratory|lab|unit|ward|service|services|insurance|group|company|inc|corp|ltd|college|school)\b"
)
"""Words that make a capitalised phrase an institution, a place or a clinical term rather than a person."""

_EN_CUES = (
    ("title", rf"(?<=(?<![A-Za-z]){_TITLES}\.?\s?){_EN_NAME}", 0.85),
    ("label", rf"(?<=(?<![A-Za-z]){_EN_LABELS}\s?[:\-]\s?){_EN_NAME}", 0.8),
    ("patient", rf"(?<=(?<![A-Za-z])(?:Pt|pt|Patient|patient)\s){_EN_NAME}", 0.7),
    # a name that an identity field follows: "Bradley Kern, DOB 03/12/1986", "Rosalind Pierce (97 y/o F)", "— MRN"
    (
        "identity",
        rf"{_EN_NAME}(?=,?\s(?:DOB|D\.O\.B|MRN|\(?[0-9]{{1,3}}\s?(?:y/?o|yo|F|M)\b|[0-9]{{1,3}}[MF]\b)|\s{{2,}}(?:MRN|DOB|Age|G[0-9]P)|\s—\s(?:Rm|Room|MRN|DOB))",
        0.7,
    ),
    # an author or staff list marked with superscripts (Rina Hashimoto¹, Takuya Mori¹)
    ("superscript", rf"{_EN_NAME}(?=[¹²³⁴⁵⁶⁷⁸⁹*†‡])", 0.7),
    # "(Jennifer Smith, Billing)", "— Sandra Ruiz-Whitman, Patient Relations"
    ("aside", rf"(?<=\(|—\s){_EN_NAME}(?=,\s)", 0.6),
    ("signed", rf"(?<=(?<![A-Za-z])(?i:electronically\ssigned\sby|signed\sby|dictated\sby|seen\sby|examined\sby|referred\sby|verified\sby|reviewed\sby|ordered\sby|prescribed\sby|counseled\sby|cc)\s){_EN_NAME}", 0.8),
    ("credential", rf"{_EN_NAME}(?=,?\s\(?{_CREDENTIALS}(?![A-Za-z]))", 0.8),
    ("label_last_first", rf"(?<=(?<![A-Za-z]){_EN_LABELS}\s?[:\-]\s?)\p{{Lu}}\p{{Ll}}+(?:[-']\p{{Lu}}\p{{Ll}}+)?,\s\p{{Lu}}\p{{Ll}}+", 0.8),
    ("paren_after_role", rf"(?<=(?<![A-Za-z])(?i:{_RELATIONS}|pt|ot|st|rn|aide|billing|care|ma|np|md)\s\()\p{{Lu}}\p{{Ll}}+(?:\s\p{{Lu}}\p{{Ll}}+)?(?=\))", 0.7),
    ("relation", rf"(?<=(?<![A-Za-z])(?i:{_RELATIONS}|goes\sby)\s?[:,]?\s(?:is\s|was\s|named\s)?[\"“]?){_EN_NAME}", 0.7),
    ("self", rf"(?<=(?<![A-Za-z])(?i:this\sis|my\sname\sis|i\sam|i'm|name\sis)\s){_EN_NAME}", 0.7),
    ("signoff", rf"(?<=(?<![A-Za-z])(?:Thanks|Thank\syou|Sincerely|Regards|Best\sregards|Kind\sregards|Best|Cheers|Respectfully|Warmly),?\s{{0,3}}){_EN_NAME}(?=\s*$|\s*\n|,)", 0.75),
    ("about", rf"(?<=(?<![A-Za-z])(?:note|letter|summary|report|referral|consult|consultation|visit|request|record|chart)\s(?:for|on|regarding|re:?)\s){_EN_NAME}", 0.7),
    ("narrative", rf"(?<![A-Za-z.][ ]|[a-z,][ ]){_EN_NAME}(?=\s(?:is|was)\s(?:a|an)\s[0-9]|,\s(?:a|an)\s[0-9]|,\s[0-9]{{1,3}}(?:-|\s)?(?:year|yr|y/?o|yo|[MF]\b)|\s\([0-9]{{1,3}}\s?(?:y|yo|M|F)\b|\s(?:presented|presents|was\sadmitted|reports|is\sa\s))", 0.7),
    ("honorific", rf"{_EN_NAME}(?=[)）]?\s?(?:様|さん|殿|氏|先生|君|ちゃん))", 0.85),
    ("subject", rf"(?<![A-Za-z.][ ]|[a-z,][ ]|[A-Za-z]){_EN_NAME}(?=\s(?:feels|felt|reports|reported|denies|denied|states|stated|has|had|presents|presented|returns|returned|complains|c/o|tolerated|continues|remains|went|came|arrived|underwent|received|agrees|agreed|declined|refused|says|said|notes|noted|was\sseen|is\sseen|was\sadmitted|is\sdoing|was\sdischarged)\b)", 0.7),
    # two or more capitalised words mid-sentence: a name only if NER agrees (window NER / thorough mode)
    ("capitalized", rf"(?<=[a-z,;]\s){_EN_NAME}", PENDING_SCORE),
    ("ja_label", rf"(?<=(?:氏名|患者名|名前|患者|主治医|担当医|担当|記載者|紹介医|ローマ字|夫|妻|長男|長女|家族|連絡先|署名|技師|助手|Signature)\s?[:・：]?\s?){_EN_NAME}", 0.8),
    # "GRANT, HOPE M", "PHAM, DUC", "Sorensen, K": surname, comma, given name or initial
    ("last_first", r"(?<![A-Za-z,] ?)[A-Z][A-Z'\-]+,\s[A-Z][A-Z'\-]+(?:\s[A-Z]\.?)?(?![A-Za-z])", 0.6),
    ("last_initial", r"(?<![A-Za-z,] ?)\p{Lu}\p{Ll}+,\s[A-Z](?![A-Za-z.])", 0.55),
    # "K. Osei", "K.Ota", "R. Dunn": one initial and a surname
    ("initial_surname", r"(?<![A-Za-z.])[A-Z]\.[ ]?(?:O'|Mc)?\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}\p{Ll}+)?(?![A-Za-z])", 0.6),
    # "J.A.W.", "M.R.", "T.Y.": initials
    ("initials", r"(?<![A-Za-z.])(?:[A-Z]\.){2,3}(?![A-Za-z])", 0.6),
    ("title_initial", r"(?<=(?<![A-Za-z])(?:Mr|Mrs|Ms|Dr)\.?\s)[A-Z]\.?(?![A-Za-z])", 0.8),
    # a name that opens a line of a roster or header: "Eleanor Whitfield    Age: 94", "1. W. Hargrove, MRN ..."
    ("line_start", rf"(?<=^[ \t]*(?:[0-9]{{1,2}}\.\s|-\s|\|\s?)?){_EN_NAME}(?=\s{{2,}}|\s?\|\s|,\s(?:MRN|DOB|[0-9]{{1,3}}\s?[MF]\b|RN|MD|NP|PA)|\s\([0-9]{{1,3}}\s?[MF]?\)|\s—\s)", 0.6),
)


_JA_ROLE_LABELS = (
    "担当医", "受持看護師", "担当看護師", "看護師", "受付者", "受診者", "記録者", "記録", "記載者", "記載医", "記載", "確認者",
    "確認", "依頼医", "判定医", "読影医", "指定医", "当直医", "主治医", "執刀医", "術者", "助手", "第一助手", "第二助手",
    "器械出し", "外回り", "麻酔", "薬剤師", "管理栄養士", "社会福祉士", "調査員", "リーダー", "夜勤", "日勤", "ICT", "演者",
    "申請者", "届出人", "キーパーソン", "筆頭者の氏名", "保護者", "保護者自署", "氏名", "患者", "患児", "本人", "夫", "妻",
    "母", "父", "長男", "長女", "次男", "次女", "息子", "娘", "孫", "姪", "甥", "兄", "姉", "弟", "妹", "祖母", "祖父",
    "家族連絡", "相談者", "報告者", "発見者", "通訳", "スクリーナー", "細胞診専門医", "病理医", "検査者", "技師", "Ns.", "Ns",
    "医療安全管理者", "感染管理室", "担当", "署名", "自署", "受ける人の氏名", "患者氏名", "フリガナ", "ふりがな",
    "Cc", "CC", "To", "From", "Contact",
)
"""Role and field labels after which a short kanji/kana phrase is a name (担当医：平 あかり, 看護師 南 さやか)."""
_JA_LABEL_VALUE = regex.compile(
    r"(?:(?P<lab>" + "|".join(regex.escape(w) for w in sorted(_JA_ROLE_LABELS, key=len, reverse=True)) + r")"
    r"|(?P<gen>[\p{Han}\p{Katakana}ー]{1,6}(?:者|医|師|士|員)))"
    r"(?:[（(]ふりがな[）)])?(?P<sep>\s?[：:]\s?|[ 　]|[（(]|(?<=Ns\.?))(?:(?:母|父|妻|夫|長男|長女|Ns\.?)[ 　]?)?"
    r"(?P<v>[ｦ-ﾟ]{2,}(?:[ ][ｦ-ﾟ]{1,})?|[\p{Hiragana}]{2,5}[ 　][\p{Hiragana}]{1,5}"
    r"|[\p{Katakana}ー]{1,8}(?:・[\p{Katakana}ー]{1,8}){1,3}"
    r"|[\p{Han}々]{1,3}(?:[ 　][\p{Han}々\p{Hiragana}\p{Katakana}ー]{1,4})?)"
    r"(?=[\s、。,，（(）)／/・」]|へ|が|に|と|の|は|で|より|から|様|さん|先生|医師|Dr|Ns|$|[0-9])",
    regex.MULTILINE,
)
_JA_VALUE_STOP = frozenset(
    {"済", "未", "有", "無", "可", "不可", "要", "不要", "同上", "本日", "不明", "済み", "同", "特記", "未定", "実施", "予定",
     "中止", "継続", "変更", "有り", "無し", "なし", "あり", "全員", "全身", "局所", "自宅", "施設", "当院", "他院", "同席",
     "連絡", "説明", "報告", "記入", "署名", "印", "日付", "年月日", "前", "後", "中", "外来", "病棟", "入院", "退院"}
)


def ja_label_names(folded: str, start: int = 0, end: int | None = None) -> list[NameHit]:
    """Names right after a role or field label (see ``_JA_ROLE_LABELS``), found without a tokenizer."""
    hits: list[NameHit] = []
    for m in _JA_LABEL_VALUE.finditer(folded, start, len(folded) if end is None else end, overlapped=True):
        value = m.group("v")
        if m.group("gen") and ":" not in m.group("sep") and "：" not in m.group("sep"):
            continue  # a generic role word (…者/…医) is a label only with a colon
        parts = value.split()
        if len(parts) == 2 and parts[1] in HONORIFICS:  # 一郎 さん: the honorific is not part of the name
            value = parts[0]
        head = value.split()[0] if value.split() else value
        if (
            head in _JA_VALUE_STOP
            or value in ROLE_WORDS
            or head in ROLE_WORDS
            or value in NAME_LABELS
            or head in NAME_LABELS
            or head in _JA_ROLE_LABELS
            or value.endswith(_INSTITUTION_SUFFIXES)
            or any(w in value for w in ("科", "院", "病", "室", "棟", "部", "センター", "薬局"))
            or any(folded[m.end("v") :].startswith(h) for h in EPONYM_HEADS)
        ):
            continue
        hits.append(NameHit(m.start("v"), m.start("v") + len(value), 0.6, "ja-label"))
    return hits


class EnglishNameFinder:
    """Finds English (and romaji) person names from cue patterns; see the module docstring."""

    def __init__(self) -> None:
        from medswallow.pii.recognizers.base import lookbehind_to_group

        self._patterns = [(name, regex.compile(lookbehind_to_group(rx), regex.MULTILINE), score) for name, rx, score in _EN_CUES]

    def find(self, text: str, start: int = 0, end: int | None = None) -> list[NameHit]:
        end = len(text) if end is None else end
        folded = fold(text)
        hits: list[NameHit] = []
        for name, rx, score in self._patterns:
            has_value = "v" in rx.groupindex
            for m in rx.finditer(folded, start, end):
                s, e = m.span("v") if has_value else m.span()
                hit = self._clean(folded, s, e, score, name)
                if hit is not None:
                    hits.append(hit)
        return hits

    @staticmethod
    def _clean(folded: str, s: int, e: int, score: float, source: str) -> NameHit | None:
        words = folded[s:e].split()
        if source in ("last_first", "last_initial", "initial_surname") and any(
            w.strip(",.") in EN_STOP or w.strip(",.").title() in EN_STOP for w in words
        ):
            return None
        if source == "last_first" and max(len(w.strip(",.")) for w in words) <= 3:
            return None  # CBC, CMP / MMR, BCG: lists of acronyms
        if len(words) == 1 and words[0].isupper() and len(words[0]) <= 4 and source not in ("title", "ja_label", "initials", "title_initial"):
            return None  # an acronym (PCP, ED, HCV, OSH), not a name
        # trim stop words from both ends ("Patient: Denies pain" -> nothing; "Dr. Smith Date" -> "Smith")
        while words and (words[0].rstrip(".") in EN_STOP):
            s = folded.index(words[0], s) + len(words[0])
            while s < e and folded[s] == " ":
                s += 1
            words.pop(0)
        while words and (words[-1].rstrip(".") in EN_STOP):
            e = folded.rindex(words[-1], s, e)
            while e > s and folded[e - 1] == " ":
                e -= 1
            words.pop()
        if source in ("subject", "narrative") and (len(words) < 2 or EN_NOT_NAME_WORDS.search(folded[s:e])):
            return None
        if source in ("capitalized", "line_start", "identity", "superscript", "aside") and (len(words) < 2 or EN_NOT_NAME_WORDS.search(folded[s:e])):
            return None
        if source in ("capitalized", "line_start", "subject", "narrative", "credential", "patient", "identity", "aside", "superscript") and all(
            w.isupper() and len(w) > 1 for w in words
        ):
            return None  # an all-caps header, not a name, unless a label or title announced it
        if source == "initials" and folded[s:e] in NOT_INITIALS:
            return None

        if not words or e <= s:
            return None
        if EN_EPONYM_HEADS.match(folded[e : e + 30]):
            return None
        return NameHit(s, e, score, "en-" + source)
