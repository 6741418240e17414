"""Least privilege per category of personal data: what a role sees, searches, writes and exports.

A salesperson role (made in the matrix, as an administrator would) sees names,
addresses and free text, not contact details or identifiers. Masking, the
forms, the search form, the API filters, the list export and the login history
all follow the same per-category answer; a masked category cannot be searched
("is it this one?" would tell the value).
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from crm.privacy.masking import mask_email
from crm.security.roles import ADMINISTRATOR, AUDITOR, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique
from tests.test_clients_api import token_for
from tests.test_clients_forms import edit_form_data
from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_id

SALES_CAPABILITIES = (
    "clients.view", "clients.add", "clients.edit", "clients.export", "notes.view", "notes.add", "contacts.view",
    "personal_data.see.identity", "personal_data.see.address", "personal_data.see.free_text",
)
PESEL = "44051401359"


@pytest.fixture(scope="module")
def salesperson_role(app):
    client, auth = admin_client(app)
    role = new_role(client, auth, name=unique("Handlowiec "))
    rid = role_id(app, role)
    response = post_form(client, read_form(client), add=[f"{rid}:{key}" for key in SALES_CAPABILITIES])
    assert response.status_code == 302, response.text[-2000:]
    return role


@pytest.fixture(scope="module")
def card(app):
    from crm.clients.models import Client, ContactPerson

    values = {
        "first_name": "Wiesław", "last_name": unique("Kategoria"), "email": f"{unique('wieslaw')}@poczta.pl",
        "phone": "+48 698 111 432", "street": "ul. Lipowa 3", "postal_code": "31-401", "city": "Tarnów",
        "pesel": PESEL, "remarks": "Woli kontakt listowny",
    }
    from crm.extensions import db

    with app.app_context():
        client = Client(kind="person", status="active", **values)
        client.contacts.append(ContactPerson(first_name="Halina", last_name=unique("Kontakt"), email="halina@firma.pl"))
        db.session.add(client)
        db.session.commit()
        ids = {"client": client.id, "contact": client.contacts[0].id}
        db.session.remove()
    return ids, values


def signed_in(app, username):
    client = app.test_client()
    auth = Auth(client)
    auth.login(username, STAFF_PASSWORD)
    return client, auth


def test_a_role_sees_in_clear_exactly_the_categories_it_holds(app, make_user, salesperson_role, card):
    ids, values = card
    client, _ = signed_in(app, make_user(salesperson_role))
    show = client.get(f"/clientmodelview/show/{ids['client']}").text
    for clear in (values["last_name"], values["city"], values["street"], values["remarks"]):
        assert clear in show
    for masked in (values["email"], PESEL, "698 111 432"):
        assert masked not in show
    assert mask_email(values["email"]) in show and "*********59" in show
    listed = client.get("/clientmodelview/list/").text
    assert values["last_name"] in listed and values["email"] not in listed
    api = app.test_client()
    record = api.get(f"/api/v1/client/{ids['client']}", headers=token_for(api, make_user(salesperson_role))).json["result"]
    assert record["last_name"] == values["last_name"] and record["city"] == values["city"]
    assert record["pesel"] == "*********59" and record["email"] == mask_email(values["email"])


def test_its_own_new_note_reads_in_clear(app, make_user, salesperson_role, card):
    ids, _ = card
    client, _ = signed_in(app, make_user(salesperson_role))
    url = f"/notemodelview/add?_flt_0_client={ids['client']}"
    page = client.get(url)
    text = unique("Klient prosi o ofertę ")
    response = client.post(url, data={"csrf_token": csrf_token(page.text), "kind": "call", "occurred_on": "2026-05-04", "text": text},
                           follow_redirects=True)
    assert "Dodano rekord" in response.text
    assert text in client.get(f"/clientmodelview/show/{ids['client']}").text


def test_the_forms_leave_out_what_the_role_sees_masked_and_a_save_keeps_it(app, make_user, salesperson_role, card, db_session):
    from crm.clients.models import Client

    ids, values = card
    client, _ = signed_in(app, make_user(salesperson_role))
    page = client.get(f"/clientmodelview/edit/{ids['client']}")
    assert page.status_code == 200
    assert PESEL not in page.text and values["email"] not in page.text and "698 111 432" not in page.text
    for field in ("pesel", "nip", "email", "phone"):
        assert f'name="{field}"' not in page.text, field
    assert 'name="city"' in page.text and values["city"] in page.text
    data = {**edit_form_data(page.text), "city": "Bochnia", "csrf_token": csrf_token(page.text)}
    data.update({"pesel": "", "email": "podmiana@zlo.pl"})  # forged: the form has no such fields
    response = client.post(f"/clientmodelview/edit/{ids['client']}", data=data)
    assert response.status_code == 302, response.text[-3000:]
    saved = db_session(lambda s: s.get(Client, ids["client"]))
    assert (saved.city, saved.pesel, saved.email) == ("Bochnia", PESEL, values["email"])

    add = client.get("/clientmodelview/add")
    assert 'name="pesel"' not in add.text and 'name="company_name"' in add.text


def test_the_search_offers_and_accepts_only_categories_the_role_sees(app, make_user, salesperson_role, card):
    ids, values = card
    client, _ = signed_in(app, make_user(salesperson_role))
    listed = client.get("/clientmodelview/list/")
    offered = listed.text.split('id="filter_form"')[1].split("</ul>")[0]
    assert 'name="last_name"' in offered and 'name="city"' in offered
    for hidden in ("pesel", "email", "phone", "nip"):
        assert f'name="{hidden}"' not in offered, hidden
    token = csrf_token(listed.text)
    refused = client.post("/clientmodelview/search", data={"csrf_token": token, "_flt_0_pesel": PESEL})
    assert refused.status_code == 403 and "nie może też według niego wyszukiwać" in refused.text
    assert client.get(f"/clientmodelview/list/?_flt_0_email={values['email']}").status_code == 403
    assert client.get(f"/contactpersonmodelview/list/?_flt_0_email=halina@firma.pl").status_code == 403
    found = client.post("/clientmodelview/search", data={"csrf_token": token, "_flt_0_last_name": values["last_name"]})
    assert found.status_code == 302
    assert f"/clientmodelview/show/{ids['client']}" in client.get(found.headers["Location"]).text


@pytest.mark.parametrize(
    ("column", "operator", "value"),
    [
        ("email", "equals", "x@y.pl"), ("phone", "equals", "601234567"), ("pesel", "equals", PESEL),
        ("city", "equals", "Tarnów"), ("last_name", "has_word", "Kowalski"), ("company_name", "has_word", "Tęcza"),
    ],
)
def test_a_masked_role_cannot_ask_the_api_whether_a_value_exists(app, make_user, column, operator, value):
    client = app.test_client()
    headers = token_for(client, make_user(AUDITOR))
    response = client.get(f"/api/v1/client/?q=(filters:!((col:{column},opr:{operator},value:'{value}')))", headers=headers)
    assert response.status_code == 403
    assert "nie może też według niego wyszukiwać" in response.json["message"]
    info = client.get("/api/v1/client/_info?q=(keys:!(filters))", headers=headers).json
    assert column not in info["filters"] and "status" in info["filters"]


def test_a_dictionary_of_names_recovers_nothing_through_the_api(app, make_user, card):
    _, values = card
    client = app.test_client()
    headers = token_for(client, make_user(AUDITOR))
    names = ["Kowalski", "Nowak", "Wiśniewski", values["last_name"], "Wójcik", "Kamiński"]
    answers = {
        client.get(f"/api/v1/client/?q=(filters:!((col:last_name,opr:has_word,value:'{name}')))", headers=headers).status_code
        for name in names
    }
    assert answers == {403}, "the right name is refused like every other"


def test_the_salesperson_may_search_the_api_by_name_and_city(app, make_user, salesperson_role, card):
    ids, values = card
    client = app.test_client()
    headers = token_for(client, make_user(salesperson_role))
    found = client.get(f"/api/v1/client/?q=(filters:!((col:last_name,opr:has_word,value:'{values['last_name']}')))", headers=headers)
    assert found.status_code == 200 and [row["id"] for row in found.json["result"]] == [ids["client"]]
    assert client.get(f"/api/v1/client/?q=(filters:!((col:pesel,opr:equals,value:'{PESEL}')))", headers=headers).status_code == 403


def test_the_list_export_holds_only_the_columns_the_role_sees(app, make_user, salesperson_role, card):
    _, values = card
    client, _ = signed_in(app, make_user(salesperson_role))
    text = client.get("/clientmodelview/export/csv").data.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text), delimiter=";"))
    assert "Nazwisko" in header and "Miejscowość" in header
    assert "PESEL" not in header and "E-mail" not in header and "Telefon" not in header
    assert values["last_name"] in text and PESEL not in text and values["email"] not in text


def test_info_gives_the_owner_choices_only_to_roles_that_may_set_the_owner(app, make_user):
    from crm.extensions import appbuilder, db

    client = app.test_client()
    with app.app_context():
        staff = [user.username for user in db.session.scalars(db.select(appbuilder.sm.user_model))]
        db.session.remove()
    auditor = client.get("/api/v1/client/_info", headers=token_for(client, make_user(AUDITOR))).json
    assert auditor["add_columns"] == [] and auditor["edit_columns"] == []
    assert not any(name in str(auditor) for name in staff)
    manager = client.get("/api/v1/client/_info", headers=token_for(client, make_user(MANAGER))).json
    owner = next(field for field in manager["add_columns"] if field["name"] == "owner")
    assert owner["values"], "a role that may add clients chooses their owner"


def test_a_role_may_not_write_through_the_api_what_it_sees_masked(app, make_user, salesperson_role, card):
    from tests.test_clients_api import new_company

    ids, _ = card
    client = app.test_client()
    headers = token_for(client, make_user(salesperson_role))
    response = client.post("/api/v1/client/", json=new_company(email="nowy@firma.pl"), headers=headers)
    assert response.status_code == 403
    assert "nie może ich też zapisywać" in response.json["message"]
    record = client.get(f"/api/v1/client/{ids['client']}", headers=headers).json["result"]
    response = client.put(f"/api/v1/client/{ids['client']}", json={"lock_version": record["lock_version"], "pesel": ""}, headers=headers)
    assert response.status_code == 403
    body = {key: value for key, value in new_company().items() if key not in ("email", "nip")}
    assert client.post("/api/v1/client/", json=body, headers=headers).status_code == 201


def test_the_login_history_is_masked_for_a_role_that_may_not_see_staff_accounts(app, make_user, db_session):
    from crm.security.models import LoginEvent

    typed = unique("pomylka_")
    anonymous = app.test_client()
    Auth(anonymous).login(typed, "zle-haslo")
    event_id = db_session(lambda s: s.scalar(select(func.max(LoginEvent.id)).where(LoginEvent.result == "unknown_user")))
    auditor, _ = signed_in(app, make_user(AUDITOR))
    for path in ("/logineventmodelview/list/", f"/logineventmodelview/show/{event_id}"):
        page = auditor.get(path)
        assert page.status_code == 200
        assert typed not in page.text and "127.0.0.1" not in page.text, path
        assert "Werkzeug" not in page.text, "the browser is an online identifier too"
    offered = auditor.get("/logineventmodelview/list/").text.split('id="filter_form"')[1].split("</ul>")[0]
    assert 'name="username_tried"' not in offered
    admin, _ = signed_in(app, make_user(ADMINISTRATOR))
    assert typed in admin.get("/logineventmodelview/list/").text
    assert "127.0.0.1" in admin.get(f"/logineventmodelview/show/{event_id}").text


def test_a_history_diff_shows_masked_free_text_only_to_who_may_see_it(app, make_user, salesperson_role, card, db_session):
    ids, _ = card
    admin, _ = signed_in(app, make_user(ADMINISTRATOR))
    page = admin.get(f"/clientmodelview/edit/{ids['client']}")
    remarks = "Pierwsze zdanie uwagi jest długie i opisuje sprawę klienta w szczegółach " + unique("nowe ")
    admin.post(f"/clientmodelview/edit/{ids['client']}",
               data={**edit_form_data(page.text), "remarks": remarks, "csrf_token": csrf_token(page.text)})
    auditor, _ = signed_in(app, make_user(AUDITOR))
    timeline = auditor.get(f"/history/client/{ids['client']}/").text
    assert remarks not in timeline and "Pierwsze zdanie" not in timeline
    salesperson = signed_in(app, make_user(salesperson_role))[0]
    assert salesperson.get(f"/history/client/{ids['client']}/").status_code == 403, "history is a capability of its own"
