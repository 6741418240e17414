"""Admin-defined attributes of the client card, through the forms, the API and the pure kinds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from crm.attributes.kinds import Spec, parse, shown, to_python
from crm.security.roles import AUDITOR, BACK_OFFICE, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, company_form, csrf_token, unique
from tests.test_clients_api import new_company, token_for
from tests.test_clients_forms import add_client, edit_form_data, find_client

CHOICES = ("IT", "Handel", "Produkcja")


# -- the kinds, without the app --------------------------------------------------------

@pytest.mark.parametrize(
    "kind, raw, stored",
    [
        ("text", "  Zielona  ", "Zielona"),
        ("long_text", "wiersz\ndrugi", "wiersz\ndrugi"),
        ("integer", "1 024", "1024"),
        ("decimal", "12,50", "12.5"),
        ("date", "31.12.2026", "2026-12-31"),
        ("date", "2026-02-28", "2026-02-28"),
        ("boolean", "tak", "1"),
        ("boolean", False, "0"),
        ("choice", "Handel", "Handel"),
        ("multi_choice", ["IT", "Handel", "IT"], "IT\nHandel"),
        ("multi_choice", "IT; Produkcja", "IT\nProdukcja"),
        ("email", "biuro@firma.pl", "biuro@firma.pl"),
        ("phone", "+48 601 234 567", "+48 601 234 567"),
        ("url", "https://firma.pl/o-nas", "https://firma.pl/o-nas"),
    ],
)
def test_valid_values_are_stored_in_one_form(kind, raw, stored):
    assert parse(Spec("k", kind, choices=CHOICES), raw) == (stored, None)


@pytest.mark.parametrize(
    "kind, raw, message",
    [
        ("text", "x" * 501, "At most 500"),
        ("integer", "12a", "whole number"),
        ("integer", "3.5", "whole number"),
        ("decimal", "dwa", "Enter a number"),
        ("decimal", "NaN", "Enter a number"),
        ("date", "2026-02-30", "YYYY-MM-DD"),
        ("boolean", "może", "yes or no"),
        ("choice", "Rolnictwo", "Choose from the list"),
        ("choice", ["IT", "Handel"], "Choose from the list"),
        ("multi_choice", ["IT", "Usługi"], "Choose from the list"),
        ("email", "biuro@", "valid email"),
        ("phone", "12", "7 to 15 digits"),
        ("url", "firma.pl", "http://"),
        # JSON through the API: a value of another type is refused, never stored as its Python text
        ("text", {"a": 1}, "Enter text"),
        ("text", 42, "Enter text"),
        ("long_text", ["a", "b"], "Enter text"),
        ("email", {"a": "b@c.pl"}, "Enter text"),
        ("url", 1.5, "Enter text"),
        ("integer", {"a": 1}, "whole number"),
        ("integer", [1], "whole number"),
        ("decimal", [1.5], "Enter a number"),
        ("date", 20260101, "YYYY-MM-DD"),
        ("boolean", 1, "yes or no"),
        ("choice", {"IT": 1}, "Enter text"),
        ("multi_choice", [["IT"]], "Enter text"),
    ],
)
def test_invalid_values_get_the_kinds_message(app, kind, raw, message):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        stored, error = parse(Spec("k", kind, choices=CHOICES), raw)
    assert stored is None and message in error


def test_required_blank_values_unticked_boxes_and_shown_forms():
    assert parse(Spec("k", "text", required=True), "  ")[1] is not None
    assert parse(Spec("k", "text"), "") == (None, None)
    assert parse(Spec("k", "boolean", required=True), False) == ("0", None)
    assert to_python(Spec("k", "decimal"), "12.5") == Decimal("12.5")
    assert to_python(Spec("k", "date"), "2026-12-31") == date(2026, 12, 31)
    assert to_python(Spec("k", "multi_choice"), "IT\nHandel") == ["IT", "Handel"]
    assert shown(Spec("k", "multi_choice"), "IT\nHandel") == "IT, Handel"
    assert shown(Spec("k", "decimal"), "12.5") == "12,5"


# -- helpers ----------------------------------------------------------------------------

def signed_in(app, username=None):
    client = app.test_client()
    auth = Auth(client)
    auth.login(*((username, STAFF_PASSWORD) if username else ()))
    return client, auth


def define(app, kind="text", **options):
    """An active attribute, written directly; returns its key."""
    from crm.attributes.models import AttributeDefinition
    from crm.extensions import db

    key = options.pop("key", None) or unique(f"{kind}_").lower()
    with app.app_context():
        definition = AttributeDefinition(
            key=key, label_pl=options.pop("label_pl", f"Etykieta {key}"), label_en=f"Label {key}", kind=kind,
            choices="\n".join(CHOICES) if kind in ("choice", "multi_choice") else None, **options,
        )
        db.session.add(definition)
        db.session.commit()
        db.session.remove()
    return key


def archive(app, key, **changes):
    from crm.attributes.models import AttributeDefinition
    from crm.extensions import db

    with app.app_context():
        definition = db.session.scalars(select(AttributeDefinition).where(AttributeDefinition.key == key)).one()
        for name, value in {"active": False, **changes}.items():
            setattr(definition, name, value)
        db.session.commit()
        db.session.remove()


@pytest.fixture()
def cleanup(app):
    """Archive the attributes a test defines, so that other tests' forms do not require them."""
    keys = []
    yield keys
    for key in keys:
        archive(app, key)


def stored_values(db_session, card_id) -> dict:
    from crm.attributes.models import AttributeValue

    return db_session(lambda s: {
        row.definition.key: row.stored for row in s.scalars(select(AttributeValue).where(AttributeValue.client_id == card_id))
    })


# -- definitions --------------------------------------------------------------------------

def test_an_administrator_defines_attributes_and_bad_definitions_are_explained(app, cleanup):
    from crm.attributes.models import AttributeDefinition

    admin, _ = signed_in(app)
    key = unique("segment_").lower()
    page = admin.get("/attributedefinitionmodelview/add")
    base = {"csrf_token": csrf_token(page.text), "label_pl": "Segment", "label_en": "Segment", "kind": "choice",
            "position": "1", "active": "y"}
    response = admin.post("/attributedefinitionmodelview/add", data={**base, "key": "Zła klucz!"})
    assert response.status_code == 422 and "małe litery" in response.text
    response = admin.post("/attributedefinitionmodelview/add", data={**base, "key": key, "choices": " \n "})
    assert response.status_code == 422 and "Wypisz możliwe wartości" in response.text
    response = admin.post("/attributedefinitionmodelview/add", data={**base, "key": key, "choices": "A\nB\nA"}, follow_redirects=True)
    assert "Dodano rekord" in response.text
    cleanup.append(key)
    taken = admin.post("/attributedefinitionmodelview/add", data={**base, "key": key, "choices": "A"})
    assert taken.status_code == 422 and ("ma już ten klucz" in taken.text or "Już istnieje" in taken.text)
    with app.app_context():
        from crm.extensions import db

        assert db.session.scalars(select(AttributeDefinition.choices).where(AttributeDefinition.key == key)).one() == "A\nB"
        db.session.remove()


# -- the card's forms ------------------------------------------------------------------------

def test_every_kind_through_the_card_form(app, db_session, cleanup):
    keys = {kind: define(app, kind) for kind in (
        "text", "long_text", "integer", "decimal", "date", "boolean", "choice", "multi_choice", "email", "phone", "url",
    )}
    cleanup.extend(keys.values())
    admin, _ = signed_in(app)
    values = {
        "text": "Zielona", "long_text": "Długi\nopis", "integer": "42", "decimal": "12,50", "date": "2026-05-04",
        "boolean": "y", "choice": "Handel", "multi_choice": ["IT", "Produkcja"], "email": "kontakt@firma.pl",
        "phone": "601 234 567", "url": "https://firma.pl",
    }
    data = company_form()
    form = {f"attr_{keys[kind]}": value for kind, value in values.items()}
    response = add_client(admin, {**data, **form})
    assert "Dodano rekord" in response.text, response.text[-3000:]
    card = find_client(db_session, company_name=data["company_name"]).id
    stored = stored_values(db_session, card)
    assert stored[keys["decimal"]] == "12.5" and stored[keys["boolean"]] == "1"
    assert stored[keys["multi_choice"]] == "IT\nProdukcja" and stored[keys["date"]] == "2026-05-04"

    show = admin.get(f"/clientmodelview/show/{card}").text
    assert "12,5" in show and "IT, Produkcja" in show and "Etykieta " + keys["url"] in show
    edit = admin.get(f"/clientmodelview/edit/{card}").text
    assert 'value="42"' in edit and "Długi\nopis" in edit and 'value="2026-05-04"' in edit


def test_invalid_and_missing_values_are_explained_on_the_form_and_nothing_is_saved(app, db_session, cleanup):
    number = define(app, "integer", required=True)
    address = define(app, "url")
    cleanup.extend([number, address])
    admin, _ = signed_in(app)
    data = company_form()
    response = add_client(admin, {**data, f"attr_{address}": "firma.pl"})
    assert response.status_code == 422
    assert "Ta wartość jest wymagana" in response.text and "http://" in response.text
    assert find_client(db_session, company_name=data["company_name"]) is None


def test_an_attribute_change_is_in_the_cards_history(app, db_session, cleanup):
    key = define(app, "choice", label_pl="Branża")
    cleanup.append(key)
    admin, _ = signed_in(app)
    data = company_form()
    add_client(admin, {**data, f"attr_{key}": "IT"})
    card = find_client(db_session, company_name=data["company_name"]).id
    page = admin.get(f"/clientmodelview/edit/{card}")
    response = admin.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(page.text), f"attr_{key}": "Handel",
                                                                   "csrf_token": csrf_token(page.text)}, follow_redirects=True)
    assert "Zapisano zmiany" in response.text
    newest = admin.get(f"/history/client/{card}/").text.split('class="history-change"')[1]
    assert "Atrybut" in newest and "<del>IT</del>" in newest and "<ins>Handel</ins>" in newest


def test_personal_attributes_are_encrypted_masked_and_found_by_value(app, db_session, make_user, cleanup):
    key = define(app, "email", personal=True, filterable=True, in_list=True, label_pl="E-mail prywatny")
    plain = define(app, "choice", filterable=True, in_list=True)
    cleanup.extend([key, plain])
    admin, _ = signed_in(app)
    data = company_form()
    private = f"{unique('prywatny')}@poczta.pl"
    add_client(admin, {**data, f"attr_{key}": private, f"attr_{plain}": "Produkcja"})
    card = find_client(db_session, company_name=data["company_name"]).id
    raw = db_session(lambda s: s.execute(text("SELECT value, secret FROM attribute_value WHERE client_id = :id"), {"id": card}).all())
    data_key_id = find_client(db_session, company_name=data["company_name"]).data_key_id
    assert all(private not in str(row) for row in raw) and any(str(row[1]).startswith(f"v2:{data_key_id}:") for row in raw)

    auditor, _ = signed_in(app, make_user(AUDITOR))
    for path in (f"/clientmodelview/show/{card}", "/clientmodelview/list/"):
        page = auditor.get(path).text
        assert private not in page and "E-mail prywatny" in page
    for search in (f"{key}={private.upper()}", f"{plain}=Produkcja"):
        token_page = admin.get("/clientmodelview/list/")
        found = admin.post("/clientmodelview/search", data={"csrf_token": csrf_token(token_page.text),
                                                            "_flt_0_attribute_values": search}, follow_redirects=True)
        assert data["company_name"] in found.text, search
    token_page = admin.get("/clientmodelview/list/")
    missed = admin.post("/clientmodelview/search", data={"csrf_token": csrf_token(token_page.text),
                                                         "_flt_0_attribute_values": f"{key}=inny@poczta.pl"}, follow_redirects=True)
    assert data["company_name"] not in missed.text


def test_archived_attributes_and_changed_choices_keep_their_values(app, db_session, cleanup):
    kept = define(app, "text", label_pl="Stary numer")
    choice = define(app, "choice")
    cleanup.extend([kept, choice])
    admin, _ = signed_in(app)
    data = company_form()
    add_client(admin, {**data, f"attr_{kept}": "ABC-1", f"attr_{choice}": "IT"})
    card = find_client(db_session, company_name=data["company_name"]).id
    archive(app, kept)
    archive(app, choice, active=True, choices="Handel\nProdukcja")
    assert f"attr_{kept}" not in admin.get("/clientmodelview/add").text
    show = admin.get(f"/clientmodelview/show/{card}").text
    assert 'id="archived-attributes"' in show and "ABC-1" in show
    edit = admin.get(f"/clientmodelview/edit/{card}")
    response = admin.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(edit.text), "city": "Kutno",
                                                                   "csrf_token": csrf_token(edit.text)}, follow_redirects=True)
    assert "Zapisano zmiany" in response.text
    assert stored_values(db_session, card) == {kept: "ABC-1", choice: "IT"}


def test_deleting_an_attribute_with_values_asks_first_and_history_records_it(app, db_session, cleanup):
    key = define(app, "text")
    admin, auth = signed_in(app)
    data = company_form()
    add_client(admin, {**data, f"attr_{key}": "do usunięcia"})
    card = find_client(db_session, company_name=data["company_name"]).id
    definition_id = db_session(lambda s: s.execute(text("SELECT id FROM attribute_definition WHERE key = :k"), {"k": key}).scalar())
    asked = admin.post(f"/attributedefinitionmodelview/delete/{definition_id}", data={"csrf_token": auth.csrf})
    assert asked.status_code == 409 and "Kart z wartością tego atrybutu: 1" in asked.text
    assert stored_values(db_session, card) == {key: "do usunięcia"}
    admin.post(f"/attributedefinitionmodelview/delete/{definition_id}", data={"csrf_token": auth.csrf, "confirm_values": "1"})
    assert stored_values(db_session, card) == {}
    newest = admin.get(f"/history/client/{card}/").text.split('class="history-change"')[1]
    assert "usunięto" in newest and "<del>do usunięcia</del>" in newest


def test_making_an_attribute_personal_moves_its_values_into_encryption(app, db_session, cleanup):
    key = define(app, "text")
    cleanup.append(key)
    admin, _ = signed_in(app)
    data = company_form()
    add_client(admin, {**data, f"attr_{key}": "Jawna wartość"})
    card = find_client(db_session, company_name=data["company_name"]).id
    definition_id = db_session(lambda s: s.execute(text("SELECT id FROM attribute_definition WHERE key = :k"), {"k": key}).scalar())
    page = admin.get(f"/attributedefinitionmodelview/edit/{definition_id}")
    response = admin.post(f"/attributedefinitionmodelview/edit/{definition_id}",
                          data={**edit_form_data(page.text), "personal": "y", "csrf_token": csrf_token(page.text)}, follow_redirects=True)
    assert "Zapisano zmiany" in response.text
    row = db_session(lambda s: s.execute(text("SELECT value, secret FROM attribute_value WHERE client_id = :id"), {"id": card}).one())
    data_key_id = find_client(db_session, company_name=data["company_name"]).data_key_id
    assert row[0] is None and row[1].startswith(f"v2:{data_key_id}:"), "under the card's own data key"
    assert stored_values(db_session, card) == {key: "Jawna wartość"}


def test_hidden_built_in_fields_leave_the_card(app, db_session):
    admin, auth = signed_in(app)
    page = admin.get("/card-fields/")
    admin.post("/card-fields/", data={"csrf_token": csrf_token(page.text), "hidden": ["pesel", "phone"]})
    try:
        add_form = admin.get("/clientmodelview/add").text
        assert 'name="pesel"' not in add_form and 'name="phone"' not in add_form and 'name="email"' in add_form
        data = {key: value for key, value in company_form().items() if key not in ("pesel", "phone")}
        assert "Dodano rekord" in add_client(admin, data).text
        card = find_client(db_session, company_name=data["company_name"]).id
        assert "Telefon" not in admin.get(f"/clientmodelview/show/{card}").text.split('id="card-record"')[-1].split("nav-tabs")[1]
    finally:
        admin.post("/card-fields/", data={"csrf_token": csrf_token(admin.get("/card-fields/").text)})
    assert 'name="phone"' in admin.get("/clientmodelview/add").text


# -- the REST API ------------------------------------------------------------------------------

def test_the_api_takes_returns_and_validates_attributes(app, make_user, cleanup):
    count = define(app, "integer", required=True)
    sector = define(app, "choice")
    secret = define(app, "text", personal=True)
    cleanup.extend([count, sector, secret])
    client = app.test_client()
    headers = token_for(client, make_user(BACK_OFFICE))
    bad = client.post("/api/v1/client/", json={**new_company(), "attributes": {count: "dużo", sector: "Rolnictwo", "nope": 1}}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.json["message"]["attributes"]) == {count, sector, "nope"}
    missing = client.post("/api/v1/client/", json={**new_company(), "attributes": {}}, headers=headers)
    assert missing.status_code == 422 and count in missing.json["message"]["attributes"]
    created = client.post("/api/v1/client/", json={**new_company(), "attributes": {count: 7, sector: "IT", secret: "tajne"}}, headers=headers)
    assert created.status_code == 201, created.json
    card = created.json["id"]
    assert created.json["result"]["attributes"] == {count: 7, sector: "IT", secret: "tajne"}
    record = client.get(f"/api/v1/client/{card}", headers=headers).json["result"]
    put = client.put(f"/api/v1/client/{card}", json={"lock_version": record["lock_version"], "attributes": {sector: "Handel"}}, headers=headers)
    assert put.status_code == 200 and put.json["result"]["attributes"] == {count: 7, sector: "Handel", secret: "tajne"}
    auditor = token_for(client, make_user(AUDITOR))
    assert client.get(f"/api/v1/client/{card}", headers=auditor).json["result"]["attributes"][secret] == "***"
    listed = client.get("/api/v1/client/?q=(order_column:id,order_direction:desc)", headers=headers).json["result"]
    assert any(row["attributes"].get(sector) == "Handel" for row in listed)


def test_the_openapi_document_describes_the_active_attributes_at_once(app, make_user, cleanup):
    client = app.test_client()
    headers = token_for(client, make_user(MANAGER))
    key = unique("poziom_").lower()
    assert key not in client.get("/api/v1/_openapi", headers=headers).text
    define(app, "choice", key=key)
    cleanup.append(key)
    schemas = client.get("/api/v1/_openapi", headers=headers).json["components"]["schemas"]
    attributes = schemas["ClientApi.post"]["properties"]["attributes"]["properties"]
    assert attributes[key]["enum"] == list(CHOICES)
