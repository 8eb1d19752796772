"""Synthetic clinical documents with planted, labelled PII: the PII dev set, its held-out split, test fixtures
and the benchmark corpus.

A template is plain text with ``{slot}`` fields; each slot draws a value (and a label, or None for traps and
non-identifying values) from a filler pool, and spans are computed while the text is assembled, never counted
by hand. Values drawn once per document are reused (the same patient name appears twice), as in real notes.
The dev and held-out splits use disjoint templates and disjoint filler pools (names, streets, formats weights),
so tuning on one does not leak into the other. All values are invented; My Numbers and 保険者番号 carry valid
check digits, SSNs follow the SSA rules.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medswallow.pii.recognizers.checksums import make_luhn, make_my_number

Value = tuple[str, str | None]
"""A slot value and its label (None: not PII)."""

# ---------------------------------------------------------------------------------------------------------
# Filler pools. DEV and HELDOUT are disjoint where it matters (names, streets, templates).
# ---------------------------------------------------------------------------------------------------------

DEV_POOL: dict[str, Any] = {
    "ja_sei": [
        ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
        ("渡辺", "ワタナベ"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山本", "ヤマモト"),
        ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
        ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
        ("前田", "マエダ"), ("藤田", "フジタ"), ("岡田", "オカダ"), ("後藤", "ゴトウ"), ("長谷川", "ハセガワ"), ("村上", "ムラカミ"),
        ("近藤", "コンドウ"), ("坂本", "サカモト"), ("遠藤", "エンドウ"), ("藤井", "フジイ"), ("西村", "ニシムラ"), ("福田", "フクダ"),
        ("太田", "オオタ"), ("三浦", "ミウラ"), ("藤原", "フジワラ"), ("原田", "ハラダ"), ("川崎", "カワサキ"), ("宮崎", "ミヤザキ"),
    ],
    "ja_mei": [
        ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("美咲", "ミサキ"), ("翔太", "ショウタ"),
        ("陽子", "ヨウコ"), ("裕子", "ユウコ"), ("誠", "マコト"), ("大輔", "ダイスケ"), ("直樹", "ナオキ"), ("恵子", "ケイコ"),
        ("由美", "ユミ"), ("和子", "カズコ"), ("幸子", "サチコ"), ("博", "ヒロシ"), ("茂", "シゲル"), ("清", "キヨシ"),
        ("節子", "セツコ"), ("久美子", "クミコ"), ("浩二", "コウジ"), ("隆", "タカシ"), ("明美", "アケミ"), ("正雄", "マサオ"),
        ("千代子", "チヨコ"), ("勝", "マサル"), ("春子", "ハルコ"), ("美穂", "ミホ"), ("拓也", "タクヤ"), ("愛子", "アイコ"),
    ],
    "ja_hira_mei": ["はなこ", "さくら", "ゆい", "ひまり", "そうた", "はると"],
    "foreign_kata": ["ジョン・スミス", "グエン・ヴァン・ナム", "マリア・サントス", "リー・ウェイ"],
    "en_first": [
        "John", "Mary", "Robert", "Patricia", "Michael", "Linda", "David", "Barbara", "James", "Susan", "William",
        "Jennifer", "Richard", "Elizabeth", "Thomas", "Margaret", "Charles", "Dorothy", "Daniel", "Karen", "Paul", "Nancy",
    ],
    "en_last": [
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
        "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall",
    ],
    "ja_addr": [
        ("東京都", "新宿区", "西新宿"), ("東京都", "世田谷区", "三軒茶屋"), ("神奈川県", "横浜市港北区", "日吉本町"),
        ("大阪府", "大阪市北区", "梅田"), ("愛知県", "名古屋市中区", "栄"), ("福岡県", "福岡市博多区", "博多駅前"),
        ("北海道", "札幌市中央区", "南三条西"), ("京都府", "京都市左京区", "吉田本町"), ("埼玉県", "さいたま市浦和区", "高砂"),
        ("千葉県", "船橋市", "本町"), ("兵庫県", "神戸市中央区", "三宮町"), ("宮城県", "仙台市青葉区", "一番町"),
    ],
    "buildings": ["サンハイツ", "メゾン桜", "コーポ青葉", "グランドパレス", "ひまわり荘", "レジデンス栄"],
    "en_streets": ["Oak Street", "Maple Avenue", "Pine Road", "Cedar Lane", "Elm Drive", "Washington Blvd", "Lakeview Court"],
    "en_cities": [("Springfield", "IL"), ("Portland", "OR"), ("Madison", "WI"), ("Austin", "TX"), ("Columbus", "OH"), ("Denver", "CO")],
    "email_domains": ["example.jp", "example.com", "mail.example.ne.jp", "hospital.example.org"],
    "sns": ["https://twitter.com/{u}", "https://www.instagram.com/{u}/", "https://ameblo.jp/{u}/", "https://www.facebook.com/{u}"],
}

HELDOUT_POOL: dict[str, Any] = {
    "ja_sei": [
        ("五十嵐", "イガラシ"), ("東海林", "ショウジ"), ("勅使河原", "テシガワラ"), ("小鳥遊", "タカナシ"), ("一ノ瀬", "イチノセ"),
        ("御手洗", "ミタライ"), ("九十九", "ツクモ"), ("猪狩", "イガリ"), ("鬼頭", "キトウ"), ("鷲見", "スミ"), ("薬師寺", "ヤクシジ"),
        ("栗栖", "クリス"), ("蓮見", "ハスミ"), ("梶原", "カジワラ"), ("真壁", "マカベ"), ("乙部", "オトベ"), ("柊", "ヒイラギ"),
        ("霧島", "キリシマ"), ("轟", "トドロキ"), ("比嘉", "ヒガ"), ("金城", "キンジョウ"), ("外間", "ホカマ"), ("我那覇", "ガナハ"),
        ("砂川", "スナガワ"), ("菊池", "キクチ"), ("高安", "タカヤス"), ("津久井", "ツクイ"), ("百瀬", "モモセ"),
    ],
    "ja_mei": [
        ("凛空", "リク"), ("瑠璃葉", "ルリハ"), ("煌大", "コウダイ"), ("心愛", "ココア"), ("陽葵", "ヒマリ"), ("湊斗", "ミナト"),
        ("結愛", "ユア"), ("蒼", "アオイ"), ("紬", "ツムギ"), ("律", "リツ"), ("琥珀", "コハク"), ("澪", "ミオ"), ("颯真", "ソウマ"),
        ("芽依", "メイ"), ("碧", "アオ"), ("朔", "サク"), ("詩織", "シオリ"), ("暖", "ダン"), ("ヨネ", "ヨネ"), ("トメ", "トメ"),
        ("正之助", "ショウノスケ"), ("喜代", "キヨ"), ("寅吉", "トラキチ"), ("キク", "キク"),
    ],
    "ja_hira_mei": ["あおい", "りん", "こはる", "つばさ", "みお", "いつき"],
    "foreign_kata": ["アナ・ガルシア", "チャン・ティ・フォン", "ラジェシュ・クマール", "ソフィア・ミュラー"],
    "en_first": [
        "Oluwaseun", "Siobhan", "Rahul", "Mei-Ling", "Dmitri", "Aaliyah", "Giovanni", "Hamid", "Anneke", "Kwame", "Ines",
        "Tomasz", "Priya", "Bartholomew", "Esperanza", "Yusuf", "Ngozi", "Lars",
    ],
    "en_last": [
        "Adeyemi", "O'Connor", "Venkataraman", "Chen", "Volkov", "Washington", "Russo", "Karimi", "de Vries", "Mensah",
        "Fernandes", "Kowalski", "Raghunathan", "McAllister", "Okafor", "Lindqvist", "Haddad", "Castellanos",
    ],
    "ja_addr": [
        ("沖縄県", "那覇市", "久茂地"), ("長野県", "北佐久郡軽井沢町", "大字軽井沢"), ("広島県", "広島市中区", "紙屋町"),
        ("石川県", "金沢市", "広坂"), ("熊本県", "熊本市中央区", "手取本町"), ("新潟県", "新潟市中央区", "古町通"),
        ("静岡県", "浜松市中央区", "鍛冶町"), ("岡山県", "岡山市北区", "表町"), ("茨城県", "つくば市", "天久保"),
        ("東京都", "八王子市", "元本郷町"), ("鹿児島県", "鹿児島市", "山下町"), ("青森県", "弘前市", "大字本町"),
    ],
    "buildings": ["パークサイド久茂地", "シャトー広坂", "ヴィラ天久保", "第二美松荘", "アーバンコート", "ハイム表町"],
    "en_streets": ["Birchwood Terrace", "Quarry Hill Road", "Magnolia Way", "Harbor View Drive", "Sycamore Street", "Juniper Place"],
    "en_cities": [("Burlington", "VT"), ("Tacoma", "WA"), ("Savannah", "GA"), ("Boise", "ID"), ("Provo", "UT"), ("Albany", "NY")],
    "email_domains": ["example.co.jp", "example.net", "clinic.example.jp", "example.org"],
    "sns": ["https://x.com/{u}", "https://note.com/{u}", "https://{u}.hatenablog.com/", "https://www.linkedin.com/in/{u}"],
}

BLIND_POOL: dict[str, Any] = {
    **HELDOUT_POOL,
    "ja_sei": [
        ("日下部", "クサカベ"), ("宇佐美", "ウサミ"), ("神宮寺", "ジングウジ"), ("天野", "アマノ"), ("相馬", "ソウマ"), ("嵯峨", "サガ"),
        ("仲宗根", "ナカソネ"), ("瀬戸口", "セトグチ"), ("白鳥", "シラトリ"), ("桐生", "キリュウ"), ("早乙女", "サオトメ"), ("南雲", "ナグモ"),
        ("帯刀", "タテワキ"), ("鶴見", "ツルミ"), ("八木橋", "ヤギハシ"), ("羽生", "ハニュウ"), ("新垣", "アラカキ"), ("鳳", "オオトリ"),
    ],
    "ja_mei": [
        ("葵", "アオイ"), ("楓", "カエデ"), ("陽向", "ヒナタ"), ("悠真", "ユウマ"), ("柚希", "ユズキ"), ("湊", "ミナト"), ("莉子", "リコ"),
        ("遥斗", "ハルト"), ("千尋", "チヒロ"), ("風花", "フウカ"), ("大和", "ヤマト"), ("栞", "シオリ"), ("樹", "イツキ"), ("七海", "ナナミ"),
        ("奏太", "ソウタ"), ("杏", "アン"), ("冬馬", "トウマ"), ("咲良", "サクラ"),
    ],
    "en_first": ["Ayodele", "Bjorn", "Catalina", "Desmond", "Fatima", "Gwendolyn", "Hiroshi", "Imogen", "Jaroslav", "Keanu", "Leilani", "Malik", "Nadia", "Obinna", "Penelope"],
    "en_last": ["Abernathy", "Bianchi", "Czarnecki", "Dubois", "Eriksen", "Fitzgerald", "Gonzalez", "Hoffmann", "Iyer", "Jablonski", "Kaur", "Lindgren", "Moreau", "Nakashima", "Oyelaran"],
}

EPONYMS_JA = [
    "川崎病", "橋本病", "バセドウ病", "パーキンソン病", "アルツハイマー型認知症", "クッシング症候群", "ギラン・バレー症候群",
    "ベーチェット病", "クローン病", "シェーグレン症候群", "高安動脈炎", "原田病", "菊池病", "ホジキンリンパ腫", "ウィルソン病",
    "メニエール病", "ダウン症候群", "ブルガダ症候群", "マロリー・ワイス症候群", "ウェルニッケ脳症", "ネフローゼ症候群",
]
EPONYMS_EN = [
    "Alzheimer's disease", "Cushing syndrome", "Babinski sign", "Parkinson's disease", "Hodgkin lymphoma", "Crohn's disease",
    "Graves' disease", "Hashimoto thyroiditis", "Kawasaki disease", "Guillain-Barre syndrome", "Murphy's sign",
    "Bell's palsy", "Raynaud phenomenon", "Wilson disease", "Addison's disease", "Sjogren syndrome", "Barrett esophagus",
]
SIGNS_JA = ["Babinski反射", "マーフィー徴候", "ケルニッヒ徴候", "ロンベルグ試験", "ホーマンズ徴候", "バレー徴候"]
DRUGS_JA = [
    ("ロキソプロフェン", "60mg 1日3回 毎食後"), ("アムロジピン", "5mg 1日1回 朝食後"), ("メトホルミン", "500mg 1日2回 朝夕食後"),
    ("ワルファリン", "2mg 1日1回"), ("ランソプラゾール", "15mg 1-0-0"), ("アトルバスタチン", "10mg 0-0-1"),
    ("大建中湯", "7.5g 分3 毎食前"), ("葛根湯", "2.5g 1日3回"), ("マグミット", "330mg 2錠 分2"), ("アセトアミノフェン", "500mg 頓用"),
    ("プレドニゾロン", "5mg 1-0-1"), ("ビソプロロール", "2.5mg 1日1回"),
]
DRUGS_EN = [
    ("metformin", "500 mg twice daily"), ("lisinopril", "10 mg once daily"), ("atorvastatin", "40 mg at bedtime"),
    ("apixaban", "5 mg BID"), ("levothyroxine", "75 mcg daily"), ("furosemide", "40 mg PO qAM"),
    ("acetaminophen", "650 mg q6h PRN"), ("amoxicillin", "500 mg TID x 7 days"), ("insulin glargine", "20 units at bedtime"),
]
LABS_JA = [
    "CRP 0.32 mg/dL", "WBC 7800/μL", "Hb 12.3 g/dL", "HbA1c 6.8%", "eGFR 58 mL/min/1.73m²", "AST 32 U/L", "ALT 28 U/L",
    "Cr 0.92 mg/dL", "Na 139 mEq/L", "K 4.1 mEq/L（基準値 3.5-5.0）", "BNP 245 pg/mL", "TSH 4.2 μIU/mL", "PLT 21.4万/μL",
]
LABS_EN = [
    "WBC 7.2 x10^3/uL", "Hgb 13.1 g/dL", "Plt 245 K/uL", "Na 138 mmol/L", "K 4.3 mmol/L (ref 3.5-5.1)", "Cr 1.02 mg/dL",
    "HbA1c 7.4%", "LDL 132 mg/dL", "TSH 2.1 mIU/L", "troponin I <0.01 ng/mL", "BNP 89 pg/mL", "INR 2.3",
]
ICD = ["I10", "E11.9", "C34.1", "J18.9", "N18.3", "F32.1", "I48.0", "K21.0", "M81.0", "G30.1"]
CITES_JA = ["Smith et al. (2019)", "田中ら（2018）", "Yamamoto et al. 2021", "佐藤らの報告（2020）", "Johnson and colleagues (2017)"]
CITES_EN = ["Smith et al. 2019", "Jones et al. (2020)", "Nakamura et al., 2018", "Brown and colleagues (2016)", "Garcia et al. 2022"]
PUBLIC_URLS = [
    "https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/kenkou_iryou/iryou/index.html",
    "https://doi.org/10.1056/NEJMoa2034577",
    "https://pubmed.ncbi.nlm.nih.gov/31234567/",
    "https://www.pmda.go.jp/PmdaSearch/iyakuSearch/",
    "https://www.who.int/news-room/fact-sheets/detail/diabetes",
]
DEPTS_JA = ["循環器内科", "消化器内科", "呼吸器内科", "整形外科", "脳神経内科", "糖尿病内分泌内科", "総合診療科", "腎臓内科"]
HOSPITALS_JA = ["市立中央病院", "県立医療センター", "さくら内科クリニック", "東都大学病院", "みなと総合病院", "昭和記念病院"]
HOSPITALS_EN = ["Mercy General Hospital", "St. Mary's Medical Center", "Riverside Community Clinic", "Lakeside Family Practice"]


# ---------------------------------------------------------------------------------------------------------
# Slot values
# ---------------------------------------------------------------------------------------------------------


def _fw(s: str) -> str:
    """Full-width digits/letters/punctuation (as typed by Japanese IMEs)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


@dataclass
class Person:
    sei: str
    mei: str
    sei_kana: str
    mei_kana: str


@dataclass
class Slots:
    """Draws slot values for one document; values asked for twice by name come back the same."""

    rng: random.Random
    pool: dict[str, Any]
    split: str
    cache: dict[str, Value] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    # -- people --------------------------------------------------------------------------------------
    def person(self, key: str, same_sei_as: str | None = None) -> Person:
        if key not in self.people:
            sei, sei_k = self.rng.choice(self.pool["ja_sei"])
            if same_sei_as is not None:
                ref = self.person(same_sei_as)
                sei, sei_k = ref.sei, ref.sei_kana
            mei, mei_k = self.rng.choice(self.pool["ja_mei"])
            self.people[key] = Person(sei, mei, sei_k, mei_k)
        return self.people[key]

    def en_person(self, key: str) -> tuple[str, str]:
        k = "en:" + key
        if k not in self.cache:
            self.cache[k] = (self.rng.choice(self.pool["en_first"]) + "|" + self.rng.choice(self.pool["en_last"]), None)
        first, last = self.cache[k][0].split("|")
        return first, last

    def get(self, slot: str) -> Value:
        if slot in self.cache:
            return self.cache[slot]
        base = re.sub(r"\d+$", "", slot)
        fn: Callable[[str], Value] = getattr(self, "s_" + base)
        value = fn(slot)
        self.cache[slot] = value
        return value

    # -- Japanese names ------------------------------------------------------------------------------
    def _full(self, p: Person) -> str:
        sep = self.rng.choice(["", " ", "\u3000", ""])
        return f"{p.sei}{sep}{p.mei}"

    def s_pt(self, slot: str) -> Value:
        return self._full(self.person("pt")), "PERSON"

    def s_pt_sei(self, slot: str) -> Value:
        return self.person("pt").sei, "PERSON"

    def s_pt_kana(self, slot: str) -> Value:
        p = self.person("pt")
        return f"{p.sei_kana}{self.rng.choice([' ', '　'])}{p.mei_kana}", "PERSON"

    def s_pt_romaji(self, slot: str) -> Value:
        p = self.person("pt")
        sei, mei = _romaji(p.sei_kana), _romaji(p.mei_kana)
        return (f"{sei.upper()} {mei.capitalize()}" if self.rng.random() < 0.5 else f"{mei.capitalize()} {sei.capitalize()}"), "PERSON"

    def s_fam(self, slot: str) -> Value:
        return self._full(self.person("fam" + slot[3:], same_sei_as="pt")), "PERSON"

    def s_fam_mei(self, slot: str) -> Value:
        return self.person("fam" + slot[7:], same_sei_as="pt").mei, "PERSON"

    def s_child_hira(self, slot: str) -> Value:
        return self.rng.choice(self.pool["ja_hira_mei"]), "PERSON"

    def s_foreign(self, slot: str) -> Value:
        return self.rng.choice(self.pool["foreign_kata"]), "PERSON"

    def s_dr(self, slot: str) -> Value:
        return self.person(slot).sei, "PERSON"

    def s_ns(self, slot: str) -> Value:
        return self.person(slot).sei, "PERSON"

    def s_ph(self, slot: str) -> Value:
        return self.person(slot).sei, "PERSON"

    def s_dr_full(self, slot: str) -> Value:
        return self._full(self.person(slot)), "PERSON"

    # -- English names -------------------------------------------------------------------------------
    def s_en_pt(self, slot: str) -> Value:
        first, last = self.en_person("pt")
        return f"{first} {last}", "PERSON"

    def s_en_pt_last(self, slot: str) -> Value:
        return self.en_person("pt")[1], "PERSON"

    def s_en_pt_first(self, slot: str) -> Value:
        return self.en_person("pt")[0], "PERSON"

    def s_en_dr(self, slot: str) -> Value:
        first, last = self.en_person(slot)
        return (f"{first} {last}" if self.rng.random() < 0.6 else last), "PERSON"

    def s_en_fam(self, slot: str) -> Value:
        first, _ = self.en_person(slot)
        last = self.en_person("pt")[1]
        return (f"{first} {last}" if self.rng.random() < 0.5 else first), "PERSON"

    # -- numbers -------------------------------------------------------------------------------------
    def _digits(self, n: int) -> str:
        return "".join(str(self.rng.randint(0, 9)) for _ in range(n))

    def s_tel(self, slot: str) -> Value:
        r = self.rng
        area = r.choice(["03", "06", "045", "052", "011", "092", "0466", "0299"])
        rest = 10 - len(area)
        mid = rest - 4
        a, b = self._digits(mid), self._digits(4)
        forms = [f"{area}-{a}-{b}", f"{area}({a}){b}", f"({area}){a}-{b}", _fw(f"{area}-{a}-{b}"), f"+81-{area[1:]}-{a}-{b}", f"{area} {a} {b}"]
        if self.split != "dev":
            forms += [f"{area}－{a}－{b}", f"+81 {area[1:]} {a} {b}", f"{area}-{a}-{b}（代表）"]
        v = r.choice(forms)
        if v.endswith("（代表）"):
            return v[:-4], "PHONE_NUMBER"
        return v, "PHONE_NUMBER"

    def s_tel_ext(self, slot: str) -> Value:
        v, _ = self.s_tel(slot)
        ext = self._digits(self.rng.choice([3, 4]))
        return self.rng.choice([f"{v} 内線{ext}", f"{v}（内線{ext}）", f"{v} ext.{ext}"]), "PHONE_NUMBER"

    def s_mobile(self, slot: str) -> Value:
        r = self.rng
        p = r.choice(["090", "080", "070"])
        a, b = self._digits(4), self._digits(4)
        forms = [f"{p}-{a}-{b}", _fw(f"{p}-{a}-{b}"), f"{p}{a}{b}", f"+81-{p[1:]}-{a}-{b}", f"{p}ー{a}ー{b}"]
        return r.choice(forms), "PHONE_NUMBER"

    def s_en_tel(self, slot: str) -> Value:
        r = self.rng
        a, b, c = str(r.randint(201, 989)), self._digits(3), self._digits(4)
        forms = [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"{a}-{b}-{c} ext. {self._digits(3)}"]
        return r.choice(forms), "PHONE_NUMBER"

    def s_email(self, slot: str) -> Value:
        r = self.rng
        p = self.person("pt")
        user = r.choice([_romaji(p.sei_kana).lower() + "." + _romaji(p.mei_kana).lower(), _romaji(p.mei_kana).lower() + self._digits(2), "t." + _romaji(p.sei_kana).lower()])
        v = f"{user}@{r.choice(self.pool['email_domains'])}"
        form = r.random()
        if form < 0.15:
            v = v.replace("@", "＠")
        elif form < 0.25:
            v = _fw(v)
        return v, "EMAIL_ADDRESS"

    def s_en_email(self, slot: str) -> Value:
        first, last = self.en_person("pt")
        user = self.rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}{self._digits(2)}"]).lower().replace("'", "").replace(" ", "")
        return f"{user}@{self.rng.choice(self.pool['email_domains'])}", "EMAIL_ADDRESS"

    def s_url(self, slot: str) -> Value:
        user = _romaji(self.person("pt").sei_kana).lower() + "_" + self._digits(3)
        return self.rng.choice(self.pool["sns"]).format(u=user), "URL"

    def s_public_url(self, slot: str) -> Value:
        return self.rng.choice(PUBLIC_URLS), None

    def s_mynum(self, slot: str) -> Value:
        n = make_my_number(str(self.rng.randint(1, 9)) + self._digits(10))
        return self.rng.choice([n, f"{n[:4]} {n[4:8]} {n[8:]}", f"{n[:4]}-{n[4:8]}-{n[8:]}", _fw(n)]), "JP_MY_NUMBER"

    def s_insurer(self, slot: str) -> Value:
        body = self.rng.choice(["0613", "0113", "3927", "3127", "0627", "6713"]) + self._digits(3)
        v = make_luhn(body)
        if self.rng.random() < 0.2:
            v = make_luhn(self._digits(5))  # 国保: 6 digits
        return v, "JP_INSURANCE_NUMBER"

    def s_ins_sym(self, slot: str) -> Value:
        r = self.rng
        return r.choice([self._digits(4), f"{self._digits(2)}-{self._digits(3)}", f"{r.choice(['東', '横', 'あ', '北'])}{self._digits(3)}", self._digits(8)]), "JP_INSURANCE_NUMBER"

    def s_ins_num(self, slot: str) -> Value:
        return self.rng.choice([self._digits(3), self._digits(5), self._digits(7)]), "JP_INSURANCE_NUMBER"

    def s_mrn(self, slot: str) -> Value:
        r = self.rng
        return r.choice([self._digits(7), f"{self._digits(3)}-{self._digits(4)}", f"A{self._digits(6)}", self._digits(10), f"P-{self._digits(5)}"]), "MEDICAL_RECORD_NUMBER"

    def s_en_mrn(self, slot: str) -> Value:
        return self.rng.choice([self._digits(8), f"MR{self._digits(7)}", f"{self._digits(3)}-{self._digits(2)}-{self._digits(3)}"]), "MEDICAL_RECORD_NUMBER"

    def s_member(self, slot: str) -> Value:
        r = self.rng
        return r.choice([f"XJH{self._digits(9)}", f"W{self._digits(8)}", f"{self._digits(4)}-{self._digits(4)}-{self._digits(2)}", f"1EG4TE5MK7{self._digits(1)}"]), "HEALTH_PLAN_ID"

    def s_ssn(self, slot: str) -> Value:
        r = self.rng
        area = r.choice([x for x in range(1, 900) if x != 666])
        return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}", "US_SSN"

    def s_zip(self, slot: str) -> Value:
        return f"〒{self._digits(3)}-{self._digits(4)}" if self.rng.random() < 0.85 else f"〒{self._digits(7)}", "JP_POSTAL_CODE"

    # -- addresses -----------------------------------------------------------------------------------
    def s_addr(self, slot: str) -> Value:
        r = self.rng
        pref, city, town = r.choice(self.pool["ja_addr"])
        a, b, c = r.randint(1, 9), r.randint(1, 30), r.randint(1, 20)
        kan = "〇一二三四五六七八九"
        street = r.choice([
            f"{town}{a}-{b}-{c}", f"{town}{kan[a]}丁目{b}番{c}号", f"{town}{a}丁目{b}番地{c}", f"{town}{a}丁目{b}-{c}",
            f"{town}{_fw(f'{a}-{b}-{c}')}", f"{town}{r.randint(100, 2999)}番地",
        ])
        with_pref = r.random() < 0.8
        v = (pref if with_pref else "") + city + street
        if r.random() < 0.4:
            v += r.choice([" ", "　", ""]) + r.choice(self.pool["buildings"]) + r.choice([f"{r.randint(1, 9)}0{r.randint(1, 9)}号室", f" {r.randint(1, 9)}0{r.randint(1, 9)}"])
        return v, "LOCATION"

    def s_city_only(self, slot: str) -> Value:
        pref, city, _ = self.rng.choice(self.pool["ja_addr"])
        return pref + city, "LOCATION"

    def s_pref_only(self, slot: str) -> Value:
        return self.rng.choice(self.pool["ja_addr"])[0], None

    def s_en_addr(self, slot: str) -> Value:
        r = self.rng
        city, st = r.choice(self.pool["en_cities"])
        v = f"{r.randint(1, 9999)} {r.choice(['', 'N ', 'S ', 'E ', 'W '])}{r.choice(self.pool['en_streets'])}"
        if r.random() < 0.3:
            v += f", Apt {r.randint(1, 20)}{r.choice('ABCD')}"
        v += f", {city}, {st} {self._digits(5)}"
        return v, "LOCATION"

    # -- dates and ages ------------------------------------------------------------------------------
    def _ymd(self, lo: int, hi: int) -> tuple[int, int, int]:
        return self.rng.randint(lo, hi), self.rng.randint(1, 12), self.rng.randint(1, 28)

    def ja_date(self, y: int, m: int, d: int) -> str:
        r = self.rng
        forms = [f"{y}年{m}月{d}日", f"{y}/{m:02d}/{d:02d}", f"{y}/{m}/{d}", f"{y}-{m:02d}-{d:02d}", f"{y}.{m}.{d}"]
        era = _to_era(y)
        if era:
            name, n = era
            forms += [f"{name}{'元' if n == 1 else n}年{m}月{d}日", f"{_ERA_INITIAL[name]}{n}.{m}.{d}", f"{_ERA_INITIAL[name]}{n}/{m}/{d}"]
            if self.split != "dev":
                forms += [f"{name}{_kanji_num(n)}年{_kanji_num(m)}月{_kanji_num(d)}日", f"{_ERA_INITIAL[name]}{n:02d}.{m:02d}.{d:02d}"]
        if self.split != "dev":
            forms += [_fw(f"{y}年{m}月{d}日"), f"{y}年 {m}月 {d}日"]
        return r.choice(forms)

    def s_dob(self, slot: str) -> Value:
        return self.ja_date(*self._ymd(1925, 2005)), "DATE_TIME"

    def s_date(self, slot: str) -> Value:
        return self.ja_date(*self._ymd(2015, 2025)), "DATE_TIME"

    def s_md(self, slot: str) -> Value:
        return f"{self.rng.randint(1, 12)}月{self.rng.randint(1, 28)}日", "DATE_TIME"

    def en_date(self, y: int, m: int, d: int) -> str:
        months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        mon = months[m - 1]
        forms = [f"{m:02d}/{d:02d}/{y}", f"{m}/{d}/{y}", f"{mon} {d}, {y}", f"{d} {mon} {y}", f"{mon[:3]} {d}, {y}", f"{y}-{m:02d}-{d:02d}", f"{m}-{d}-{str(y)[2:]}"]
        return self.rng.choice(forms)

    def s_en_dob(self, slot: str) -> Value:
        return self.en_date(*self._ymd(1925, 2005)), "DATE_TIME"

    def s_en_date(self, slot: str) -> Value:
        return self.en_date(*self._ymd(2015, 2025)), "DATE_TIME"

    def s_age(self, slot: str) -> Value:
        a = self.rng.randint(18, 99)
        return f"{a}歳", ("AGE" if a > 89 else None)

    def s_age_old(self, slot: str) -> Value:
        a = self.rng.randint(90, 104)
        return self.rng.choice([f"{a}歳", f"{a}才"]), "AGE"

    def s_en_age(self, slot: str) -> Value:
        a = self.rng.randint(18, 99)
        return self.rng.choice([f"{a}-year-old", f"{a} year old", f"{a} y/o"]), ("AGE" if a > 89 else None)

    def s_en_age_old(self, slot: str) -> Value:
        a = self.rng.randint(90, 104)
        return self.rng.choice([f"{a}-year-old", f"{a} years old", f"{a}yo"]), "AGE"

    # -- traps (never labelled) ----------------------------------------------------------------------
    def s_eponym(self, slot: str) -> Value:
        return self.rng.choice(EPONYMS_JA), None

    def s_sign(self, slot: str) -> Value:
        return self.rng.choice(SIGNS_JA), None

    def s_en_eponym(self, slot: str) -> Value:
        return self.rng.choice(EPONYMS_EN), None

    def s_drug(self, slot: str) -> Value:
        name, dose = self.rng.choice(DRUGS_JA)
        return f"{name} {dose}", None

    def s_en_drug(self, slot: str) -> Value:
        name, dose = self.rng.choice(DRUGS_EN)
        return f"{name} {dose}", None

    def s_lab(self, slot: str) -> Value:
        return "、".join(self.rng.sample(LABS_JA, 3)), None

    def s_en_lab(self, slot: str) -> Value:
        return ", ".join(self.rng.sample(LABS_EN, 3)), None

    def s_icd(self, slot: str) -> Value:
        return self.rng.choice(ICD), None

    def s_lot(self, slot: str) -> Value:
        r = self.rng
        return f"{r.choice('ABCDEFGHK')}{r.randint(10, 99)}{r.choice('ABCDEFGHK')}{r.randint(1, 9)}", None

    def s_expiry(self, slot: str) -> Value:
        return f"{self.rng.randint(2025, 2029)}.{self.rng.randint(1, 12):02d}", None

    def s_cite(self, slot: str) -> Value:
        return self.rng.choice(CITES_JA), None

    def s_en_cite(self, slot: str) -> Value:
        return self.rng.choice(CITES_EN), None

    def s_dept(self, slot: str) -> Value:
        return self.rng.choice(DEPTS_JA), None

    def s_hosp(self, slot: str) -> Value:
        return self.rng.choice(HOSPITALS_JA), None

    def s_en_hosp(self, slot: str) -> Value:
        return self.rng.choice(HOSPITALS_EN), None

    def s_n(self, slot: str) -> Value:
        return str(self.rng.randint(2, 14)), None

    def s_bp(self, slot: str) -> Value:
        return f"{self.rng.randint(100, 170)}/{self.rng.randint(55, 100)}", None

    def s_pct(self, slot: str) -> Value:
        return str(self.rng.randint(88, 99)), None

    def s_year(self, slot: str) -> Value:
        return str(self.rng.randint(2005, 2024)), None


_ERA_INITIAL = {"令和": "R", "平成": "H", "昭和": "S", "大正": "T"}


def _to_era(y: int) -> tuple[str, int] | None:
    for name, base in (("令和", 2018), ("平成", 1988), ("昭和", 1925), ("大正", 1911)):
        if y > base:
            return name, y - base
    return None


def _kanji_num(n: int) -> str:
    digits = "〇一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


_KANA_ROMAJI = {
    "キャ": "kya", "キュ": "kyu", "キョ": "kyo", "シャ": "sha", "シュ": "shu", "ショ": "sho", "チャ": "cha", "チュ": "chu",
    "チョ": "cho", "ニャ": "nya", "ニュ": "nyu", "ニョ": "nyo", "ヒャ": "hya", "ヒョ": "hyo", "ミャ": "mya", "リュ": "ryu",
    "リョ": "ryo", "ギョ": "gyo", "ジャ": "ja", "ジュ": "ju", "ジョ": "jo", "ビョ": "byo",
    "ア": "a", "イ": "i", "ウ": "u", "エ": "e", "オ": "o", "カ": "ka", "キ": "ki", "ク": "ku", "ケ": "ke", "コ": "ko",
    "サ": "sa", "シ": "shi", "ス": "su", "セ": "se", "ソ": "so", "タ": "ta", "チ": "chi", "ツ": "tsu", "テ": "te", "ト": "to",
    "ナ": "na", "ニ": "ni", "ヌ": "nu", "ネ": "ne", "ノ": "no", "ハ": "ha", "ヒ": "hi", "フ": "fu", "ヘ": "he", "ホ": "ho",
    "マ": "ma", "ミ": "mi", "ム": "mu", "メ": "me", "モ": "mo", "ヤ": "ya", "ユ": "yu", "ヨ": "yo", "ラ": "ra", "リ": "ri",
    "ル": "ru", "レ": "re", "ロ": "ro", "ワ": "wa", "ヲ": "o", "ン": "n", "ガ": "ga", "ギ": "gi", "グ": "gu", "ゲ": "ge",
    "ゴ": "go", "ザ": "za", "ジ": "ji", "ズ": "zu", "ゼ": "ze", "ゾ": "zo", "ダ": "da", "ヂ": "ji", "ヅ": "zu", "デ": "de",
    "ド": "do", "バ": "ba", "ビ": "bi", "ブ": "bu", "ベ": "be", "ボ": "bo", "パ": "pa", "ピ": "pi", "プ": "pu", "ペ": "pe",
    "ポ": "po", "ー": "", "ッ": "",
}


def _romaji(kana: str) -> str:
    out, i = [], 0
    while i < len(kana):
        two = kana[i : i + 2]
        if two in _KANA_ROMAJI:
            out.append(_KANA_ROMAJI[two])
            i += 2
            continue
        ch = kana[i]
        if ch == "ッ" and i + 1 < len(kana):
            nxt = _KANA_ROMAJI.get(kana[i + 1], "")
            out.append(nxt[:1])
        else:
            out.append(_KANA_ROMAJI.get(ch, ""))
        i += 1
    return "".join(out).replace("ou", "o").replace("uu", "u") or "x"


# ---------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------

_SLOT = re.compile(r"\{(\w+)\}")


def render(template: str, slots: Slots) -> tuple[str, list[dict[str, Any]]]:
    """Fill ``{slot}`` fields; returns the text and its gold spans (offsets computed while assembling)."""
    parts: list[str] = []
    spans: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        lit = template[pos : m.start()]
        parts.append(lit)
        length += len(lit)
        value, label = slots.get(m.group(1))
        if label is not None:
            spans.append({"start": length, "end": length + len(value), "label": label})
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    text = "".join(parts)
    for s in spans:
        assert text[s["start"] : s["end"]].strip() == text[s["start"] : s["end"]], s
    return text, spans


def generate(split: str, n_docs: int, seed: int) -> list[dict[str, Any]]:
    """``n_docs`` documents of one split (``dev``, ``heldout`` or ``blind``), cycling through its templates."""
    from data.pii.devset.synth_templates import TEMPLATES

    pool = {"dev": DEV_POOL, "heldout": HELDOUT_POOL, "blind": BLIND_POOL}[split]
    templates = TEMPLATES[split]
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        kind, lang, template = templates[i % len(templates)]
        slots = Slots(rng=rng, pool=pool, split=split)
        text, spans = render(template, slots)
        docs.append({"id": f"{split}-{i:04d}-{kind}", "lang": lang, "kind": kind, "text": text, "spans": spans})
    return docs
