"""Table tests of the pattern recognizers: valid strings found with the right span, traps left alone."""

from __future__ import annotations

import pytest

from medswallow.pii.recognizers.checksums import luhn_ok, make_luhn, make_my_number, my_number_ok

# (text, expected surface, label)
VALID = [
    # phones: hyphens, parentheses, full width, long-vowel mark, +81, extensions, contiguous mobile
    ("電話03-1234-5678まで", "03-1234-5678", "PHONE_NUMBER"),
    ("TEL：03(1234)5678", "03(1234)5678", "PHONE_NUMBER"),
    ("(045)123-4567", "(045)123-4567", "PHONE_NUMBER"),
    ("携帯０９０－１２３４－５６７８", "０９０－１２３４－５６７８", "PHONE_NUMBER"),
    ("携帯090ー1234ー5678", "090ー1234ー5678", "PHONE_NUMBER"),
    ("+81-90-1234-5678に連絡", "+81-90-1234-5678", "PHONE_NUMBER"),
    ("代表 0466-22-1234 内線305", "0466-22-1234 内線305", "PHONE_NUMBER"),
    ("03-1234-5678（内線2345）", "03-1234-5678（内線2345）", "PHONE_NUMBER"),
    ("長女（08012345678）", "08012345678", "PHONE_NUMBER"),
    ("連絡先 0312345678", "0312345678", "PHONE_NUMBER"),
    ("Phone (555) 123-4567", "(555) 123-4567", "PHONE_NUMBER"),
    ("call 555.123.4567 ext. 12", "555.123.4567 ext. 12", "PHONE_NUMBER"),
    # e-mail, also glued to kana and with a full-width at sign
    ("メールはtaro@example.jpまで", "taro@example.jp", "EMAIL_ADDRESS"),
    ("hanako.sato＠example.co.jp", "hanako.sato＠example.co.jp", "EMAIL_ADDRESS"),
    ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "EMAIL_ADDRESS"),
    # personal URLs
    ("ブログ https://ameblo.jp/hanako-diary/ に記載", "https://ameblo.jp/hanako-diary/", "URL"),
    ("see https://www.example.com/~tanaka", "https://www.example.com/~tanaka", "URL"),
    # postal codes
    ("〒160-0023 東京都", "〒160-0023", "JP_POSTAL_CODE"),
    ("郵便番号：1600023", "1600023", "JP_POSTAL_CODE"),
    # My Number: valid check digit, grouped or full width; failing check digit only next to its label
    (f"番号 {make_my_number('12345678901')}", make_my_number("12345678901"), "JP_MY_NUMBER"),
    ("マイナンバー：1234 5678 9012", "1234 5678 9012", "JP_MY_NUMBER"),
    # insurance
    ("保険者番号 06130012", "06130012", "JP_INSURANCE_NUMBER"),
    ("記号：12-345　番号：6789", "12-345", "JP_INSURANCE_NUMBER"),
    ("記号：12-345　番号：6789", "6789", "JP_INSURANCE_NUMBER"),
    ("記号・番号 東123・4567", "東123・4567", "JP_INSURANCE_NUMBER"),
    ("受給者番号：1234567", "1234567", "JP_INSURANCE_NUMBER"),
    # record numbers
    ("カルテ番号：A-123456", "A-123456", "MEDICAL_RECORD_NUMBER"),
    ("診察券番号 00123456", "00123456", "MEDICAL_RECORD_NUMBER"),
    ("患者ID:20231105", "20231105", "MEDICAL_RECORD_NUMBER"),
    ("MRN: 00123456", "00123456", "MEDICAL_RECORD_NUMBER"),
    ("her MRN is 45678901.", "45678901", "MEDICAL_RECORD_NUMBER"),
    ("Member ID: XJH123456789", "XJH123456789", "HEALTH_PLAN_ID"),
    ("SSN 123-45-6789", "123-45-6789", "US_SSN"),
    # dates tied to a person, every form
    ("令和5年3月2日入院", "令和5年3月2日", "DATE_TIME"),
    ("R5.3.2入院", "R5.3.2", "DATE_TIME"),
    ("昭和55年4月1日生", "昭和55年4月1日", "DATE_TIME"),
    ("H30/4/1手術", "H30/4/1", "DATE_TIME"),
    ("2023年3月2日退院", "2023年3月2日", "DATE_TIME"),
    ("採血日 2023/03/02", "2023/03/02", "DATE_TIME"),
    ("令和元年五月一日に死亡", "令和元年五月一日", "DATE_TIME"),
    ("平成三十年四月一日生まれ", "平成三十年四月一日", "DATE_TIME"),
    ("次回予約：4月15日", "4月15日", "DATE_TIME"),
    ("3/2入院", "3/2", "DATE_TIME"),
    ("２０２３年３月２日", "２０２３年３月２日", "DATE_TIME"),
    ("DOB: 03/02/1950", "03/02/1950", "DATE_TIME"),
    ("admitted on March 2, 2023", "March 2, 2023", "DATE_TIME"),
    ("seen 2 Mar 2023", "2 Mar 2023", "DATE_TIME"),
    # ages over 89
    ("92歳女性", "92歳", "AGE"),
    ("満100歳", "100歳", "AGE"),
    ("九十八歳", "九十八歳", "AGE"),
    ("Age/Sex: 91 F", "91", "AGE"),
    ("Pt: Rosalind Pierce, 97 F", "97", "AGE"),
    ("her 100th birthday", "100", "AGE"),
    ("a 93-year-old man", "93-year-old", "AGE"),
    ("age 95", "95", "AGE"),
    # addresses
    ("住所：東京都新宿区西新宿二丁目8番1号", "東京都新宿区西新宿二丁目8番1号", "LOCATION"),
    ("自宅は横浜市港北区日吉本町1-2-3 サンハイツ203号室", "横浜市港北区日吉本町1-2-3 サンハイツ203号室", "LOCATION"),
    ("長野県北佐久郡軽井沢町大字軽井沢1323番地", "長野県北佐久郡軽井沢町大字軽井沢1323番地", "LOCATION"),
    ("大阪市在住", "大阪市", "LOCATION"),
    ("市立中央病院 東京都新宿区西新宿2-8-1", "東京都新宿区西新宿2-8-1", "LOCATION"),  # institutional addresses too
    ("長女（川越市）へ連絡", "川越市", "LOCATION"),
    ("豊橋市花田町字西宿 12-5 コーポ花田 203", "豊橋市花田町字西宿 12-5 コーポ花田 203", "LOCATION"),
    ("She lives alone in Bellevue; her niece", "Bellevue", "LOCATION"),
    ("Dayton, OH 45419", "Dayton", "LOCATION"),
    ("P.O. Box 44710", "P.O. Box 44710", "LOCATION"),
    # postal codes, phones, URLs
    ("Fayetteville, AR 72703-4418", "72703-4418", "US_ZIP_CODE"),
    ("ext. 2214", "2214", "PHONE_NUMBER"),
    ("TEL06-6372-5518", "06-6372-5518", "PHONE_NUMBER"),
    ("ph 722-4136", "722-4136", "PHONE_NUMBER"),
    ("X/Twitter @NaomiFeldMD", "@NaomiFeldMD", "URL"),
    ("Facebook facebook.example.com/trevor.banks.7731", "facebook.example.com/trevor.banks.7731", "URL"),
    ("on my blog https://danaruns.example.com", "https://danaruns.example.com", "URL"),
    # dates without a year
    ("RTC 6/11.", "6/11", "DATE_TIME"),
    ("7/31夕より心窩部痛", "7/31", "DATE_TIME"),
    ("He flies home on 20 Nov with", "20 Nov", "DATE_TIME"),
    ("admitted via our ER on Nov 11", "Nov 11", "DATE_TIME"),
    ("健診胸部X線（2024年8月）で", "2024年8月", "DATE_TIME"),
    ("Nursing note 6-22-22 0300", "6-22-22", "DATE_TIME"),
    ("12-Feb-2025", "12-Feb-2025", "DATE_TIME"),
    ("(7/30-8/1) showed", "8/1", "DATE_TIME"),
    ("3. PATIENT'S BIRTH DATE: 07 14 1962  SEX F", "07 14 1962", "DATE_TIME"),
    ("weekly 01/2024-06/2024", "06/2024", "DATE_TIME"),
    ("Bradley Kern, DOB 03/12/1986", "Bradley Kern", "PERSON"),
    ("Authors: Rina Hashimoto¹, Takuya Mori¹", "Takuya Mori", "PERSON"),
    ("担当医：平 あかり　受持看護師：南", "平 あかり", "PERSON"),
    ("説明（同席：看護師 南 さやか）", "南 さやか", "PERSON"),
    ("患者：ｲﾜｻｷ ｹﾝｼﾞ（岩崎 健二）", "岩崎 健二", "PERSON"),
    ("Patient: GRANT, HOPE M    DOB", "GRANT, HOPE M", "PERSON"),
    ("K. Osei, PA-C", "K. Osei", "PERSON"),
    ("Member: Priya Venkataraman", "Priya Venkataraman", "PERSON"),
    # identifiers found by their label, NPI and DEA by check digit
    ("Accession: S24-18877", "S24-18877", "ID_NUMBER"),
    ("在留カード番号　PF48120375KA", "PF48120375KA", "ID_NUMBER"),
    ("運転免許証番号 第304512876630号", "304512876630", "ID_NUMBER"),
    ("旅券番号：AB482917", "AB482917", "ID_NUMBER"),
    ("Passport No. PX7741029", "PX7741029", "ID_NUMBER"),
    ("受給者番号（更新）：2106334", "2106334", "ID_NUMBER"),
    ("Claim #: WC-24-118372", "WC-24-118372", "ID_NUMBER"),
    ("CA DL D4829137", "D4829137", "ID_NUMBER"),
    ("prescriber 1234567893 on file", "1234567893", "ID_NUMBER"),  # NPI, Luhn with prefix 80840
    ("signed AB1234563", "AB1234563", "ID_NUMBER"),  # DEA check digit
    ("Lives at 1234 N Oak Street, Apt 5B, Springfield, IL 62704.", "1234 N Oak Street, Apt 5B, Springfield, IL 62704", "LOCATION"),
    ("ZIP: 62704", "62704", "US_ZIP_CODE"),
]

# (text, label that must not be reported anywhere in it)
INVALID = [
    ("ロキソプロフェン60mg 1日3回 毎食後", None),
    ("プレドニゾロン5mg 1-0-1", None),
    ("1/2錠 分2", None),
    ("BP 128/76 mmHg、SpO2 97%", None),
    ("K 4.1 mEq/L（基準値 3.5-5.0）", None),
    ("ICD-10：E11.9、I10", None),
    ("Lot 3K21A 使用期限 2026.03.31", None),
    ("ロット番号 AB1234 使用期限 2025年12月", None),
    ("2019年版ガイドラインでは", None),
    ("2021年3月改訂", None),
    ("See https://doi.org/10.1056/NEJMoa2034577 (accessed March 2, 2023).", None),
    ("https://www.mhlw.go.jp/stf/index.html を参照", None),
    ("HbA1c 6.5%, WBC 7.2 x10^3/uL, Plt 245 K/uL", None),
    ("metformin 500 mg twice daily", None),
    ("95% CI 1.2-3.4, HR 92 bpm", None),
    ("78歳男性", "AGE"),
    ("a 45-year-old woman", "AGE"),
    ("12-34-5678", "US_SSN"),  # not an SSN shape
    ("000-12-3456", "US_SSN"),  # area 000 is never issued
    ("666-12-3456", "US_SSN"),
    ("05-1234-567", "PHONE_NUMBER"),  # 9 digits
    ("1234 5678 9013", "JP_MY_NUMBER"),  # check digit fails, no label
    ("2023年13月40日", "DATE_TIME"),  # no such date
    ("Boise, ID 87050", "MEDICAL_RECORD_NUMBER"),  # a state, not an ID label
    ("Lot 12-3456 exp 2025/03/01", "ID_NUMBER"),  # a lot number, not a person's
    ("jRCT1234567890, IRB No. 2023-0417", "ID_NUMBER"),
    ("1234567890", "ID_NUMBER"),  # ten digits that fail the NPI check
    ("AB1234567", "ID_NUMBER"),  # DEA shape, failing check digit, no label
    ("Cre mg/dL 0.65-1.07", "ID_NUMBER"),  # a reference range
    ("ロキソプロフェン 3/4錠", "DATE_TIME"),
    ("NRS 6/10, Apgar 8/9, L4/5, BP 120/80", "DATE_TIME"),
    ("buprenorphine/naloxone 8/2 mg", "DATE_TIME"),
    ('"10-20-30" means 10 units', "DATE_TIME"),
    ("説明文書（第1.2版 2024年2月20日作成）", "DATE_TIME"),
    ("90歳以上の超高齢者", "AGE"),
    ("90歳代の男性", "AGE"),
    ("both patients aged 90 or older", "AGE"),
    ("Rm 5112-B, Bed 7", "LOCATION"),
    ("https://www.mhlw.go.jp/guideline.pdf", "URL"),
    ("CPT 20610 RT 05 20 24 units", "DATE_TIME"),  # spaced numbers without a date label
    ("Wells score 7.5, Baker cyst, Barrett esophagus", "PERSON"),
    ("HCV Ab POSITIVE; CBC, CMP drawn", "PERSON"),
    ("確認：済　記録：なし", "PERSON"),
]


@pytest.mark.parametrize(("text", "surface", "label"), VALID, ids=[f"{v[2]}:{v[1]}" for v in VALID])
def test_valid_strings_are_found(fast_engine, found, text, surface, label):
    assert (surface, label) in found(fast_engine, text)


@pytest.mark.parametrize(("text", "label"), INVALID, ids=[v[0][:24] for v in INVALID])
def test_traps_are_not_redacted(fast_engine, found, text, label):
    assert found(fast_engine, text, label) == []


@pytest.mark.parametrize(
    ("value", "ok"),
    [(make_my_number("12345678901"), True), ("123456789012", my_number_ok("123456789012")), ("1234", False)],
)
def test_my_number_check_digit(value, ok):
    assert my_number_ok(value) is ok


def test_my_number_check_digit_known_value():
    # weights 6,5,4,3,2,7,6,5,4,3,2 over 1..1 -> sum 47, 47 % 11 = 3, check digit 11 - 3 = 8
    assert my_number_ok("111111111118")
    assert not my_number_ok("111111111119")


@pytest.mark.parametrize(("body", "digit"), [("0613001", "7"), ("0113001", "2"), ("79927398713", None)])
def test_luhn(body, digit):
    if digit is None:
        assert luhn_ok(body)  # the textbook Luhn example
    else:
        assert make_luhn(body) == body + digit
        assert luhn_ok(body + digit)
        assert not luhn_ok(body + str((int(digit) + 1) % 10))


TABLE = (
    "| Screen date  | Initials | MRN      | Age | Outcome     |\n"
    "|--------------|----------|----------|-----|-------------|\n"
    "| 02-May-2024  | R.T.     | 00912273 | 71  | Screen fail |\n"
    "| 13-May-2024  | M.O.     | 00458810 | 91  | Enrolled    |\n"
    "\n"
    "Lot      Exp        Qty\n"
    "4471029  2026-01    30\n"
)


def test_table_columns_by_their_header(fast_engine, found):
    got = found(fast_engine, TABLE)
    assert {("00912273", "ID_NUMBER"), ("00458810", "ID_NUMBER"), ("R.T.", "PERSON"), ("M.O.", "PERSON"), ("91", "AGE")} <= set(got)
    assert ("71", "AGE") not in got and not any(s == "4471029" for s, _ in got)  # under 90; a lot column
