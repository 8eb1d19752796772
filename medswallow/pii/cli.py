"""``medswallow pii detect|redact|eval|labels``: find, remove and score PII in JSONL files.

Input lines are ``{"id", "text", "lang"?}``. A bad line stops the run with a message naming the file and line,
or, with ``--skip-bad``, goes to ``OUT.rejected.jsonl`` (line number, id and reason; never the text).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from medswallow.console import console, progress
from medswallow.errors import UserError

pii_app = typer.Typer(
    name="pii",
    help="Find and remove personal data (PII/PHI) in Japanese and English clinical text.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModeOpt = Annotated[str, typer.Option("--mode", help="fast (default: no NER over whole documents) or thorough (adds GiNZA/English NER).")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad", help="Quarantine unreadable lines to OUT.rejected.jsonl instead of stopping.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Documents per batch (NER runs batched in the thorough mode).")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Worker processes; models load once in each.")]


def register(app: typer.Typer) -> None:
    """Add the ``pii`` sub-app to the root app."""
    app.add_typer(pii_app, name="pii")


def _engine(mode: str, pseudonymize: bool = False) -> Any:
    from medswallow.pii.engine import PIIEngine

    return PIIEngine(mode=mode, pseudonymize=pseudonymize)


def _check_out(inp: Path, out: Path) -> None:
    if not inp.is_file():
        raise UserError(f"{inp}: no such file" if not inp.exists() else f"{inp}: not a file; give a .jsonl file")
    if out.resolve() == inp.resolve():
        raise UserError(f"{out}: the output would overwrite the input; choose another -o path")
    out.parent.mkdir(parents=True, exist_ok=True)


def _docs(inp: Path, rejected: list[Any], skip_bad: bool, gold: bool = False) -> Iterator[Any]:
    from medswallow.pii.io import BadLine, read_docs

    for item in read_docs(inp, gold=gold):
        if isinstance(item, BadLine):
            if not skip_bad:
                raise UserError(item.message(inp) + " (or pass --skip-bad to quarantine bad lines)")
            rejected.append(item)
            continue
        yield item


def _write_rejected(out: Path, rejected: list[Any]) -> Path | None:
    if not rejected:
        return None
    path = out.with_name(out.name + ".rejected.jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for bad in rejected:
            fh.write(json.dumps(bad.to_dict(), ensure_ascii=False) + "\n")
    return path


def _run(
    inp: Path, out: Path, mode: str, skip_bad: bool, batch_size: int, workers: int, redact: bool, pseudonymize: bool = False
) -> None:
    from medswallow.pii.anonymize import replace_spans
    from medswallow.pii.io import BadLine, count_lines
    from medswallow.pii.lang import detect_language
    from medswallow.pii.stage import DocFailure, analyze_batches, batched

    engine = _engine(mode, pseudonymize)
    _check_out(inp, out)
    total = count_lines(inp)
    rejected: list[Any] = []
    failed: list[Any] = []
    counts: Counter[str] = Counter()
    n_docs = n_chars = 0
    started = time.perf_counter()
    doc_batches = batched(_docs(inp, rejected, skip_bad), batch_size)
    pending: list[list[Any]] = []

    def text_batches() -> Iterator[tuple[list[str], list[str | None]]]:
        for batch in doc_batches:
            pending.append(batch)
            yield [d.text for d in batch], [d.lang for d in batch]

    tmp = out.with_name(out.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as fh, progress(transient=True) as bar:
            task = bar.add_task("redact" if redact else "detect", total=total)
            for spans_batch in analyze_batches(engine, text_batches(), workers=workers):
                batch = pending.pop(0)
                for doc, spans in zip(batch, spans_batch, strict=True):
                    if isinstance(spans, DocFailure):  # reported with its line and id; the rest of the file goes on
                        failed.append(BadLine(doc.line, doc.id, spans.reason))
                        continue
                    lang = doc.lang or detect_language(doc.text)
                    if redact:
                        row: dict[str, Any] = {
                            "id": doc.id,
                            "lang": lang,
                            "text": replace_spans(doc.text, spans, pseudonymize=pseudonymize),
                            "pii": dict(sorted(Counter(s.label for s in spans).items())),
                        }
                    else:
                        row = {"id": doc.id, "lang": lang, "spans": [s.to_dict() for s in spans]}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts.update(s.label for s in spans)
                    n_docs += 1
                    n_chars += len(doc.text)
                bar.advance(task, len(batch))
    except BaseException:  # a bad line or Ctrl-C: no half-written output is left behind
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    elapsed = time.perf_counter() - started
    rej_path = _write_rejected(out, rejected + failed)
    _summary(n_docs, n_chars, counts, elapsed, out, rejected, rej_path, failed)


def _summary(
    n_docs: int, n_chars: int, counts: Counter[str], elapsed: float, out: Path, rejected: list[Any], rej: Path | None, failed: list[Any]
) -> None:
    from rich.table import Table

    table = Table(title=f"PII found in {n_docs} documents ({n_chars:,} characters, {n_chars / max(elapsed, 1e-9):,.0f} chars/s)")
    table.add_column("label")
    table.add_column("spans", justify="right")
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(label, str(n))
    table.add_row("[bold]total", f"[bold]{sum(counts.values())}")
    console.print(table)
    console.print(f"[green]wrote[/green] {out}")
    for bad in failed:
        console.print(f"[red]line {bad.line} (id {bad.id!r}) not written:[/red] {bad.reason}")
    if rej is not None:
        what = ", ".join(
            part for part in (f"{len(rejected)} unreadable lines" if rejected else "", f"{len(failed)} failed documents" if failed else "") if part
        )
        console.print(f"[yellow]{what} listed in[/yellow] {rej}")


@pii_app.command("detect")
def detect(
    inp: Annotated[Path, typer.Argument(help="JSONL input: one {\"id\", \"text\", \"lang\"?} per line.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="JSONL output: {\"id\", \"lang\", \"spans\": [{start, end, label, score}]}.")],
    mode: ModeOpt = "fast",
    skip_bad: SkipBadOpt = False,
    batch_size: BatchOpt = 64,
    workers: WorkersOpt = 1,
) -> None:
    """Find PII spans (Python str offsets, end exclusive) in each document."""
    _run(inp, out, mode, skip_bad, batch_size, workers, redact=False)


@pii_app.command("redact")
def redact(
    inp: Annotated[Path, typer.Argument(help="JSONL input: one {\"id\", \"text\", \"lang\"?} per line.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="JSONL output: {\"id\", \"lang\", \"text\", \"pii\": {label: count}}.")],
    mode: ModeOpt = "fast",
    pseudonymize: Annotated[bool, typer.Option("--pseudonymize", help="Consistent fake values per document instead of <LABEL> placeholders.")] = False,
    skip_bad: SkipBadOpt = False,
    batch_size: BatchOpt = 64,
    workers: WorkersOpt = 1,
) -> None:
    """Replace PII with typed placeholders (<PERSON>, <PHONE_NUMBER>...) or pseudonyms."""
    _run(inp, out, mode, skip_bad, batch_size, workers, redact=True, pseudonymize=pseudonymize)


@pii_app.command("eval")
def evaluate(
    gold: Annotated[Path, typer.Option("--gold", help="Gold JSONL: {\"id\", \"lang\", \"text\", \"spans\": [{start, end, label}]}.")],
    mode: ModeOpt = "fast",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report (metrics by language, label and document kind) here.")] = None,
    show_errors: Annotated[int, typer.Option("--show-errors", help="Print up to N missed and N spurious spans (offsets and labels only).")] = 0,
    skip_bad: SkipBadOpt = False,
    batch_size: BatchOpt = 64,
) -> None:
    """Score the engine on labelled documents: entity and character precision/recall by label and language."""
    from medswallow.pii.evaluate import COVERAGE, Report, score_document
    from medswallow.pii.io import count_lines
    from medswallow.pii.lang import detect_language
    from medswallow.pii.stage import batched

    if not gold.is_file():
        raise UserError(f"{gold}: no such file")
    engine = _engine(mode)
    with console.status(f"loading the {mode} PII engine"):
        engine.load()
    rejected: list[Any] = []
    report = Report()
    started = time.perf_counter()
    n_chars = 0
    with progress(transient=True) as bar:
        task = bar.add_task(f"eval ({mode})", total=count_lines(gold))
        for batch in batched(_docs(gold, rejected, skip_bad, gold=True), batch_size):
            preds = engine.analyze_batch([d.text for d in batch], [d.lang for d in batch])
            for doc, spans in zip(batch, preds, strict=True):
                lang = doc.lang or detect_language(doc.text)
                score_document(report, doc.text, doc.spans or [], spans, lang, doc.kind, doc.id)
                n_chars += len(doc.text)
            bar.advance(task, len(batch))
    elapsed = time.perf_counter() - started
    data = report.to_dict()
    data.update({"mode": mode, "gold": str(gold), "seconds": round(elapsed, 2), "chars_per_second": round(n_chars / max(elapsed, 1e-9))})
    if rejected:
        data["rejected_lines"] = [b.to_dict() for b in rejected]
    _eval_table(data, COVERAGE)
    if show_errors:
        for kind, rows in (("missed", report.misses), ("spurious", report.false_positives)):
            for row in rows[:show_errors]:
                console.print(f"  {kind}: id={row['id']} [{row['start']}:{row['end']}] {row['label']}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"[green]report written to[/green] {json_out}")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _eval_table(data: dict[str, Any], coverage: float) -> None:
    from rich.table import Table

    table = Table(title=f"PII eval ({data['mode']} mode, {data['n_docs']} documents; found = ≥{coverage:.0%} of an entity's characters covered)")
    table.add_column("", no_wrap=True)
    for col in ("gold", "pred", "ent R", "ent P", "F1", "typed R", "chr R", "chr P"):
        table.add_column(col, justify="right", no_wrap=True)

    def row(name: str, m: dict[str, Any], style: str = "") -> None:
        e, c = m["entity"], m["char"]
        table.add_row(
            f"{style}{name}", str(e["gold"]), str(e["pred"]), _fmt(e["recall"]), _fmt(e["precision"]), _fmt(e["f1"]),
            _fmt(e["recall_typed"]), _fmt(c["recall"]), _fmt(c["precision"]),
        )

    row("overall", data["overall"], "[bold]")
    for lang, m in data["by_lang"].items():
        row(f"lang={lang}", m)
    table.add_section()
    for label, m in data["by_label"].items():
        row(label, m)
    console.print(table)
    console.print(f"{data['chars_per_second']:,} chars/s")


@pii_app.command("labels")
def labels() -> None:
    """List the labels the engine emits and what each covers."""
    from rich.table import Table

    from medswallow.pii.labels import LABELS

    table = Table(title="PII labels")
    table.add_column("label")
    table.add_column("covers")
    for label, desc in LABELS.items():
        table.add_row(label, desc)
    console.print(table)
