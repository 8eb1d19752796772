"""The entity labels this engine emits (Presidio-style names) and what each one covers."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "PERSON": "a person's name: patient, family member, staff (kanji, kana, romaji; honorifics and titles excluded)",
    "PHONE_NUMBER": "telephone or fax number, with its extension (内線) when written next to it",
    "EMAIL_ADDRESS": "e-mail address, also with a full-width ＠",
    "URL": "a URL that points at a person (social media, personal page); public reference sites are kept",
    "LOCATION": "a postal address below the prefecture/state level (city, street, 丁目/番地/号, building, room)",
    "JP_POSTAL_CODE": "Japanese postal code: 〒 123-4567 (the 〒 mark is part of the span)",
    "US_ZIP_CODE": "a US ZIP code written on its own, with a ZIP label",
    "DATE_TIME": "a calendar date tied to a person (birth, visit, admission, surgery, discharge, death) in any form",
    "AGE": "an age over 89 (HIPAA safe harbour); younger ages are kept",
    "JP_MY_NUMBER": "Individual Number (マイナンバー/個人番号): 12 digits, the last a check digit",
    "JP_INSURANCE_NUMBER": "health insurance 保険者番号, 被保険者証の記号・番号, 公費負担者/受給者番号",
    "HEALTH_PLAN_ID": "English health plan member, policy or group number",
    "MEDICAL_RECORD_NUMBER": "patient ID, カルテ番号, 診察券番号, MRN, account or encounter number",
    "US_SSN": "US Social Security number",
    "ID_NUMBER": "any other personal or record identifier after its label (accession, claim, licence, passport, NPI, DEA...)",
}
"""Every label the engine can emit, with its one-line definition (shown by ``medswallow pii labels``)."""
