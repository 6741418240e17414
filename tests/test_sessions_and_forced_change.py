"""Forced and requested password changes, session timeouts, ended sessions, API throttling."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from crm.security.models import AccountState
from crm.timeutil import utcnow
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, same_database_env, unique

NEW_PASSWORD = "Czerwony-Rower-Stoi-Pod-Dębem"


def signed_in(app, username, password=STAFF_PASSWORD):
    client = app.test_client()
    auth = Auth(client)
    page = auth.login(username, password)
    return client, page


def change_own_password(client, current, new):
    form = client.get("/resetmypassword/form")
    return client.post(
        "/resetmypassword/form",
        data={"csrf_token": csrf_token(form.text), "current_password": current, "password": new, "conf_password": new},
        follow_redirects=True,
    )


def state_of(db_session, username):
    from crm.extensions import appbuilder

    return db_session(lambda s: s.get(AccountState, appbuilder.sm.find_user(username=username).id))


def age_password(db_session, username, days):
    """Make the account's password ``days`` old."""
    from crm.extensions import appbuilder

    def update(s):
        state = s.get(AccountState, appbuilder.sm.find_user(username=username).id)
        state.password_changed_at = utcnow() - timedelta(days=days)
        s.commit()

    db_session(update)


def api_tokens(api, username, password=STAFF_PASSWORD):
    """Authorization headers of a fresh access token and refresh token of the account."""
    tokens = api.post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db", "refresh": True}
    ).json
    return {"Authorization": f"Bearer {tokens['access_token']}"}, {"Authorization": f"Bearer {tokens['refresh_token']}"}


def test_account_created_by_an_administrator_changes_its_password_first(app, client, auth, db_session):
    from crm.extensions import appbuilder

    auth.login()
    page = client.get("/users/add")
    username = unique("nowa_")
    role_id = db_session(lambda s: appbuilder.sm.find_role("Back office").id)
    response = client.post(
        "/users/add",
        data={
            "csrf_token": csrf_token(page.text), "first_name": "Nowa", "last_name": "Osoba", "username": username,
            "email": f"{username}@kartoteka.invalid", "active": "y", "roles": str(role_id),
            "password": STAFF_PASSWORD, "conf_password": STAFF_PASSWORD,
        },
    )
    assert response.status_code == 302

    newcomer, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"
    assert "Wybierz nowe hasło, zanim przejdziesz dalej." in page.text
    assert newcomer.get("/clientmodelview/list/").status_code == 302, "nothing else opens"
    done = change_own_password(newcomer, STAFF_PASSWORD, NEW_PASSWORD)
    assert "Twoje hasło zostało zmienione." in done.text
    assert newcomer.get("/clientmodelview/list/").status_code == 200


class SmtpSink:
    """A tiny SMTP server on the loopback interface that keeps what it receives.

    ``delay``: seconds it takes to accept each message (a slow mail server).
    """

    def __init__(self):
        self.messages: list[str] = []
        self.delay = 0.0
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(5)
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection, connection.makefile("rwb") as stream:
                def reply(line):
                    stream.write(line.encode() + b"\r\n")
                    stream.flush()

                reply("220 sink")
                data, in_data = [], False
                for raw in stream:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if in_data:
                        if line == ".":
                            in_data = False
                            time.sleep(self.delay)
                            self.messages.append("\n".join(data))
                            reply("250 ok")
                        else:
                            data.append(line)
                    elif line.upper().startswith("DATA"):
                        in_data, data = True, []
                        reply("354 go on")
                    elif line.upper().startswith("QUIT"):
                        reply("221 bye")
                        break
                    else:
                        reply("250 ok")

    def close(self):
        self.socket.close()


def test_administrator_asks_for_a_change_with_a_message_and_an_email(app, client, auth, make_user, db_session, monkeypatch):
    from crm.extensions import appbuilder

    sink = SmtpSink()
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CRM_SMTP_PORT", sink.port)
    username = make_user("Back office")
    colleague, _ = signed_in(app, username)
    assert colleague.get("/clientmodelview/list/").status_code == 200

    auth.login()
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    form = client.get("/password-change-requests/form")
    response = client.post(
        "/password-change-requests/form",
        data={"csrf_token": csrf_token(form.text), "users": [str(user_id)], "message": "Audyt bezpieczeństwa, zmień hasło."},
        follow_redirects=True,
    )
    assert "Konta, które muszą zmienić hasło przy następnym logowaniu: 1." in response.text
    assert "Powiadomiono e-mailem: 1." in response.text

    ended = colleague.get("/clientmodelview/list/", follow_redirects=True)
    assert "Twoja sesja została zakończona" in ended.text, "the request ends open sessions"
    _, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"
    assert "Audyt bezpieczeństwa, zmień hasło." in page.text

    # asked again without a message: the email says only what is asked
    form = client.get("/password-change-requests/form")
    client.post("/password-change-requests/form", data={"csrf_token": csrf_token(form.text), "users": [str(user_id)]})
    sink.close()
    assert len(sink.messages) == 2 and "Audyt bezpieczeństwa" in sink.messages[0]
    assert f"{username}@kartoteka.invalid" in sink.messages[0]
    body = sink.messages[1].split("\n\n", 1)[1]  # after the headers; sent as 8-bit UTF-8
    assert body.rstrip("\n") == "Administrator Kartoteki prosi o zmianę hasła przy następnym logowaniu.", repr(body)


def test_an_administrators_message_is_not_repeated_once_the_password_is_changed(app, client, auth, make_user, db_session):
    """The message belongs to that one request: when the changed password expires in its time, the
    account is asked in the usual words, not with the administrator's old reason."""
    from crm.extensions import appbuilder

    username = make_user("Back office")
    auth.login()
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    form = client.get("/password-change-requests/form")
    client.post("/password-change-requests/form", data={
        "csrf_token": csrf_token(form.text), "users": [str(user_id)], "message": "Audyt bezpieczeństwa, zmień hasło."})
    colleague, page = signed_in(app, username)
    assert "Audyt bezpieczeństwa, zmień hasło." in page.text
    change_own_password(colleague, STAFF_PASSWORD, NEW_PASSWORD)

    age_password(db_session, username, 91)
    _, page = signed_in(app, username, NEW_PASSWORD)
    assert page.request.path == "/resetmypassword/form"
    assert "Wybierz nowe hasło, zanim przejdziesz dalej." in page.text
    assert "Audyt bezpieczeństwa" not in page.text


def test_expired_password_is_changed_at_login_and_a_warning_comes_before(app, make_user, db_session):
    username = make_user("Back office")

    age_password(db_session, username, 80)
    _, page = signed_in(app, username)
    assert page.request.path == "/"
    assert "Twoje hasło wygasa za 9 dni" in page.text or "Twoje hasło wygasa za 10 dni" in page.text

    age_password(db_session, username, 91)
    client, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"
    change_own_password(client, STAFF_PASSWORD, NEW_PASSWORD)
    assert "Hasło wygasło" in client.get("/my-logins/").text, "the history says why the change was asked"


def test_a_changed_password_starts_a_new_period_of_validity(app, make_user, db_session, monkeypatch):
    """After the forced change the new password is valid for the whole period, not for ever: warned
    of from the first day here (a warning period longer than the validity shows the days left)."""
    username = make_user("Back office")
    age_password(db_session, username, 91)
    client, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"
    monkeypatch.setitem(app.config, "CRM_PASSWORD_WARN_DAYS", app.config["CRM_PASSWORD_MAX_AGE_DAYS"] + 10)
    change_own_password(client, STAFF_PASSWORD, NEW_PASSWORD)
    _, page = signed_in(app, username, NEW_PASSWORD)
    days = app.config["CRM_PASSWORD_MAX_AGE_DAYS"]
    assert page.request.path == "/"
    assert f"Twoje hasło wygasa za {days - 1} dni" in page.text or f"Twoje hasło wygasa za {days} dni" in page.text


def test_a_validity_of_one_day_is_one_day(app, make_user, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_PASSWORD_MAX_AGE_DAYS", 1)
    username = make_user("Back office")
    age_password(db_session, username, 2)
    _, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"


def test_flagged_account_cannot_get_an_api_token(app, make_user, db_session):
    username = make_user("Manager", must_change_password=True)
    client = app.test_client()
    response = client.post("/api/v1/security/login", json={"username": username, "password": STAFF_PASSWORD, "provider": "db"})
    assert response.status_code == 401


def test_idle_and_overlong_sessions_end(app, make_user):
    from crm.security.sessions import LAST_SEEN, STARTED

    username = make_user("Auditor")
    for key, age in ((LAST_SEEN, timedelta(minutes=31)), (STARTED, timedelta(hours=13))):
        client, _ = signed_in(app, username)
        with client.session_transaction() as session:
            session[key] = (utcnow() - age).timestamp()
        page = client.get("/clientmodelview/list/", follow_redirects=True)
        assert page.request.path == "/login/"


def test_changing_the_password_ends_other_sessions_but_not_this_one(app, make_user):
    username = make_user("Back office")
    other, _ = signed_in(app, username)
    this, _ = signed_in(app, username)
    colleague, _ = signed_in(app, make_user("Back office"))
    change_own_password(this, STAFF_PASSWORD, NEW_PASSWORD)
    assert this.get("/clientmodelview/list/").status_code == 200
    assert other.get("/clientmodelview/list/", follow_redirects=True).request.path == "/login/"
    assert colleague.get("/clientmodelview/list/").status_code == 200, "another account's sessions go on"


def test_administrator_lock_ends_the_sessions_of_the_account(app, client, auth, make_user, db_session):
    from crm.extensions import appbuilder

    username = make_user("Back office")
    victim, _ = signed_in(app, username)
    colleague, _ = signed_in(app, make_user("Back office"))
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    auth.login()
    users_page = client.get("/users/list/")
    client.post("/users/action_post", data={"action": "lock", "rowid": [str(user_id)], "csrf_token": csrf_token(users_page.text)})
    assert victim.get("/clientmodelview/list/", follow_redirects=True).request.path == "/login/"
    assert colleague.get("/clientmodelview/list/").status_code == 200, "another account's sessions go on"
    _, page = signed_in(app, username)
    assert page.request.path == "/login/"


def test_login_attempts_per_address_are_throttled_on_the_form_and_the_api(app):
    """A process with a low limit: the fourth attempt from one address is refused with 429."""
    address = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"
    script = (
        "from crm import create_app\n"
        "app = create_app()\n"
        "client = app.test_client()\n"
        f"client.environ_base.update({{'REMOTE_ADDR': {address!r}, 'wsgi.url_scheme': 'https'}})\n"
        "codes = [client.post('/api/v1/security/login', json={'username': 'x', 'password': 'y', 'provider': 'db'}).status_code for _ in range(4)]\n"
        "print(' '.join(map(str, codes)))\n"
    )
    env = same_database_env(app, AUTH_RATE_LIMIT="3 per minute")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["401", "401", "401", "429"], result.stderr


def _session_cookie(client):
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_copy_of_the_session_cookie_stops_working_when_its_user_signs_out(app, make_user):
    username = make_user("Back office")
    client, _ = signed_in(app, username)
    other_browser, _ = signed_in(app, username)
    colleague, _ = signed_in(app, make_user("Back office"))
    stolen = _session_cookie(client)
    Auth(client).logout()
    for still_in in (other_browser, colleague):
        assert still_in.get("/clientmodelview/list/").status_code == 200, "signing out ends this session only"
    thief = app.test_client()
    thief.set_cookie("session", stolen, domain="localhost")
    page = thief.get("/clientmodelview/list/", follow_redirects=True)
    assert page.request.path == "/login/"
    assert thief.get("/api/v1/client/").status_code == 401


def test_a_session_the_server_does_not_know_is_refused(app, make_user, db_session):
    from crm.security.models import StaffSession

    username = make_user("Back office")
    client, _ = signed_in(app, username)
    assert client.get("/clientmodelview/list/").status_code == 200

    def forget(s):
        s.query(StaffSession).delete()
        s.commit()

    db_session(forget)
    assert client.get("/clientmodelview/list/", follow_redirects=True).request.path == "/login/"


def _session_time_passes(client, db_session, username, minutes):
    """Move the session's times back, in its cookie and in the server's record, as that many
    minutes passing would."""
    from crm.extensions import appbuilder
    from crm.security.models import StaffSession
    from crm.security.sessions import LAST_SEEN, STARTED

    with client.session_transaction() as session:
        for key in (STARTED, LAST_SEEN):
            session[key] -= minutes * 60

    def move(s):
        user_id = appbuilder.sm.find_user(username=username).id
        for row in s.query(StaffSession).filter(StaffSession.user_id == user_id):
            row.started_at -= timedelta(minutes=minutes)
            row.last_seen_at -= timedelta(minutes=minutes)
        s.commit()

    db_session(move)


def test_a_session_the_server_saw_idle_ends_whatever_its_cookie_says(app, make_user, db_session):
    """The server's record of a session's last use is what a copied or forged cookie cannot move."""
    from crm.extensions import appbuilder
    from crm.security.models import StaffSession

    username = make_user("Back office")
    client, _ = signed_in(app, username)

    def idle_on_the_server(s):
        user_id = appbuilder.sm.find_user(username=username).id
        s.query(StaffSession).filter(StaffSession.user_id == user_id).update(
            {StaffSession.last_seen_at: utcnow() - timedelta(minutes=31)})
        s.commit()

    db_session(idle_on_the_server)
    assert client.get("/clientmodelview/list/", follow_redirects=True).request.path == "/login/"


def test_a_session_in_use_stays_open_past_its_idle_limit(app, make_user, db_session):
    """Forty minutes of work, a page every twenty: each use moves the server's "last seen" on."""
    username = make_user("Back office")
    client, _ = signed_in(app, username)
    for _ in range(2):
        _session_time_passes(client, db_session, username, 20)
        assert client.get("/clientmodelview/list/").status_code == 200


@pytest.mark.parametrize("missing", ["crm_sid", "crm_started_at", "crm_last_seen_at"])
def test_a_session_cookie_without_the_servers_marks_is_asked_to_sign_in_again(app, make_user, missing):
    """A cookie signed before the server recorded sessions (an upgrade keeps the key) carries no
    session id or no times: it is asked to sign in again, not served, nor answered with an error."""
    client, _ = signed_in(app, make_user("Back office"))
    with client.session_transaction() as session:
        del session[missing]
    page = client.get("/clientmodelview/list/", follow_redirects=True)
    assert page.status_code == 200 and page.request.path == "/login/"
    assert "Zaloguj się ponownie." in page.text


def test_the_expiry_warning_comes_once_a_sign_in(app, make_user, db_session):
    """Warned on the first page after signing in, not on every page after it; the next sign-in
    in the same browser is warned again."""
    username = make_user("Back office")
    age_password(db_session, username, 80)
    client, page = signed_in(app, username)
    assert "Twoje hasło wygasa za" in page.text
    assert "Twoje hasło wygasa za" not in client.get("/clientmodelview/list/").text
    Auth(client).logout()
    page = Auth(client).login(username, STAFF_PASSWORD)
    assert page.request.path == "/"
    assert "Twoje hasło wygasa za" in page.text


def test_an_account_without_a_state_row_signs_in(app, make_user, db_session):
    """Accounts made before account states were kept (migration 0002 gave them none) have no state
    row until they first sign in: such an account is neither locked nor held to a password change."""
    from crm.extensions import appbuilder

    username = make_user("Back office")

    def forget_state(s):
        s.query(AccountState).filter(AccountState.user_id == appbuilder.sm.find_user(username=username).id).delete()
        s.commit()

    db_session(forget_state)
    client, page = signed_in(app, username)
    assert page.request.path == "/"
    assert client.get("/clientmodelview/list/").status_code == 200


def test_signing_out_takes_a_post_with_its_csrf_token(app, make_user):
    username = make_user("Back office")
    client, _ = signed_in(app, username)
    page = client.get("/logout/")
    assert page.status_code == 200 and 'id="logout-form"' in page.text
    assert client.get("/clientmodelview/list/").status_code == 200
    assert client.post("/logout/").status_code == 400
    assert client.get("/clientmodelview/list/").status_code == 200
    client.post("/logout/", data={"csrf_token": csrf_token(page.text)})
    assert client.get("/clientmodelview/list/", follow_redirects=True).request.path == "/login/"


def test_changing_ones_password_ends_the_old_api_tokens(app, make_user):
    username = make_user("Back office")
    api = app.test_client()
    access, refresh = api_tokens(api, username)
    assert api.get("/api/v1/client/", headers=access).status_code == 200
    assert api.post("/api/v1/security/refresh", headers=refresh).status_code == 200

    browser, _ = signed_in(app, username)
    change_own_password(browser, STAFF_PASSWORD, NEW_PASSWORD)

    assert api.get("/api/v1/client/", headers=access).status_code == 401
    assert api.post("/api/v1/security/refresh", headers=refresh).status_code == 401
    fresh = api.post("/api/v1/security/login", json={"username": username, "password": NEW_PASSWORD, "provider": "db"}).json
    assert api.get("/api/v1/client/", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_an_api_token_stops_working_when_the_password_grows_too_old(app, make_user, db_session):
    """Expiry moves no session epoch (nothing happens on the day): the token's own check must see it."""
    username = make_user("Back office")
    api = app.test_client()
    access, refresh = api_tokens(api, username)
    assert api.get("/api/v1/client/", headers=access).status_code == 200

    age_password(db_session, username, 91)
    assert api.get("/api/v1/client/", headers=access).status_code == 401
    assert api.post("/api/v1/security/refresh", headers=refresh).status_code == 401


def test_a_first_login_that_chooses_a_password_is_not_a_failed_attempt(app, make_user, db_session):
    from crm.extensions import appbuilder
    from crm.security.models import LoginEvent

    username = make_user("Back office", must_change_password=True)
    client, page = signed_in(app, username)
    assert page.request.path == "/resetmypassword/form"
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    results = db_session(lambda s: [e.result for e in s.query(LoginEvent).filter(LoginEvent.user_id == user_id)])
    assert results == ["must_change"]
    change_own_password(client, STAFF_PASSWORD, NEW_PASSWORD)
    mine = client.get("/my-logins/")
    assert 'id="last-failure"' not in mine.text
    assert "Zalogowano, aby wybrać nowe hasło" in mine.text and "Formularz logowania" in mine.text
    assert "Hasło wygasło" not in mine.text
