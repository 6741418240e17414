"""The role x permission matrix: its catalogue, its form, its record and its safeguards."""

from __future__ import annotations

import re

import pytest
from werkzeug.datastructures import MultiDict

from crm.security import capabilities
from crm.security.capabilities import BY_KEY, CAPABILITIES, OWN_ACCOUNT, held, missing_requirements, pairs_for
from crm.security.roles import ADMINISTRATOR, AUDITOR, BUILTIN_ROLES
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique

STAMP = re.compile(r'name="stamp" value="([0-9a-f]+)"')
ROLE = re.compile(r'name="role" value="(\d+)"')
CELL = re.compile(r'<input type="checkbox" name="cell" value="(\d+:[\w.]+)"[^>]*?(checked)?>', re.S)


# -- the catalogue, without the app ------------------------------------------

@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda c: c.key)
def test_each_capability_is_told_apart_by_its_own_pairs(capability):
    assert held(pairs_for({capability.key})) == {capability.key}


def test_requirements_name_existing_capabilities_and_are_reported():
    for capability in CAPABILITIES:
        assert set(capability.requires) <= BY_KEY.keys()
    assert missing_requirements({"clients.view", "clients.edit"}) == [("clients.edit", "personal_data.see.identity")]
    assert missing_requirements({"clients.edit", "personal_data.see.identity"}) == []
    # in the matrix's own order (the first is the one the refusal names), not the alphabet's
    assert missing_requirements({"history.restore", "notes.add"}) == [
        ("notes.add", "personal_data.see.free_text"), ("history.restore", "history.view")]
    # every category includes each one
    assert missing_requirements({"clients.edit", "personal_data.see"}) == []
    assert missing_requirements({"gdpr.erase", "personal_data.see.identity"}) == [
        ("gdpr.erase", "gdpr.requests"), ("gdpr.erase", "personal_data.see"),
    ]


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_built_in_defaults_meet_every_requirement(role):
    assert missing_requirements(BUILTIN_ROLES[role]) == []


def test_every_permission_of_the_app_is_a_cell_of_the_matrix_or_ones_own_account(app, db_session):
    from crm.extensions import appbuilder, db

    def registered(session):
        rows = session.scalars(db.select(appbuilder.sm.permissionview_model))
        return {(row.permission.name, row.view_menu.name) for row in rows}

    pairs = db_session(registered)
    assert pairs - capabilities.catalogue_pairs() == set(), "a permission no cell of the matrix can grant"
    assert capabilities.catalogue_pairs() - pairs == set(), "a cell naming a permission the app lacks"
    assert OWN_ACCOUNT <= pairs


# -- helpers ------------------------------------------------------------------

def admin_client(app):
    client = app.test_client()
    auth = Auth(client)
    auth.login()
    return client, auth


def read_form(client):
    page = client.get("/permissions/")
    assert page.status_code == 200
    cells = {value for value, checked in CELL.findall(page.text) if checked}
    return {
        "csrf_token": csrf_token(page.text),
        "stamp": STAMP.search(page.text).group(1),
        "role": ROLE.findall(page.text),
        "cell": cells,
    }


def post_form(client, form, add=(), remove=()):
    cells = (form["cell"] | set(add)) - set(remove)
    data = [("csrf_token", form["csrf_token"]), ("stamp", form["stamp"])]
    data += [("role", role) for role in form["role"]] + [("cell", cell) for cell in sorted(cells)]
    return client.post("/permissions/", data=MultiDict(data))


def role_id(app, name):
    from crm.extensions import appbuilder, db

    with app.app_context():
        found = appbuilder.sm.find_role(name).id
        db.session.remove()
    return found


def role_capabilities(app, name):
    from crm.extensions import appbuilder, db

    with app.app_context():
        role = appbuilder.sm.find_role(name)
        keys = held({(pv.permission.name, pv.view_menu.name) for pv in role.permissions})
        db.session.remove()
    return keys


def new_role(client, auth, name=None, clone_of=""):
    name = name or unique("Dział ")
    response = client.post("/permissions/add", data={"csrf_token": auth.csrf, "name": name, "clone_of": clone_of})
    assert response.status_code == 302, response.text
    return name


def changes(app, role):
    from crm.extensions import db
    from crm.security.models import PermissionChange

    with app.app_context():
        rows = [
            (row.kind, row.capability, row.before, row.after, row.changed_by.username if row.changed_by else None)
            for row in db.session.scalars(
                db.select(PermissionChange).where(PermissionChange.role_id == role_id(app, role)).order_by(PermissionChange.id)
            )
        ]
        db.session.remove()
    return rows


def signed_in(app, username):
    client = app.test_client()
    Auth(client).login(username, STAFF_PASSWORD)
    return client


# -- the screen ---------------------------------------------------------------

def test_matrix_shows_roles_as_columns_and_plain_language_rows(app):
    client, _ = admin_client(app)
    page = client.get("/permissions/", headers={"Accept-Language": "pl"})
    for label in ("Edycja klientów", "Widok danych osobowych wszystkich kategorii bez maskowania", "Widok bez maskowania: NIP i PESEL", "Klienci", "Administracja"):
        assert label in page.text
    for role in ("Administrator", "Kierownik", "Biuro obsługi", "Inspektor ochrony danych", "Audytor"):
        assert role in page.text
    assert "can_edit" not in page.text and "ClientModelView" not in page.text


def test_the_matrix_groups_rows_by_area_counts_active_accounts_and_offers_renaming_only_own_roles(app, make_user,
                                                                                                   db_session):
    from crm.extensions import appbuilder

    client, auth = admin_client(app)
    own = new_role(client, auth)
    make_user(own)
    former = make_user(own)
    db_session(lambda s: (setattr(appbuilder.sm.find_user(username=former), "active", False), s.commit()))
    page = client.get("/permissions/").text
    # each row under its own area's heading
    rows = re.split(r'<tr class="active"><th colspan="\d+">', page.split("<tbody>")[1])[1:]
    for area, section in zip(capabilities.AREAS, rows):
        shown = set(re.findall(r'<tr data-capability="([\w.]+)"', section))
        assert shown == {capability.key for capability in CAPABILITIES if capability.area == area}, area.label
    # a column counts the active accounts holding the role: the deactivated one is not one of them
    heading = page.split(f'<th class="text-center" data-role="{role_id(app, own)}">')[1].split("</th>")[0]
    assert "1 aktywne konto" in heading, heading
    # built-in roles keep their names: only the company's own role has a rename form, with its name
    renamed = re.findall(r'id="rename-(\d+)" name="name" value="([^"]*)"', page)
    assert (str(role_id(app, own)), own) in renamed
    assert not {str(role_id(app, name)) for name in BUILTIN_ROLES} & {pk for pk, _ in renamed}


def test_ticking_a_cell_grants_the_screen_and_the_menu_and_is_recorded(app, make_user):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    username = make_user(role)
    staff = signed_in(app, username)
    assert staff.get("/clientmodelview/list/").status_code == 403
    assert 'href="/clientmodelview/list/"' not in staff.get("/my-logins/").text

    form = read_form(client)
    cell = f"{role_id(app, role)}:clients.view"
    response = post_form(client, form, add=[cell])
    assert response.status_code == 302
    assert role_capabilities(app, role) == {"clients.view"}

    assert staff.get("/clientmodelview/list/").status_code == 200
    menu = staff.get("/my-logins/").text
    assert 'href="/clientmodelview/list/"' in menu
    assert 'href="/mailinglistmodelview/list/"' not in menu, "the menu shows only what the role allows"
    assert changes(app, role)[-1] == ("cell", "clients.view", "no", "yes", "admin")

    response = post_form(client, read_form(client), remove=[cell])
    assert response.status_code == 302
    assert staff.get("/clientmodelview/list/").status_code == 403
    assert changes(app, role)[-1] == ("cell", "clients.view", "yes", "no", "admin")


def test_the_record_of_changes_is_listed_for_administrators(app):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    post_form(client, read_form(client), add=[f"{role_id(app, role)}:logins.view"])
    page = client.get("/permissionchangemodelview/list/", headers={"Accept-Language": "pl"})
    assert page.status_code == 200
    assert role in page.text and "Przeglądanie historii logowań" in page.text
    assert 'href="/permissionchangemodelview/list/"' in client.get("/permissions/").text


def test_a_permission_since_retired_is_named_in_words_in_the_record(app):
    """An upgrade may retire a capability; the record keeps its key, the page shows no code."""
    from crm.extensions import db
    from crm.security.models import PermissionChange

    client, _ = admin_client(app)
    with app.app_context():
        row = PermissionChange(role_name="Audytor", kind="cell", capability="retired.view", before="no", after="yes")
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    try:
        for language, words in (("pl", "Uprawnienie już nieoferowane"), ("en", "A permission no longer offered")):
            client.get(f"/lang/{language}")
            page = client.get(f"/permissionchangemodelview/show/{row_id}")
            assert page.status_code == 200
            assert words in page.text and "retired.view" not in page.text
    finally:
        # the shared database's record must not keep it: the Polish-pages walk reads every row
        with app.app_context():
            db.session.delete(db.session.get(PermissionChange, row_id))
            db.session.commit()


def test_a_stale_form_is_refused_and_changes_nothing(app):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    first = read_form(client)
    post_form(client, read_form(client), add=[f"{role_id(app, role)}:notes.view"])
    response = post_form(client, first, add=[f"{role_id(app, role)}:contacts.view"])
    assert response.status_code == 409
    assert "Ktoś zmienił role" in response.text
    assert role_capabilities(app, role) == {"notes.view"}


@pytest.mark.parametrize(
    "forged",
    [["999999:clients.view"], ["{role}:no.such.capability"], ["{role}"], ["x:clients.view"]],
    ids=["unknown role", "unknown capability", "no capability", "not a number"],
)
def test_a_forged_cell_is_refused_and_changes_nothing(app, forged):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    form = read_form(client)
    response = post_form(client, form, add=[cell.format(role=role_id(app, role)) for cell in forged] + [f"{role_id(app, role)}:notes.view"])
    assert response.status_code == 400
    assert "nie istnieje" in response.text
    assert role_capabilities(app, role) == set()


def test_a_form_without_its_csrf_token_changes_nothing(app):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    form = read_form(client)
    form["csrf_token"] = ""
    response = post_form(client, form, add=[f"{role_id(app, role)}:clients.view"])
    assert response.status_code == 400
    assert role_capabilities(app, role) == set()


def test_editing_without_seeing_the_names_it_shows_is_refused_with_a_reason(app):
    client, auth = admin_client(app)
    role = new_role(client, auth)
    rid = role_id(app, role)
    response = post_form(client, read_form(client), add=[f"{rid}:clients.view", f"{rid}:clients.edit"])
    assert response.status_code == 400
    assert "wymaga też" in response.text and "Widok bez maskowania: nazwy i nazwiska klientów oraz ich osób" in response.text
    assert f"{role}: „Edycja klientów” wymaga" in response.text, "names the role"
    assert role_capabilities(app, role) == set()


def test_the_last_administrator_keeps_the_right_to_administer_roles(app):
    client, _ = admin_client(app)
    form = read_form(client)
    # every role that may administer roles loses it at once (other tests' roles may hold it too)
    administering = [cell for cell in form["cell"] if cell.endswith(":roles.administer")]
    response = post_form(client, form, remove=administering)
    assert response.status_code == 409
    assert "Nikt nie mógłby administrować" in response.text
    assert "roles.administer" in role_capabilities(app, ADMINISTRATOR)
    assert client.get("/permissions/").status_code == 200


def test_adding_cloning_and_renaming_roles_is_recorded(app):
    client, auth = admin_client(app)
    source = new_role(client, auth)
    assert changes(app, source) == [("role_created", None, None, source, "admin")]
    saved = post_form(client, read_form(client), add=[f"{role_id(app, source)}:clients.view", f"{role_id(app, source)}:notes.view"])
    assert "Zapisano. Zmienione uprawnienia: 2." in client.get(saved.location).text
    clone = new_role(client, auth, clone_of=str(role_id(app, source)))
    assert role_capabilities(app, clone) == {"clients.view", "notes.view"}
    assert changes(app, clone) == [("role_cloned", None, source, clone, "admin"),
                                   ("cell", "clients.view", "no", "yes", "admin"), ("cell", "notes.view", "no", "yes", "admin")]
    both = post_form(client, read_form(client), add=[f"{role_id(app, source)}:mailing_lists.view", f"{role_id(app, clone)}:mailing_lists.view"])
    assert "Zapisano. Zmienione uprawnienia: 2." in client.get(both.location).text, "cells of every role counted"
    post_form(client, read_form(client), remove=[f"{role_id(app, source)}:mailing_lists.view", f"{role_id(app, clone)}:mailing_lists.view"])
    # the same name with other spaces is no renaming; the same letters in other case are taken
    unchanged = client.post(f"/permissions/{role_id(app, clone)}/rename", data={"csrf_token": auth.csrf, "name": f" {clone}  "})
    assert unchanged.status_code == 302 and len(changes(app, clone)) == 5
    taken = client.post("/permissions/add", data={"csrf_token": auth.csrf, "name": clone.upper()})
    assert taken.status_code == 400 and "już istnieje" in taken.text
    longest = unique("Dział ").ljust(64, "x")
    assert new_role(client, auth, longest) == longest and role_id(app, longest)

    renamed = unique("Księgowość ")
    response = client.post(
        f"/permissions/{role_id(app, clone)}/rename", data={"csrf_token": auth.csrf, "name": f"  {renamed} "}
    )
    assert response.status_code == 302
    assert changes(app, renamed)[-1] == ("role_renamed", None, clone, renamed, "admin")
    assert role_capabilities(app, renamed) == {"clients.view", "notes.view"}
    # a built-in role has no rename form; a rename posted anyway is refused and says why
    builtin = role_id(app, AUDITOR)
    refused = client.post(f"/permissions/{builtin}/rename", data={"csrf_token": auth.csrf, "name": unique("Kontrola ")},
                          follow_redirects=True)
    assert "Role wbudowane zachowują nazwy; sklonuj rolę" in refused.text
    assert role_id(app, AUDITOR) == builtin


@pytest.mark.parametrize(
    "name, message",
    [("   ", "Nadaj roli nazwę"), ("x" * 65, "co najwyżej 64"), (ADMINISTRATOR, "już istnieje"),
     ("audytor", "już istnieje")],
    ids=["blank", "too long", "taken", "a built-in role's Polish name"],
)
def test_a_bad_role_name_is_refused_with_a_message(app, name, message):
    client, auth = admin_client(app)
    response = client.post("/permissions/add", data={"csrf_token": auth.csrf, "name": name})
    assert response.status_code == 400
    assert message in response.text


def test_built_in_roles_keep_their_names_and_unknown_roles_answer_404(app):
    client, auth = admin_client(app)
    response = client.post(f"/permissions/{role_id(app, AUDITOR)}/rename", data={"csrf_token": auth.csrf, "name": "Kontrola"})
    assert response.status_code == 400 and "Role wbudowane zachowują nazwy" in response.text
    response = client.post("/permissions/987654/rename", data={"csrf_token": auth.csrf, "name": "Kontrola"})
    assert response.status_code == 404 and "Nie ma takiej roli." in response.text
    response = client.post("/permissions/add", data={"csrf_token": auth.csrf, "name": unique("R"), "clone_of": "abc"})
    assert response.status_code == 404 and "Nie ma takiej roli." in response.text


def test_a_name_taken_at_the_same_moment_is_refused_with_a_message(app, monkeypatch):
    """Two administrators naming roles alike at once: the check passes for both, the database's unique
    name refuses the second, and the second hears why."""
    from crm.security import matrix

    client, auth = admin_client(app)
    first, second = new_role(client, auth), new_role(client, auth)
    monkeypatch.setattr(matrix, "_valid_name", lambda session, name: name)  # the other's name was not there yet
    renamed = client.post(f"/permissions/{role_id(app, second)}/rename", data={"csrf_token": auth.csrf, "name": first})
    added = client.post("/permissions/add", data={"csrf_token": auth.csrf, "name": first})
    for response in (renamed, added):
        assert response.status_code == 400 and "Rola o tej nazwie już istnieje." in response.text
    assert role_id(app, second) is not None


def test_init_keeps_an_administrators_decision_and_restores_undecided_defaults(app):
    client, _ = admin_client(app)
    post_form(client, read_form(client), remove=[f"{role_id(app, AUDITOR)}:api.docs"])
    take_away_logins(app)
    result = app.test_cli_runner().invoke(args=["crm", "init"])
    assert result.exit_code == 0, result.output
    held_now = role_capabilities(app, AUDITOR)
    assert "api.docs" not in held_now
    assert "logins.view" in held_now
    assert f"{AUDITOR} ({len(held_now)})" in result.output, result.output
    assert changes(app, AUDITOR)[-1] == ("cell", "logins.view", "no", "yes", None), "init's change is on the record"
    # init's own change is not an administrator's decision: a later init restores the default again
    take_away_logins(app)
    assert app.test_cli_runner().invoke(args=["crm", "init"]).exit_code == 0
    assert "logins.view" in role_capabilities(app, AUDITOR)
    # a cell an administrator ticked stays ticked too
    post_form(client, read_form(client), add=[f"{role_id(app, AUDITOR)}:api.docs"])
    assert app.test_cli_runner().invoke(args=["crm", "init"]).exit_code == 0
    assert "api.docs" in role_capabilities(app, AUDITOR)


def take_away_logins(app):
    """Change an undecided cell behind the matrix's back (the auditor's login history)."""
    from crm.extensions import appbuilder, db

    with app.app_context():
        auditor = appbuilder.sm.find_role(AUDITOR)
        auditor.permissions = [pv for pv in auditor.permissions if pv.view_menu.name != "LoginEventModelView"]
        db.session.commit()
        db.session.remove()


@pytest.fixture()
def only_admin_administers(app):
    """Deactivate, for one test, every other account that may administer roles."""
    from crm.extensions import appbuilder, db
    from crm.security.matrix import someone_administers_roles

    with app.app_context():
        others = [
            user for user in db.session.scalars(db.select(appbuilder.sm.user_model))
            if user.active and user.username != "admin"
        ]
        for user in others:
            user.active = False
        db.session.commit()
        assert someone_administers_roles(db.session)
        other_ids = [user.id for user in others]
        db.session.remove()
    yield
    with app.app_context():
        for user_id in other_ids:
            db.session.get(appbuilder.sm.user_model, user_id).active = True
        db.session.commit()
        db.session.remove()


def admin_account(app):
    from crm.extensions import appbuilder, db

    with app.app_context():
        user = appbuilder.sm.find_user(username="admin")
        found = (user.id, user.active, [role.name for role in user.roles])
        db.session.remove()
    return found


def test_the_last_administrator_account_can_be_neither_demoted_nor_deleted(app, only_admin_administers):
    """Nobody else may manage it (it holds the most), and it may not demote or delete itself."""
    client, auth = admin_client(app)
    admin_id, _, _ = admin_account(app)
    form = client.get(f"/users/edit/{admin_id}").text
    response = client.post(
        f"/users/edit/{admin_id}",
        data={
            "csrf_token": csrf_token(form), "first_name": "Administrator", "last_name": "Kartoteka", "username": "admin",
            "email": "admin@kartoteka.invalid", "active": "y", "roles": str(role_id(app, AUDITOR)),
        },
        follow_redirects=True,
    )
    assert "Nie możesz tu zmieniać własnych ról" in response.text
    assert admin_account(app) == (admin_id, True, [ADMINISTRATOR])

    response = client.post(f"/users/delete/{admin_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert "Nie możesz tu zmieniać własnych ról" in response.text
    assert admin_account(app)[0] == admin_id


def test_deleting_the_last_administrator_is_refused_even_past_a_grant_rule_that_slipped(app, only_admin_administers,
                                                                                         monkeypatch):
    """The wall behind the grant rules, on the delete form: were they to let the deletion through, it still stops."""
    from crm.security import grants

    client, auth = admin_client(app)
    admin_id, _, _ = admin_account(app)
    monkeypatch.setattr(grants, "require_manage", lambda *args, **kwargs: None)
    try:
        response = client.post(f"/users/delete/{admin_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
        assert "Nikt nie mógłby administrować rolami" in response.text
    finally:
        monkeypatch.undo()
        if not admin_account(app)[1]:  # a slip deactivated it: give the other tests their administrator back
            from crm.extensions import appbuilder, db

            with app.app_context():
                db.session.get(appbuilder.sm.user_model, admin_id).active = True
                db.session.commit()
                db.session.remove()
            pytest.fail("the last administrator was deactivated")
    assert admin_account(app) == (admin_id, True, [ADMINISTRATOR])


def test_an_account_change_leaving_nobody_to_administer_roles_is_refused_and_undone(app, only_admin_administers):
    """The second wall behind the grant rules (which already keep anyone from reaching the last
    administrator): an account change that would leave no active administrator rolls back."""
    from crm.extensions import appbuilder, db
    from crm.security.matrix import MatrixError, keep_an_administrator

    admin_id, _, _ = admin_account(app)
    with app.app_context():
        keep_an_administrator(db.session)
        with pytest.raises(MatrixError) as refused:
            keep_an_administrator(db.session, deleting_user_id=admin_id)
        assert refused.value.status == 409
        db.session.get(appbuilder.sm.user_model, admin_id).active = False
        with pytest.raises(MatrixError):
            keep_an_administrator(db.session)
        db.session.commit()  # what the caller would save next: nothing, the change is undone
        db.session.remove()
    assert admin_account(app) == (admin_id, True, [ADMINISTRATOR])


def test_an_administrator_through_a_group_is_one_too(app, only_admin_administers, make_user):
    """The wall counts the roles an account holds through its groups: the last direct administrator may go."""
    from crm.extensions import appbuilder, db
    from crm.security.matrix import MatrixError, keep_an_administrator

    admin_id, _, _ = admin_account(app)
    member = make_user(AUDITOR)
    with app.app_context():
        sm = appbuilder.sm
        group = sm.group_model(name=unique("Zarząd "), label=unique("Zarząd "), roles=[sm.find_role(ADMINISTRATOR)])
        db.session.add(group)
        sm.find_user(username=member).groups = [group]
        db.session.commit()
        try:
            keep_an_administrator(db.session, deleting_user_id=admin_id)
        finally:
            user = sm.find_user(username=member)
            user.groups, user.active = [], False
            db.session.delete(db.session.get(sm.group_model, group.id))
            db.session.commit()
        with pytest.raises(MatrixError):
            keep_an_administrator(db.session, deleting_user_id=admin_id)
        db.session.remove()


def test_a_card_shows_only_the_related_tabs_the_role_may_list(app, make_user, db_session):
    from crm.clients.models import Client, ContactPerson

    client, auth = admin_client(app)
    role = new_role(client, auth)
    post_form(client, read_form(client), add=[f"{role_id(app, role)}:clients.view", f"{role_id(app, role)}:personal_data.see"])
    contact = unique("Ukryta")

    def card(s):
        found = Client(kind="company", company_name=unique("Firma z kontaktem "))
        found.contacts.append(ContactPerson(first_name="Olga", last_name=contact))
        s.add(found)
        s.commit()
        return found.id

    card_id = db_session(card)
    staff = signed_in(app, make_user(role))
    page = staff.get(f"/clientmodelview/show/{card_id}")
    assert page.status_code == 200
    assert contact not in page.text and "ContactPersonModelView" not in page.text
    post_form(client, read_form(client), add=[f"{role_id(app, role)}:contacts.view"])
    assert contact in staff.get(f"/clientmodelview/show/{card_id}").text


def test_two_administrators_saving_the_matrix_at_once_one_is_told_it_changed(app, monkeypatch):
    """Both opened the same matrix; the second save waits for the first and is refused as stale, not
    written over it (the roles' rows are locked while a save reads them)."""
    import threading
    import time

    from crm.security import matrix

    first, first_auth = admin_client(app)
    second, _ = admin_client(app)
    role = new_role(first, first_auth)
    forms = {"first": read_form(first), "second": read_form(second)}
    assert forms["first"]["stamp"] == forms["second"]["stamp"]
    cell = f"{role_id(app, role)}:clients.view"
    other = f"{role_id(app, role)}:notes.view"
    record = matrix._record_cells

    def slowly(*args, **kwargs):
        time.sleep(0.3)  # long enough for the other save to read the matrix, were it not locked
        return record(*args, **kwargs)

    monkeypatch.setattr(matrix, "_record_cells", slowly)
    answers = {}

    def save(name, client, add):
        answers[name] = post_form(client, forms[name], add=[add]).status_code

    runs = [threading.Thread(target=save, args=("first", first, cell)),
            threading.Thread(target=save, args=("second", second, other))]
    for run in runs:
        run.start()
        time.sleep(0.05)
    for run in runs:
        run.join()
    assert sorted(answers.values()) == [302, 409], answers
    assert role_capabilities(app, role) in ({"clients.view"}, {"notes.view"}), "one save, whole; none written over"
