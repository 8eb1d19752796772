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


FAST = AuthSettings(free_failures=3, source_free_failures=6, first_delay=timedelta(minutes=10))


def _fail(store, name, source, settings=FAST, password="guess-guess-guess"):
    with pytest.raises(AuthError) as exc:
        login(store, name, password, settings, source=source)
    return str(exc.value)


def test_failures_slow_the_source_down_and_never_lock_the_owner_out(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    for _ in range(4):  # three free failures, then the fourth starts a delay for this source and name
        assert _fail(store, "dr.sato", "10.0.0.66") == auth.INVALID_LOGIN
    assert "too many failed logins" in _fail(store, "dr.sato", "10.0.0.66", password=PASSWORD)  # even the right one waits
    # The owner, from her own workstation, is not kept out by what happened at another.
    assert resume(store, login(store, "dr.sato", PASSWORD, FAST, source="10.0.0.5")).username == "dr.sato"
    assert [u.locked for u in auth.list_users(store, OPERATOR)] == [True]
    unlock(store, OPERATOR, "dr.sato")
    assert [u.locked for u in auth.list_users(store, OPERATOR)] == [False]
    assert resume(store, login(store, "dr.sato", PASSWORD, FAST, source="10.0.0.66")).username == "dr.sato"
    with store.read() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions.count("auth.login_failed") == 4 and "auth.login_throttled" in actions and "user.unlock" in actions


def test_spraying_many_names_from_one_source_is_slowed_too(store: ReviewStore):
    for i in range(7):  # six free failures for the source, the seventh starts its delay
        assert _fail(store, f"guess{i}", "10.0.0.66") == auth.INVALID_LOGIN
    assert "too many failed logins" in _fail(store, "someone-new", "10.0.0.66")
    assert _fail(store, "someone-new", "10.0.0.67") == auth.INVALID_LOGIN


def test_the_delay_doubles_up_to_a_cap():
    s = AuthSettings(free_failures=2, first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=30))
    assert [s.delay_after(n, 2).total_seconds() for n in range(1, 9)] == [0, 0, 2, 4, 8, 16, 30, 30]


def test_usernames_cannot_be_enumerated_by_message_or_work(store: ReviewStore, monkeypatch):
    """Unknown and real names: the same message before and after the delays start, one argon2 verify each."""
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    auth.set_active(store, OPERATOR, "dr.sato", True)
    verifies: list[str] = []
    hasher = auth._hasher()
    real_verify = type(hasher).verify

    def counting(self, h, pw):  # type: ignore[no-untyped-def]
        verifies.append(h)
        return real_verify(self, h, pw)

    monkeypatch.setattr(type(hasher), "verify", counting)
    seen = {}
    for name in ("dr.sato", "dr.nobody"):
        verifies.clear()
        messages = [_fail(store, name, f"src-{name}") for _ in range(5)]
        seen[name] = (messages, len(verifies))
    assert seen["dr.sato"] == seen["dr.nobody"]
    messages, n_verify = seen["dr.sato"]
    assert messages[:4] == [auth.INVALID_LOGIN] * 4 and "too many failed logins" in messages[4]
    assert n_verify == 4  # one per checked attempt, none while throttled (for either name)


def test_login_names_match_case_insensitively(store: ReviewStore):
    add_user(store, OPERATOR, "Dr.Sato", "annotator", PASSWORD)
    assert resume(store, login(store, "dr.sato", PASSWORD)).username == "Dr.Sato"
    assert resume(store, login(store, " DR.SATO ", PASSWORD)).username == "Dr.Sato"
    set_password(store, OPERATOR, "dr.SATO", "a-brand-new-password")
    assert resume(store, login(store, "dr.sato", "a-brand-new-password")).username == "Dr.Sato"


def test_a_success_resets_the_failure_count(store: ReviewStore):
    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    for _ in range(3):
        _fail(store, "dr.sato", "ws1")
    login(store, "dr.sato", PASSWORD, FAST, source="ws1")
    for _ in range(3):
        assert _fail(store, "dr.sato", "ws1") == auth.INVALID_LOGIN
    login(store, "dr.sato", PASSWORD, FAST, source="ws1")


def test_session_status_counts_down_to_the_earlier_limit_without_extending_it(store: ReviewStore):
    from medswallow.review.models import utcnow

    add_user(store, OPERATOR, "dr.sato", "annotator", PASSWORD)
    token = login(store, "dr.sato", PASSWORD)
    st = auth.session_status(store, token, AuthSettings(idle_timeout=timedelta(minutes=30)))
    assert st.ends_by == "idle" and timedelta(minutes=29) < st.remaining <= timedelta(minutes=30) and not st.warn
    now = utcnow()
    with store.engine.begin() as conn:  # idle for 27 minutes
        conn.execute(update(AuthSession).values(last_seen_at=now - timedelta(minutes=27)))
    st = auth.session_status(store, token)
    assert st.warn and st.remaining <= timedelta(minutes=3) and st.actor.username == "dr.sato"
    with store.read() as session:  # looking did not extend it
        assert session.scalar(select(AuthSession.last_seen_at)) <= now - timedelta(minutes=27) + timedelta(seconds=1)
    with store.engine.begin() as conn:  # the 12-hour limit comes before the idle deadline
        conn.execute(update(AuthSession).values(last_seen_at=now, expires_at=now + timedelta(minutes=2)))
    st = auth.session_status(store, token)
    assert st.ends_by == "limit" and st.warn
    with store.engine.begin() as conn:
        conn.execute(update(AuthSession).values(expires_at=now - timedelta(seconds=1)))
    with pytest.raises(AuthError, match="expired"):
        auth.session_status(store, token)


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
