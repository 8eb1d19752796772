"""Logins, sessions, lockout, role checks — and passwords that never reach logs, audit or errors."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from medswallow.errors import UserError
from medswallow.review import auth
from medswallow.review.auth import (
    AuthError,
    AuthSettings,
    add_user,
    login,
    logout,
    resume,
    set_password,
    unlock,
)
from medswallow.review.models import AuditEntry, AuthSession, User
from medswallow.review.store import OPERATOR, Actor, PermissionDenied, ReviewStore

from .conftest import PASSWORD, make_team


def test_login_resume_logout(store: ReviewStore):
    uid = add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD, display_name="佐藤")
    token = login(store, "dr.sato", PASSWORD)
    assert resume(store, token) == Actor(uid, "dr.sato", "annotator")
    with store.read() as session:
        stored = session.scalar(select(AuthSession.token_hash))
        pw_hash = session.scalar(select(User.password_hash))
    assert token not in stored and len(stored) == 64  # only the SHA-256 is stored
    assert pw_hash.startswith("$argon2id$") and PASSWORD not in pw_hash
    logout(store, token)
    with pytest.raises(AuthError, match="ended"):
        resume(store, token)


def test_unknown_user_and_wrong_password_look_the_same(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    with pytest.raises(AuthError) as unknown:
        login(store, "nobody", PASSWORD)
    with pytest.raises(AuthError) as wrong:
        login(store, "dr.sato", "wrong-password-123")
    assert str(unknown.value) == str(wrong.value) == auth.INVALID_LOGIN


def test_lockout_after_repeated_failures_even_with_the_right_password(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    settings = AuthSettings(max_failures=3, lockout=timedelta(minutes=15))
    for _ in range(3):
        with pytest.raises(AuthError, match="invalid"):
            login(store, "dr.sato", "guess-guess-guess", settings)
    with pytest.raises(AuthError, match="locked"):
        login(store, "dr.sato", PASSWORD, settings)
    unlock(store, OPERATOR, "dr.sato")
    assert resume(store, login(store, "dr.sato", PASSWORD, settings)).username == "dr.sato"
    with store.read() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions.count("auth.login_failed") == 3 and "auth.login_locked" in actions and "user.unlock" in actions


def test_a_success_resets_the_failure_count(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    settings = AuthSettings(max_failures=3)
    for _ in range(2):
        with pytest.raises(AuthError):
            login(store, "dr.sato", "guess-guess-guess", settings)
    login(store, "dr.sato", PASSWORD, settings)
    for _ in range(2):
        with pytest.raises(AuthError, match="invalid"):
            login(store, "dr.sato", "guess-guess-guess", settings)
    login(store, "dr.sato", PASSWORD, settings)


def test_sessions_expire_when_idle_or_too_old(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    token = login(store, "dr.sato", PASSWORD)
    with pytest.raises(AuthError, match="expired"):
        resume(store, token, AuthSettings(idle_timeout=timedelta(0)))
    with store.engine.begin() as conn:  # a session that started 13 hours ago, active a minute ago
        from medswallow.review.models import utcnow

        now = utcnow()
        conn.execute(update(AuthSession).values(created_at=now - timedelta(hours=13), expires_at=now - timedelta(hours=1),
                                                last_seen_at=now - timedelta(minutes=1)))
    with pytest.raises(AuthError, match="expired"):
        resume(store, token)


def test_new_password_and_deactivation_end_sessions(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    token = login(store, "dr.sato", PASSWORD)
    set_password(store, OPERATOR, "dr.sato", "a-brand-new-password")
    with pytest.raises(AuthError):
        resume(store, token)
    token = login(store, "dr.sato", "a-brand-new-password")
    auth.set_active(store, OPERATOR, "dr.sato", False)
    with pytest.raises(AuthError):
        resume(store, token)
    with pytest.raises(AuthError, match="invalid"):
        login(store, "dr.sato", "a-brand-new-password")


def test_oidc_login_maps_to_an_existing_account_only(store: ReviewStore):
    add_user(store, OPERATOR, "dr.kato", "adjudicator", None, email="Kato@Hospital.example")
    actor = resume(store, auth.login_oidc(store, "kato@hospital.example"))
    assert (actor.username, actor.role) == ("dr.kato", "adjudicator")
    with pytest.raises(AuthError, match="no active review account"):
        auth.login_oidc(store, "someone@else.example")
    with pytest.raises(AuthError, match="invalid"):  # an OIDC-only account has no password to guess
        login(store, "dr.kato", "")


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("a", "annotator", PASSWORD, "username"),
        ("dr sato", "annotator", PASSWORD, "username"),
        ("dr.sato", "anotator", PASSWORD, "did you mean 'annotator'"),
        ("dr.sato", "annotator", "short", "too short"),
        ("dr.sato", "annotator", "dr.sato-is-my-password", "must not contain the username"),
        ("dr.sato", "annotator", None, "needs --email"),
    ],
)
def test_bad_accounts_are_refused(sqlite_store: ReviewStore, username, role, password, message):
    with pytest.raises(UserError, match=message):
        add_user(sqlite_store, OPERATOR, username, role, password)


ADMIN_ACTIONS = ["manage_users", "manage_prompts", "generate", "assign", "prescreen", "export", "audit"]


def test_roles_are_enforced_in_the_logic_layer(seeded, store: ReviewStore, taxonomy, tmp_path):
    from medswallow.review import adjudicate, export, labels, prescreen, prompts, queue

    ann = seeded.team.annotators[0]
    calls = [
        lambda: add_user(store, ann, "mallory", "admin", PASSWORD),
        lambda: set_password(store, ann, "admin1", "taken-over-admin"),
        lambda: auth.list_users(store, ann),
        lambda: prompts.import_prompts(store, ann, "x", []),
        lambda: queue.assign(store, ann, seeded.generation_ids, [ann.id], 1),
        lambda: prescreen.run_prescreen(store, ann, rules=("dose",)),
        lambda: export.export_review(store, ann, tmp_path, taxonomy),
        lambda: labels.load_review(store, ann),
        lambda: adjudicate.queue(store, ann),
        lambda: adjudicate.save_adjudication(store, ann, seeded.generation_ids[0], queue.AnnotationInput("safe"), taxonomy),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    adj = seeded.team.adjudicator
    for call in (lambda: add_user(store, adj, "mallory", "admin", PASSWORD), lambda: export.export_review(store, adj, tmp_path, taxonomy)):
        with pytest.raises(PermissionDenied):
            call()
    assert all(not ann.can(a) for a in ADMIN_ACTIONS)
    assert all(seeded.team.admin.can(a) for a in ADMIN_ACTIONS)
    # A user may change their own password, not someone else's.
    set_password(store, ann, ann.username, "my-own-new-password")


def test_passwords_never_reach_logs_audit_or_errors(store: ReviewStore, caplog, capsys):
    secret = "Sup3r-Secret-Pa55word"
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # log every SQL statement and its parameters
    try:
        add_user(store, OPERATOR, "dr.ito", "annotator", secret)
        for guess in (secret + "x", secret[::-1]):
            with pytest.raises(AuthError) as err:
                login(store, "dr.ito", guess)
            assert guess not in str(err.value)
        login(store, "dr.ito", secret)
        set_password(store, OPERATOR, "dr.ito", secret + "-2")
        with pytest.raises(UserError) as err:
            add_user(store, OPERATOR, "dr.ito2", "annotator", "dr.ito2" + secret)
        assert secret not in str(err.value)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    out = capsys.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records) + out.out + out.err
    assert "dr.ito" in logged or "INSERT" in logged  # the capture did see the activity
    for s in (secret, secret + "x", secret[::-1], secret + "-2"):
        assert s not in logged
    with store.read() as session:
        dump = "\n".join(str(row) for row in session.execute(text("SELECT * FROM audit_log")))
        dump += "\n".join(str(row) for row in session.execute(text("SELECT * FROM users")))
    assert secret not in dump


def test_team_fixture_roles(sqlite_store: ReviewStore):
    team = make_team(sqlite_store, n_annotators=1)
    assert [team.admin.role, team.adjudicator.role, team.annotators[0].role] == ["admin", "adjudicator", "annotator"]


def test_default_hash_parameters_are_rfc_9106(monkeypatch, store: ReviewStore):
    monkeypatch.delenv(auth.ARGON2_PROFILE_ENV)
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    with store.read() as session:
        assert session.scalar(select(User.password_hash)).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    monkeypatch.setenv(auth.ARGON2_PROFILE_ENV, "CHEAPEST")
    add_user(store, OPERATOR, "dr.ito", "annotator", PASSWORD)
    monkeypatch.delenv(auth.ARGON2_PROFILE_ENV)
    login(store, "dr.ito", PASSWORD)  # a login upgrades a cheap hash to the default
    with store.read() as session:
        assert session.scalar(select(User.password_hash).where(User.username == "dr.ito")).startswith("$argon2id$v=19$m=65536,t=3")
    monkeypatch.setenv(auth.ARGON2_PROFILE_ENV, "NONE")
    with pytest.raises(UserError, match="CHEAPEST"):
        add_user(store, OPERATOR, "dr.kato", "annotator", PASSWORD)


def test_a_password_typed_into_the_username_box_is_not_audited(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    with pytest.raises(AuthError, match="invalid"):
        login(store, PASSWORD, PASSWORD)  # the password in both boxes
    with store.read() as session:
        dump = "\n".join(str(row) for row in session.execute(text("SELECT * FROM audit_log")))
    assert PASSWORD not in dump and "<unknown>" in dump
