"""The client card through the real web forms, with their CSRF tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class, versioning_manager

from crm.clients.models import Client
from tests.conftest import company_form, csrf_token, named_like, person_form, unique, unique_pesel

configure_mappers()  # Continuum builds the version classes here
ClientVersion = version_class(Client)
REMOTE = {"REMOTE_ADDR": "203.0.113.17"}


def add_client(client, data, environ=None):
    page = client.get("/clientmodelview/add")
    assert page.status_code == 200
    return client.post(
        "/clientmodelview/add",
        data={**data, "csrf_token": csrf_token(page.text)},
        environ_base=environ or REMOTE,
        follow_redirects=True,
    )


NAME_FIELDS = ("company_name", "first_name", "last_name")


def find_client(db_session, **by):
    """The one client whose (decrypted) attributes equal ``by``, or None.

    Personal columns are encrypted, so the match is made on decrypted values.
    """

    def query(s):
        if "id" in by:
            found = s.get(Client, by["id"])
            return found if found and all(getattr(found, k) == v for k, v in by.items()) else None
        names = " ".join(by[name] for name in NAME_FIELDS if by.get(name))
        candidates = s.scalars(named_like(Client, names) if names else select(Client))
        matches = [c for c in candidates if all(getattr(c, k) == v for k, v in by.items())]
        assert len(matches) <= 1
        return matches[0] if matches else None

    return db_session(query)


def edit_form_data(html: str) -> dict:
    """The values an edit page's form would submit, as a browser would."""
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([a-z0-9_]+)"[^>]*value="([^"]*)"', html):
        data[name] = value
    for name, value in re.findall(r'<input[^>]*value="([^"]*)"[^>]*name="([a-z0-9_]+)"', html):
        data.setdefault(value, name)
    for name, body in re.findall(r'<select[^>]*name="([a-z0-9_]+)"[^>]*>(.*?)</select>', html, re.S):
        selected = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', body)
        data[name] = next(g for g in selected.groups() if g is not None) if selected else ""
    for name, body in re.findall(r'<textarea[^>]*name="([a-z0-9_]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = body.strip()
    return data


def versions_of(db_session, client_id):
    def query(s):
        rows = s.execute(
            select(ClientVersion, versioning_manager.transaction_cls)
            .join(
                versioning_manager.transaction_cls,
                ClientVersion.transaction_id == versioning_manager.transaction_cls.id,
            )
            .where(ClientVersion.id == client_id)
            .order_by(ClientVersion.transaction_id)
        ).all()
        return [
            (v.operation_type, v.company_name, v.city, t.user_id, t.remote_addr) for v, t in rows
        ]

    return db_session(query)


def admin_id(db_session):
    from crm.extensions import appbuilder

    return db_session(lambda s: appbuilder.sm.find_user(username="admin").id)


def test_login_form_with_csrf_token_signs_in(client, auth):
    response = auth.login()
    assert response.status_code == 200
    assert response.request.path == "/"


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login/", data={"username": "admin", "password": "x"})
    assert response.status_code == 400
    assert "Formularz wygasł albo nie pochodzi z Kartoteki" in response.text


def test_added_client_is_saved_and_versioned_with_user_and_address(client, auth, db_session):
    auth.login()
    data = company_form()
    response = add_client(client, data)
    assert response.status_code == 200
    saved = find_client(db_session, company_name=data["company_name"])
    assert saved is not None and saved.nip == data["nip"] and saved.city == "Łódź"
    assert saved.owner_id == admin_id(db_session), "a new card belongs to its author"
    assert versions_of(db_session, saved.id) == [
        (0, data["company_name"], "Łódź", admin_id(db_session), "203.0.113.17")
    ]


def test_edit_and_delete_each_add_a_version(client, auth, db_session):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])

    page = client.get(f"/clientmodelview/edit/{saved.id}")
    form = edit_form_data(page.text)
    assert form["lock_version"] == "1"
    # the counter travels hidden, with no row or label of its own on the page
    assert 'type="hidden"' in re.search(r'<input[^>]*name="lock_version"[^>]*>', page.text)[0]
    assert 'for="lock_version"' not in page.text
    form.update(city="Gdańsk", postal_code="80-001")
    response = client.post(
        f"/clientmodelview/edit/{saved.id}", data=form, environ_base={"REMOTE_ADDR": "198.51.100.4"}
    )
    assert response.status_code == 302
    assert find_client(db_session, id=saved.id).city == "Gdańsk"

    show = client.get(f"/clientmodelview/show/{saved.id}")
    response = client.post(
        f"/clientmodelview/delete/{saved.id}",
        data={"csrf_token": csrf_token(show.text)},
        environ_base={"REMOTE_ADDR": "198.51.100.5"},
    )
    assert response.status_code == 302
    assert find_client(db_session, id=saved.id) is None
    user = admin_id(db_session)
    assert versions_of(db_session, saved.id) == [
        (0, data["company_name"], "Łódź", user, "203.0.113.17"),
        (1, data["company_name"], "Gdańsk", user, "198.51.100.4"),
        (2, data["company_name"], "Gdańsk", user, "198.51.100.5"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "polish", "english"),
    [
        ("nip", "5260250275", "To nie jest poprawny NIP", "This is not a valid NIP"),
        ("email", "biuro@@firma", "Podaj poprawny adres e-mail", "Enter a valid email address"),
        ("postal_code", "90001", "Polski kod pocztowy ma postać NN-NNN", "A Polish postal code reads NN-NNN"),
    ],
)
def test_invalid_company_values_are_explained_in_chosen_language_and_not_saved(
    client, auth, db_session, field, value, polish, english
):
    auth.login()
    data = company_form(**{field: value})
    response = add_client(client, data)
    assert response.status_code == 422
    assert polish in response.text
    assert find_client(db_session, company_name=data["company_name"]) is None

    client.get("/lang/en")
    response = add_client(client, data)
    assert english in response.text
    assert find_client(db_session, company_name=data["company_name"]) is None
    client.get("/lang/pl")


def test_invalid_pesel_is_explained_and_not_saved(client, auth, db_session):
    auth.login()
    data = person_form(pesel="44051401358")
    response = add_client(client, data)
    assert "To nie jest poprawny PESEL" in response.text
    assert find_client(db_session, last_name=data["last_name"]) is None


def test_person_with_valid_pesel_is_saved(client, auth, db_session):
    auth.login()
    pesel = unique_pesel()
    data = person_form(pesel=f"{pesel[:6]} {pesel[6:]}")
    add_client(client, data)
    saved = find_client(db_session, last_name=data["last_name"])
    assert saved.pesel == pesel and saved.first_name == "Żaneta"


def test_huge_field_is_refused_with_a_message(client, auth, db_session):
    auth.login()
    data = company_form(company_name="Ż" * 10_000)
    response = add_client(client, data)
    assert response.status_code == 422
    assert response.text.count("nie może mieć więcej niż 200 znaków") == 1
    assert find_client(db_session, company_name="Ż" * 10_000) is None


def test_unknown_client_id_answers_404(client, auth):
    auth.login()
    for url in ("/clientmodelview/show/999999", "/clientmodelview/edit/999999"):
        assert client.get(url).status_code == 404
    show = client.get("/clientmodelview/list/")
    response = client.post("/clientmodelview/delete/999999", data={"csrf_token": csrf_token(show.text)})
    assert response.status_code == 404


def test_stale_edit_form_gets_conflict_message_and_changes_nothing(app, auth, db_session):
    first, second = app.test_client(), app.test_client()
    from tests.conftest import Auth

    Auth(first).login()
    Auth(second).login()
    data = company_form()
    add_client(first, data)
    saved = find_client(db_session, company_name=data["company_name"])

    form_one = edit_form_data(first.get(f"/clientmodelview/edit/{saved.id}").text)
    form_two = edit_form_data(second.get(f"/clientmodelview/edit/{saved.id}").text)
    form_one["city"] = "Kraków"
    form_one["postal_code"] = "30-001"
    assert first.post(f"/clientmodelview/edit/{saved.id}", data=form_one).status_code == 302

    form_two["city"] = "Poznań"
    form_two["postal_code"] = "60-001"
    response = second.post(f"/clientmodelview/edit/{saved.id}", data=form_two)
    assert response.status_code == 409
    assert "Ktoś inny zapisał ten rekord" in response.text
    assert 'value="Poznań"' in response.text, "the user's own input is kept on the form"
    current = find_client(db_session, id=saved.id)
    assert current.city == "Kraków" and current.lock_version == 2


def test_delete_without_valid_csrf_token_is_refused(client, auth, db_session):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])

    assert client.post(f"/clientmodelview/delete/{saved.id}", data={}).status_code == 400
    assert client.post(f"/clientmodelview/delete/{saved.id}", data={"csrf_token": "forged"}).status_code == 400
    client.get(f"/clientmodelview/delete/{saved.id}")
    assert find_client(db_session, id=saved.id) is not None


def test_polish_is_the_default_language_and_english_is_one_click_away(client, auth):
    login_page = client.get("/login/")
    assert "Zaloguj się" in login_page.text
    assert "Zarejestruj się" not in login_page.text
    auth.login()
    page = client.get("/clientmodelview/list/")
    assert "Karty klientów" in page.text and "Klienci" in page.text and "Wyloguj" in page.text
    client.get("/lang/en")
    page = client.get("/clientmodelview/list/")
    assert "Client cards" in page.text
    client.get("/lang/pl")


def test_list_filters_by_city_and_status(client, auth):
    auth.login()
    city = unique("Miasto")
    data_active = company_form(city=city, status="active")
    data_lead = company_form(city=city, status="lead")
    add_client(client, data_active)
    add_client(client, data_lead)
    page = client.get("/clientmodelview/list/", query_string={"_flt_0_city": city, "_flt_0_status": "active"})
    assert data_active["company_name"] in page.text
    assert data_lead["company_name"] not in page.text


def test_client_show_page_carries_related_tabs(client, auth, db_session):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])
    page = client.get(f"/clientmodelview/show/{saved.id}")
    for tab in ("Osoby kontaktowe", "Notatki i aktywności", "Subskrypcje"):
        assert tab in page.text


def test_search_terms_are_posted_and_never_put_in_the_address(client, auth):
    auth.login()
    email = f"{unique('szukany')}@poczta.pl"
    wanted = company_form(email=email)
    other = company_form()
    add_client(client, wanted)
    add_client(client, other)

    listing = client.get("/clientmodelview/list/")
    response = client.post(
        "/clientmodelview/search",
        data={"csrf_token": csrf_token(listing.text), "_flt_0_email": email},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert re.search(r"/clientmodelview/list/\?_s=[\w-]+$", location)
    assert "szukany" not in location and "poczta" not in location

    page = client.get(location)
    assert wanted["company_name"] in page.text
    assert other["company_name"] not in page.text
    links = re.findall(r'href="([^"]*clientmodelview/list[^"]*)"', page.text)
    assert links and not any("szukany" in link for link in links)


def test_search_without_csrf_token_is_refused(client, auth):
    auth.login()
    assert client.post("/clientmodelview/search", data={"_flt_0_email": "x@y.pl"}).status_code == 400


def test_unknown_search_token_shows_the_whole_list_with_a_note(client, auth):
    auth.login()
    page = client.get("/clientmodelview/list/?_s=nonexistent")
    assert page.status_code == 200
    assert "To wyszukiwanie nie jest już dostępne" in page.text


def save_concurrently_during(monkeypatch, app, client_id):
    """Make the next save commit another change of the card between its check and its write."""
    import crm.clients.service
    from sqlalchemy import text

    from crm.extensions import db

    original = crm.clients.service.prepare_for_save

    def prepare_after_a_concurrent_save(client, acting_user=None, **options):
        with app.app_context():
            with db.engine.begin() as other:
                other.execute(
                    text("UPDATE client SET lock_version = lock_version + 1 WHERE id = :id"), {"id": client_id}
                )
        return original(client, acting_user=acting_user, **options)

    monkeypatch.setattr(crm.clients.service, "prepare_for_save", prepare_after_a_concurrent_save)


def test_two_saves_passing_the_check_together_cannot_both_land(app, client, auth, db_session, monkeypatch):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])
    form = edit_form_data(client.get(f"/clientmodelview/edit/{saved.id}").text)
    form.update(city="Poznań", postal_code="60-001")
    save_concurrently_during(monkeypatch, app, saved.id)

    response = client.post(f"/clientmodelview/edit/{saved.id}", data=form, follow_redirects=True)
    assert "Ktoś inny zapisał ten rekord" in response.text
    current = find_client(db_session, id=saved.id)
    assert current.city == "Łódź" and current.lock_version == 2


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "company", "company_name": ""}, "company_name", "Firma musi mieć nazwę."),
        ({"kind": "company", "company_name": "   "}, "company_name", "Firma musi mieć nazwę."),
        ({"kind": "person", "first_name": "Anna", "last_name": ""}, "last_name", "Osoba musi mieć imię i nazwisko."),
        ({"kind": "person", "first_name": "", "last_name": "Nowak"}, "first_name", "Osoba musi mieć imię i nazwisko."),
    ],
)
def test_a_card_without_the_names_its_kind_needs_is_refused(client, auth, db_session, data, field, message):
    auth.login()
    email = f"{unique('bez-nazwy')}@firma.pl"
    response = add_client(client, {**company_form(nip="", pesel=""), **data, "email": email})
    assert "Dodano rekord" not in response.text
    assert message in response.text
    assert db_session(lambda s: [c for c in s.scalars(select(Client)) if c.email == email]) == []
