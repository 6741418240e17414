"""Staff management is not administration: nobody grants what they lack or manages who holds more.

A "staff office" role (made in the matrix) may manage staff accounts, and
nothing else of the administrator's. Each way it could make itself an
administrator is tried through the real forms; each is refused and changes
nothing, while managing an account that holds less works.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.security.capabilities import CAPABILITIES
from crm.security.roles import ADMINISTRATOR, BACK_OFFICE
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique
from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_capabilities, role_id

STAFF_OFFICE = (
    "users.view", "users.manage", "passwords.request_change", "clients.view",
    "personal_data.see.identity", "personal_data.see.contact", "personal_data.see.account",
)
NEW_PASSWORD = "Zielone-Jabłko-Spada-Z-Drzewa-7"


@pytest.fixture(scope="module")
def roles(app):
    """The staff office role, and a smaller role it may hand out."""
    client, auth = admin_client(app)
    office, viewer = new_role(client, auth, unique("Kadry ")), new_role(client, auth, unique("Podgląd "))
    office_id, viewer_id = role_id(app, office), role_id(app, viewer)
    cells = [f"{office_id}:{key}" for key in STAFF_OFFICE] + [f"{viewer_id}:clients.view"]
    assert post_form(client, read_form(client), add=cells).status_code == 302
    return office, viewer


def account(db_session, username):
    from crm.extensions import appbuilder

    return db_session(lambda s: appbuilder.sm.find_user(username=username))


def roles_of(db_session, username):
    from crm.extensions import appbuilder

    return db_session(lambda s: sorted(role.name for role in appbuilder.sm.find_user(username=username).roles))


def signed_in(app, username):
    client = app.test_client()
    auth = Auth(client)
    auth.login(username, STAFF_PASSWORD)
    return client, auth


def user_form(page_text, **values):
    data = {"csrf_token": csrf_token(page_text), "active": "y"}
    data.update(values)
    return data


def test_staff_office_cannot_give_itself_the_administrator_role(app, make_user, db_session, roles):
    office, _ = roles
    username = make_user(office)
    client, _ = signed_in(app, username)
    me = account(db_session, username)
    page = client.get(f"/users/edit/{me.id}")
    assert page.status_code == 200
    response = client.post(f"/users/edit/{me.id}", data=user_form(
        page.text, first_name="Test", last_name="Kadry", username=username, email=me.email,
        roles=[str(role_id(app, office)), str(role_id(app, ADMINISTRATOR))],
    ), follow_redirects=True)
    assert "Nie możesz tu zmieniać własnych ról" in response.text
    assert roles_of(db_session, username) == [office]


def test_staff_office_cannot_create_an_administrator_account(app, make_user, db_session, roles):
    office, viewer = roles
    client, _ = signed_in(app, make_user(office))
    newcomer = unique("nowy_admin_")
    page = client.get("/users/add")
    response = client.post("/users/add", data=user_form(
        page.text, first_name="Nowy", last_name="Admin", username=newcomer, email=f"{newcomer}@kartoteka.invalid",
        roles=str(role_id(app, ADMINISTRATOR)), password=STAFF_PASSWORD, conf_password=STAFF_PASSWORD,
    ), follow_redirects=True)
    assert "Możesz nadawać tylko role mieszczące się we własnych uprawnieniach" in response.text
    assert account(db_session, newcomer) is None
    # it names, in words, the first permission of the matrix the administrator holds and the office does not
    lacking = role_capabilities(app, ADMINISTRATOR) - role_capabilities(app, office)
    first = next(capability for capability in CAPABILITIES if capability.key in lacking)
    with app.test_request_context(headers={"Accept-Language": "pl"}):
        assert f"„{first.label}” do nich nie należy" in response.text

    allowed = unique("podglad_")
    page = client.get("/users/add")
    client.post("/users/add", data=user_form(
        page.text, first_name="Nowa", last_name="Osoba", username=allowed, email=f"{allowed}@kartoteka.invalid",
        roles=str(role_id(app, viewer)), password=STAFF_PASSWORD, conf_password=STAFF_PASSWORD,
    ))
    assert roles_of(db_session, allowed) == [viewer], "a role within its own permissions is given"


def test_staff_office_cannot_reach_the_administrator_role_through_a_group(app, make_user, db_session, roles):
    from crm.extensions import appbuilder

    office, viewer = roles
    username = make_user(office)
    client, _ = signed_in(app, username)
    me = account(db_session, username)
    for group_roles, members, message in (
        ([ADMINISTRATOR], [me.id], "Możesz nadawać tylko role"),
        ([ADMINISTRATOR], [], "Możesz nadawać tylko role"),
        ([viewer], [me.id], "Nie możesz tu zmieniać własnych ról"),
    ):
        name = unique("grupa_")
        page = client.get("/groups/add")
        assert page.status_code == 200
        response = client.post("/groups/add", data={
            "csrf_token": csrf_token(page.text), "name": name, "label": name, "description": "",
            "users": [str(member) for member in members], "roles": [str(role_id(app, role)) for role in group_roles],
        }, follow_redirects=True)
        assert message in response.text, (group_roles, members)
        assert db_session(lambda s: s.scalar(select(appbuilder.sm.group_model.id).where(appbuilder.sm.group_model.name == name))) is None
    assert roles_of(db_session, username) == [office]


def test_staff_office_cannot_set_an_administrators_password_or_lock_or_delete_them(app, make_user, db_session, roles):
    from crm.security.models import AccountState

    office, _ = roles
    admin_name = make_user(ADMINISTRATOR)
    admin = account(db_session, admin_name)
    client, auth = signed_in(app, make_user(office))
    assert client.get(f"/resetpassword/form?pk={admin.id}").status_code == 403
    page = client.get("/users/list/")
    response = client.post(f"/resetpassword/form?pk={admin.id}", data={
        "csrf_token": csrf_token(page.text), "password": NEW_PASSWORD, "conf_password": NEW_PASSWORD,
    })
    assert response.status_code == 403 and "To konto ma uprawnienia, których Ty nie masz" in response.text
    intruder = app.test_client()
    assert Auth(intruder).login(admin_name, NEW_PASSWORD).request.path == "/login/", "the old password still stands"
    assert Auth(app.test_client()).login(admin_name, STAFF_PASSWORD).request.path != "/login/"

    for action in ("lock", "unlock", "reset_two_factor"):
        response = client.post("/users/action_post", data={"csrf_token": auth.csrf, "action": action, "rowid": str(admin.id)})
        assert response.status_code == 403, action
    assert client.get(f"/users/edit/{admin.id}").status_code == 403
    client.post(f"/users/delete/{admin.id}", data={"csrf_token": auth.csrf})
    assert account(db_session, admin_name) is not None and account(db_session, admin_name).active
    assert Auth(app.test_client()).login(admin_name, STAFF_PASSWORD).request.path != "/login/", "not locked"

    page = client.get("/password-change-requests/form")
    assert admin_name not in page.text, "an account holding more is not offered for a password change request"
    response = client.post("/password-change-requests/form", data={"csrf_token": csrf_token(page.text), "users": str(admin.id)})
    assert "To pole jest wymagane." in response.text, "a forged account is no choice at all"
    state = db_session(lambda s: s.get(AccountState, admin.id))
    assert state is None or not state.must_change_password


def test_staff_office_manages_accounts_that_hold_less(app, make_user, db_session, roles):
    from crm.security.models import AccountState

    office, viewer = roles
    # made second, named to come first: the list is in the order of names, not of creation
    target, second = make_user(viewer), make_user(viewer, username=unique("aa_"))
    other_office = make_user(BACK_OFFICE)
    me = make_user(office)
    client, auth = signed_in(app, me)
    # asked to change their password: those it may manage, by name, not its own account (that has its own form)
    page = client.get("/password-change-requests/form").text
    offered = re.findall(r'<option[^>]*value="\d+"[^>]*>([^<]+)</option>', page)
    assert {target, second} <= set(offered) and me not in offered and other_office not in offered
    assert offered == sorted(offered)
    target_id, back_office_id = account(db_session, target).id, account(db_session, other_office).id
    response = client.post("/users/action_post", data={"csrf_token": auth.csrf, "action": "lock", "rowid": str(target_id)})
    assert response.status_code == 302
    assert db_session(lambda s: s.get(AccountState, target_id).is_locked_indefinitely)
    page = client.get(f"/resetpassword/form?pk={target_id}")
    assert page.status_code == 200
    # a Back office account holds client editing, which the staff office does not: not its to manage
    response = client.post("/users/action_post", data={"csrf_token": auth.csrf, "action": "lock", "rowid": str(back_office_id)})
    assert response.status_code == 403
    assert not getattr(db_session(lambda s: s.get(AccountState, back_office_id)), "is_locked_indefinitely", False)


def test_a_role_administrator_cannot_grant_what_it_lacks_in_the_matrix(app, make_user, roles):
    client, auth = admin_client(app)
    keeper = new_role(client, auth, unique("Strażnik ról "))
    keeper_id = role_id(app, keeper)
    assert post_form(client, read_form(client), add=[f"{keeper_id}:roles.administer"]).status_code == 302
    staff, _ = signed_in(app, make_user(keeper))
    response = post_form(staff, read_form(staff), add=[f"{keeper_id}:users.manage", f"{keeper_id}:users.view"])
    assert response.status_code == 403 and "Możesz nadawać tylko role" in response.text
    response = post_form(staff, read_form(staff), remove=[f"{role_id(app, ADMINISTRATOR)}:clients.view"])
    assert response.status_code == 403 and "ma uprawnienia, których Ty nie masz" in response.text
    response = staff.post("/permissions/add", data={"csrf_token": csrf_token(staff.get("/permissions/").text),
                                                    "name": unique("Klon "), "clone_of": str(role_id(app, ADMINISTRATOR))})
    assert response.status_code == 403


def test_no_api_manages_staff_accounts(app, make_user, roles):
    from tests.test_clients_api import token_for

    office, _ = roles
    client = app.test_client()
    headers = token_for(client, make_user(office))
    for path in ("/api/v1/security/users/", "/api/v1/security/roles/", "/api/v1/security/groups/"):
        assert client.get(path, headers=headers).status_code == 404
        assert client.post(path, json={"username": "x", "roles": [1]}, headers=headers).status_code in (404, 405)


def _group_form(client, path, name, roles, members):
    page = client.get(path)
    assert page.status_code == 200, path
    return {
        "csrf_token": csrf_token(page.text), "name": name, "label": name, "description": "",
        "users": [str(member) for member in members], "roles": [str(role) for role in roles],
    }


def group_made_by_administrator(app, db_session, role_ids, members):
    """A new group of these roles and accounts, added on the form by an administrator: its name and id."""
    from crm.extensions import appbuilder

    admin, _ = admin_client(app)
    name = unique("grupa_")
    response = admin.post("/groups/add", data=_group_form(admin, "/groups/add", name, role_ids, members))
    assert response.status_code == 302, response.text
    group_id = db_session(lambda s: s.scalar(
        select(appbuilder.sm.group_model.id).where(appbuilder.sm.group_model.name == name)))
    return name, group_id


def test_an_account_holds_the_roles_of_its_own_groups_and_of_no_other(app, make_user, db_session, roles):
    """The staff office held through a group lets its member add an account within it; the roles of
    a group the member is not in (an administrators' group) are not the member's to hand out."""
    office, viewer = roles
    username = make_user(BACK_OFFICE)
    group_made_by_administrator(app, db_session, [role_id(app, office)], [account(db_session, username).id])
    group_made_by_administrator(app, db_session, [role_id(app, ADMINISTRATOR)], [account(db_session, make_user(BACK_OFFICE)).id])
    client, _ = signed_in(app, username)
    for role, given in ((viewer, True), (ADMINISTRATOR, False)):
        newcomer = unique("przez_grupe_")
        page = client.get("/users/add")
        client.post("/users/add", data=user_form(
            page.text, first_name="Nowa", last_name="Osoba", username=newcomer, email=f"{newcomer}@kartoteka.invalid",
            roles=str(role_id(app, role)), password=STAFF_PASSWORD, conf_password=STAFF_PASSWORD,
        ))
        assert (account(db_session, newcomer) is not None) is given, role


def test_staff_office_changes_a_group_only_where_every_account_it_touches_is_its_to_manage(
    app, make_user, db_session, roles
):
    """Adding or removing members touches those members; changing the roles touches every member."""
    from crm.extensions import appbuilder

    office, viewer = roles
    viewer_id = role_id(app, viewer)
    admin_member = account(db_session, make_user(ADMINISTRATOR)).id
    manageable = account(db_session, make_user(viewer)).id

    def find(name):
        return select(appbuilder.sm.group_model).where(appbuilder.sm.group_model.name == name)

    def group_id(name):
        return db_session(lambda s: getattr(s.scalar(find(name)), "id", None))

    def members(name):
        return db_session(lambda s: sorted(user.id for user in s.scalar(find(name)).users))

    def roles_of_group(name):
        return db_session(lambda s: [role.id for role in s.scalar(find(name)).roles])

    shared, shared_id = group_made_by_administrator(app, db_session, [viewer_id], [admin_member])
    client, auth = signed_in(app, make_user(office))
    edit = f"/groups/edit/{shared_id}"

    # a member it may manage joins a group an administrator is in: the administrator's permissions stay
    response = client.post(edit, data=_group_form(client, edit, shared, [viewer_id], [admin_member, manageable]))
    assert response.status_code == 302, response.text
    assert members(shared) == sorted([admin_member, manageable])

    # the group's roles change: so do the administrator's, whom the office may not manage
    response = client.post(edit, data=_group_form(client, edit, shared, [], [admin_member, manageable]),
                           follow_redirects=True)
    assert "To konto ma uprawnienia, których Ty nie masz" in response.text
    assert roles_of_group(shared) == [viewer_id]

    # the administrator added to a group: its permissions would change
    empty, empty_id = group_made_by_administrator(app, db_session, [viewer_id], [])
    edit = f"/groups/edit/{empty_id}"
    response = client.post(edit, data=_group_form(client, edit, empty, [viewer_id], [admin_member]),
                           follow_redirects=True)
    assert "To konto ma uprawnienia, których Ty nie masz" in response.text
    assert members(empty) == []

    # a group of members is not deleted by anyone (they leave it first); an empty one holding
    # roles beyond the office's is not the office's to delete, one within them is
    for group in (shared_id, empty_id):
        client.post(f"/groups/delete/{group}", data={"csrf_token": auth.csrf})
    assert group_id(shared) == shared_id
    assert group_id(empty) is None
    bigger, bigger_id = group_made_by_administrator(app, db_session, [role_id(app, ADMINISTRATOR)], [])
    answer = client.post(f"/groups/delete/{bigger_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert "Możesz nadawać tylko role mieszczące się we własnych uprawnieniach" in answer.text, answer.text
    assert group_id(bigger) == bigger_id


def test_a_two_factor_keeper_changes_only_the_policies_of_roles_within_its_own_permissions(app, make_user, db_session):
    """Who may require a one-time code per role may not drop it from a role holding more than they do."""
    from crm.security.models import RoleSecurityPolicy

    admin, admin_auth = admin_client(app)
    keeper, bigger = new_role(admin, admin_auth, unique("Strażnik 2FA ")), new_role(admin, admin_auth, unique("Księgowość "))
    keeper_id, bigger_id = role_id(app, keeper), role_id(app, bigger)
    cells = [f"{keeper_id}:two_factor.policy", f"{bigger_id}:two_factor.policy", f"{bigger_id}:clients.view"]
    assert post_form(admin, read_form(admin), add=cells).status_code == 302
    page = admin.get("/rolesecuritypolicyview/add")
    response = admin.post("/rolesecuritypolicyview/add", data={
        "csrf_token": csrf_token(page.text), "role": str(bigger_id), "requires_totp": "y"})
    assert response.status_code == 302, response.text
    required = lambda: db_session(lambda s: getattr(s.get(RoleSecurityPolicy, bigger_id), "requires_totp", None))  # noqa: E731
    refusal = "ma uprawnienia, których Ty nie masz"

    client, auth = signed_in(app, make_user(keeper))
    page = client.get(f"/rolesecuritypolicyview/edit/{bigger_id}")
    assert page.status_code == 200
    response = client.post(f"/rolesecuritypolicyview/edit/{bigger_id}", data={
        "csrf_token": csrf_token(page.text), "role": str(bigger_id), "requires_totp": "y"}, follow_redirects=True)
    assert refusal in response.text and required() is True
    # moving the requirement onto its own role takes it from the bigger one
    page = client.get(f"/rolesecuritypolicyview/edit/{bigger_id}")
    response = client.post(f"/rolesecuritypolicyview/edit/{bigger_id}", data={
        "csrf_token": csrf_token(page.text), "role": str(keeper_id), "requires_totp": "y"}, follow_redirects=True)
    assert refusal in response.text and required() is True
    response = client.post(f"/rolesecuritypolicyview/delete/{bigger_id}", data={"csrf_token": auth.csrf},
                           follow_redirects=True)
    assert refusal in response.text and required() is True

    # its own role, within its permissions, it may change
    page = client.get("/rolesecuritypolicyview/add")
    response = client.post("/rolesecuritypolicyview/add", data={
        "csrf_token": csrf_token(page.text), "role": str(keeper_id), "requires_totp": "y"})
    assert response.status_code == 302, response.text
    assert db_session(lambda s: s.get(RoleSecurityPolicy, keeper_id).requires_totp) is True


def test_an_account_holding_more_through_a_group_is_not_the_staff_offices_to_manage(app, make_user, db_session, roles):
    office, viewer = roles
    member = make_user(viewer)
    member_id = account(db_session, member).id
    group_made_by_administrator(app, db_session, [role_id(app, ADMINISTRATOR)], [member_id])
    client, auth = signed_in(app, make_user(office))
    response = client.post("/users/action_post", data={"csrf_token": auth.csrf, "action": "lock", "rowid": str(member_id)})
    assert response.status_code == 403
    assert Auth(app.test_client()).login(member, STAFF_PASSWORD).request.path != "/login/", "not locked"


def test_staff_office_cannot_give_an_account_the_administrator_role_through_a_group(app, make_user, db_session, roles):
    from crm.extensions import appbuilder

    office, viewer = roles
    target = make_user(viewer)
    target_account = account(db_session, target)
    _, group_id = group_made_by_administrator(app, db_session, [role_id(app, ADMINISTRATOR)], [])
    client, _ = signed_in(app, make_user(office))
    page = client.get(f"/users/edit/{target_account.id}")
    assert page.status_code == 200
    response = client.post(f"/users/edit/{target_account.id}", data=user_form(
        page.text, first_name="Test", last_name="Podgląd", username=target, email=target_account.email,
        roles=[str(role_id(app, viewer))], groups=[str(group_id)],
    ), follow_redirects=True)
    assert "Możesz nadawać tylko role mieszczące się we własnych uprawnieniach" in response.text
    assert db_session(lambda s: [group.id for group in appbuilder.sm.find_user(username=target).groups]) == []


def test_staff_office_edits_its_own_name_but_not_its_own_activity_or_groups(app, make_user, db_session, roles):
    from crm.extensions import appbuilder

    office, _ = roles
    username = make_user(office)
    me = account(db_session, username)
    _, group_id = group_made_by_administrator(app, db_session, [], [])
    client, _ = signed_in(app, username)
    office_id = str(role_id(app, office))

    def edit(**changes):
        page = client.get(f"/users/edit/{me.id}")
        values = {"first_name": "Test", "last_name": "Kadry", "username": username, "email": me.email,
                  "roles": [office_id], **changes}
        data = user_form(page.text, **values)
        if changes.get("active") is False:
            del data["active"]
        return client.post(f"/users/edit/{me.id}", data=data, follow_redirects=True)

    assert "Nie możesz tu zmieniać własnych ról" not in edit(last_name="Kadrowa").text
    assert account(db_session, username).last_name == "Kadrowa"
    assert "Nie możesz tu zmieniać własnych ról" in edit(active=False).text
    assert account(db_session, username).active
    assert "Nie możesz tu zmieniać własnych ról" in edit(groups=[str(group_id)]).text
    assert db_session(lambda s: [group.id for group in appbuilder.sm.find_user(username=username).groups]) == []


def _record_naming(kind: str, user_id: int, card: int):
    """A record of ``kind`` that names the account, written through the ORM as the app writes it
    (so it is linked into the trail)."""
    from datetime import date

    from sqlalchemy_continuum import versioning_manager

    from crm.accountability.models import ReadAccess
    from crm.clients.models import Client, Note
    from crm.gdpr.models import GdprEvent
    from crm.security.models import LoginEvent, PermissionChange

    def write(session):
        if kind == "owned card":
            session.get(Client, card).owner_id = user_id
        else:
            session.add({
                "change": lambda: versioning_manager.transaction_cls(user_id=user_id),
                "note": lambda: Note(client_id=card, kind="note", occurred_on=date.today(), text="Rozmowa", author_id=user_id),
                "permission change": lambda: PermissionChange(changed_by_id=user_id, role_name="Audytor", kind="cell",
                                                              capability="clients.view", before="no", after="yes"),
                "GDPR event": lambda: GdprEvent(kind="export", user_id=user_id, client_number=card),
                "login": lambda: LoginEvent(result="success", user_id=user_id),
                "opening of data": lambda: ReadAccess(user_id=user_id, kind="card", place="clientmodelview.show"),
            }[kind]())
        session.commit()

    return write


RECORD_KINDS = ("change", "note", "owned card", "permission change", "GDPR event", "login", "opening of data")


@pytest.mark.parametrize("kind", [*RECORD_KINDS, None])
def test_an_account_any_record_names_is_deactivated_instead_of_deleted(app, make_user, db_session, kind):
    """Deleting it would rewrite the record (its staff link set to nothing): each kind of record on
    its own keeps the account; an account no record names is deleted, though records of every kind
    name another."""
    from crm.extensions import appbuilder
    from tests.test_history import new_card

    client, auth = admin_client(app)
    username = make_user(BACK_OFFICE)  # never signed in: no login names it
    user_id = account(db_session, username).id
    card = new_card(client, db_session)
    if kind is not None:
        db_session(_record_naming(kind, user_id, card))
    else:
        colleague = account(db_session, make_user(BACK_OFFICE)).id
        for other in RECORD_KINDS:
            db_session(_record_naming(other, colleague, card))
    answer = client.post(f"/users/delete/{user_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    kept = db_session(lambda s: appbuilder.sm.find_user(username=username))
    if kind is None:
        assert kept is None and "zamiast usunięte" not in answer.text
    else:
        # False, not NULL: the list filtered to inactive accounts finds it
        assert kept is not None and kept.active is False and "zamiast usunięte" in answer.text


def _holders_of(session, role_id: int) -> list:
    """Accounts, groups and two-factor policies that name the role."""
    from crm.extensions import appbuilder
    from crm.security.models import RoleSecurityPolicy

    sm = appbuilder.sm
    return [*(user.username for user in session.scalars(select(sm.user_model)) if any(r.id == role_id for r in user.roles)),
            *(group.name for group in session.scalars(select(sm.group_model)) if any(r.id == role_id for r in group.roles)),
            *session.scalars(select(RoleSecurityPolicy.role_id).where(RoleSecurityPolicy.role_id == role_id))]


@pytest.mark.parametrize("form", ["/users/add", "/groups/add", "/rolesecuritypolicyview/add"])
def test_the_role_of_anonymous_requests_is_nobodys_to_hold(app, db_session, form):
    """The forms offer every role but "Public" (what a request without a login may reach), and a form
    sent with it anyway gives it to nobody."""
    from crm.security.roles import PUBLIC

    client, _ = admin_client(app)
    public_id = role_id(app, PUBLIC)
    page = client.get(form)
    offered = re.findall(r'<option value="(\d+)"', re.search(r'(?s)<select[^>]*name="roles?"[^>]*>(.*?)</select>', page.text)[1])
    assert str(role_id(app, BACK_OFFICE)) in offered and str(public_id) not in offered
    username = unique("anonim_")
    values = {"users": dict(first_name="Jan", last_name="Anonim", username=username, email=f"{username}@kartoteka.invalid",
                            password=STAFF_PASSWORD, conf_password=STAFF_PASSWORD, roles=[str(public_id)]),
              "groups": dict(name=unique("Grupa "), roles=[str(public_id)]),
              "rolesecuritypolicyview": dict(role=str(public_id), requires_totp="y")}[form.split("/")[1]]
    assert client.post(form, data=user_form(page.text, **values), follow_redirects=True).status_code == 200
    assert db_session(lambda s: _holders_of(s, public_id)) == []


def _first_administrator(session) -> tuple:
    """The account named as `crm init` names its first administrator: names, email, roles, whether
    it must choose a new password, and the hash of its password."""
    from crm.extensions import appbuilder
    from crm.security.models import AccountState
    from crm.security.service import FIRST_ADMIN_USERNAME

    user = appbuilder.sm.find_user(username=FIRST_ADMIN_USERNAME)
    state = session.get(AccountState, user.id)
    return (user.first_name, user.last_name, user.email, sorted(role.name for role in user.roles),
            state.must_change_password, user.password)


def _step_aside(session, username: str, new_name: str, keep_role: bool = False, email: str | None = None) -> None:
    """The account ``username`` renamed to ``new_name``, its address ``email`` (by default one of its
    new name), without the administrator role (unless kept)."""
    from crm.extensions import appbuilder

    user = appbuilder.sm.find_user(username=username)
    user.username = new_name
    user.email = email or f"{new_name}@kartoteka.invalid"
    if not keep_role:
        user.roles = [role for role in user.roles if role.name != ADMINISTRATOR]
    session.commit()


def test_init_makes_the_first_administrator_only_while_no_account_holds_the_role(app, db_session, monkeypatch):
    """`crm init` in the app's own process (tests/test_cli.py runs it as a process): the shared base's
    administrators step aside for it, and get their names and role back afterwards."""
    from werkzeug.security import check_password_hash

    from crm.extensions import appbuilder
    from tests.conftest import run_command

    def holders(session):
        return {user.id: (user.username, user.email) for user in session.scalars(select(appbuilder.sm.user_model))
                if any(role.name == ADMINISTRATOR for role in user.roles)}

    originals = db_session(holders)
    assert "admin" in [name for name, _ in originals.values()]
    made = []
    try:
        for name, _ in originals.values():
            db_session(lambda s, n=name: _step_aside(s, n, unique("admin_przed_")))
        monkeypatch.delenv("CRM_ADMIN_PASSWORD", raising=False)

        generated = run_command(app, ["crm", "init"])
        assert generated.exit_code == 0, generated.output
        shown = re.search(r"Utworzono administratora 'admin' z hasłem: (\S+)", generated.output)
        assert shown and len(shown.group(1)) >= 20, generated.output
        first, last, email, held, must_change, hashed = db_session(_first_administrator)
        assert (first, last, email, held, must_change) == (
            "Administrator", "Kartoteka", app.config["CRM_ADMIN_EMAIL"], [ADMINISTRATOR], True), \
            "an administrator who replaces the password shown on the screen"
        assert check_password_hash(hashed, shown.group(1))

        # run again with a password: the role is held, nobody is added and the password stays
        monkeypatch.setenv("CRM_ADMIN_PASSWORD", NEW_PASSWORD)
        again = run_command(app, ["crm", "init"])
        assert again.exit_code == 0 and "już istnieje; jego hasło nie zostało zmienione" in again.output, again.output
        assert db_session(_first_administrator)[5] == hashed

        # the administrator renamed itself: init finds it by its role, not by its name
        made.append(unique("szef_"))
        db_session(lambda s: _step_aside(s, "admin", made[-1], keep_role=True))
        renamed = run_command(app, ["crm", "init"])
        assert renamed.exit_code == 0 and f"Administrator '{made[-1]}' jest gotowy." in renamed.output, renamed.output

        # nobody holds the role and the name is taken by an account without it: refused, nobody added
        db_session(lambda s: _step_aside(s, made[-1], "admin", email=f"{made[-1]}@kartoteka.invalid"))
        accounts = db_session(lambda s: s.scalar(select(func.count()).select_from(appbuilder.sm.user_model)))
        taken = run_command(app, ["crm", "init"])
        assert taken.exit_code == 1 and "a konto bez tej roli ma nazwę użytkownika 'admin'" in taken.output, taken.output
        assert db_session(lambda s: s.scalar(select(func.count()).select_from(appbuilder.sm.user_model))) == accounts

        # the name freed, but the account without the role kept the administrators' address: refused too
        made.append(unique("bez_roli_"))
        db_session(lambda s: _step_aside(s, "admin", made[-1], email=app.config["CRM_ADMIN_EMAIL"]))
        address = run_command(app, ["crm", "init"])
        assert address.exit_code == 1 and "Traceback" not in address.output, address.output
        assert f"lub adres {app.config['CRM_ADMIN_EMAIL']}" in address.output, address.output
        assert db_session(lambda s: s.scalar(select(func.count()).select_from(appbuilder.sm.user_model))) == accounts

        # the name and the address freed, a password given: the administrator keeps it
        db_session(lambda s: _step_aside(s, made[-1], made[-1]))
        chosen = run_command(app, ["crm", "init"])
        assert chosen.exit_code == 0 and "Administrator 'admin' jest gotowy." in chosen.output, chosen.output
        assert "z hasłem" not in chosen.output and NEW_PASSWORD not in chosen.output
        first, last, email, held, must_change, hashed = db_session(_first_administrator)
        assert (held, must_change) == ([ADMINISTRATOR], False) and check_password_hash(hashed, NEW_PASSWORD)
    finally:
        def give_back(session):
            for user_id, (name, email) in originals.items():
                current = session.get(appbuilder.sm.user_model, user_id)
                if (current.username, current.email) != (name, email):
                    for newcomer in {appbuilder.sm.find_user(username=name), appbuilder.sm.find_user(email=email)}:
                        if newcomer is not None and newcomer.id != user_id:
                            newcomer.username = newcomer.email = unique("admin_z_testu_")
                            newcomer.roles = []
                            newcomer.active = False
                    session.flush()
                    current.username, current.email = name, email
                if all(role.name != ADMINISTRATOR for role in current.roles):
                    current.roles = [*current.roles, appbuilder.sm.find_role(ADMINISTRATOR)]
            session.commit()

        db_session(give_back)
