from __future__ import annotations

import gzip

import pytest

from tests.corpus.helpers import read_all

ARTICLE = """<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>
<Journal><Title>J Sample</Title><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue></Journal>
<ArticleTitle>{title}</ArticleTitle>{abstract}<Language>{lang}</Language>
<PublicationTypeList><PublicationType>{ptype}</PublicationType></PublicationTypeList></Article>{other}
</MedlineCitation></PubmedArticle>"""


def article(pmid: str, title: str = "Title.", abstract: str | None = "An abstract about <i>sepsis</i> care.", lang: str = "eng",
            ptype: str = "Journal Article", other: str = "") -> str:
    ab = f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>" if abstract is not None else ""
    return ARTICLE.format(pmid=pmid, title=title, abstract=ab, lang=lang, ptype=ptype, other=other)


def xml(*articles: str) -> str:
    return '<?xml version="1.0"?>\n<PubmedArticleSet>' + "".join(articles) + "</PubmedArticleSet>"


def test_reads_title_abstract_metadata_and_japanese_other_abstract(tmp_path):
    other = '<OtherAbstract Language="jpn"><AbstractText Label="目的">敗血症の治療を検討した。</AbstractText></OtherAbstract>'
    structured = '<AbstractText Label="METHODS">We did X.</AbstractText><AbstractText Label="RESULTS">Y improved.</AbstractText>'
    (tmp_path / "a.xml").write_text(
        xml(article("1", other=other), article("2", abstract=None).replace("<ArticleTitle>", f"<Abstract>{structured}</Abstract><ArticleTitle>")),
        encoding="utf-8",
    )
    docs, rej = read_all("pubmed", tmp_path, paths=["*.xml"])
    assert rej == []
    by_id = {d.id: d for d in docs}
    assert by_id["src:1"].text == "Title.\n\nAn abstract about sepsis care."
    assert by_id["src:1"].meta["pmid"] == "1" and by_id["src:1"].meta["publication_types"] == ["Journal Article"]
    assert by_id["src:1/jpn"].text.endswith("目的: 敗血症の治療を検討した。")
    assert by_id["src:2"].text == "Title.\n\nMETHODS: We did X.\nRESULTS: Y improved."


def test_gzip_and_excluded_types_and_missing_abstract(tmp_path):
    data = xml(article("1"), article("2", ptype="Retracted Publication"), article("3", abstract=None))
    (tmp_path / "b.xml.gz").write_bytes(gzip.compress(data.encode()))
    docs, rej = read_all("pubmed", tmp_path, paths=["*.xml.gz"])
    assert [d.id for d in docs] == ["src:1"]
    reasons = {r.id: (r.kind, r.reason) for r in rej}
    assert reasons["src:2"] == ("dropped", "publication_type:Retracted Publication")
    assert reasons["src:3"] == ("quarantined", "missing_field:Abstract")


def _truncated_gzip() -> bytes:
    import random

    rng = random.Random(0)
    words = ["sepsis", "fever", "lactate", "culture", "antibiotic", "shock", "fluid", "organ", "renal", "care"]
    arts = [article(str(i), abstract=" ".join(rng.choice(words) for _ in range(60))) for i in range(300)]
    data = gzip.compress(xml(*arts).encode())
    return data[: len(data) // 2]


BOMB = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>&lol3;</PMID></MedlineCitation></PubmedArticle></PubmedArticleSet>"""
EXTERNAL = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><PubmedArticleSet><PubmedArticle>&xxe;</PubmedArticle></PubmedArticleSet>"""


@pytest.mark.parametrize(
    ("name", "content", "reason", "n_docs"),
    [
        ("bomb.xml", BOMB.encode(), "xml_entities_forbidden", 0),
        ("xxe.xml", EXTERNAL.encode(), "xml_entities_forbidden", 0),
        ("empty.xml", b"", "empty_file", 0),
        ("broken.xml", xml(article("1"), "<PubmedArticle><oops></PubmedArticle>").encode(), "xml_syntax_error", 1),
        ("trunc.xml.gz", _truncated_gzip(), "truncated_file", None),
        ("notgzip.xml.gz", b"this is not gzip data at all", "unreadable:BadGzipFile", 0),
    ],
)
def test_bad_files_are_quarantined_not_raised(tmp_path, name, content, reason, n_docs):
    (tmp_path / name).write_bytes(content)
    docs, rej = read_all("pubmed", tmp_path, paths=[name])
    assert [r.reason for r in rej] == [reason]
    assert rej[0].kind == "quarantined" and rej[0].text == ""
    if n_docs is not None:
        assert len(docs) == n_docs
    else:  # truncated gzip: the articles before the cut are kept
        assert 0 < len(docs) < 200
