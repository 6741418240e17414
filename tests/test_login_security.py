"""Login hardening through the real login form and API: lockout, history, one answer for all failures."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select, text

from crm.security.models import AccountState, LoginEvent
from crm.timeutil import utcnow
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, same_database_env, unique
from tests.test_encryption_at_rest import database_bytes

REFUSED = (
    "Nieprawidłowa nazwa użytkownika lub hasło albo konto nie może się teraz zalogować. "
    "Po 5 nieudanych próbach w ciągu 15 min konto zostaje zablokowane na 15 minut. "
    "Jeśli konto jest zablokowane lub nie pamiętasz hasła, poproś o pomoc administratora."
)


def row_cells(page: str, text: str) -> list[str]:
    """The texts of the cells of the list row holding ``text``."""
    row = next(row for row in re.findall(r"<tr.*?</tr>", page, re.S) if text in row)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]


def listed_usernames(page: str) -> set[str]:
    """The texts of every cell of a list page's rows."""
    return {re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", page, re.S)}


def try_login(app, username, password):
    client = app.test_client()
    return client, Auth(client).login(username, password)


def results_for(db_session, username):
    from crm.extensions import appbuilder

    def query(s):
        user = appbuilder.sm.find_user(username=username)
        return [e.result for e in s.scalars(select(LoginEvent).where(LoginEvent.user_id == user.id).order_by(LoginEvent.id))]

    return db_session(query)


def test_five_wrong_passwords_lock_the_account_and_every_refusal_reads_the_same(app, make_user, db_session):
    username = make_user("Back office")
    answers = [try_login(app, username, "wrong-password-123")[1].text for _ in range(5)]
    _, with_right_password = try_login(app, username, STAFF_PASSWORD)
    _, unknown = try_login(app, "nobody-" + username, STAFF_PASSWORD)
    for page in (*answers, with_right_password.text, unknown.text):
        assert REFUSED in page
    assert with_right_password.request.path == "/login/"
    assert results_for(db_session, username) == ["bad_password"] * 5 + ["locked"]


def test_lock_ends_after_its_time(app, make_user, db_session):
    username = make_user("Back office")
    for _ in range(5):
        try_login(app, username, "wrong-password-123")

    change_state(db_session, username, locked_until=utcnow() - timedelta(seconds=1))
    # the lock ended the count: four more mistakes do not lock the account again
    for _ in range(4):
        try_login(app, username, "wrong-password-123")
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/"


def test_administrator_unlocks_a_locked_account(app, client, auth, make_user, db_session):
    from crm.extensions import appbuilder

    username = make_user("Manager")
    for _ in range(5):
        try_login(app, username, "wrong-password-123")
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    auth.login()
    users_page = client.get("/users/list/")
    assert client.get(f"/users/show/{user_id}").status_code == 200
    response = client.post(
        "/users/action_post",
        data={"action": "unlock", "rowid": [str(user_id)], "csrf_token": csrf_token(users_page.text)},
        headers={"Referer": "https://localhost/users/list/?psize_UserDBModelView=25"},
    )
    # back to the list the action was started on, not to the page last opened
    assert response.status_code == 302 and response.headers["Location"] == "https://localhost/users/list/?psize_UserDBModelView=25"
    # the count starts again: four mistakes after an unlock do not lock the account
    for _ in range(4):
        try_login(app, username, "wrong-password-123")
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/"

    # an administrator's lock, which has no end, is lifted by the unlock too
    for action in ("lock", "unlock"):
        page = client.get("/users/list/")
        response = client.post("/users/action_post", data={
            "action": action, "rowid": [str(user_id)], "csrf_token": csrf_token(page.text)})
        assert response.status_code == 302, action
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/"

    # the same actions on one account, as its own page offers them
    for action, signs_in in (("lock", False), ("reset_two_factor", False), ("unlock", True)):
        page = client.get(f"/users/show/{user_id}")
        response = client.post(f"/users/action/{action}/{user_id}", data={"csrf_token": csrf_token(page.text)})
        assert response.status_code == 302, action
        _, page = try_login(app, username, STAFF_PASSWORD)
        assert (page.request.path == "/") is signs_in, action


def shown_value(page, label: str) -> str:
    """The value a record's page shows beside ``label``."""
    found = re.search(rf"<th[^>]*>{re.escape(label)}</th>\s*<td><span[^>]*>([^<]*)</span>", page.text)
    assert found, label
    return found[1].strip()


def test_an_accounts_page_counts_its_sign_ins_and_failed_attempts(app, client, auth, make_user, db_session):
    """FAB's statistics of the account, shown on its page: a wrong password is a failed attempt, a
    sign-in counts and clears the failures."""
    from crm.extensions import appbuilder

    username = make_user("Back office")
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    auth.login()

    def counts():
        page = client.get(f"/users/show/{user_id}")
        return shown_value(page, "Liczba logowań"), shown_value(page, "Liczba nieudanych logowań")

    for _ in range(2):
        try_login(app, username, "wrong-password-123")
    assert counts() == ("0", "2")
    try_login(app, username, STAFF_PASSWORD)
    assert counts() == ("1", "0")


def test_the_users_list_shows_and_filters_locked_accounts(app, client, auth, make_user):
    locked, free = make_user("Back office"), make_user("Back office")
    for _ in range(5):
        try_login(app, locked, "wrong-password-123")
    auth.login()
    listing = client.get("/users/list/")
    assert re.search(r"<th><a [^>]*>Zablokowane", listing.text)

    def search(**filters):
        response = client.post("/users/search", data={"csrf_token": csrf_token(listing.text), **filters})
        return client.get(response.headers["Location"]).text

    for username, shown in ((locked, "Tak"), (free, "Nie")):
        page = search(_flt_0_username=username)
        assert [cell for cell in row_cells(page, username) if cell in ("Tak", "Nie")][-1] == shown
    found = {
        (username, flag): username in listed_usernames(search(_flt_0_username=username, **{flag: "y"}))
        for username in (locked, free)
        for flag in ("_flt_0_is_locked", "_flt_1_is_locked")  # locked, not locked
    }
    assert found == {
        (locked, "_flt_0_is_locked"): True, (locked, "_flt_1_is_locked"): False,
        (free, "_flt_0_is_locked"): False, (free, "_flt_1_is_locked"): True,
    }


def test_failures_spread_over_two_processes_share_one_count(app, make_user, db_session):
    """Two app processes on one database lock after the same five attempts."""
    username = make_user("Back office")
    for _ in range(3):
        try_login(app, username, "wrong-password-123")
    script = (
        "import re\n"
        "from crm import create_app\n"
        "app = create_app()\n"
        "client = app.test_client()\n"
        "client.environ_base.update({'wsgi.url_scheme': 'https', 'HTTP_REFERER': 'https://localhost/'})\n"
        "token = re.search(r'name=\"csrf_token\"[^>]*value=\"([^\"]+)\"', client.get('/login/').text).group(1)\n"
        f"client.post('/login/', data={{'username': {username!r}, 'password': 'wrong-password-123', 'csrf_token': token}})\n"
        f"client.post('/login/', data={{'username': {username!r}, 'password': 'wrong-password-123', 'csrf_token': token}})\n"
    )
    env = same_database_env(app)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/login/"
    assert results_for(db_session, username) == ["bad_password"] * 5 + ["locked"]


def test_the_refusal_names_the_lock_it_leads_to_and_whom_to_ask(app, make_user, monkeypatch):
    username = make_user("Back office")
    monkeypatch.setitem(app.config, "CRM_LOCKOUT_MINUTES", 0)
    monkeypatch.setitem(app.config, "CRM_LOCKOUT_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "CRM_ACCOUNT_CONTACT", "Dział IT, tel. 22 123 45 67")
    _, page = try_login(app, username, "wrong-password-123")
    assert "Po 3 nieudanych próbach w ciągu 15 min konto zostaje zablokowane do odblokowania przez administratora." in page.text
    assert "kontakt: Dział IT, tel. 22 123 45 67." in page.text
    client = app.test_client()
    client.get("/lang/en")
    english = Auth(client).login(username, "wrong-password-123")
    assert "After 3 failed attempts within 15 minutes the account is locked until an administrator unlocks it." in english.text
    # the shortest lock there is: one minute, not "until an administrator unlocks it"
    monkeypatch.setitem(app.config, "CRM_LOCKOUT_MINUTES", 1)
    _, page = try_login(app, username, "wrong-password-123")
    assert "konto zostaje zablokowane na 1 minutę." in page.text


def test_api_login_counts_and_is_recorded(app, make_user, db_session):
    username = make_user("Manager")
    client = app.test_client()
    for _ in range(5):
        response = client.post("/api/v1/security/login", json={"username": username, "password": "wrong-password-123", "provider": "db"})
        assert response.status_code == 401
        assert response.json == {"message": REFUSED}
    response = client.post("/api/v1/security/login", json={"username": username, "password": STAFF_PASSWORD, "provider": "db"})
    assert response.status_code == 401 and response.json == {"message": REFUSED}
    events = db_session(lambda s: [(e.result, e.channel) for e in s.scalars(select(LoginEvent).order_by(LoginEvent.id.desc()).limit(6))])
    assert events[0] == ("locked", "api") and set(events[1:]) == {("bad_password", "api")}


def test_no_log_line_names_an_account_that_is_made_or_signs_in(app, make_user, caplog):
    """FAB's security manager names accounts in its own log lines ("Added user jan", "Updated user
    Jan Kowalski" at every sign-in); at any level, they reach the log without the names."""
    with caplog.at_level(logging.DEBUG):
        username = make_user("Auditor", first_name="Zenobia", last_name=unique("Dziennikowa"))
        client = app.test_client()
        assert Auth(client).login(username, STAFF_PASSWORD).status_code == 200
    full_name = next(record for record in caplog.records if record.getMessage().startswith("Updated user"))
    assert full_name.getMessage() == "Updated user (withheld)", "the sign-in's own line is kept, without the name"
    named = [record.getMessage() for record in caplog.records
             if username in record.getMessage() or "Dziennikowa" in record.getMessage()]
    assert named == []


def test_login_history_keeps_address_and_browser_encrypted_and_logs_no_user_name(app, make_user, db_session, caplog):
    username = make_user("Auditor")
    client = app.test_client()
    auth = Auth(client)
    with caplog.at_level(logging.DEBUG):
        page = client.get("/login/")
        client.post(
            "/login/",
            data={"username": username, "password": "nope-nope-nope", "csrf_token": csrf_token(page.text)},
            environ_base={"REMOTE_ADDR": "192.0.2.99", "HTTP_USER_AGENT": "Przeglądarka testowa 1.0"},
        )
    assert username not in caplog.text
    event = db_session(lambda s: s.scalars(select(LoginEvent).order_by(LoginEvent.id.desc())).first())
    assert (event.username_tried, event.ip_address, event.user_agent, event.result) == (
        username, "192.0.2.99", "Przeglądarka testowa 1.0", "bad_password"
    )
    stored = db_session(lambda s: s.execute(text(
        "SELECT username_tried, ip_address, user_agent FROM login_event WHERE id = :id"), {"id": event.id}).one())
    assert all(value.startswith("v1:") for value in stored), "the row holds ciphertext"
    raw = database_bytes(app)
    # (the account's own row holds its user name in clear; the attempt's address and browser are nowhere)
    assert [value for value in ("192.0.2.99", "Przeglądarka testowa") if value.encode() in raw] == []
    del auth


def test_an_attempt_with_an_overlong_name_and_browser_is_recorded_within_their_fields(app, db_session):
    """The sign-in form takes a name of any length and a browser names itself as it likes: the history
    keeps the first 256 and 512 characters (its fields' limits), and no browser where none was named."""
    name, browser = unique("dlugi_") + "ż" * 300, "Przeglądarka " + "x" * 600
    client = app.test_client()
    for agent in (browser, ""):
        page = client.get("/login/")
        refused = client.post("/login/", data={"username": name, "password": "nope-nope-nope", "csrf_token": csrf_token(page.text)},
                              environ_base={"HTTP_USER_AGENT": agent}, follow_redirects=True)
        assert refused.status_code == 200 and refused.request.path == "/login/"
    events = db_session(lambda s: s.scalars(select(LoginEvent).order_by(LoginEvent.id.desc()).limit(2)).all())
    assert [(event.username_tried, event.user_agent) for event in events] == [(name[:256], None), (name[:256], browser[:512])]


def test_staff_member_sees_own_logins_and_last_failed_attempt(app, make_user):
    username = make_user("Back office")
    try_login(app, username, "wrong-password-123")
    client, _ = try_login(app, username, STAFF_PASSWORD)
    page = client.get("/my-logins/")
    assert page.status_code == 200
    assert "Ostatnia nieudana próba logowania" in page.text and "Błędne hasło" in page.text and "Zalogowano" in page.text


def test_administrator_browses_the_login_history(client, auth, make_user, app):
    username = make_user("Back office")
    try_login(app, username, "wrong-password-123")
    auth.login()
    page = client.get("/logineventmodelview/list/")
    assert page.status_code == 200 and username in page.text and "Błędne hasło" in page.text


def test_purge_logins_deletes_entries_older_than_the_retention(app, db_session):
    def add_old(s):
        s.add(LoginEvent(occurred_at=utcnow() - timedelta(days=400), result="unknown_user", username_tried="stary"))
        s.add(LoginEvent(occurred_at=utcnow() - timedelta(days=10), result="unknown_user", username_tried="świeży"))
        s.commit()

    def add_sessions(s):
        from crm.extensions import appbuilder
        from crm.security.models import StaffSession

        user_id = appbuilder.sm.find_user(username="admin").id
        now = utcnow()
        s.add_all([
            StaffSession(user_id=user_id, token_hash="ended" * 8, started_at=now, last_seen_at=now, ended_at=now),
            StaffSession(user_id=user_id, token_hash="expired" * 8, started_at=now - timedelta(hours=13), last_seen_at=now),
            StaffSession(user_id=user_id, token_hash="open" * 16, started_at=now, last_seen_at=now),
        ])
        s.commit()

    db_session(add_old)
    db_session(add_sessions)
    result = app.test_cli_runner().invoke(args=["crm", "purge-logins"])
    assert result.exit_code == 0 and "Usunięto" in result.output
    remaining = db_session(lambda s: [e.username_tried for e in s.scalars(select(LoginEvent))])
    assert "stary" not in remaining and "świeży" in remaining
    verified = app.test_cli_runner().invoke(args=["crm", "audit", "verify"])
    assert verified.exit_code == 0, "the purge is linked in the trail, the kept entries still verify: " + verified.output
    from crm.security.models import StaffSession

    sessions = db_session(lambda s: set(s.scalars(select(StaffSession.token_hash))))
    assert "open" * 16 in sessions and "ended" * 8 not in sessions and "expired" * 8 not in sessions


def test_an_api_token_stops_working_when_the_account_is_locked(app, make_user, db_session):
    from crm.extensions import appbuilder
    from crm.security import lockout

    username = make_user("Manager")
    client = app.test_client()
    tokens = client.post(
        "/api/v1/security/login", json={"username": username, "password": STAFF_PASSWORD, "provider": "db", "refresh": True}
    ).json
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/client/", headers=headers).status_code == 200
    db_session(lambda s: lockout.lock(s, appbuilder.sm.find_user(username=username).id))
    refused = client.get("/api/v1/client/", headers=headers)
    said = "Brak tokenu dostępu albo jest on nieprawidłowy, wygasł lub utracił ważność. Zaloguj się ponownie."
    assert refused.status_code == 401 and refused.json == {"message": said}
    refresh = client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refresh.status_code == 401 and refresh.json == {"message": said}


def test_an_api_token_is_refused_while_failed_attempts_keep_its_account_locked(app, make_user, db_session):
    """A lock from failed attempts moves no session epoch: the token's own check of the lock refuses it,
    for the lock's time only."""
    from tests.test_sessions_and_forced_change import api_tokens

    username = make_user("Manager")
    client = app.test_client()
    headers, _refresh = api_tokens(client, username)
    assert client.get("/api/v1/client/", headers=headers).status_code == 200
    for _ in range(5):
        try_login(app, username, "wrong-password-123")
    assert client.get("/api/v1/client/", headers=headers).status_code == 401
    change_state(db_session, username, locked_until=utcnow() - timedelta(seconds=1))
    assert client.get("/api/v1/client/", headers=headers).status_code == 200, "the lock has ended"


def test_administrator_filters_the_login_history_by_the_name_typed(client, auth, app, make_user):
    first, second = make_user("Back office"), make_user("Back office")
    try_login(app, first, "wrong-password-123")
    try_login(app, second, "wrong-password-123")
    auth.login()
    listing = client.get("/logineventmodelview/list/")
    response = client.post(
        "/logineventmodelview/search", data={"csrf_token": csrf_token(listing.text), "_flt_0_username_tried": first.upper()}
    )
    page = client.get(response.headers["Location"])
    assert first in page.text and second not in page.text


def state_of_account(db_session, username):
    from crm.extensions import appbuilder

    return db_session(lambda s: s.get(AccountState, appbuilder.sm.find_user(username=username).id))


def change_state(db_session, username, **values):
    """Set lockout columns of an account behind the app's back (as time passing would)."""
    from crm.extensions import appbuilder

    def change(s):
        state = s.get(AccountState, appbuilder.sm.find_user(username=username).id)
        for name, value in values.items():
            setattr(state, name, value)
        s.commit()

    db_session(change)


def failures_of(db_session, username):
    return getattr(state_of_account(db_session, username), "failed_attempts", 0)


def test_failures_further_apart_than_the_window_do_not_add_up(app, make_user, db_session):
    username = make_user("Back office")
    for _ in range(4):
        try_login(app, username, "wrong-password-123")

    change_state(db_session, username, first_failure_at=utcnow() - timedelta(minutes=16))
    try_login(app, username, "wrong-password-123")
    assert failures_of(db_session, username) == 1, "a failure after the window starts a new count"
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/"


def time_passes(db_session, username, minutes):
    """Move the account's first failure back, as that many minutes passing would."""
    first = state_of_account(db_session, username).first_failure_at
    change_state(db_session, username, first_failure_at=first - timedelta(minutes=minutes))


def five_failures_in_a_fresh_window_lock(app, db_session, username) -> bool:
    """One failure, two minutes, four more: whether the account is then locked (as five failures
    within fifteen minutes of each other must lock it)."""
    try_login(app, username, "wrong-password-123")
    time_passes(db_session, username, 2)
    for _ in range(4):
        try_login(app, username, "wrong-password-123")
    _, page = try_login(app, username, STAFF_PASSWORD)
    return page.request.path == "/login/"


def test_after_an_unlock_the_failure_window_starts_with_the_next_failure(app, client, auth, make_user, db_session):
    """An unlock forgets the failures before it, their count and when they began: failures after
    it are counted in a window of their own, not cut short by one that began before the lock."""
    from crm.extensions import appbuilder

    username = make_user("Back office")
    for _ in range(3):
        try_login(app, username, "wrong-password-123")
    time_passes(db_session, username, 14)
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    auth.login()
    for action in ("lock", "unlock"):
        page = client.get(f"/users/show/{user_id}")
        assert client.post(f"/users/action/{action}/{user_id}", data={"csrf_token": csrf_token(page.text)}).status_code == 302
    assert five_failures_in_a_fresh_window_lock(app, db_session, username)


def test_after_a_successful_login_the_failure_window_starts_with_the_next_failure(app, make_user, db_session):
    """A successful login forgets the failures before it, their count and when they began."""
    username = make_user("Back office")
    for _ in range(3):
        try_login(app, username, "wrong-password-123")
    time_passes(db_session, username, 14)
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/"
    assert five_failures_in_a_fresh_window_lock(app, db_session, username)


def test_a_lock_without_an_end_lasts_until_an_administrator_unlocks_it(app, make_user, db_session, monkeypatch):
    username = make_user("Back office")
    monkeypatch.setitem(app.config, "CRM_LOCKOUT_MINUTES", 0)
    for _ in range(5):
        try_login(app, username, "wrong-password-123")
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/login/"
    state = state_of_account(db_session, username)
    assert state.is_locked_indefinitely and state.locked_until is None


def test_attempts_for_unknown_names_count_against_no_account(app, make_user, db_session):
    """The timing equaliser of an unknown name's refusal writes nothing to any account."""
    username = make_user("Back office")
    for _ in range(2):
        try_login(app, username, "wrong-password-123")
    first = db_session(lambda s: {state.user_id: state.failed_attempts for state in s.scalars(select(AccountState))})
    for _ in range(3):
        try_login(app, unique("nikt_"), "wrong-password-123")
    after = db_session(lambda s: {state.user_id: state.failed_attempts for state in s.scalars(select(AccountState))})
    assert after == first and failures_of(db_session, username) == 2


def test_a_deactivated_account_is_refused_like_any_other_and_recorded_as_such(app, make_user, db_session):
    from crm.extensions import appbuilder

    username = make_user("Back office")
    _, page = try_login(app, f"{username}@kartoteka.invalid", STAFF_PASSWORD)
    assert page.request.path == "/", "an account signs in by its email address as well as its user name"

    def deactivate(s):
        appbuilder.sm.find_user(username=username).active = False
        s.commit()

    db_session(deactivate)
    _, page = try_login(app, username, STAFF_PASSWORD)
    assert page.request.path == "/login/" and REFUSED in page.text
    assert results_for(db_session, username)[-2:] == ["success", "inactive"]
