"""Regenerate the binary sample sources: a guideline PDF, a gzipped PubMed file and a Shift_JIS text file.

    .venv/bin/python corpora/samples/build_samples.py

The results are committed; this script documents how they were made and rebuilds them byte for byte
(fixed dates, gzip mtime 0). The PDF is English: no CJK font is available everywhere this runs.
Every text here was written for the medswallow samples; none is copied from a real source.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent

SEPSIS_PAGES = [
    (
        "Sepsis in adults: a sample pathway",
        [
            "This document was written for the medswallow samples. It is not a real guideline; it shows how a "
            "clinical pathway reads once extracted from a PDF with running headers, footers and page numbers.",
            "Sepsis is life-threatening organ dysfunction caused by a dysregulated host response to infection. "
            "Early recognition and treatment within the first hour reduce mortality.",
        ],
    ),
    (
        "Recognition",
        [
            "Suspect sepsis in any patient with infection and new confusion, a respiratory rate of 22 per minute "
            "or more, or a systolic blood pressure of 100 mmHg or less.",
            "Measure serum lactate. A lactate above 2 mmol/L identifies patients at higher risk, and a value "
            "above 4 mmol/L calls for immediate fluid resuscitation.",
        ],
    ),
    (
        "The first hour",
        [
            "1. Take blood cultures before antibiotics, without delaying treatment.",
            "2. Give broad-spectrum antibiotics within one hour of recognition.",
            "3. Give 30 mL/kg of crystalloid for hypotension or a lactate of 4 mmol/L or more.",
            "4. Start vasopressors if the mean arterial pressure stays below 65 mmHg after fluids.",
        ],
    ),
    (
        "Source control and review",
        [
            "Look for a source that needs drainage or removal, such as an abscess or an infected catheter, and "
            "control it as soon as practical.",
            "Review antibiotics daily and narrow them once culture results are available. Most patients need five "
            "to seven days of therapy.",
        ],
    ),
]

PUBMED_2 = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Sample records written for medswallow (not real PubMed content). -->
<PubmedArticleSet>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">90000011</PMID>
    <Article PubModel="Print">
      <Journal><Title>Journal of Sample Geriatrics</Title><JournalIssue><PubDate><Year>2024</Year></PubDate></JournalIssue></Journal>
      <ArticleTitle>Deprescribing of sulfonylureas in older adults with type 2 diabetes and recurrent hypoglycaemia.</ArticleTitle>
      <Abstract>
        <AbstractText>Hypoglycaemia caused by sulfonylureas is often prolonged in older adults and leads to falls, fractures and hospital admission. In a pragmatic study across 16 clinics, a pharmacist-led review that replaced sulfonylureas with agents carrying a low risk of hypoglycaemia reduced emergency visits for hypoglycaemia by 58% over one year, while glycated haemoglobin rose by only 0.2 percentage points. Deprescribing should be considered whenever glycaemic targets can be relaxed.</AbstractText>
      </Abstract>
      <Language>eng</Language>
      <PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>
    </Article>
  </MedlineCitation>
</PubmedArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">90000012</PMID>
    <Article PubModel="Print">
      <Journal><Title>Sample Kidney Reports</Title><JournalIssue><PubDate><Year>2022</Year></PubDate></JournalIssue></Journal>
      <ArticleTitle>Sodium-glucose cotransporter 2 inhibitors and kidney outcomes in type 2 diabetes: a cohort study (duplicate publication).</ArticleTitle>
      <Abstract>
        <AbstractText>Sodium-glucose cotransporter 2 (SGLT2) inhibitors slow the decline of kidney function in randomised trials, but their effect in patients treated in everyday practice, including those with advanced chronic kidney disease, is less well described. In this retrospective cohort of 9,310 adults with type 2 diabetes, initiation of an SGLT2 inhibitor was associated with a lower rate of a 40% decline in estimated glomerular filtration rate compared with initiation of a dipeptidyl peptidase-4 inhibitor (hazard ratio 0.62; 95% CI 0.51-0.75). The association was consistent in patients with an eGFR between 30 and 45 mL/min/1.73 m2. Genital mycotic infections were more frequent, whereas the incidence of diabetic ketoacidosis was low in both groups. These findings support the use of SGLT2 inhibitors for kidney protection in routine care.</AbstractText>
      </Abstract>
      <Language>eng</Language>
      <PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>
    </Article>
  </MedlineCitation>
</PubmedArticle>
</PubmedArticleSet>
"""

SJIS_TEXT = """日本の医療保険制度は、すべての国民がいずれかの公的医療保険に加入する国民皆保険を特徴としている。患者は医療機関の窓口で医療費の一部を負担し、残りは保険者から支払われる。

自己負担の割合は年齢や所得によって異なり、①義務教育就学前の子どもは2割、②70歳未満は3割、③70歳以上は所得に応じて1割から3割となっている。高額療養費制度により、1か月の自己負担には上限が設けられている。

古い電子カルテや院内システムから書き出された文書には、Shift_JISやCP932で保存されたものが今も多い。正しく判定して読み込まないと、文字化けした文章が学習データに混入してしまう。
"""


def build_pdf(path: Path) -> None:
    from fpdf import FPDF

    class Pathway(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 8, "Sample Society - Sepsis pathway (sample document)", align="C")
            self.ln(12)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Pathway()
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    pdf.set_title("Sepsis in adults: a sample pathway")
    pdf.alias_nb_pages()
    for title, paragraphs in SEPSIS_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, title)
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para)
            pdf.ln(3)
    pdf.output(str(path))


def main() -> None:
    build_pdf(HERE / "guidelines" / "en_sepsis.pdf")
    with open(HERE / "pubmed" / "pubmed_sample2.xml.gz", "wb") as raw:
        with gzip.GzipFile(filename="pubmed_sample2.xml", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(PUBMED_2.encode("utf-8"))
    (HERE / "general" / "ja_legacy_sjis.txt").write_bytes(SJIS_TEXT.encode("cp932"))
    print("samples written under", HERE)


if __name__ == "__main__":
    main()
