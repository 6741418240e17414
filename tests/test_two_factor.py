"""Two-factor login with one-time codes: required per role, set up, verified, refused."""

from __future__ import annotations

import re
import time

import pyotp
import segno
from sqlalchemy import select

from crm.security.models import LoginEvent, RoleSecurityPolicy
from crm.security.two_factor import accepted_step, current_step
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token
from tests.test_web_security import decoded_session_cookie


def require_for_role(db_session, role_name):
    from crm.extensions import appbuilder

    def update(s):
        role = appbuilder.sm.find_role(role_name)
        policy = s.get(RoleSecurityPolicy, role.id) or RoleSecurityPolicy(role_id=role.id)
        policy.requires_totp = True
        s.add(policy)
        s.commit()

    db_session(update)


def undo_requirement(db_session, role_name):
    from crm.extensions import appbuilder

    def update(s):
        policy = s.get(RoleSecurityPolicy, appbuilder.sm.find_role(role_name).id)
        if policy:
            s.delete(policy)
            s.commit()

    db_session(update)


def post_code(client, url, code):
    form = client.get(url)
    return client.post(url, data={"csrf_token": csrf_token(form.text), "code": code}, follow_redirects=True)


def test_the_pure_check_accepts_a_code_once_and_only_near_now():
    secret = pyotp.random_base32()
    now = current_step(time.time())
    code = pyotp.TOTP(secret).at(now * 30)
    assert accepted_step(secret, code, None, now) == now
    assert accepted_step(secret, code, now, now) is None, "a code works once"
    assert accepted_step(secret, pyotp.TOTP(secret).at((now - 5) * 30), None, now) is None
    assert accepted_step(secret, "12ab56", None, now) is None
    at = lambda step: pyotp.TOTP(secret).at(step * 30)  # noqa: E731
    # a phone's clock half a minute off either way is forgiven, a minute is not
    assert accepted_step(secret, at(now - 1), None, now) == now - 1
    assert accepted_step(secret, at(now + 1), None, now) == now + 1
    assert accepted_step(secret, at(now - 2), None, now) is None
    assert accepted_step(secret, at(now + 2), None, now) is None
    # as an authenticator app shows it, in two groups of three
    assert accepted_step(secret, f" {at(now)[:3]} {at(now)[3:]} ", None, now) == now
    assert current_step(59.9) == 1 and current_step(60.0) == 2


def test_role_requiring_two_factor_sets_it_up_then_asks_for_codes(app, make_user, db_session):
    require_for_role(db_session, "Data protection officer")
    try:
        username = make_user("Data protection officer")
        client = app.test_client()
        page = Auth(client).login(username, STAFF_PASSWORD)
        assert page.request.path == "/two-factor/setup"
        assert client.get("/clientmodelview/list/").status_code == 302, "nothing opens before the second step"
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
        # the QR code holds the account, the issuer and the secret shown beside it, nothing else
        otpauth = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Kartoteka")
        assert f'src="{segno.make(otpauth, error="m").svg_data_uri(scale=4)}"' in page.text
        assert secret not in decoded_session_cookie(client), "the secret being enrolled is sealed in the cookie"
        assert 'id="two-factor-required"' in page.text
        # only that role's accounts: an account of another role signs in with its password alone
        other = app.test_client()
        assert Auth(other).login(make_user("Back office"), STAFF_PASSWORD).request.path == "/"

        wrong = post_code(client, "/two-factor/setup", "000000")
        assert "Ten kod jest nieprawidłowy" in wrong.text
        setup_code = pyotp.TOTP(secret).now()
        done = post_code(client, "/two-factor/setup", setup_code)
        assert done.request.path == "/"

        again = app.test_client()
        page = Auth(again).login(username, STAFF_PASSWORD)
        assert page.request.path == "/two-factor/verify"
        refused = post_code(again, "/two-factor/verify", setup_code)
        assert refused.request.path == "/two-factor/verify", "the code used at set-up does not work twice"
        step = current_step(time.time())
        fresh = pyotp.TOTP(secret).at((step + 1) * 30)
        accepted = post_code(again, "/two-factor/verify", fresh)
        assert accepted.request.path == "/"
        third = app.test_client()
        assert Auth(third).login(username, STAFF_PASSWORD).request.path == "/two-factor/verify"
        replayed = post_code(third, "/two-factor/verify", fresh)
        assert replayed.request.path == "/two-factor/verify", "a code that signed in once does not sign in again"
        assert third.get("/clientmodelview/list/").status_code == 302
        from crm.extensions import appbuilder

        results = db_session(
            lambda s: [
                e.result
                for e in s.scalars(select(LoginEvent).where(LoginEvent.user_id == appbuilder.sm.find_user(username=username).id))
            ]
        )
        assert "bad_code" in results
    finally:
        undo_requirement(db_session, "Data protection officer")


def test_wrong_codes_count_towards_the_lockout(app, make_user, db_session):
    from crm.extensions import appbuilder

    username = make_user("Back office")
    secret = pyotp.random_base32()

    def enrol(s):
        from crm.security.lockout import update_state

        update_state(s, appbuilder.sm.find_user(username=username).id, totp_secret=secret)

    db_session(enrol)
    client = app.test_client()
    Auth(client).login(username, STAFF_PASSWORD)
    for _ in range(5):
        last = post_code(client, "/two-factor/verify", "000000")
    assert last.request.path == "/login/" and "konto jest zablokowane" in last.text
    assert Auth(app.test_client()).login(username, STAFF_PASSWORD).request.path == "/login/"


def test_account_with_two_factor_gets_no_api_token(app, make_user, db_session):
    require_for_role(db_session, "Auditor")
    try:
        username = make_user("Auditor")
        response = app.test_client().post(
            "/api/v1/security/login", json={"username": username, "password": STAFF_PASSWORD, "provider": "db"}
        )
        assert response.status_code == 401
    finally:
        undo_requirement(db_session, "Auditor")


def test_an_account_that_chose_two_factor_is_asked_for_its_code_and_gets_no_api_token(app, make_user, db_session):
    """Its role does not require a second factor; the account's own authenticator does."""
    from crm.extensions import appbuilder
    from crm.security.lockout import update_state

    username = make_user("Back office")
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    db_session(lambda s: update_state(s, user_id, totp_secret=pyotp.random_base32()))
    client = app.test_client()
    assert Auth(client).login(username, STAFF_PASSWORD).request.path == "/two-factor/verify"
    assert client.get("/clientmodelview/list/").headers["Location"] == "/two-factor/verify", "nothing opens before the code"
    response = app.test_client().post(
        "/api/v1/security/login", json={"username": username, "password": STAFF_PASSWORD, "provider": "db"}
    )
    assert response.status_code == 401


def test_administrator_requires_two_factor_for_a_role_on_its_screen(app, client, auth, make_user, db_session):
    from crm.extensions import appbuilder

    auth.login()
    form = client.get("/rolesecuritypolicyview/add")
    role_id = db_session(lambda s: appbuilder.sm.find_role("Manager").id)
    response = client.post(
        "/rolesecuritypolicyview/add",
        data={"csrf_token": csrf_token(form.text), "role": str(role_id), "requires_totp": "y"},
    )
    assert response.status_code == 302
    assert db_session(lambda s: s.get(RoleSecurityPolicy, role_id).requires_totp) is True
    # and switches it off again by clearing the box
    form = client.get(f"/rolesecuritypolicyview/edit/{role_id}")
    response = client.post(f"/rolesecuritypolicyview/edit/{role_id}",
                           data={"csrf_token": csrf_token(form.text), "role": str(role_id)})
    assert response.status_code == 302
    assert db_session(lambda s: s.get(RoleSecurityPolicy, role_id).requires_totp) is False
    try:
        manager = app.test_client()
        assert Auth(manager).login(make_user("Manager"), STAFF_PASSWORD).request.path == "/", "a cleared box asks nothing"
    finally:
        undo_requirement(db_session, "Manager")


def test_a_role_held_through_a_group_requires_its_second_factor(app, make_user, db_session):
    from crm.extensions import appbuilder
    from tests.test_staff_management import group_made_by_administrator

    require_for_role(db_session, "Data protection officer")
    try:
        username = make_user("Back office")
        member = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
        officer = db_session(lambda s: appbuilder.sm.find_role("Data protection officer").id)
        group_made_by_administrator(app, db_session, [officer], [member])
        client = app.test_client()
        assert Auth(client).login(username, STAFF_PASSWORD).request.path == "/two-factor/setup"
        assert client.get("/clientmodelview/list/").headers["Location"] == "/two-factor/setup", "nothing opens before it is set up"
    finally:
        undo_requirement(db_session, "Data protection officer")


def test_turning_two_factor_on_by_choice_does_not_say_the_role_requires_it(app, make_user):
    client = app.test_client()
    Auth(client).login(make_user("Back office"), STAFF_PASSWORD)
    page = client.get("/two-factor/setup")
    assert page.status_code == 200
    assert 'id="two-factor-chosen"' in page.text and "Twoja rola wymaga" not in page.text


def test_an_administrator_resets_an_accounts_authenticator(app, client, auth, make_user, db_session):
    from crm.extensions import appbuilder
    from crm.security.lockout import update_state
    from crm.security.models import AccountState

    username = make_user("Back office")
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    db_session(lambda s: update_state(s, user_id, totp_secret=pyotp.random_base32(), totp_last_step=123))
    auth.login()
    page = client.get("/users/list/")
    response = client.post("/users/action_post", data={
        "action": "reset_two_factor", "rowid": [str(user_id)], "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    state = db_session(lambda s: s.get(AccountState, user_id))
    assert state.totp_secret is None and state.totp_last_step is None
