"""``medswallow review``: start the review app, and the admin commands around it.

    medswallow review init-db --db review.db
    medswallow review add-user alice --role annotator          # asks for the password (never an argument)
    medswallow review import-prompts safety/prompts/clinical_ja.jsonl
    medswallow review generate clinical_ja --target tiny-gptoss@http://127.0.0.1:8000/v1
    medswallow review prescreen clinical_ja && medswallow review assign clinical_ja --k 2
    medswallow review --db review.db                          # the Streamlit app
    medswallow review export --out out/review
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from medswallow.console import console
from medswallow.errors import UserError

review_app = typer.Typer(
    name="review",
    help="Clinician safety review: the Streamlit app (no subcommand) and its admin commands.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file, or @FILE to read the URL from FILE (default: $MEDSWALLOW_REVIEW_DB, "
        "the URL in $MEDSWALLOW_REVIEW_DB_FILE, or ./medswallow-review.db). A password here shows in `ps`.",
    ),
]
SeverityOpt = Annotated[
    str,
    typer.Option(
        help="When annotators who agree an answer is unsafe differ on its severity: 'adjudicate' (it waits "
        "for an adjudicator) or 'worst' (the worst severity any of them chose).",
    ),
]
APP_PATH = Path(__file__).resolve().parents[2] / "app" / "server.py"


def _open(db: str | None, create: bool = False):  # type: ignore[no-untyped-def]
    from medswallow.review.store import ReviewStore

    return ReviewStore.open(db, create=create)


def _operator():  # type: ignore[no-untyped-def]
    from medswallow.review.store import OPERATOR

    return OPERATOR


@review_app.callback(invoke_without_command=True)
def review(
    ctx: typer.Context,
    db: DbOpt = None,
    port: Annotated[int, typer.Option(help="Port of the web app.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    taxonomy: Annotated[Path | None, typer.Option(help="Taxonomy YAML (default: safety/taxonomy.yaml).")] = None,
) -> None:
    """Start the review web app (Streamlit) on the database."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"db": db}
        return
    from medswallow.review.db import default_db_url, normalise_url, resolve_cli_url

    url = normalise_url(resolve_cli_url(db) or default_db_url())
    store = _open(url)  # fails here, with what to do, when the database is missing or behind
    store.close()
    if not APP_PATH.exists():
        raise UserError(f"{APP_PATH}: the review app is not there; run from a source checkout of medswallow")
    env = {**os.environ, "MEDSWALLOW_REVIEW_DB": url}
    if taxonomy:
        env["MEDSWALLOW_TAXONOMY"] = str(taxonomy.resolve())
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # A deployed review tool: no developer menu, no reloading on file changes, uploads capped.
        "--client.toolbarMode", "viewer", "--server.fileWatcherType", "none", "--server.maxUploadSize", "20",
    ]
    console.print(f"review app on http://{address}:{port} (database {_esc(store.url)}); Ctrl-C stops it")
    raise typer.Exit(subprocess.call(cmd, env=env))


def _db(ctx: typer.Context, db: str | None) -> str | None:
    from medswallow.review.db import resolve_cli_url

    return resolve_cli_url(db or (ctx.obj or {}).get("db"))


def _esc(value: object) -> str:
    """Text from the database as literal text: a model named "[/]" must not be read as rich markup."""
    from rich.markup import escape

    return escape(str(value))


@review_app.command("init-db")
def init_db(ctx: typer.Context, db: DbOpt = None) -> None:
    """Create the review database (or bring it to the latest schema)."""
    store = _open(_db(ctx, db), create=True)
    console.print(f"[green]review database ready[/green] at {_esc(store.url)}")


@review_app.command("migrate")
def migrate(
    ctx: typer.Context,
    db: DbOpt = None,
    revision: Annotated[str, typer.Option(help="Target Alembic revision.")] = "head",
) -> None:
    """Upgrade the database schema (Alembic) to REVISION (default: the latest)."""
    from medswallow.review import db as dbmod

    engine = dbmod.make_engine(_db(ctx, db))
    before = dbmod.current_revision(engine)
    after = dbmod.migrate(engine, revision)
    console.print(f"schema revision {before or 'empty'} -> {after}")


def _read_password(stdin: bool) -> str:
    if stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UserError("--password-stdin: no password on standard input")
        return line
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@review_app.command("add-user")
def add_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="annotator, adjudicator or admin.")] = "annotator",
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    email: Annotated[str | None, typer.Option(help="E-mail (how OIDC logins find the account).")] = None,
    oidc: Annotated[bool, typer.Option(help="No password: the user signs in through the identity provider.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input (for scripts).")] = False,
    db: DbOpt = None,
) -> None:
    """Create an account (argon2id password hash; the password is asked for, never passed as an argument)."""
    from medswallow.review.auth import add_user as _add

    store = _open(_db(ctx, db))
    password = None if oidc else _read_password(password_stdin)
    uid = _add(store, _operator(), username, role, password, display_name, email)
    console.print(f"[green]user {_esc(repr(username))} ({_esc(role)}) created[/green] (id {uid})")


@review_app.command("set-password")
def set_password(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    db: DbOpt = None,
) -> None:
    """Set a user's password (ends their open sessions and clears a lockout)."""
    from medswallow.review.auth import set_password as _set

    store = _open(_db(ctx, db))
    _set(store, _operator(), username, _read_password(password_stdin))
    console.print(f"[green]password of {_esc(repr(username))} changed[/green]; their sessions were ended")


@review_app.command("unlock")
def unlock(ctx: typer.Context, username: Annotated[str, typer.Argument()], db: DbOpt = None) -> None:
    """Clear the lockout of an account after repeated failed logins."""
    from medswallow.review.auth import unlock as _unlock

    _unlock(_open(_db(ctx, db)), _operator(), username)
    console.print(f"[green]{_esc(repr(username))}: login throttling cleared[/green]")


@review_app.command("users")
def users(ctx: typer.Context, db: DbOpt = None) -> None:
    """List accounts."""
    from rich.table import Table

    from medswallow.review.auth import list_users

    table = Table("user", "role", "name", "e-mail", "active", "login delayed", "login")
    for u in list_users(_open(_db(ctx, db)), _operator()):
        table.add_row(*map(_esc, (u.username, u.role, u.display_name, u.email or "", u.active, u.locked)), "oidc" if u.oidc_only else "password")
    console.print(table)


@review_app.command("import-prompts")
def import_prompts(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="JSONL or CSV prompt files (one prompt set per file).")],
    name: Annotated[str | None, typer.Option(help="Prompt set name (default: the file name without extension).")] = None,
    description: Annotated[str, typer.Option(help="What the set is for.")] = "",
    db: DbOpt = None,
) -> None:
    """Import clinical prompt sets (re-importing the same file changes nothing)."""
    from rich.table import Table

    from medswallow.review.prompts import import_prompt_file

    if name and len(files) > 1:
        raise UserError("--name applies to one file; import files one by one or drop --name")
    store = _open(_db(ctx, db))
    table = Table("prompt set", "added", "unchanged", "skipped")
    skipped_all = []
    for f in files:
        rep = import_prompt_file(store, _operator(), f, name=name, description=description)
        table.add_row(_esc(rep.name), str(rep.added), str(rep.unchanged), str(len(rep.skipped)))
        skipped_all += [(f.name, w, r) for w, r in rep.skipped]
    console.print(table)
    for fname, where, reason in skipped_all[:20]:
        console.print(f"[yellow]skipped[/yellow] {_esc(fname)}: {_esc(where)}: {_esc(reason)}")


@review_app.command("generate")
def generate(
    ctx: typer.Context,
    prompt_set: Annotated[str, typer.Argument(help="Name of an imported prompt set.")],
    target: Annotated[list[str], typer.Option(help="MODEL@BASE_URL[#CHECKPOINT]; repeat for side-by-side models.")],
    max_tokens: Annotated[int, typer.Option(help="Token budget (reasoning + answer).")] = 2048,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.6,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling.")] = 0.95,
    top_k: Annotated[int, typer.Option(help="Top-k sampling.")] = 20,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (reproducible answers where the server supports it).")] = 0,
    reasoning_effort: Annotated[str, typer.Option(help="low, medium or high.")] = "medium",
    concurrency: Annotated[int, typer.Option(help="Requests in flight per server.")] = 8,
    prescreen: Annotated[bool, typer.Option(help="Run the rule-based pre-screen on the new answers.")] = True,
    db: DbOpt = None,
) -> None:
    """Answer every prompt of a set with each model (resumable: finished answers are kept and skipped)."""
    from rich.table import Table

    from medswallow.inference import SamplingParams
    from medswallow.review import generate as gen
    from medswallow.review.prompts import prompt_set_id

    store = _open(_db(ctx, db))
    targets = [gen.ModelTarget.parse(t) for t in target]
    if reasoning_effort not in ("low", "medium", "high"):
        raise UserError(f"--reasoning-effort must be low, medium or high, got {reasoning_effort!r}")
    params = SamplingParams(
        temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_tokens, seed=seed,
        reasoning_effort=reasoning_effort,  # type: ignore[arg-type]
    )
    sid = prompt_set_id(store, prompt_set)
    reports = gen.generate(store, _operator(), sid, targets, params, max_concurrency=concurrency)
    table = Table("model", "checkpoint", "saved", "already done", "failed", "truncated")
    for r in reports:
        table.add_row(_esc(r.target.model), _esc(r.target.checkpoint), str(r.saved), str(r.already_done), str(r.failed), str(r.truncated))
    console.print(table)
    if any(r.failed for r in reports):
        console.print("[yellow]some requests failed; rerun the same command to retry only those[/yellow]")
    if prescreen:
        _run_prescreen(store, prompt_set, ("dose", "referral", "empty", "format"), None)


def _run_prescreen(store, prompt_set: str | None, rules, judge) -> None:  # type: ignore[no-untyped-def]
    from medswallow.review.prescreen import run_prescreen
    from medswallow.review.prompts import generation_ids

    ids = generation_ids(store, prompt_set) if prompt_set else None
    rep = run_prescreen(store, _operator(), ids, rules=rules, judge=judge)
    by_rule = ", ".join(f"{k}: {v}" for k, v in sorted(rep.by_rule.items())) or "none"
    console.print(f"pre-screen: {rep.flagged} of {rep.generations} answers flagged ({_esc(by_rule)})")


@review_app.command("prescreen")
def prescreen(
    ctx: typer.Context,
    prompt_set: Annotated[str | None, typer.Argument(help="Prompt set (default: every answer).")] = None,
    rule: Annotated[list[str] | None, typer.Option(help="Rules to run (dose, referral, empty, format, pii).")] = None,
    judge: Annotated[str | None, typer.Option(help="Also ask an LLM judge: MODEL@BASE_URL.")] = None,
    db: DbOpt = None,
) -> None:
    """Flag likely-unsafe answers so they come first in the queue (hints, never labels)."""
    from medswallow.review.generate import ModelTarget
    from medswallow.review.prescreen import DEFAULT_RULES, JudgeSettings

    judge_settings = None
    if judge:
        t = ModelTarget.parse(judge)
        judge_settings = JudgeSettings(t.base_url, t.model)
    _run_prescreen(_open(_db(ctx, db)), prompt_set, tuple(rule or DEFAULT_RULES), judge_settings)


@review_app.command("assign")
def assign(
    ctx: typer.Context,
    prompt_set: Annotated[str, typer.Argument(help="Prompt set whose answers to assign.")],
    k: Annotated[int, typer.Option(help="Annotators per answer (2+ for agreement statistics).")] = 2,
    annotator: Annotated[list[str] | None, typer.Option(help="Usernames (default: every active annotator).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for breaking ties in workload.")] = 0,
    db: DbOpt = None,
) -> None:
    """Put each answer of a prompt set in the queues of K annotators (blind to each other)."""
    from sqlalchemy import select

    from medswallow.review.auth import annotator_ids
    from medswallow.review.models import Generation, Prompt, User
    from medswallow.review.prompts import prompt_set_id
    from medswallow.review.queue import assign as _assign

    store = _open(_db(ctx, db))
    sid = prompt_set_id(store, prompt_set)
    with store.read() as session:
        gids = list(session.scalars(select(Generation.id).join(Prompt).where(Prompt.prompt_set_id == sid).order_by(Generation.id)))
        if annotator:
            found = dict(session.execute(select(User.username, User.id).where(User.username.in_(annotator))).all())
            missing = [a for a in annotator if a not in found]
            if missing:
                raise UserError(f"no user named {missing[0]!r}")
            uids = list(found.values())
        else:
            uids = annotator_ids(store)
    if not gids:
        raise UserError(f"prompt set {prompt_set!r} has no answers yet; run: medswallow review generate {prompt_set} --target ...")
    made = _assign(store, _operator(), gids, uids, k, seed)
    console.print(f"[green]{made} assignments created[/green] for {len(gids)} answers (k={k}, {len(uids)} annotators)")


@review_app.command("stats")
def stats(
    ctx: typer.Context,
    prompt_set: Annotated[str | None, typer.Argument()] = None,
    severity_rule: SeverityOpt = "adjudicate",
    db: DbOpt = None,
) -> None:
    """Unsafe rates with 95% CIs and agreement, as tables."""
    from rich.table import Table

    from medswallow.review.agreement import agreement_report
    from medswallow.review.labels import LabelPolicy, load_review
    from medswallow.review.stats import dashboard
    from medswallow.review.taxonomy import load_taxonomy

    tax = load_taxonomy()
    data = load_review(_open(_db(ctx, db)), _operator(), prompt_set)
    dash = dashboard(data, tax.category_ids, tax.severity_ids, LabelPolicy.for_taxonomy(tax, severity_rule))
    t = Table("model", "unsafe", "labelled", "rate", "95% CI", title="unsafe answers")
    for r in dash.by_model:
        lo, hi = r.ci
        t.add_row(_esc(r.group), str(r.k), str(r.n), f"{r.rate:.3f}", f"{lo:.3f}-{hi:.3f}")
    console.print(t)
    rep = agreement_report(data, tax.category_ids)
    a = Table("question", "items", "Krippendorff alpha", "Fleiss kappa", "mean Cohen kappa", title="agreement")
    for ag in [rep.verdict, rep.spans, *rep.categories]:
        a.add_row(_esc(ag.name), str(ag.items), f"{ag.alpha:.3f}", f"{ag.fleiss:.3f}", f"{ag.cohen_mean:.3f}")
    console.print(a)
    console.print(f"final labels: {_esc(dash.sources)}; not yet annotated: {dash.unlabelled}")


@review_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    prompt_set: Annotated[str | None, typer.Option("--set", help="Only this prompt set.")] = None,
    parquet: Annotated[bool, typer.Option(help="Also write HF datasets Parquet files.")] = True,
    severity_rule: SeverityOpt = "adjudicate",
    dpo_min_change: Annotated[
        int, typer.Option(help="Fewest changed characters for a correction to become a DPO pair.", min=1)
    ] = 3,
    db: DbOpt = None,
) -> None:
    """Write labels (JSONL + Parquet) and DPO preference pairs (TRL format); see medswallow/review/export.py."""
    from medswallow.review.export import export_review
    from medswallow.review.labels import LabelPolicy
    from medswallow.review.taxonomy import load_taxonomy

    tax = load_taxonomy()
    rep = export_review(_open(_db(ctx, db)), _operator(), out, tax, prompt_set, parquet=parquet,
                        policy=LabelPolicy.for_taxonomy(tax, severity_rule), min_change=dpo_min_change)
    console.print(f"[green]{rep.labels} labelled answers, {rep.dpo_pairs} DPO pairs[/green] -> {_esc(rep.out_dir)}")
    for reason, n in sorted(rep.dpo_skipped.items()):
        console.print(f"  no DPO pair for {n}: {_esc(reason)}")


@review_app.command("taxonomy")
def taxonomy_cmd(path: Annotated[Path | None, typer.Argument(help="Taxonomy YAML.")] = None) -> None:
    """Check the taxonomy file and print it."""
    from rich.table import Table

    from medswallow.review.taxonomy import load_taxonomy

    tax = load_taxonomy(path)
    t = Table("id", "ja", "en", "span", title=f"categories (taxonomy {_esc(tax.version)})")
    for c in tax.categories:
        t.add_row(_esc(c.id), _esc(c.ja), _esc(c.en), "yes" if c.span else "item only")
    console.print(t)


@review_app.command("verify-audit")
def verify_audit(
    ctx: typer.Context,
    expect_head: Annotated[
        str | None, typer.Option(help="ID:HASH printed by an earlier run (or a backup): that row must be unchanged.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Recompute the audit log's hash chain; exit 1 and name the first broken row if it was tampered with."""
    from medswallow.review.store import verify_audit as _verify

    anchor = None
    if expect_head:
        head_id, _, head_hash = expect_head.partition(":")
        if not head_id.isdigit() or len(head_hash) != 64:
            raise UserError(f"--expect-head {expect_head!r}: use ID:HASH as printed by verify-audit")
        anchor = (int(head_id), head_hash)
    rep = _verify(_open(_db(ctx, db)), anchor)
    if rep.ok:
        console.print(f"[green]audit log intact[/green]: {rep.rows} rows; head {rep.head_id}:{rep.head_hash}")
        return
    console.print(
        f"[red]audit log broken at row {rep.broken_id}[/red]: {_esc(rep.problem)}; "
        f"the rows before it check out (last good {rep.head_id}:{rep.head_hash})"
    )
    raise typer.Exit(1)


@review_app.command("secure-audit-log")
def secure_audit_log(
    app_role: Annotated[str, typer.Option(help="The PostgreSQL role in the app's --db URL.")],
    owner_role: Annotated[str, typer.Option(help="The role that will own audit_log (created, cannot log in).")] = "medswallow_audit_owner",
    admin_db: Annotated[
        str | None,
        typer.Option(help="URL (or @FILE) of a superuser or the database owner, on the review database "
                     "(default: $MEDSWALLOW_REVIEW_ADMIN_DB)."),
    ] = None,
    print_sql: Annotated[bool, typer.Option(help="Only print the SQL (to run it yourself with psql).")] = False,
) -> None:
    """PostgreSQL: give audit_log to a separate owner role; the app's role keeps INSERT and SELECT only."""
    from medswallow.review.auditlog import pg_owner_statements
    from medswallow.review.store import secure_pg_audit_log

    if print_sql:
        for statement in pg_owner_statements(app_role, owner_role):
            typer.echo(statement + ";")
        return
    from medswallow.review.db import resolve_cli_url

    url = resolve_cli_url(admin_db) or os.environ.get("MEDSWALLOW_REVIEW_ADMIN_DB")
    if not url:
        raise UserError("give the admin connection with --admin-db @FILE or $MEDSWALLOW_REVIEW_ADMIN_DB (or use --print-sql)")
    problems = secure_pg_audit_log(url, app_role, owner_role)
    if problems:
        for p in problems:
            console.print(f"[red]still unsafe[/red]: {_esc(p)}")
        raise typer.Exit(1)
    console.print(f"[green]audit_log now belongs to {_esc(owner_role)}[/green]; {_esc(app_role)} may only INSERT and SELECT it")


@review_app.command("backup")
def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
    db: DbOpt = None,
) -> None:
    """Copy a SQLite review database consistently while the app runs (SQLite online backup; WAL included)."""
    from medswallow.review.backup import backup_sqlite

    rep = backup_sqlite(_open(_db(ctx, db)), out)
    console.print(
        f"[green]backup written[/green] to {_esc(rep.path)} ({rep.bytes / 1e6:.1f} MB, integrity ok, schema {rep.revision}); "
        f"audit head {rep.audit_head} — keep it with the backup: verify-audit --expect-head {rep.audit_head}"
    )


def register(app: typer.Typer) -> None:
    """Add ``medswallow review`` and its subcommands to the root app."""
    app.add_typer(review_app, name="review")
