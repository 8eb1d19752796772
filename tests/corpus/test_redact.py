"""The PII stage with the real engine (Presidio patterns + Sudachi names): counts by label, no values kept."""

from __future__ import annotations

from medswallow.corpus.redact import RedactStage
from medswallow.records import Document


def test_redacts_and_counts_by_label_only():
    stage = RedactStage("fast", False)
    docs = [
        Document("1", "患者の連絡先は電話03-3123-4567、メール taro.yamada@example.jp である。", "s", lang="ja"),
        Document("2", "No personal data in this sentence about hypertension.", "s", lang="en"),
    ]
    kept, rejected = stage.process(docs)
    assert rejected == [] and len(kept) == 2
    assert "03-3123-4567" not in kept[0].text and "taro.yamada@example.jp" not in kept[0].text
    assert "<PHONE_NUMBER>" in kept[0].text and "<EMAIL_ADDRESS>" in kept[0].text
    assert stage.counts["PHONE_NUMBER"] == 1 and stage.counts["EMAIL_ADDRESS"] == 1
    assert stage.docs_with_pii == 1 and kept[0].meta["pii_spans"] == 2
    assert all(isinstance(k, str) and k.isupper() for k in stage.counts)  # labels, never values
    assert stage.redact_texts(["電話 090-1234-5678"], ["ja"])[0] == "電話 <PHONE_NUMBER>"
