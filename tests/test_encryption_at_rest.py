"""A stolen database file or dump reveals none of the clients' values; search still works."""

from __future__ import annotations

import os
import random
import subprocess
from datetime import date

import pytest
import prison
from sqlalchemy.engine import make_url

from crm.demo import nip as random_nip
from crm.demo import pesel as random_pesel
from tests.conftest import csrf_token, unique
from tests.test_clients_api import token_for
from tests.test_clients_forms import add_client, edit_form_data, find_client
from tests.test_related_records import post_form


def distinctive_person():
    rng = random.Random()
    marker = unique("Qx")
    return {
        "kind": "person",
        "company_name": "",
        "first_name": f"Zdzisława{marker}",
        "last_name": f"Wężykowska{marker}",
        "email": f"zdzislawa.{marker.lower()}@przyklad.pl",
        "phone": f"+48 6{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        "street": f"ul. Źródlana {marker}",
        "postal_code": "00-950",
        "city": f"Gród{marker}",
        "country": "PL",
        "nip": random_nip(rng),
        "pesel": random_pesel(rng, date(1971, 3, 14), female=True),
        "status": "active",
        "remarks": f"Lubi kontakt rano, uwaga {marker}",
    }


def database_bytes(app) -> bytes:
    """The raw database: the SQLite file, or a pg_dump of the PostgreSQL database."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        with open(url.database, "rb") as handle:
            return handle.read()
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
         "--username", url.username or "postgres", url.database],
        capture_output=True, check=True, env={**os.environ, "PGPASSWORD": url.password or ""},
    )
    return dump.stdout


@pytest.fixture()
def stored_person(client, auth, db_session):
    auth.login()
    values = distinctive_person()
    add_client(client, values)
    saved = find_client(db_session, last_name=values["last_name"])
    assert saved is not None
    form = edit_form_data(client.get(f"/clientmodelview/edit/{saved.id}").text)
    values["street"] = values["street"] + " m. 4"
    form["street"] = values["street"]
    assert client.post(f"/clientmodelview/edit/{saved.id}", data=form).status_code == 302
    contact_marker = unique("Kontakt")
    post_form(
        client,
        f"/notemodelview/add?_flt_0_client={saved.id}",
        {"kind": "call", "occurred_on": "2026-11-02", "text": f"Rozmowa o zamówieniu {contact_marker}"},
    )
    values["note"] = f"Rozmowa o zamówieniu {contact_marker}"
    values["id"] = saved.id
    return values


def test_database_holds_no_client_value_in_plaintext(app, stored_person):
    raw = database_bytes(app)
    secret_values = [
        value for key, value in stored_person.items()
        if key not in {"kind", "country", "status", "postal_code", "company_name", "id"} and value
    ]
    assert len(secret_values) >= 10
    leaked = [value for value in secret_values if value.encode("utf-8") in raw]
    assert leaked == []
    # identifiers are also absent in their stored, separator-free form
    assert stored_person["nip"].encode() not in raw and stored_person["pesel"].encode() not in raw
    # and the remote address of the change is not in clear either
    assert b"203.0.113.17" not in raw


def list_search(client, field, value):
    page = client.get("/clientmodelview/list/")
    response = client.post(
        "/clientmodelview/search", data={"csrf_token": csrf_token(page.text), f"_flt_0_{field}": value}
    )
    return client.get(response.headers["Location"]).text


@pytest.mark.parametrize(
    ("field", "variant"),
    [
        ("email", lambda v: v["email"].upper()),
        ("phone", lambda v: v["phone"].replace(" ", "").replace("+48", "")),
        ("nip", lambda v: f"{v['nip'][:3]}-{v['nip'][3:6]}-{v['nip'][6:8]}-{v['nip'][8:]}"),
        ("pesel", lambda v: v["pesel"]),
        ("city", lambda v: v["city"].lower()),
    ],
)
def test_exact_search_finds_the_client_through_its_blind_index(client, stored_person, field, variant):
    page = list_search(client, field, variant(stored_person))
    assert stored_person["last_name"] in page


def test_one_word_of_the_name_finds_the_person_ignoring_case_and_diacritics(client, stored_person):
    word = stored_person["last_name"].lower().replace("ę", "e").replace("ż", "z")
    page = list_search(client, "last_name", word)
    assert stored_person["last_name"] in page
    assert stored_person["last_name"] not in list_search(client, "last_name", "Kowalski")


def test_api_filters_find_by_email_and_by_word(client, make_user, stored_person):
    headers = token_for(client, make_user("Manager"))
    for column, operator, value in [
        ("email", "equals", stored_person["email"]),
        ("first_name", "has_word", stored_person["first_name"].upper()),
        ("pesel", "equals", stored_person["pesel"]),
        ("nip", "equals", stored_person["nip"]),
    ]:
        query = prison.dumps({"filters": [{"col": column, "opr": operator, "value": value}]})
        response = client.get("/api/v1/client/", query_string={"q": query}, headers=headers)
        assert response.status_code == 200, response.json
        assert [row["id"] for row in response.json["result"]] == [stored_person["id"]]


def test_every_personal_value_is_stored_sealed_to_its_own_column(app, db_session):
    """Every encrypted column of every place holds ciphertext, none of it readable in the raw
    database, and a ciphertext opens only in the column it was written for (its associated data):
    copied into another column, it is refused rather than shown."""
    from sqlalchemy import text

    from crm.extensions import db
    from crm.privacy.crypto import DecryptionError, decrypt
    from crm.privacy.registry import declared
    from crm.privacy.types import EncryptedString
    from tests.test_attributes import archive, define
    from tests.test_gdpr import full_card, register_request, signed_in

    card, _ = full_card(app, db_session)
    officer, _ = signed_in(app)
    secret_attribute = define(app, "text", personal=True)
    try:
        page = officer.get(f"/clientmodelview/edit/{card}")
        form = {**edit_form_data(page.text), f"attr_{secret_attribute}": f"Choruje przewlekle {unique('Atr')}"}
        assert officer.post(f"/clientmodelview/edit/{card}", data=form).status_code == 302
    finally:
        archive(app, secret_attribute)
    post_form(officer, f"/restrictionmodelview/add?_flt_0_client={card}",
              {"since": date.today().isoformat(), "reason": f"Kwestionuje dane {unique('Ogr')}"})
    request_id = register_request(officer, card, kind="access")
    page = officer.get(f"/datasubjectrequestmodelview/edit/{request_id}")
    form = {**edit_form_data(page.text), "outcome": f"Wysłano odpis {unique('Odp')}"}
    assert officer.post(f"/datasubjectrequestmodelview/edit/{request_id}", data=form).status_code == 302

    with app.app_context():
        stored = {}  # context -> [(ciphertext, clear value)]
        for model, declaration in declared().items():
            subject = declaration.subject
            if subject is None:
                continue
            table = model.__table__
            for name, personal in declaration.columns.items():
                column = table.c[name]
                if not personal.encrypted or not isinstance(column.type, EncryptedString):
                    continue
                rows = db.session.execute(text(
                    f"SELECT {name} FROM {table.name} WHERE {table.c[subject].name} = :card AND {name} IS NOT NULL"
                ), {"card": card}).scalars().all()
                stored[column.type.context] = [(raw, decrypt(raw, column.type.context)) for raw in rows]
        db.session.remove()
    held = {context.split(".")[0] for context, values in stored.items() if values}
    assert {"client", "contact_person", "note", "consent", "restriction", "data_subject_request", "attribute_value"} <= held
    raw_database = database_bytes(app)
    clear = [value for values in stored.values() for _raw, value in values if len(value) >= 6]
    assert [value for value in clear if value.encode() in raw_database] == []
    contexts = sorted(context for context, values in stored.items() if values)
    for context in contexts:
        other = contexts[(contexts.index(context) + 1) % len(contexts)]
        for ciphertext, _value in stored[context]:
            with pytest.raises(DecryptionError):
                decrypt(ciphertext, other)


def test_a_value_of_no_client_is_sealed_under_the_key_files_key_and_reads_back_as_written(app, db_session):
    """What is no client's (a sign-in's address and browser) is sealed under the key file's key,
    and the login history reads back what was written."""
    from sqlalchemy import select, text

    from crm.privacy.crypto import DecryptionError, data_key_id_of, decrypt, key_id_of, key_ring
    from crm.security.models import LoginEvent

    address, browser = "192.0.2.10", f"Przeglądarka {unique('p')}"
    client = app.test_client()
    page = client.get("/login/")
    client.post("/login/", data={"username": unique("nikt_"), "password": "zle-haslo-123", "csrf_token": csrf_token(page.text)},
                environ_base={"REMOTE_ADDR": address, "HTTP_USER_AGENT": browser})
    event = db_session(lambda s: s.scalars(select(LoginEvent).order_by(LoginEvent.id.desc()).limit(1)).one())
    assert (event.ip_address, event.user_agent) == (address, browser)
    stored = db_session(lambda s: s.execute(text("SELECT ip_address FROM login_event WHERE id = :id"), {"id": event.id}).scalar())
    with app.app_context():
        assert key_id_of(stored) == key_ring().current_id and data_key_id_of(stored) is None
        # a stored value with anything put after it is no ciphertext of Kartoteka's: refused, not read in
        # part (this address's ciphertext ends in padding, where a lenient decoder stops)
        assert stored.endswith("=")
        context = LoginEvent.__table__.c.ip_address.type.context
        with pytest.raises(DecryptionError):
            decrypt(f"{stored}:QUFBQUFB", context)


def test_stored_search_hashes_do_not_change_between_releases(app):
    """The blind indexes and word hashes stay in the database across releases: a card saved by an
    earlier one must still be found. Pinned under the test key ring (config.TEST_ENCRYPTION_KEYS):
    a change of their contexts, their normalising or their length would hide every stored card
    from the searches until `crm reindex` ran."""
    from crm.privacy.crypto import blind_index, fold, word_tokens

    assert fold(" ŁÓDŹ  Łódź łódź ") == "lodz lodz lodz", "a capital Ł is folded like a small one"
    with app.app_context():
        assert blind_index(" Jan.Kowalski@Example.COM ", "client.email", "email") == "215657d5d110708366344b402dd928f7"
        # the word in its context, the whole word and its starts of 3 and 4 letters for the search box
        assert word_tokens({"client.last_name": "Wężyk"}, starts="client") == \
            "396a5b4e625b33c1 54ebc767e7257ddf 661d072cba9abcae ae8002d494d1085b"
        assert word_tokens({"client.last_name": None}, starts="client") is None
        assert word_tokens({"client.last_name": ""}) is None
