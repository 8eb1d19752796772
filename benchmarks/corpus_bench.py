"""Throughput and memory of ``medswallow build-corpus``, next to the same filter + dedup pipeline in datatrove.

    .venv/bin/python benchmarks/corpus_bench.py --size-mb 200 --workdir /tmp/corpus-bench

What it does, in one run on one machine:
1. generates a mixed Japanese/English medical-style corpus of ``--size-mb`` (JSONL, ~8 MB files; exact and
   near duplicates and junk planted; kept out of git under ``--workdir``),
2. builds it with build-corpus (PII off, decontamination off: the stages datatrove also has) with 1 and 2
   workers: wall time, CPU time of the whole process tree, per-stage CPU seconds from the build's stats,
3. runs datatrove 0.10.1 directly on the same files (``--datatrove-mb`` of them): GopherRepetition +
   GopherQuality filters, and MinHash dedup stages 1-4, each with the document's language (ja or en),
4. measures the PII stage (fast mode) on a slice, and peak memory of the dedup step at ``--dedup-docs``
   documents (1M by default).
Results go to ``WORKDIR/results.json`` and are printed as tables. "Per core" = MB / CPU-second of the
process tree, which stays meaningful when other jobs share the machine (wall times do not).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

# ---------------------------------------------------------------------------------------------- corpus

JA_T = [
    "{age}歳の{sex}が{symptom}を主訴に{place}を受診した。",
    "{test}では{finding}を認め、{disease}と診断した。",
    "{drug}を1日{dose}mgで開始し、{days}日後には{outcome}。",
    "{disease}の治療では{life}が基本であり、効果が不十分な場合は{drug}の併用を考慮する。",
    "{organ}の{finding}は{disease}でしばしばみられる所見である。",
    "{place}では{year}年から{program}を導入し、{outcome2}。",
    "高齢者では{risk}に注意し、{drug}の用量を{adjust}することが望ましい。",
    "{city}は{pref}の{kind}で、{year}年に{event}ことで知られている。",
]
JA_F = {
    "age": [str(i) for i in range(18, 96)], "sex": ["男性", "女性"],
    "symptom": ["発熱", "胸痛", "呼吸困難", "腹痛", "頭痛", "めまい", "倦怠感", "咳嗽", "浮腫", "体重減少", "動悸", "下痢"],
    "place": ["当院救急外来", "近医", "内科外来", "総合診療科", "循環器内科", "地域の診療所"],
    "test": ["胸部X線", "腹部CT", "心電図", "血液検査", "頭部MRI", "心エコー", "尿検査", "動脈血ガス分析"],
    "finding": ["浸潤影", "肝腫大", "ST上昇", "炎症反応の上昇", "低信号域", "壁運動低下", "蛋白尿", "代謝性アシドーシス"],
    "disease": ["肺炎", "急性心筋梗塞", "敗血症", "脳梗塞", "心不全", "糖尿病性ケトアシドーシス", "慢性腎臓病", "気管支喘息", "高血圧症", "熱中症"],
    "drug": ["アムロジピン", "メトホルミン", "エンパグリフロジン", "アスピリン", "セフトリアキソン", "フロセミド", "プレドニゾロン", "ヘパリン"],
    "dose": ["2.5", "5", "10", "20", "40", "250", "500", "1000"], "days": [str(i) for i in range(2, 30)],
    "outcome": ["症状は改善した", "解熱した", "血圧は安定した", "腎機能の悪化を認めた", "退院となった", "炎症反応は低下した"],
    "life": ["減塩", "禁煙", "運動療法", "食事療法", "体重管理", "節酒"],
    "organ": ["肺", "肝臓", "腎臓", "心臓", "脳", "膵臓"],
    "year": [str(y) for y in range(1950, 2025)], "program": ["遠隔診療", "地域連携パス", "多職種カンファレンス", "在宅医療"],
    "outcome2": ["再入院率が低下した", "待ち時間が短縮した", "受診率が向上した", "死亡率に差はなかった"],
    "risk": ["転倒", "低血糖", "腎機能低下", "起立性低血圧", "せん妄"], "adjust": ["減量", "調整", "慎重に増量"],
    "city": ["松本市", "金沢市", "函館市", "倉敷市", "熊本市", "弘前市"], "pref": ["長野県", "石川県", "北海道", "岡山県", "熊本県", "青森県"],
    "kind": ["城下町", "港町", "観光地", "学園都市"], "event": ["大火に見舞われた", "鉄道が開通した", "博覧会が開かれた", "市制が施行された"],
}
EN_T = [
    "A {age}-year-old {sex} presented to the {place} with {symptom}.",
    "The {test} showed {finding}, and a diagnosis of {disease} was made.",
    "{drug} was started at {dose} mg daily, and after {days} days {outcome}.",
    "Treatment of {disease} begins with {life}, and {drug} is added when the response is insufficient.",
    "In older adults the risk of {risk} should be considered before the dose of {drug} is increased.",
    "{city} is a {kind} in {region}, known for the {event} of {year}.",
]
EN_F = {
    "age": [str(i) for i in range(18, 96)], "sex": ["man", "woman"],
    "place": ["emergency department", "outpatient clinic", "primary care practice", "cardiology clinic"],
    "symptom": ["fever", "chest pain", "shortness of breath", "abdominal pain", "headache", "dizziness", "fatigue", "cough", "leg swelling"],
    "test": ["chest radiograph", "abdominal CT", "electrocardiogram", "blood test", "brain MRI", "echocardiogram", "urinalysis"],
    "finding": ["a consolidation", "hepatomegaly", "ST elevation", "raised inflammatory markers", "reduced wall motion", "proteinuria"],
    "disease": ["pneumonia", "myocardial infarction", "sepsis", "ischaemic stroke", "heart failure", "chronic kidney disease", "asthma", "hypertension"],
    "drug": ["amlodipine", "metformin", "empagliflozin", "aspirin", "ceftriaxone", "furosemide", "prednisolone", "heparin"],
    "dose": ["2.5", "5", "10", "20", "40", "250", "500", "1000"], "days": [str(i) for i in range(2, 30)],
    "outcome": ["the symptoms resolved", "the fever settled", "blood pressure was controlled", "renal function worsened", "she was discharged"],
    "life": ["salt reduction", "smoking cessation", "regular exercise", "dietary change", "weight control"],
    "risk": ["falls", "hypoglycaemia", "acute kidney injury", "orthostatic hypotension", "delirium"],
    "city": ["Bristol", "Leeds", "Dundee", "Halifax", "Dayton", "Tacoma"], "kind": ["port city", "market town", "university town"],
    "region": ["the north", "the south-west", "the Midlands", "the east"], "event": ["fire", "flood", "exhibition", "railway opening"],
    "year": [str(y) for y in range(1850, 2025)],
}


def _sentence(rng: random.Random, templates: list[str], fills: dict[str, list[str]]) -> str:
    t = rng.choice(templates)
    return t.format(**{k: rng.choice(v) for k, v in fills.items() if "{" + k + "}" in t})


def _doc(rng: random.Random, lang: str) -> str:
    if lang == "ja":
        paras = ["".join(_sentence(rng, JA_T, JA_F) for _ in range(rng.randint(3, 7))) for _ in range(rng.randint(2, 6))]
    else:
        paras = [" ".join(_sentence(rng, EN_T, EN_F) for _ in range(rng.randint(3, 7))) for _ in range(rng.randint(2, 6))]
    return "\n".join(paras)


def generate(root: Path, size_mb: float, seed: int = 0, file_mb: float = 8.0, short: bool = False, n_docs: int = 0) -> dict[str, Any]:
    """Write ja-NNN.jsonl / en-NNN.jsonl files (3 of 5 files Japanese) with planted duplicates and junk.

    ``short``: two-sentence documents until ``n_docs`` are written (the dedup memory measurement)."""
    root.mkdir(parents=True, exist_ok=True)
    done = root / "DONE.json"
    if done.exists():
        return json.loads(done.read_text())
    rng = random.Random(seed)
    total = int(size_mb * 1024 * 1024)
    written = docs = dups = near = junk = 0
    recent: list[str] = []
    n_file = 0
    file_mb = min(file_mb, max(size_mb / 10, 0.05))
    def more() -> bool:
        return docs < n_docs if n_docs else written < total

    while more():
        lang = "ja" if n_file % 5 in (0, 2, 4) else "en"  # 3 of 5 files Japanese
        with open(root / f"{lang}-{n_file:04d}.jsonl", "w", encoding="utf-8") as f:
            fbytes = 0
            while fbytes < file_mb * 1024 * 1024 and (docs < n_docs if n_docs else written + fbytes < total):
                r = rng.random()
                if short:
                    text = _sentence(rng, JA_T if lang == "ja" else EN_T, JA_F if lang == "ja" else EN_F)
                    text += _sentence(rng, JA_T if lang == "ja" else EN_T, JA_F if lang == "ja" else EN_F)
                elif recent and r < 0.08:  # exact duplicate
                    text, dups = rng.choice(recent), dups + 1
                elif recent and r < 0.12:  # near duplicate: one sentence appended
                    text, near = rng.choice(recent) + _sentence(rng, JA_T if lang == "ja" else EN_T, JA_F if lang == "ja" else EN_F), near + 1
                elif r < 0.15:  # junk: a keyword list or repeated lines
                    text = ("\n".join(["クリックしてください"] * 8) if lang == "ja" else " ".join(rng.choice(EN_F["drug"]) for _ in range(80)))
                    junk += 1
                else:
                    text = _doc(rng, lang)
                    if len(recent) < 2000:
                        recent.append(text)
                    else:
                        recent[rng.randrange(2000)] = text
                line = json.dumps({"id": f"{n_file}-{docs}", "text": text}, ensure_ascii=False) + "\n"
                f.write(line)
                fbytes += len(line.encode("utf-8"))
                docs += 1
        written += fbytes
        n_file += 1
    info = {"bytes": written, "docs": docs, "files": n_file, "exact_dups": dups, "near_dups": near, "junk": junk}
    done.write_text(json.dumps(info))
    return info


def text_bytes(root: Path, pattern: str = "*.jsonl") -> int:
    """Bytes of document text (UTF-8), the unit of every MB/s here."""
    n = 0
    for p in sorted(root.glob(pattern)):
        with open(p, encoding="utf-8") as f:
            for line in f:
                n += len(json.loads(line)["text"].encode("utf-8"))
    return n


# ---------------------------------------------------------------------------------------------- measuring


class TreeMonitor:
    """Peak resident memory and CPU time of a process and all its descendants (sampled every 0.2 s).

    Worker processes forked by a forkserver are not children the parent waits for, so RUSAGE_CHILDREN
    misses them; the last CPU time seen per process is summed instead (a process loses at most its last
    0.2 s before exiting).
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak_total = 0
        self.peak_single = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                        t = p.cpu_times()
                        self.cpu[p.pid] = t.user + t.system
                    except psutil.Error:
                        pass
                self.peak_total = max(self.peak_total, sum(rss))
                self.peak_single = max(self.peak_single, max(rss, default=0))
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time, CPU time of the whole process tree and peak memory of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mon = TreeMonitor(proc.pid)
    out, err = proc.communicate()
    mon.stop()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-4000:]}")
    # Sampled per process (see TreeMonitor); the reaped main process alone is exact, a lower bound.
    main_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu = max(main_cpu, sum(mon.cpu.values()))
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_total_gb": mon.peak_total / 2**30, "peak_rss_process_gb": mon.peak_single / 2**30}


def medswallow_recipe(root: Path, data: Path, quality: bool = True) -> Path:
    import yaml

    recipe = {
        "name": "bench",
        "seed": 0,
        "sources": [
            {"name": "ja", "type": "jsonl", "paths": [str(data / "ja-*.jsonl")], "fields": {"id": "id"}, "quality": quality},
            {"name": "en", "type": "jsonl", "paths": [str(data / "en-*.jsonl")], "fields": {"id": "id"}, "quality": quality},
        ],
        "pii": {"mode": "off"},
        "decontamination": {"enabled": False},
        "output": {"rejected_text_chars": 200},
    }
    p = root / f"recipe-{data.name}{'' if quality else '-noquality'}.yaml"
    p.write_text("# medswallow build-corpus THIS -o OUT (written by benchmarks/corpus_bench.py)\n" + yaml.safe_dump(recipe), encoding="utf-8")
    return p


def medswallow_build(recipe: Path, out: Path, workers: int) -> dict[str, Any]:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    res = run_measured([PY, "-m", "medswallow.cli", "build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", str(workers)])
    stage_cpu: dict[str, float] = {}
    for st in sorted((out / ".work" / "process").glob("*.json")):
        for k, v in json.loads(st.read_text())["seconds"].items():
            stage_cpu[k] = stage_cpu.get(k, 0.0) + v
    timings = json.loads((out / ".work" / "timings.json").read_text())["seconds"]
    m = json.loads((out / "manifest.json").read_text())
    return {**res, "stage_seconds": stage_cpu, "stage_wall": timings, "totals": m["totals"],
            "dedup": {k: v["dedup"] for k, v in m["sources"].items()}}


DATATROVE_SCRIPT = r'''
import sys, json
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.dedup import MinhashDedupSignature, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.text import TextNormConfig
from datatrove.utils.hashing import HashConfig
from loguru import logger

def main():
    data, work, lang, which, workers, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    logger.disable("datatrove")
    glob = f"{lang}-*.jsonl"
    if which == "filters":
        LocalPipelineExecutor(
            [JsonlReader(data, glob_pattern=glob), GopherRepetitionFilter(language=lang), GopherQualityFilter(language=lang),
             JsonlWriter(f"{work}/out")],
            tasks=files, workers=workers, logging_dir=f"{work}/logs").run()
        return
    # MinHash as the datatrove docs show it; dakuten kept (the default normalisation strips them). sha1:
    # the default xxhash path passes str to xxhash 4.x, which refuses it ("Strings must be encoded").
    cfg = MinhashConfig(norm_config=TextNormConfig(norm_unicode_diacritics=False), hash_config=HashConfig(hash_fc="sha1"))
    s1 = LocalPipelineExecutor([JsonlReader(data, glob_pattern=glob), MinhashDedupSignature(f"{work}/sigs", config=cfg, language=lang)],
                               tasks=files, workers=workers, logging_dir=f"{work}/l1")
    s1.run()
    s2 = LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)],
                               tasks=cfg.num_buckets, workers=workers, logging_dir=f"{work}/l2")
    s2.run()
    s3 = LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/remove", config=cfg)], tasks=1, logging_dir=f"{work}/l3")
    s3.run()
    s4 = LocalPipelineExecutor([JsonlReader(data, glob_pattern=glob), MinhashDedupFilter(f"{work}/remove"), JsonlWriter(f"{work}/dedup")],
                               tasks=files, workers=workers, logging_dir=f"{work}/l4")
    s4.run()

if __name__ == "__main__":
    main()
'''


def datatrove_run(data: Path, work: Path, which: str, workers: int) -> dict[str, Any]:
    import shutil

    script = work / "datatrove_ref.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(DATATROVE_SCRIPT, encoding="utf-8")
    total: dict[str, float] = {"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_total_gb": 0.0, "peak_rss_process_gb": 0.0}
    for lang in ("ja", "en"):
        files = len(list(data.glob(f"{lang}-*.jsonl")))
        if not files:
            continue
        wd = work / f"{which}-{lang}"
        shutil.rmtree(wd, ignore_errors=True)
        r = run_measured([PY, str(script), str(data), str(wd), lang, which, str(workers), str(files)], env={"HF_HUB_OFFLINE": "1"})
        for k in ("wall_s", "cpu_s"):
            total[k] += r[k]
        for k in ("peak_rss_total_gb", "peak_rss_process_gb"):
            total[k] = max(total[k], r[k])
    return total


SELECT_SCRIPT = r'''
import json, resource, sys, time
from pathlib import Path
from medswallow.corpus.layout import Layout, read_json
from medswallow.corpus.recipe import load_recipe
from medswallow.corpus.select import select
recipe, out = load_recipe(sys.argv[1]), Layout(Path(sys.argv[2]))
t0 = time.process_time()
plan = select(recipe, out, read_json(out.units))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
print(json.dumps({"documents": plan["documents"], "cpu_s": time.process_time() - t0, "peak_rss_gb": peak}))
'''


def select_memory(recipe: Path, out: Path) -> dict[str, Any]:
    """The dedup + mixture step alone, re-run in a fresh process on a finished build: its exact peak RSS."""
    res = subprocess.run([PY, "-c", SELECT_SCRIPT, str(recipe), str(out)], cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def pii_throughput(data: Path, mb: float) -> dict[str, float]:
    """The PII stage alone (fast mode, real engine) on the first ``mb`` of documents."""
    sys.path.insert(0, str(REPO))
    from medswallow.corpus.langid import detect
    from medswallow.corpus.redact import RedactStage
    from medswallow.records import Document

    docs, size = [], 0
    for p in sorted(data.glob("*.jsonl")):
        with open(p, encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["text"]
                docs.append(Document(str(len(docs)), text, "s", lang=detect(text)[0]))
                size += len(text.encode())
                if size >= mb * 2**20:
                    break
        if size >= mb * 2**20:
            break
    stage = RedactStage("fast", False)
    stage.process(docs[:5])  # load the engine outside the timing
    t0 = time.process_time()
    for i in range(0, len(docs), 256):
        stage.process(docs[i : i + 256])
    cpu = time.process_time() - t0
    return {"mb": size / 2**20, "docs": len(docs), "cpu_s": cpu, "mb_per_cpu_s": size / 2**20 / cpu, "docs_per_cpu_s": len(docs) / cpu}


def small_files_run(work: Path, n: int) -> dict[str, Any]:
    """Many tiny files (one short record each): the per-file cost, and how large ``.work`` grows."""
    import yaml

    data = work / f"small-{n}"
    if not data.exists():
        data.mkdir(parents=True)
        rng = random.Random(5)
        for k in range(n):
            text = "".join(_sentence(rng, JA_T, JA_F) for _ in range(3))
            (data / f"f{k:06d}.jsonl").write_text(json.dumps({"id": f"s{k}", "text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = work / f"recipe-small-{n}.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "small-files", "seed": 0, "pii": {"mode": "off"}, "decontamination": {"enabled": False},
        "sources": [{"name": "small", "type": "jsonl", "paths": [str(data / "*.jsonl")], "fields": {"id": "id"}}],
    }), encoding="utf-8")
    out = work / f"out-small-{n}"
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    res = run_measured([PY, "-m", "medswallow.cli", "build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "2"])
    files = [p for p in (out / ".work").rglob("*") if p.is_file()]
    input_bytes = sum(p.stat().st_size for p in data.glob("*.jsonl"))
    return {**res, "files": n, "input_bytes": input_bytes, "work_files": len(files), "work_bytes": sum(p.stat().st_size for p in files)}


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=200)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/medswallow-corpus-bench"))
    ap.add_argument("--datatrove-mb", type=float, default=50, help="datatrove runs on the first files up to this size (it is slow)")
    ap.add_argument("--dedup-docs", type=int, default=1_000_000, help="documents for the dedup memory measurement (0: skip)")
    ap.add_argument("--pii-mb", type=float, default=2)
    ap.add_argument("--skip", nargs="*", default=[], choices=["main", "datatrove", "dedup", "pii", "workers1"])
    ap.add_argument("--small-files", type=int, default=0, help="also build this many tiny JSONL files (one record each; 0: skip)")
    args = ap.parse_args()
    work: Path = args.workdir
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "args": {k: str(v) for k, v in vars(args).items()}}
    out_json = work / "results.json"

    def save() -> None:
        out_json.write_text(json.dumps(results, indent=1))

    if out_json.exists():  # parts skipped now keep their earlier results
        results = {**json.loads(out_json.read_text()), **results}
    data = work / f"corpus-{int(args.size_mb)}mb"
    print(f"generating {args.size_mb} MB under {data} ...", flush=True)
    results["corpus"] = generate(data, args.size_mb)
    results["corpus"]["text_mb"] = text_bytes(data) / 2**20
    save()
    recipe = medswallow_recipe(work, data)
    for w in [] if "main" in args.skip else ([2] if "workers1" in args.skip else [1, 2]):
        print(f"build-corpus, {w} worker(s) ...", flush=True)
        results[f"medswallow_w{w}"] = medswallow_build(recipe, work / f"out-w{w}", w)
        save()

    if "datatrove" not in args.skip:
        sub = work / f"corpus-dt-{int(args.datatrove_mb)}mb"
        if not sub.exists():
            sub.mkdir(parents=True)
            size = 0
            for p in sorted(data.glob("*.jsonl"), key=lambda p: p.name.split("-")[1]):  # interleave ja/en files
                if size >= args.datatrove_mb * 2**20:
                    break
                (sub / p.name).symlink_to(p)
                size += p.stat().st_size
        results["dt_text_mb"] = text_bytes(sub) / 2**20
        print(f"datatrove reference on {results['dt_text_mb']:.0f} MB of text ...", flush=True)
        results["datatrove_filters_w2"] = datatrove_run(sub, work / "dt", "filters", 2)
        save()
        results["datatrove_minhash_w2"] = datatrove_run(sub, work / "dt", "minhash", 2)
        save()
        print("build-corpus on the same files ...", flush=True)
        results["medswallow_dt_subset_w2"] = medswallow_build(medswallow_recipe(work, sub), work / "out-dt-subset", 2)
        save()

    if "pii" not in args.skip:
        print("PII stage (fast) ...", flush=True)
        results["pii_fast"] = pii_throughput(data, args.pii_mb)
        save()

    if args.dedup_docs and "dedup" not in args.skip:
        short = work / f"corpus-short-{args.dedup_docs}"
        # short documents (two sentences each): the document count, not the bytes, drives dedup memory
        approx_mb = args.dedup_docs * 150 / 2**20
        print(f"dedup memory at {args.dedup_docs:,} documents ...", flush=True)
        info = generate(short, approx_mb, seed=1, short=True, n_docs=args.dedup_docs)
        results["dedup_corpus"] = info
        dedup_recipe = medswallow_recipe(work, short, quality=False)
        results["medswallow_dedup_1m_w2"] = medswallow_build(dedup_recipe, work / "out-dedup", 2)
        save()
        results["select_alone_1m"] = select_memory(dedup_recipe, work / "out-dedup")
        save()

    if args.small_files:
        print(f"{args.small_files:,} tiny files ...", flush=True)
        results["small_files"] = small_files_run(work, args.small_files)
        save()

    results["machine"]["load_avg_end"] = os.getloadavg()
    save()
    report(results)


def report(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    mb = r["corpus"]["text_mb"]
    t = Table(title=f"build-corpus on {mb:.0f} MB of text, {r['corpus']['docs']:,} documents")
    for col in ("run", "wall s", "CPU s", "MB/s (wall)", "MB/s per core (CPU)", "docs/s per core", "peak RSS GB"):
        t.add_column(col, justify="right")
    for key in ("medswallow_w1", "medswallow_w2"):
        if key in r:
            x = r[key]
            t.add_row(key, f"{x['wall_s']:.1f}", f"{x['cpu_s']:.1f}", f"{mb / x['wall_s']:.2f}", f"{mb / x['cpu_s']:.2f}",
                      f"{r['corpus']['docs'] / x['cpu_s']:.0f}", f"{x['peak_rss_total_gb']:.2f}")
    c.print(t)
    if "medswallow_w1" in r and "medswallow_w2" in r:
        c.print(f"1 -> 2 workers: {r['medswallow_w1']['wall_s'] / r['medswallow_w2']['wall_s']:.2f}x (wall)")
    x = r.get("medswallow_w2") or r.get("medswallow_w1")
    if x is not None:  # the main builds may be skipped (--skip main)
        st = Table(title="per stage (CPU seconds summed over units; MB/s per core)")
        st.add_column("stage")
        st.add_column("CPU s", justify="right")
        st.add_column("MB/s per core", justify="right")
        for k, v in sorted(x["stage_seconds"].items()):
            st.add_row(k, f"{v:.1f}", f"{mb / v:.2f}" if v else "-")
        for k, v in x["stage_wall"].items():
            st.add_row(f"{k} (wall, whole stage)", f"{v:.1f}", "")
        c.print(st)
    if "datatrove_filters_w2" in r:
        dmb = r["dt_text_mb"]
        ms = r["medswallow_dt_subset_w2"]
        d = Table(title=f"same {dmb:.0f} MB, 2 workers: datatrove 0.10.1 written directly vs build-corpus (MB/s per core of CPU)")
        for col in ("pipeline", "CPU s", "MB/s per core", "wall s"):
            d.add_column(col, justify="right")
        fil, mh = r["datatrove_filters_w2"], r["datatrove_minhash_w2"]
        d.add_row("datatrove Gopher repetition + quality", f"{fil['cpu_s']:.1f}", f"{dmb / fil['cpu_s']:.2f}", f"{fil['wall_s']:.1f}")
        d.add_row("datatrove MinHash stages 1-4", f"{mh['cpu_s']:.1f}", f"{dmb / mh['cpu_s']:.2f}", f"{mh['wall_s']:.1f}")
        both = fil["cpu_s"] + mh["cpu_s"]
        d.add_row("datatrove filters + MinHash", f"{both:.1f}", f"{dmb / both:.2f}", f"{fil['wall_s'] + mh['wall_s']:.1f}")
        d.add_row("build-corpus end to end (lang+quality+tokens+dedup+shards)", f"{ms['cpu_s']:.1f}", f"{dmb / ms['cpu_s']:.2f}", f"{ms['wall_s']:.1f}")
        c.print(d)
        c.print(f"ratio (per core, end to end vs datatrove filters + MinHash): {both / ms['cpu_s']:.2f}x")
    if "pii_fast" in r:
        p = r["pii_fast"]
        c.print(f"PII fast: {p['mb_per_cpu_s']:.2f} MB/s per core, {p['docs_per_cpu_s']:.0f} docs/s per core on {p['mb']:.1f} MB")
    if "medswallow_dedup_1m_w2" in r:
        x = r["medswallow_dedup_1m_w2"]
        c.print(
            f"{r['dedup_corpus']['docs']:,} documents: peak RSS of one process {x['peak_rss_process_gb']:.2f} GB "
            f"(all processes {x['peak_rss_total_gb']:.2f} GB); select (dedup + mixture) stage {x['stage_wall']['select']:.1f} s wall"
        )
    if "small_files" in r:
        x = r["small_files"]
        c.print(
            f"{x['files']:,} tiny files ({x['input_bytes'] / 1024:.0f} KB): {x['wall_s']:.1f} s wall, {x['cpu_s']:.1f} CPU s; "
            f".work holds {x['work_files']:,} files, {x['work_bytes'] / 2**20:.1f} MB"
        )
    if "select_alone_1m" in r:
        x = r["select_alone_1m"]
        c.print(f"dedup + mixture step alone on {x['documents']:,} documents: peak RSS {x['peak_rss_gb']:.2f} GB, {x['cpu_s']:.1f} CPU s")


if __name__ == "__main__":
    main()
