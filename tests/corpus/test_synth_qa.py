"""Synthetic QA: the parser, validator, PII and grounding checks on hand-written teacher outputs; the stage
against a local teacher that copies what it is shown (personal data, failures, resuming, provenance); then
end to end on vLLM.

The tiny served model writes noise, so on vLLM nearly every item is rejected (truncated): the test there
checks accounting and resuming, and the success path is checked on the table of outputs and the copying teacher.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from medswallow.corpus.synth_qa import (
    DEFAULT_TEMPLATES,
    SynthQAGenerator,
    _Item,
    extract_json,
    generate_qa,
    grounding_score,
    load_templates,
    options_from,
    validate_item,
)
from medswallow.errors import UserError
from medswallow.inference import ChatResult, Usage
from medswallow.records import Document, Rejected

REPO = Path(__file__).resolve().parents[2]
PASSAGE_JA = (
    "高血圧治療ガイドラインでは、診察室血圧140/90mmHg以上を高血圧と定義する。第一選択薬はCa拮抗薬、"
    "ARB、ACE阻害薬、少量の利尿薬である。問い合わせ先: 03-1234-5678（学会事務局）。"
)
PASSAGE_EN = (
    "In adults with asthma, confirm variable expiratory airflow limitation with spirometry. For mild asthma, "
    "use as-needed low-dose inhaled corticosteroid with formoterol; step up to daily maintenance if symptoms persist."
)
MCQ_JA = {"question": "高血圧の第一選択薬に含まれないものはどれか。", "options": ["Ca拮抗薬", "ARB", "ACE阻害薬", "少量の利尿薬", "β遮断薬"],
          "answer": "E", "explanation": "ガイドラインの第一選択薬はCa拮抗薬、ARB、ACE阻害薬、少量の利尿薬である。"}
MCQ_EN = {"question": "What is the first step for mild asthma?", "options": ["As-needed ICS-formoterol", "Oral steroids", "No treatment", "Antibiotics"],
          "answer": "A", "explanation": "Mild asthma uses as-needed low-dose ICS with formoterol."}


def result(text: str, finish: str = "stop", reasoning: str = "", error: str | None = None) -> ChatResult:
    return ChatResult(text=text, reasoning=reasoning, finish_reason=finish, truncated=finish == "length",
                      error=error, usage=Usage(100, 50, 10), latency_s=0.5)


# (id, style, lang, passage, teacher result, expected status, expected reason or text prefix)
TABLE = [
    ("ja mcq, bare JSON", "mcq", "ja", PASSAGE_JA, result(json.dumps(MCQ_JA, ensure_ascii=False)), "generated", "問題: 高血圧"),
    ("en mcq in a fence after prose", "mcq", "en", PASSAGE_EN, result("Here it is:\n```json\n" + json.dumps(MCQ_EN) + "\n```"), "generated", "Question: What"),
    ("answer given as option text, aliases, trailing comma", "mcq", "en", PASSAGE_EN,
     result('{"question": "What is the first step for mild asthma?", "choices": ["As-needed ICS-formoterol", "Oral steroids", "No treatment",], "correct_answer": "As-needed ICS-formoterol"}'),
     "generated", "Question: What"),
    ("full-width answer letter", "mcq", "ja", PASSAGE_JA, result(json.dumps({**MCQ_JA, "answer": "Ｅ"}, ensure_ascii=False)), "generated", "問題:"),
    ("answer names no option", "mcq", "ja", PASSAGE_JA, result(json.dumps({**MCQ_JA, "answer": "F"}, ensure_ascii=False)), "rejected", "answer_not_in_options"),
    ("two options only", "mcq", "ja", PASSAGE_JA, result(json.dumps({**MCQ_JA, "options": ["a", "b"]}, ensure_ascii=False)), "rejected", "schema:options"),
    ("duplicate options", "mcq", "ja", PASSAGE_JA, result(json.dumps({**MCQ_JA, "options": ["ARB", "ARB", "ARB"]}, ensure_ascii=False)), "rejected", "schema:options"),
    ("missing answer", "mcq", "ja", PASSAGE_JA, result(json.dumps({k: v for k, v in MCQ_JA.items() if k != "answer"}, ensure_ascii=False)), "rejected", "schema:answer"),
    ("no question", "short_answer", "ja", PASSAGE_JA, result('{"answer": "140/90mmHg"}'), "rejected", "schema:question"),
    ("not JSON at all", "short_answer", "en", PASSAGE_EN, result("The answer is spirometry."), "rejected", "unparseable_json"),
    ("cut by max_tokens in the answer", "short_answer", "en", PASSAGE_EN, result('{"question": "Which test confi', "length"), "rejected", "truncated"),
    ("cut inside the reasoning", "mcq", "ja", PASSAGE_JA, result("", "length", reasoning="まず考える"), "rejected", "truncated"),
    ("reasoning but no final answer", "mcq", "ja", PASSAGE_JA, result("", "stop", reasoning="考えた"), "rejected", "no_answer"),
    ("English item asked in Japanese", "short_answer", "ja", PASSAGE_EN,
     result('{"question": "Which test confirms variable airflow limitation in adults?", "answer": "Spirometry with a bronchodilator test"}'), "rejected", "lang:en"),
    ("short answer, valid", "short_answer", "ja", PASSAGE_JA, result('{"question": "高血圧と定義される診察室血圧の基準は？", "answer": "140/90mmHg以上"}'), "generated", "問題: 高血圧と定義"),
    ("explanation too short", "explanation", "en", PASSAGE_EN, result('{"question": "Why step up asthma treatment?", "answer": "Symptoms."}'), "rejected", "schema:answer"),
    ("PII the passage does not have", "short_answer", "ja", PASSAGE_JA,
     result('{"question": "患者の連絡先 090-8765-4321 に電話する前に確認する血圧の基準は？", "answer": "140/90mmHg以上"}'), "rejected", "pii_introduced:"),
    # The teacher sees the passage redacted ("<PHONE_NUMBER>（学会事務局）"): a number it writes anyway is not in
    # what it was shown (memorised, or missed by the engine), whatever the source's pii setting.
    ("identifier of the raw passage in the answer", "short_answer", "ja", PASSAGE_JA,
     result('{"question": "学会事務局の問い合わせ先番号は何か。", "answer": "03-1234-5678"}'), "rejected", "pii_introduced:PHONE_NUMBER"),
    ("answer that is only a placeholder", "short_answer", "ja", PASSAGE_JA,
     result('{"question": "学会事務局の問い合わせ先番号は何か。", "answer": "<PHONE_NUMBER>"}'), "rejected", "ungrounded"),
    ("well-formed answer from outside the passage", "short_answer", "en", PASSAGE_EN,
     result('{"question": "What should be given for mild asthma?", "answer": "Oral amoxicillin for ten days"}'), "rejected", "ungrounded"),
    ("negated MCQ grounded by its explanation", "mcq", "ja", PASSAGE_JA,
     result(json.dumps({**MCQ_JA, "explanation": "第一選択薬はCa拮抗薬、ARB、ACE阻害薬、少量の利尿薬である。"}, ensure_ascii=False)), "generated", "問題: 高血圧"),
    ("MCQ whose answer and explanation are not in the passage", "mcq", "en", PASSAGE_EN,
     result(json.dumps({**MCQ_EN, "answer": "D", "explanation": "Bacterial infection drives most exacerbations."})), "rejected", "ungrounded"),
    ("request failed after retries", "mcq", "ja", PASSAGE_JA, result("", "error", error="http 503: overloaded (gave up after 6 attempts)"), "error", "teacher_error:http_503"),
]


@pytest.fixture(scope="module")
def pii_engine():
    from medswallow.pii import PIIEngine

    return PIIEngine(mode="fast")


@pytest.fixture(scope="module")
def generator(tmp_path_factory, pii_engine):
    opts = options_from({"model": "teacher", "cache_dir": str(tmp_path_factory.mktemp("synth")), "progress": False}, "test")
    gen = SynthQAGenerator(opts, pii_engine=pii_engine)
    yield gen
    gen.close()


def item_for(gen, style, lang, passage) -> _Item:
    doc = Document(id="guidelines:p1", text=passage, source="guidelines", lang=lang)
    return next(it for it in gen._items(doc) if it.style == style and it.lang == lang)


@pytest.mark.parametrize("style,lang,passage,res,status,expect", [c[1:] for c in TABLE], ids=[c[0] for c in TABLE])
def test_teacher_output_table(generator, style, lang, passage, res, status, expect):
    outcome = generator._judge(item_for(generator, style, lang, passage), res)
    assert outcome["status"] == status, outcome
    if status == "generated":
        assert outcome["text"].startswith(expect)
    else:
        assert outcome["reason"].startswith(expect)
    blob = json.dumps(outcome, ensure_ascii=False)
    assert "090-8765-4321" not in blob and "03-1234-5678" not in blob  # values never reach records
    assert outcome["prompt_tokens"] == 100 and outcome["latency_s"] == 0.5


def test_emit_keeps_provenance_and_drops_duplicate_questions(generator):
    item = item_for(generator, "mcq", "ja", PASSAGE_JA)
    assert "03-1234-5678" not in json.dumps(item.messages, ensure_ascii=False) and "<PHONE_NUMBER>" in item.text
    outcome = generator._judge(item, result(json.dumps(MCQ_JA, ensure_ascii=False)))
    first = generator._emit(item, outcome)
    assert isinstance(first, Document) and first.id == "guidelines:p1:mcq:ja" and first.lang == "ja"
    assert first.meta["passage_id"] == "guidelines:p1" and first.meta["qa"]["answer"] == "E"
    assert "E. β遮断薬" in first.text and first.text.endswith("少量の利尿薬である。")
    prov = first.meta["provenance"]
    assert prov["template"].startswith("mcq.yaml@") and prov["seed"] == item.seed and prov["sampling"]["temperature"] == 0.6
    assert prov["teacher"] == "teacher" and prov["passage_sha256"] == hashlib.sha256(item.text.encode()).hexdigest()
    assert prov["generated_at"].endswith("Z") and prov["grounding"] >= 0.5 and "cached" not in first.meta
    second = generator._emit(item, outcome)
    assert isinstance(second, Rejected) and second.reason == "duplicate" and second.text == ""
    failed = generator._emit(item, generator._judge(item, result("", "error", error="timeout (gave up after 6 attempts)")))
    assert isinstance(failed, Rejected) and failed.kind == "quarantined" and failed.reason == "teacher_error:timeout"


def test_an_identifier_across_the_passage_cut_is_redacted_whole(tmp_path, pii_engine):
    opts = options_from({"model": "t", "cache_dir": str(tmp_path), "progress": False, "max_passage_chars": 100}, "test")
    gen = SynthQAGenerator(opts, pii_engine=pii_engine)
    try:
        text = "高血圧の外来管理について記載する。" * 5 + "連絡先は" + "電話番号" + "090-1234-5678です。" + "診察室血圧140/90mmHg以上を高血圧と定義する。"
        assert text.index("090") < 100 < text.index("5678")
        item = gen._items(Document(id="d", text=text, source="s", lang="ja"))[0]
    finally:
        gen.close()
    assert len(item.text) <= 100 and "090" not in item.text and "090" not in json.dumps(item.messages, ensure_ascii=False)


def test_generated_fields_are_redacted_in_text_and_meta_alike(generator):
    item = item_for(generator, "short_answer", "ja", PASSAGE_JA)
    generator.options.pii_check = False  # even with the check off, nothing raw is kept
    try:
        outcome = generator._judge(item, result('{"question": "学会事務局の問い合わせ先は？", "answer": "03-1234-5678（学会事務局）"}'))
    finally:
        generator.options.pii_check = True
    blob = json.dumps(outcome, ensure_ascii=False)
    assert "03-1234-5678" not in blob and outcome["qa"]["answer"] == "<PHONE_NUMBER>（学会事務局）"


# Real passages (the sample guidelines) with answers a teacher could write: paraphrases of the passage pass,
# fluent medical answers the passage does not support fail.
GUIDELINES = REPO / "corpora" / "samples" / "guidelines"
GROUNDING = [
    ("ja_diabetes.md", "HbA1c 7.0%未満", True),
    ("ja_diabetes.md", "意識障害がある場合はブドウ糖を静脈内に投与するか、グルカゴンを使う。", True),
    ("ja_diabetes.md", "スルホニル尿素薬による低血糖は長引きやすいため、入院して経過を観察する。", True),
    ("ja_diabetes.md", "足を毎回の外来で観察し、胼胝や白癬、潰瘍がないか確かめる。", True),
    ("ja_diabetes.md", "インスリン療法を直ちに開始し、食事療法は不要である。", False),
    ("ja_diabetes.md", "抗菌薬を7日間投与する。", False),
    ("ja_diabetes.md", "毎日30分の有酸素運動を行い、体重を5%減らすことが推奨される。", False),
    ("en_asthma.md", "Spirometry with a positive bronchodilator response, or serial peak flow measurements", True),
    ("en_asthma.md", "Refer them for phenotyping and consideration of biological therapy.", True),
    ("en_asthma.md", "Spirometry with a bronchodilator test", True),
    ("en_asthma.md", "A chest CT scan and a sweat chloride test", False),
    ("en_asthma.md", "Montelukast monotherapy taken every night", False),
    ("en_asthma.md", "Start a short course of oral prednisolone and admit the patient to intensive care.", False),
]


@pytest.mark.parametrize("file,answer,grounded", GROUNDING, ids=[f"{g[0]}:{g[1][:24]}" for g in GROUNDING])
def test_grounding_score_separates_paraphrases_from_outside_answers(file, answer, grounded):
    score = grounding_score(answer, (GUIDELINES / file).read_text(encoding="utf-8"))
    assert (score >= 0.5) is grounded, score


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('noise {"Question": "q", "Choices": ["x"]} more {"b": 2}', {"question": "q", "options": ["x"]}),
        ('{"question": "brace } in a string", "answer": "y"}', {"question": "brace } in a string", "answer": "y"}),
        ("[1, 2]", None),
        ('{"unclosed": ', None),
    ],
)
def test_extract_json(text, expected):
    assert extract_json(text) == expected


def test_validate_item_index_answer():
    item, reason = validate_item("mcq", {"question": "Which one?", "options": ["A) x", "B) y", "C) z"], "answer": 1})
    assert reason is None and item == {"question": "Which one?", "options": ["x", "y", "z"], "answer": "B", "explanation": ""}


def test_every_template_renders_every_language_without_placeholders():
    templates = load_templates(None, ["mcq", "short_answer", "explanation"], ["ja", "en"])
    assert sorted(p.stem for p in DEFAULT_TEMPLATES.glob("*.yaml")) == ["explanation", "mcq", "short_answer"]
    for style, template in templates.items():
        for lang in ("ja", "en"):
            msgs = template.render(lang, "<<PASSAGE>>", "<<SOURCE>>", "<<TITLE>>")
            body = msgs[0]["content"] + msgs[1]["content"]
            assert "<<PASSAGE>>" in body and "<<SOURCE>>" in body and "$" not in body, style
            assert "JSON" in body


def test_bad_templates_fail_with_the_file_and_what_to_do(tmp_path):
    (tmp_path / "mcq.yaml").write_text(yaml.safe_dump({"ja": {"system": "s", "user": "$pasage"}}), encoding="utf-8")
    with pytest.raises(UserError, match=r"mcq.yaml: ja prompt uses unknown placeholder \$pasage"):
        load_templates(tmp_path, ["mcq"], ["ja"])
    with pytest.raises(UserError, match=r"needs a 'en' section"):
        load_templates(tmp_path, ["mcq"], ["en"])
    with pytest.raises(UserError, match="did you mean 'mcq'"):
        load_templates(tmp_path, ["mcqq"], ["ja"])


def test_options_errors_name_the_field():
    with pytest.raises(UserError, match="field 'model' is required"):
        options_from({}, "synthetic_qa source 'synth' options")
    with pytest.raises(UserError, match="did you mean 'mcq'"):
        options_from({"model": "t", "styles": ["mcqq"]}, "x")


# ---- the stage against a local teacher that copies what it is shown -----------------------------------

# Identifiers planted in the passages (and a passage title): none may reach a prompt, the response cache,
# the journal, a record or any file of a build.
PLANTED = ["山田太郎", "090-1234-5678", "taro.yamada@example.jp", "4821937", "John Smith", "555-0143", "john.smith@example.com"]
PLANTED_JA = (
    "患者 山田太郎（電話 090-1234-5678、メール taro.yamada@example.jp、カルテ番号 MRN 4821937）は高血圧と診断され、ARBを開始した。"
    "診察室血圧140/90mmHg以上を高血圧と定義し、第一選択薬はCa拮抗薬、ARB、ACE阻害薬、少量の利尿薬である。"
)
PLANTED_EN = (
    "Patient John Smith (MRN 4821937, phone (617) 555-0143, john.smith@example.com) was started on inhaled "
    "corticosteroid with formoterol for mild asthma. Confirm variable expiratory airflow limitation with spirometry."
)


def planted_docs() -> list[Document]:
    return [
        # ids built from a name and an e-mail: they must not reach item ids, meta or the journal either
        Document(id="notes:山田太郎_1", text=PLANTED_JA, source="notes", lang="ja", meta={"title": "山田太郎さんの経過"}),
        Document(id="notes:john.smith@example.com", text=PLANTED_EN, source="notes", lang="en", meta={"title": "Follow-up of patient John Smith"}),
    ]


def _teacher_class():
    from aiohttp import web

    from tests.inference.faults import FakeOpenAIServer

    class CopyingTeacher(FakeOpenAIServer):
        """A teacher that copies the first sentence of the passage it is shown into its answer, and repeats the
        whole prompt in its reasoning (as real reasoning models often do). Every request body is kept."""

        def __init__(self, *args, verdict: bool = True, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.bodies: list[str] = []
            self.verdict = verdict  # its answer when asked as the grounding judge
            self.judged = 0

        async def _answer(self, request, body):
            self.bodies.append(json.dumps(body, ensure_ascii=False))
            prompt = body["messages"][-1]["content"]
            if '"supported"' in prompt:
                self.judged += 1
                message = {"role": "assistant", "content": json.dumps({"supported": self.verdict}), "reasoning": "checked"}
                return web.json_response({"id": "j", "model": body["model"], "usage": {"prompt_tokens": 50, "completion_tokens": 5},
                                          "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
            passage = prompt.strip().splitlines()[-1]
            first = re.split(r"(?<=。)|(?<=\. )", passage)[0].strip()
            ja = "一節" in prompt
            question = "一節の内容に合うものはどれか。" if ja else "Which statement matches the passage?"
            if '"options"' in prompt:
                other = ["抗菌薬を投与する", "経過観察のみ", "手術を行う"] if ja else ["Give antibiotics", "Observe only", "Operate"]
                item = {"question": question, "options": [first, *other], "answer": "A", "explanation": first}
            else:
                item = {"question": question.replace("もの", "記述").replace("statement", "sentence"), "answer": first}
            message = {"role": "assistant", "content": json.dumps(item, ensure_ascii=False), "reasoning": "The passage says: " + prompt}
            return web.json_response({"id": "t", "model": body["model"], "usage": {"prompt_tokens": 50, "completion_tokens": 20},
                                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    return CopyingTeacher


def teacher_options(url: str, cache: Path, **extra) -> dict:
    return {"base_urls": [url], "model": "fake-model", "cache_dir": str(cache), "progress": False, "max_retries": 0,
            "styles": ["mcq", "short_answer"], **extra}


def assert_nothing_planted(blobs: list[bytes], where: str) -> None:
    for value in PLANTED:
        hits = [i for i, b in enumerate(blobs) if value.encode("utf-8") in b]
        assert not hits, f"{value!r} found in {where} #{hits}"


def test_planted_identifiers_reach_no_prompt_cache_journal_or_record(tmp_path, pii_engine):
    with _teacher_class()() as teacher:
        opts = options_from(teacher_options(teacher.base_url, tmp_path / "cache"), "test")
        records = list(generate_qa(planted_docs(), opts, pii_engine=pii_engine))
    assert len(records) == 2 * 2 * 2 and teacher.received == 8
    kept = [r for r in records if isinstance(r, Document)]
    assert kept and all("<" in r.text for r in kept)  # the copied sentence holds placeholders, not values
    assert any(r.meta["qa"]["answer"].startswith("患者 <PERSON>") for r in kept)
    assert_nothing_planted([b.encode() for b in teacher.bodies], "a request sent to the teacher")
    assert_nothing_planted([json.dumps(r.to_dict(), ensure_ascii=False).encode() for r in records], "a record")
    files = [f for f in (tmp_path / "cache").rglob("*") if f.is_file()]
    assert any(f.name.startswith("responses.sqlite") for f in files) and any(f.name.startswith("journal.sqlite") for f in files)
    assert_nothing_planted([f.read_bytes() for f in files], "the cache or journal")


def test_failed_requests_fail_the_run_naming_the_teacher_and_a_rerun_asks_only_for_them(tmp_path, pii_engine):
    def plan(prompt: str, seen: int) -> str:
        return "503" if seen == 0 and '"options"' in prompt else "ok"  # every MCQ request fails once

    docs = planted_docs()
    with _teacher_class()(plan) as teacher:
        opts = options_from(teacher_options(teacher.base_url, tmp_path / "cache"), "test")
        with pytest.raises(UserError, match=rf"synthetic QA: requests to the teacher at {teacher.base_url} failed for 4 of 8 items \(4 http_503\)"):
            list(generate_qa(docs, opts, pii_engine=pii_engine))
        assert teacher.received == 8
        again = list(generate_qa(docs, opts, pii_engine=pii_engine))
        assert teacher.received == 8 + 4  # the answered half comes from the journal
        assert not any(isinstance(r, Rejected) and r.reason.startswith("teacher_error") for r in again)

    lenient = options_from(teacher_options(f"http://127.0.0.1:{teacher.port}/v1", tmp_path / "c2", allow_teacher_errors=True), "test")
    with pytest.raises(UserError, match=rf"synthetic QA teacher: no OpenAI-compatible server answers at http://127.0.0.1:{teacher.port}/v1 \(connection refused\)"):
        list(generate_qa(docs, lenient, pii_engine=pii_engine))


def test_a_record_from_the_journal_is_the_record_first_written(tmp_path, pii_engine):
    with _teacher_class()() as teacher:
        opts = options_from(teacher_options(teacher.base_url, tmp_path / "cache"), "test")
        fresh = [r.to_dict() for r in generate_qa(planted_docs(), opts, pii_engine=pii_engine)]
        resumed = [r.to_dict() for r in generate_qa(planted_docs(), opts, pii_engine=pii_engine)]
        assert teacher.received == 8
    assert fresh == resumed
    prov = next(r for r in fresh if r["text"])["meta"]["provenance"]
    assert prov["teacher"] == "fake-model" and prov["teacher_checkpoint"] == "fake-model"  # /v1/models has no root here


@pytest.mark.parametrize("verdict", [True, False])
def test_the_optional_grounding_judge_rejects_what_the_teacher_finds_unsupported(tmp_path, pii_engine, verdict):
    with _teacher_class()(verdict=verdict) as teacher:
        opts = options_from(teacher_options(teacher.base_url, tmp_path / "cache", grounding_judge=True), "test")
        records = list(generate_qa(planted_docs(), opts, pii_engine=pii_engine))
        passed_overlap = teacher.judged
    assert passed_overlap == 5  # the items that passed every other check; one then drops as a duplicate question
    kept = [r for r in records if isinstance(r, Document)]
    judged_out = [r for r in records if isinstance(r, Rejected) and r.detail == "judge: not supported"]
    if verdict:
        assert len(kept) == 4 and not judged_out and all(r.meta["provenance"]["judge"] is True for r in kept)
    else:
        assert not kept and len(judged_out) == 5 and all(r.reason == "ungrounded" for r in judged_out)


@pytest.mark.slow
def test_build_corpus_with_pii_off_on_the_synthetic_source(tmp_path, cli):
    """A build whose teacher is down exits non-zero naming it; the same command resumes once it is up; the
    outputs hold no planted identifier (the generator-level test above checks journal replay record for record)."""
    import pyarrow.parquet as pq

    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "text": t}, ensure_ascii=False) + "\n"
                             for i, t in enumerate([PLANTED_JA, PLANTED_EN])), encoding="utf-8")
    teacher = _teacher_class()()
    recipe = {
        "name": "synth-pii", "seed": 1,
        "sources": [
            {"name": "notes", "type": "jsonl", "paths": [str(notes)], "pii": "fast", "quality": False},
            {"name": "synth", "type": "synthetic_qa", "from_sources": ["notes"], "quality": False, "pii": "off",
             "options": teacher_options(teacher.base_url, tmp_path / "cache")},
        ],
        "executor": {"kind": "local", "workers": 1},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    out1 = tmp_path / "out1"

    down = cli("build-corpus", str(path), "-o", str(out1), "--workers", "1")
    assert down.returncode != 0 and f"no OpenAI-compatible server answers at {teacher.base_url}" in down.stderr, down.stderr[-2000:]
    assert "Traceback" not in down.stderr
    with teacher:
        first = cli("build-corpus", str(path), "-o", str(out1), "--workers", "1")  # the same command, resumed
        assert first.returncode == 0, first.stderr[-3000:]
        assert teacher.received == 8

    rows = [r for f in sorted((out1 / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist() if r["source"] == "synth"]
    assert rows and all(json.loads(r["meta"])["provenance"]["teacher"] == "fake-model" for r in rows)
    assert "teacher model `fake-model`" in (out1 / "README.md").read_text(encoding="utf-8")
    files = [f for root in (out1, tmp_path / "cache") for f in root.rglob("*") if f.is_file()]
    assert_nothing_planted([f.read_bytes() for f in files], "a file of the build or cache")


# ---- end to end against the real vLLM server ------------------------------------------------------


@pytest.mark.vllm
@pytest.mark.slow
def test_stage_end_to_end_accounts_for_every_item_and_resumes_without_requests(vllm_server, tmp_path):
    from tests.inference.faults import FaultProxy

    passages = [
        Document(id="guidelines:ja_hypertension#1", text=PASSAGE_JA, source="guidelines", lang="ja"),
        Document(id="guidelines:en_asthma#1", text=PASSAGE_EN, source="guidelines", lang="en"),
        Document(id="guidelines:stub", text="短すぎる", source="guidelines", lang="ja"),
    ]
    with FaultProxy(vllm_server) as proxy:
        opts = options_from({
            "base_urls": [proxy.base_url], "model": "tiny-gptoss", "styles": ["mcq", "short_answer"], "cache_dir": str(tmp_path),
            "sampling": {"max_tokens": 12, "top_p": 1.0, "top_k": None}, "progress": False,
        }, "test")
        first = list(generate_qa(passages, opts))
        assert proxy.received == 8
        second = list(generate_qa(passages, opts))
        assert proxy.received == 8  # resumed from the journal: no request at all

    assert len(first) == 2 * 2 * 2 + 1
    assert [r.id for r in first] == [r.id for r in second]
    short = [r for r in first if r.id == "guidelines:stub"]
    assert isinstance(short[0], Rejected) and short[0].reason == "passage_too_short"
    known = ("truncated", "no_answer", "unparseable_json", "schema:", "answer_not_in_options", "lang:", "pii_introduced:", "duplicate")
    for rec in first:
        if isinstance(rec, Rejected) and rec.id != "guidelines:stub":
            assert rec.reason.startswith(known) and rec.stage == "synth_qa"
            assert rec.meta["passage_id"] in {"guidelines:ja_hypertension#1", "guidelines:en_asthma#1"}
            assert rec.meta["prompt_tokens"] > 0 and rec.meta["latency_s"] > 0
    # the tiny model writes noise until max_tokens: every item is truncated, and says so
    assert sum(isinstance(r, Rejected) and r.reason == "truncated" for r in first) == 8
    runs = [json.loads(line) for line in (tmp_path / "stats" / "runs.jsonl").read_text().splitlines()]
    assert runs[0]["requests"]["answered"] == 8 and runs[0]["items"] == 8 and runs[0]["rejected"]["truncated"] == 8
    assert runs[1]["requests"]["attempts"] == 0 and runs[1]["from_journal"] == 8


@pytest.mark.vllm
@pytest.mark.slow
def test_build_corpus_with_a_synthetic_qa_source_on_the_sample_guidelines(vllm_server, tmp_path, cli):
    """The real integration: build-corpus reads the sample guidelines and asks the served model about them."""
    from tests.inference.faults import FaultProxy

    samples = REPO / "corpora" / "samples" / "guidelines"
    passages = [samples / "ja_diabetes.md", samples / "en_asthma.md"]
    with FaultProxy(vllm_server) as proxy:
        recipe = {
            "name": "synth-qa-e2e",
            "seed": 1,
            "sources": [
                {"name": "guidelines", "type": "guideline", "paths": [str(p) for p in passages], "pii": "off"},
                {"name": "synth", "type": "synthetic_qa", "from_sources": ["guidelines"], "quality": False, "pii": "off",
                 "budget_tokens": 5000,
                 "options": {"base_urls": [proxy.base_url], "model": "tiny-gptoss", "styles": ["mcq", "short_answer"],
                             "cache_dir": str(tmp_path / "cache"), "progress": False,
                             "sampling": {"max_tokens": 12, "top_p": 1.0, "top_k": None}}},
            ],
            "executor": {"kind": "local", "workers": 1},
        }
        path = tmp_path / "recipe.yaml"
        path.write_text("# medswallow build-corpus recipe.yaml -o out\n" + yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
        first = cli("build-corpus", str(path), "-o", str(tmp_path / "out1"), "--workers", "1")
        assert first.returncode == 0, first.stderr[-3000:]
        sent = proxy.received
        second = cli("build-corpus", str(path), "-o", str(tmp_path / "out2"), "--workers", "1")
        assert second.returncode == 0, second.stderr[-3000:]
        assert proxy.received == sent  # a fresh build with the same cache asks nothing again

    n_passages = len(passages)
    assert sent == n_passages * 2 * 2
    for out in ("out1", "out2"):
        synth = json.loads((tmp_path / out / "manifest.json").read_text())["sources"]["synth"]
        docs = synth["docs"]
        assert docs["read"] == n_passages * 2 * 2
        assert docs["kept"] + sum(docs["dropped"].values()) + sum(docs["quarantined"].values()) == docs["read"]
        assert docs["dropped"] == {"truncated": docs["read"]}  # the tiny model's noise runs into max_tokens
        assert synth["mixture"]["requested_tokens"] == 5000
    rejected = [json.loads(line) for f in sorted((tmp_path / "out1" / "rejected").glob("*.jsonl")) for line in f.read_text().splitlines()]
    synth_rej = [r for r in rejected if r["source"] == "synth"]
    assert {r["meta"]["passage_id"] for r in synth_rej} == {"guidelines:ja_diabetes.md", "guidelines:en_asthma.md"}
    assert all(r["stage"] == "synth_qa" and r["meta"]["completion_tokens"] == 12 for r in synth_rej)
