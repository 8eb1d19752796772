"""Document templates of the synthetic PII dev set (``dev``) and of its held-out split (``heldout``).

Slots are filled by ``synth.Slots`` (``{pt}`` patient name, ``{dob}`` birth date, ``{eponym}`` a trap...).
The splits share no template: the held-out one is written in other words, other layouts and other
document types' phrasing, to measure how the engine does on text it was not tuned on. ``blind`` was written
after the engine was tuned (on dev, then one round of error analysis on held-out) and is reported as measured.
"""

from __future__ import annotations

Template = tuple[str, str, str]
"""(kind, language, template text)"""

DEV: list[Template] = [
    ("outpatient", "ja", """外来診療録
患者氏名：{pt}　様（{age}）　カルテ番号：{mrn}
生年月日：{dob}
受診日：{date}　{dept}
S）2週間前から咳嗽と微熱あり。{eponym}の既往あり、{hosp}で加療中。
O）BT 37.4℃、BP {bp} mmHg、SpO2 {pct}%。{lab}。
A）急性気管支炎疑い。
P）{drug}を5日分処方。{n}日後に再診。
記載医：{dr}"""),
    ("outpatient", "ja", """【再診】{date}
{pt_sei}さん、{age}。{eponym}、高血圧症（{icd}）で通院中。
本日は妻の{fam_mei}さんと来院。自宅血圧 {bp} 前後。
処方：{drug}、継続。
次回予約：{md}
担当：{dr}医師"""),
    ("discharge", "ja", """退院時サマリー
氏名：{pt}（{age}） 患者ID：{mrn}
入院日：{date1}　退院日：{date2}
主治医：{dr_full}　担当看護師：{ns}
【入院時診断】{eponym}、肺炎
【経過】入院後{drug}を開始。{lab}。第{n}病日に解熱した。
【退院時処方】{drug2}
【退院先】自宅（{addr}）
キーパーソン：長男 {fam}（携帯 {mobile}）"""),
    ("referral", "ja", """診療情報提供書
{hosp} {dept}
{dr2}先生 御侍史
患者：{pt}　様　{dob}生（{age}）
住所：{zip} {addr}
電話：{tel}
平素より大変お世話になっております。上記患者様、{eponym}の精査加療目的にご紹介申し上げます。
{date}に当院初診。{lab}。{sign}陽性。
ご多忙のところ恐縮ですが、よろしくお願い申し上げます。
{hosp2}　{dr}　（{tel_ext}）"""),
    ("nursing", "ja", """看護記録 {date} 14:00
{pt_sei}様、日中は傾眠傾向。BP {bp}、SpO2 {pct}%。
娘の{fam_mei}さん面会あり、{md}退院予定と説明。
転倒リスク高く、ベッド柵を使用。
記録者：{ns}（看護師）"""),
    ("nursing", "ja", """申し送り
{pt}さん（{age_old}）：夜間せん妄あり。{eponym}の既往。
家族連絡先：{fam} {tel}
担当Ns：{ns}"""),
    ("lab", "ja", """検査報告書
患者ID：{mrn}　氏名：{pt_kana}
採取日：{date}　依頼科：{dept}
{lab}
基準値：CRP 0.00-0.30、HbA1c 4.6-6.2
報告者：臨床検査技師 {ns}"""),
    ("message", "ja", """件名：予約変更のお願い
{hosp}　{dept}　御中
いつもお世話になっております。{pt}です（診察券番号：{mrn}）。
{md}の予約を変更したく、ご連絡しました。
連絡先：{mobile}
メール：{email}
よろしくお願いいたします。"""),
    ("message", "ja", """はじめまして。{child_hira}の母です。{child_hira}ちゃんが昨夜から39度の熱があり、{eponym}ではないかと心配しています。
{age}の祖母も同居しています。ブログ（{url}）にも経過を書いています。
折り返しは {tel} までお願いします。"""),
    ("pharmacy", "ja", """お薬手帳
{pt}　様　生年月日 {dob}
調剤日：{date}　{hosp}
処方医：{dr}先生
Rp1 {drug}
Rp2 {drug2}
Lot {lot}　使用期限 {expiry}
薬剤師：{ph}"""),
    ("insurance", "ja", """被保険者情報
氏名：{pt}（フリガナ：{pt_kana}）
生年月日：{dob}　性別：女
保険者番号：{insurer}
記号：{ins_sym}　番号：{ins_num}
マイナンバー：{mynum}
住所：{addr}
電話番号：{tel}"""),
    ("outpatient", "ja", """#1 {eponym}
{pt_sei}氏、{age}男性。{date}に{sign}を認め当科紹介。
既往：{icd}（本態性高血圧）。{cite}の報告に基づき{drug}を開始。
連絡先 {tel}、{email}
主治医 {dr}"""),
    ("surgery", "ja", """手術記録
患者：{pt}　ID {mrn}
手術日：{date}　術者：{dr_full}　助手：{dr2}
術式：腹腔鏡下胆嚢摘出術
術前診断：胆石症、{eponym}合併
麻酔科：{dr3}先生"""),
    ("death", "ja", """死亡診断書（写）
氏名：{pt}　{dob}生（{age_old}）
死亡日時：{date} 午前3時12分
死亡場所：{addr}
直接死因：誤嚥性肺炎　原因：{eponym}
医師：{dr_full}"""),
    ("trap", "ja", """【文献レビュー】{eponym}と{eponym2}の鑑別
{cite}は、{eponym3}において{sign}の感度が低いと報告した。
治療は{drug}が標準的であり、{drug2}を併用することもある。
検査値の目安：{lab}。ICD-10：{icd}。
参考：{public_url}
2019年版ガイドラインでは{n}週間の投与が推奨されている。"""),
    ("trap", "ja", """薬剤情報
{drug}
{drug2}
1日量の上限に注意。腎機能（eGFR 30未満）では減量。
ロット番号：{lot}　使用期限：{expiry}
{eponym}の患者への投与は慎重に。BP {bp} mmHg以上で中止。"""),
    ("outpatient", "en", """OUTPATIENT NOTE
Patient: {en_pt}   MRN: {en_mrn}   DOB: {en_dob}
Date of visit: {en_date}
Seen by Dr. {en_dr}
HPI: {en_age} with a history of {en_eponym} presents with cough for 3 days.
Meds: {en_drug}
Labs: {en_lab}
Assessment/Plan: Likely viral URI. Follow up in {n} days. ICD-10 {icd}.
Electronically signed by {en_dr2}, MD"""),
    ("discharge", "en", """DISCHARGE SUMMARY
Name: {en_pt}  Acct #: {en_mrn}
Admission date: {en_date1}  Discharge date: {en_date2}
Attending: {en_dr}
{en_pt_first} {en_pt_last} is a {en_age} admitted for community-acquired pneumonia. Past history of {en_eponym}.
Hospital course: treated with ceftriaxone; {en_lab}.
Discharge meds: {en_drug}
Disposition: home with his wife {en_fam}. Address: {en_addr}
Phone: {en_tel}"""),
    ("referral", "en", """Dear Dr. {en_dr},
Thank you for seeing Mr. {en_pt_last}, a {en_age} gentleman (DOB {en_dob}) with suspected {en_eponym}.
He was seen in our clinic on {en_date}. Exam was notable for a positive Babinski sign on the left.
{en_lab}.
Member ID: {member}   SSN: {ssn}
Sincerely,
{en_dr2}, MD
{en_hosp} | {en_tel}"""),
    ("nursing", "en", """Nursing note {en_date} 0300
Pt {en_pt} resting comfortably. BP {bp}, SpO2 {pct}% on RA.
Daughter {en_fam} at bedside, updated on plan of care.
Fall precautions in place. {en_drug} given as ordered.
{en_dr2}, RN"""),
    ("lab", "en", """LABORATORY REPORT
Patient name: {en_pt}   Patient ID: {en_mrn}
Collected: {en_date}   Ordering provider: Dr. {en_dr}
{en_lab}
Reference ranges per {en_hosp} laboratory manual (revised 2021).
Verified by: {en_dr2}"""),
    ("message", "en", """From: {en_pt} <{en_email}>
Subject: refill request
Hi Dr. {en_dr}, this is {en_pt_first}. I am running low on {en_drug}. My date of birth is {en_dob}.
You can reach me at {en_tel}. I also post updates at {url}.
Thanks, {en_pt_first}"""),
    ("pharmacy", "en", """PHARMACY RECORD
Patient: {en_pt}  DOB: {en_dob}
Rx: {en_drug}
Prescriber: {en_dr}, MD
Filled: {en_date}  Lot: {lot}  Exp: 05/2027
Insurance: Member ID {member}
Counseled by {en_dr2}, PharmD"""),
    ("outpatient", "en", """The patient is a {en_age_old} woman from {en_addr} with {en_eponym} and {en_eponym2}.
Her son {en_fam} (phone {en_tel}) accompanies her. MRN {en_mrn}.
Per {en_cite}, no dose change is needed for {en_drug}."""),
    ("trap", "en", """Literature summary
{en_cite} reported that patients with {en_eponym} and {en_eponym2} had worse outcomes.
First-line therapy: {en_drug}. Alternative: {en_drug2}.
Typical values: {en_lab}. Coded as ICD-10 {icd}.
Apgar score, Glasgow Coma Scale and the Wells criteria were recorded. Foley catheter removed.
See {public_url} (accessed March 2, 2023)."""),
    ("mixed", "ja", """紹介状 / Referral
{hosp} {dept}
Dr. {en_dr} 御机下
患者：{pt}（{pt_romaji}）様、{age}
DOB: {en_dob}　電話 {tel}
{eponym}に対し{drug}投与中。Labs: {en_lab}.
Please evaluate for {en_eponym}.
{dr}"""),
    ("mixed", "en", """Clinic note for {pt_romaji} (Japanese national), {en_age}.
Patient name in Japanese: {pt}様. Contact in Japan: {tel}.
Address: {addr}
History of {eponym}. Seen by Dr. {en_dr} on {en_date}."""),
    ("mixed", "ja", """患者：{pt}様
Wife: {en_fam}（英語のみ対応可）、携帯 {en_tel}
Email: {en_email}
{date}入院、{eponym}の既往。"""),
]

HELDOUT: list[Template] = [
    ("outpatient", "ja", """◆初診記録◆
名前　{pt}　（{age}・女性）
ID No.{mrn}
来院日　{date}
主訴：めまい。{eponym}を疑い{dept}へコンサルト。
既往歴：{eponym2}（{year}年診断）
内服：{drug}
検査：{lab}
方針：{n}週後に再診。頭部MRI予約。
Dr.{dr}"""),
    ("discharge", "ja", """退院療養計画書
{pt}殿
入院年月日：{date1}
退院予定日：{date2}
病名：{eponym}
主治医　{dr_full}
退院後の連絡先：{tel}（自宅）／{mobile}（本人携帯）
退院後の住所：{zip}　{addr}
面会者：夫・{fam}"""),
    ("referral", "ja", """紹介状
{hosp}
{dept}　{dr2}　先生
いつもお世話になります。
患者　{pt}様（{dob}生）について、{eponym}の疑いでご紹介いたします。
{date}より症状増悪、{sign}を認めました。
なお患者様のご家族（長女：{fam}様、{mobile}）も説明を希望されています。
{hosp2}　内科　{dr_full}
TEL {tel_ext}"""),
    ("nursing", "ja", """{date} 日勤帯
{pt_sei}さん、昼食8割摂取。BP {bp}。
次男の{fam_mei}さんより電話あり（{mobile}）。明日面会予定とのこと。
{ns}"""),
    ("message", "ja", """〇〇病院　患者相談窓口　ご担当者様

お世話になっております。{pt}と申します。
父（{age_old}）が先日退院しましたが、薬の飲み方について質問があります。
{drug}は食後でよいのでしょうか。
返信は{email}にいただけると助かります。電話は{mobile}です。"""),
    ("pharmacy", "ja", """服薬指導記録
患者：{pt_kana}（{pt}）様　生年月日：{dob}
処方箋発行日：{date}
処方：{drug}／{drug2}
併用注意：{eponym}治療薬
担当薬剤師　{ph}"""),
    ("insurance", "ja", """受付票
ふりがな　{pt_kana}
氏名　{pt}
保険者番号　{insurer}
被保険者証記号・番号　{ins_sym}・{ins_num}
個人番号　{mynum}
現住所　{addr}
携帯　{mobile}"""),
    ("lab", "ja", """【検体検査結果】
患者番号：{mrn}
{pt}様　{age}
検査日：{date}
{lab}
判定：{eponym}の可能性は低い。
{cite}の基準を参照。"""),
    ("trap", "ja", """カンファレンス資料
症例：{age}女性、{eponym}。
{cite}によれば、{eponym2}との鑑別には{sign}が有用とされる。
{drug}（{lot}、期限{expiry}）を使用。
{lab}。
関連：{public_url}"""),
    ("outpatient", "en", """CLINIC VISIT - {en_date}
{en_pt_first} {en_pt_last}, {en_age}, presents for follow-up of {en_eponym}.
Medical record number: {en_mrn}
Accompanied by husband {en_fam}.
Current medications: {en_drug}; {en_drug2}.
Plan: continue current regimen; recheck labs ({en_lab}) in 3 months.
Provider: {en_dr}, MD"""),
    ("discharge", "en", """Discharge Instructions
Patient: {en_pt}
Admitted {en_date1}, discharged {en_date2}.
You were treated for {en_eponym}. Take {en_drug} as prescribed.
If you have questions call the clinic at {en_tel}.
Your follow-up appointment is with Dr. {en_dr}.
Home address on file: {en_addr}"""),
    ("message", "en", """Hello,
My name is {en_pt} and my mother ({en_age_old}) was seen by Dr. {en_dr} last week.
Her DOB is {en_dob} and her MRN is {en_mrn}. Could someone call me back at {en_tel}?
Email: {en_email}
Thank you"""),
    ("nursing", "en", """2300 - Pt {en_pt_last} c/o pain 6/10, {en_drug} given. Wife {en_fam} at bedside.
0400 - Resting. BP {bp}. SpO2 {pct}%.
Nurse: {en_dr2} RN"""),
    ("insurance", "en", """REGISTRATION
Name: {en_pt}
Date of birth: {en_dob}
SSN: {ssn}
Policy number: {member}
Emergency contact: {en_fam} ({en_tel})"""),
    ("trap", "en", """Teaching file: {en_eponym}
As described by {en_cite}, the classic triad is rarely complete. Differential includes {en_eponym2}.
Start {en_drug}; if intolerant switch to {en_drug2}. Target BP < {bp}.
Labs to trend: {en_lab}.
Reference: {public_url}"""),
    ("mixed", "ja", """Consultation request / 院内紹介
Patient: {pt_romaji}（{pt}様）
生年月日 {dob}、{age}
Requesting physician: Dr. {en_dr}
{eponym}疑い。{en_lab}。
連絡先 {tel}"""),
    ("mixed", "en", """Travel clinic note: {en_pt}, {en_age}, staying in Japan at {addr}.
Local contact: {pt}様 ({mobile}).
Diagnosed with {en_eponym} in {year}. DOB {en_dob}."""),
]

BLIND: list[Template] = [
    ("er", "ja", """救急外来記録　{date}
搬送：救急車。同乗者は孫の{fam}。
{pt}（{age}）、自宅で転倒し右大腿部痛。{eponym}で{hosp}通院中。
既往：{icd}。内服は{drug}。
救急医　{dr_full}"""),
    ("homevisit", "ja", """訪問診療記録
{date}　{addr}の自宅を訪問。
本人（{pt_sei}様）は{age_old}、寝たきり。介護者は長女の{fam_mei}さん。
血圧{bp}、{lab}。
次回訪問 {md}。連絡は{mobile}へ。"""),
    ("consent", "ja", """手術同意書
私は、{dr_full}医師から手術について説明を受け、同意します。
患者署名：{pt}
代諾者：{fam}（続柄：妻）
同意日：{date}"""),
    ("progress", "ja", """経過記録
{date}　本日{pt_sei}さんは食事摂取良好。{eponym}の症状は安定。
昨夜は{ns}が対応した。{dr}より{drug}の増量指示あり。"""),
    ("letter", "ja", """{hosp}
{dept}　{dr2}先生

拝啓　時下ますますご清祥のこととお慶び申し上げます。
{pt}さん（{dob}生）の件でご報告いたします。{date}の検査で{lab}を認めました。
{cite}を参考に{drug}を継続しております。

{hosp2}　{dr_full}"""),
    ("referral", "ja", """紹介元：{hosp}　{dr}
紹介先：{hosp2}
患者氏名　{pt_kana}
生年月日　{dob}
電話　{tel}
紹介目的：{eponym}の精査"""),
    ("trap", "ja", """勉強会メモ
{eponym}と{eponym2}の違いについて。{sign}の意義、{cite}の総説を読んだ。
{drug}は{lot}で回収対象（期限{expiry}）。
{lab}。
ICD：{icd}"""),
    ("ed", "en", """ED NOTE {en_date}
Chief complaint: chest pain.
{en_pt}, {en_age}, brought in by EMS. History of {en_eponym}.
Accompanied by his daughter {en_fam}. Contact: {en_tel}.
Exam: BP {bp}, SpO2 {pct}%. {en_lab}.
Plan discussed with Dr. {en_dr}."""),
    ("telephone", "en", """Telephone encounter
Caller: {en_fam} (spouse)
Re: {en_pt}, DOB {en_dob}, MRN {en_mrn}
Reports worsening cough since {en_date}. Advised to continue {en_drug}.
Callback number {en_tel}.
Documented by {en_dr2}, RN"""),
    ("operative", "en", """OPERATIVE REPORT
Date of surgery: {en_date}
Surgeon: {en_dr}, MD. Assistant: {en_dr2}, PA-C.
Patient: {en_pt} ({en_age})
Preoperative diagnosis: {en_eponym}.
Procedure: laparoscopic cholecystectomy. Estimated blood loss minimal."""),
    ("progress", "en", """Progress note - {en_date}
Today {en_pt_first} {en_pt_last} feels better. Her husband {en_fam} visited.
Home: {en_addr}
Continue {en_drug}. {en_cite} supports this approach.
Member #: {member}"""),
    ("trap", "en", """Journal club notes
{en_cite}: outcomes in {en_eponym} vs {en_eponym2}. The Glasgow Coma Scale and Apgar score were used.
{en_drug}; {en_drug2}. Lot {lot}, exp 11/2027.
{en_lab}. ICD-10 {icd}."""),
    ("mixed", "ja", """Discharge summary / 退院サマリー
Name: {pt_romaji}（{pt}）
Admission: {en_date1}　Discharge: {en_date2}
主治医：{dr}　Attending: Dr. {en_dr}
Dx: {en_eponym}。{eponym}の既往。"""),
]

TEMPLATES: dict[str, list[Template]] = {"dev": DEV, "heldout": HELDOUT, "blind": BLIND}
