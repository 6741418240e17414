"""Role x route: every URL rule of the app answers exactly as the roles allow.

Each rule's required permission is read from the view function itself (FAB's
``has_access``/``protect`` record it). A rule that requires none must be named
in PUBLIC_ENDPOINTS or NEVER_ALLOWED below, so a new route that forgot its
permission fails here. For every built-in role, a role with no permissions and
an anonymous visitor, each rule is requested and the answer must be "allowed"
exactly when the role holds the (permission, view) pair in the database.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import Rule

from crm.security.capabilities import missing_requirements, pairs_for
from crm.security.roles import BUILTIN_ROLES, PUBLIC
from tests.conftest import STAFF_PASSWORD, Auth, company_form, csrf_token, unique

#: Reachable without signing in, on purpose: they show no data.
PUBLIC_ENDPOINTS = {
    "static",
    "appbuilder.static",
    "HomeView.index",  # the start page, each part by its own permission; visitors go to the login page
    "LocaleView.index",  # switches the language
    "AuthDBView.login",
    "AuthDBView.logout",
    "UtilView.back",  # redirects to the previous page
    "SecurityApi.login",  # JWT login, checks credentials itself
    "SecurityApi.refresh",  # needs a refresh token
    # the person's own pages: the form answers the same whatever is held; the others need a token from an email
    "PublicView.request_form",
    "PublicView.verify_page",
    "PublicView.verify",
    "PublicView.status",
    "PublicView.unsubscribe_page",
    "PublicView.unsubscribe",
    "PublicView.download_page",
    "PublicView.download",
}
#: Routes FAB mounts for actions; no Kartoteka view defines an action.
NEVER_ALLOWED = re.compile(r"\.action(_post)?$")

#: a company's own role, as an administrator would tick it: some of everything, nothing whole
CUSTOM_ROLE = "Handlowiec (test)"
#: a role an administrator made and ticked nothing in
NO_PERMISSIONS = "Bez uprawnień (test)"
CUSTOM_CAPABILITIES = (
    "clients.view", "clients.add", "contacts.view", "notes.view", "notes.add", "subscriptions.view",
    "personal_data.see.identity", "personal_data.see.address", "personal_data.see.free_text",
    "logins.view", "users.view", "history.view", "api.docs",
)
ROLES = [*BUILTIN_ROLES.keys() - {PUBLIC}, CUSTOM_ROLE, NO_PERMISSIONS, None]


def required_permission(app, rule: Rule) -> tuple[str, str] | None:
    """The (permission, view) pair a rule's view function checks, if any."""
    function = app.view_functions[rule.endpoint]
    view = getattr(function, "__self__", None)
    name = getattr(function, "_permission_name", None)
    if view is None or name is None:
        return None
    method = rule.endpoint.split(".", 1)[1]
    name = (getattr(view, "method_permission_name", None) or {}).get(method, name)
    permission = name if name.startswith("can_") else f"can_{name}"
    return permission, view.class_permission_name


@pytest.fixture(scope="module")
def fixture_ids(app):
    """One record of each kind to open, and an id that exists nowhere."""
    from crm.clients.models import Client, ContactPerson, Note
    from crm.extensions import db
    from crm.mailing.models import MailingList, Subscription
    from datetime import date

    with app.app_context():
        client = Client(**{k: v for k, v in company_form().items() if v and k != "kind"}, kind="company")
        mailing_list = MailingList(name=unique("Lista "))
        client.contacts.append(ContactPerson(first_name="Łucja", last_name="Źrebiec"))
        client.notes.append(Note(kind="call", occurred_on=date(2026, 5, 1), text="Rozmowa"))
        client.subscriptions.append(Subscription(mailing_list=mailing_list, source="manual"))
        db.session.add(client)
        db.session.commit()
        ids = {
            "ClientModelView": client.id,
            "ClientApi": client.id,
            "ContactPersonModelView": client.contacts[0].id,
            "NoteModelView": client.notes[0].id,
            "MailingListModelView": mailing_list.id,
            "SubscriptionModelView": client.subscriptions[0].id,
        }
        db.session.remove()
    return ids


@pytest.fixture(scope="module")
def sessions(app):
    """A signed-in test client (and JWT headers) per role; None is anonymous."""
    from crm.extensions import appbuilder, db

    result = {}
    with app.app_context():
        sm = appbuilder.sm
        if sm.find_role(NO_PERMISSIONS) is None:
            sm.add_role(NO_PERMISSIONS)
        if sm.find_role(CUSTOM_ROLE) is None:
            custom = sm.add_role(CUSTOM_ROLE)
            rows = {(pv.permission.name, pv.view_menu.name): pv for pv in db.session.scalars(db.select(sm.permissionview_model))}
            custom.permissions = [rows[pair] for pair in sorted(pairs_for(CUSTOM_CAPABILITIES))]
            db.session.commit()
        users = {}
        for role in ROLES:
            if role is None:
                continue
            username = unique("route_")
            sm.add_user(
                username, "Route", "Tester", f"{username}@kartoteka.invalid", sm.find_role(role),
                password=STAFF_PASSWORD, must_change_password=False,
            )
            users[role] = username
        db.session.remove()
    for role in ROLES:
        client = app.test_client()
        headers = {}
        auth = Auth(client)
        if role is None:
            auth.csrf = csrf_token(client.get("/login/").text)
        else:
            auth.login(users[role], STAFF_PASSWORD)
            token = client.post(
                "/api/v1/security/login",
                json={"username": users[role], "password": STAFF_PASSWORD, "provider": "db"},
            ).json["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
        result[role] = (client, headers, auth.csrf)
    return result


def granted(app, role) -> set[tuple[str, str]]:
    from crm.extensions import appbuilder, db

    if role is None:
        role = PUBLIC
    with app.app_context():
        found = appbuilder.sm.find_role(role)
        pairs = {(pv.permission.name, pv.view_menu.name) for pv in found.permissions}
        db.session.remove()
    return pairs


def url_for_rule(rule: Rule, ids, existing: bool) -> str:
    view = rule.endpoint.split(".")[0]
    values = {}
    for argument in rule.arguments:
        if argument == "pk":
            values[argument] = ids.get(view, 1) if existing else 987654
        elif argument == "version":
            values[argument] = "v1"
        elif argument == "locale":
            values[argument] = "pl"
        elif argument == "filename" and rule.endpoint == "appbuilder.static":
            values[argument] = "css/ab.css"
        elif argument == "group_by":
            values[argument] = "username"
        else:
            values[argument] = "nothing-here"
    return rule.build(values, append_unknown=False)[1]


def request_rule(client, headers, token, rule: Rule, ids):
    """Send the rule's request: reads on existing records, writes on a missing id."""
    is_api = rule.rule.startswith("/api/")
    methods = rule.methods - {"HEAD", "OPTIONS"}
    if "GET" in methods and not rule.endpoint.endswith(".delete"):
        return client.get(url_for_rule(rule, ids, existing=True), headers=headers)
    url = url_for_rule(rule, ids, existing=False)
    if is_api:
        method = next(iter(methods))
        return client.open(url, method=method, json={"lock_version": 1}, headers=headers)
    return client.post(url, data={"csrf_token": token}, headers=headers)


def is_denied(response, is_api: bool) -> bool:
    """APIs answer 401/403; screens answer 403 to staff and send visitors to log in."""
    if response.status_code in (401, 403):
        return True
    return not is_api and response.status_code == 302 and "/login/" in response.headers.get("Location", "")


def test_the_custom_role_is_one_the_matrix_accepts():
    assert missing_requirements(CUSTOM_CAPABILITIES) == []


#: Routes whose permission is not named after their method, each on purpose.
PERMISSION_NOT_NAMED_FOR_METHOD = {
    "search": "can_list",  # a posted search opens the list
    "ClientApi.get_list": "can_get",
    "ClientApi.search": "can_get",
    "ClientHistoryView.compare": "can_show",
    "ClientHistoryView.timeline": "can_show",
    "ClientModelView.bulk_change": "can_edit",
    "GdprApi.erasure_preview": "can_erase",
    "GdprView.erase_preview": "can_erase",
    "GdprView.export_form": "can_export",
    "ImportView.mapping": "can_import",
    "ImportView.run": "can_import",
    "ImportView.upload": "can_import",
    "ImportView.upload_form": "can_import",
    "JobView.mine": "can_show",
    "JobView.progress": "can_show",
    "MyLoginsView.index": "can_list",
    "PersonalDataView.index": "can_list",
    "ReadLogView.index": "can_list",
    "RecentChangesView.index": "can_list",
    "RoleMatrixView.add": "can_edit",
    "RoleMatrixView.rename": "can_edit",
    "RoleMatrixView.save": "can_edit",
    "BuiltInFieldsView.save": "can_edit",
}


def test_each_route_is_guarded_by_the_permission_named_for_what_it_does(app):
    """The role x route test reads each rule's permission from its view; this pins what that permission is.

    A route guarded by a neighbour's permission (an erasure behind "export")
    would pass the matrix test, as the matrix grants whatever the view asks.
    """
    wrong = []
    for rule in app.url_map.iter_rules():
        required = required_permission(app, rule)
        if required is None:
            continue
        view, method = rule.endpoint.split(".", 1)
        expected = PERMISSION_NOT_NAMED_FOR_METHOD.get(
            rule.endpoint, PERMISSION_NOT_NAMED_FOR_METHOD.get(method, f"can_{method}")
        )
        if required != (expected, view):
            wrong.append((rule.endpoint, required))
    assert wrong == []


def test_every_route_names_its_permission_or_is_listed_public(app):
    unexplained = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if required_permission(app, rule) is None
        and rule.endpoint not in PUBLIC_ENDPOINTS
        and not NEVER_ALLOWED.search(rule.endpoint)
    ]
    assert unexplained == []


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_role_reaches_exactly_the_routes_it_is_granted(app, sessions, fixture_ids, role):
    client, headers, token = sessions[role]
    pairs = granted(app, role)
    wrong = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint == "AuthDBView.logout":
            continue
        required = required_permission(app, rule)
        is_api = rule.rule.startswith("/api/")
        response = request_rule(client, headers, token, rule, fixture_ids)
        assert response.status_code < 500, f"{rule.rule} answered {response.status_code} for {role}"
        if NEVER_ALLOWED.search(rule.endpoint):
            # FAB refuses a GET action under CSRF and finds no action to run on POST.
            assert response.status_code in (302, 400, 404), rule.rule
            continue
        expected_allowed = required is not None and required in pairs
        if is_denied(response, is_api) == expected_allowed:
            wrong.append((rule.rule, sorted(rule.methods - {"HEAD", "OPTIONS"}), required, response.status_code))
    assert wrong == [], f"{role or 'anonymous'}: routes answering against the matrix: {wrong}"


def test_public_routes_show_no_client_data(app, fixture_ids):
    client = app.test_client()
    for path in ("/", "/lang/pl", "/login/", "/back"):
        response = client.get(path)
        assert response.status_code in (200, 302)
        assert "Przędzalnia" not in response.text


def test_no_api_route_accepts_the_browsers_cookie(app, sessions, fixture_ids):
    """Signed in through the form, without a token: every API route refuses (FAB's own included)."""
    client, _headers, token = sessions["Administrator"]
    accepted = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in ("SecurityApi.login", "SecurityApi.refresh"):
            continue
        response = request_rule(client, {}, token, rule, fixture_ids)
        if response.status_code != 401:
            accepted.append((rule.rule, response.status_code))
    assert accepted == []
