"""A second card with another card's NIP, PESEL or email: a warning that links the first, saved once confirmed."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm.clients.models import Client
from tests.conftest import company_form, csrf_token, named_like, person_form, unique
from tests.test_clients_api import new_company, token_for
from tests.test_clients_forms import edit_form_data

CONFIRM = 'name="confirm_duplicate"'


def _candidates(s, by):
    names = " ".join(by[name] for name in ("company_name", "first_name", "last_name") if by.get(name))
    return s.scalars(named_like(Client, names) if names else select(Client))


def cards_named(db_session, **by) -> int:
    """How many cards have these (decrypted) values."""
    return db_session(lambda s: sum(all(getattr(card, k) == v for k, v in by.items()) for card in _candidates(s, by)))


def add(client, data, confirm=False):
    page = client.get("/clientmodelview/add")
    assert page.status_code == 200 and CONFIRM not in page.text, "the confirmation is asked for, not offered"
    body = {**data, "csrf_token": csrf_token(page.text)}
    if confirm:
        body["confirm_duplicate"] = "y"
    return client.post("/clientmodelview/add", data=body)


def saved_id(db_session, **by) -> int:
    return db_session(lambda s: next(
        card.id for card in _candidates(s, by) if all(getattr(card, k) == v for k, v in by.items())
    ))


def test_a_second_card_with_the_same_nip_is_refused_with_a_link_to_the_first_until_confirmed(
    client, auth, db_session
):
    auth.login()
    first = company_form()
    assert add(client, first).status_code == 302
    first_id = saved_id(db_session, company_name=first["company_name"])

    second = company_form(nip=first["nip"])
    refused = add(client, second)
    assert refused.status_code == 409
    assert "Inna karta ma już ten NIP, PESEL lub e-mail" in refused.text
    linked = re.search(r'id="duplicate-cards".*?</div>', refused.text, re.S).group(0)
    assert f'href="/clientmodelview/show/{first_id}"' in linked and first["company_name"] in linked
    assert "NIP" in linked
    assert CONFIRM in refused.text, "a refused save asks for the confirmation"
    assert cards_named(db_session, company_name=second["company_name"]) == 0

    saved = add(client, second, confirm=True)
    assert saved.status_code == 302
    assert cards_named(db_session, nip=first["nip"]) == 2


def test_pesel_and_email_are_checked_too_and_a_different_value_is_saved_without_a_word(client, auth, db_session):
    auth.login()
    email = f"{unique('dup')}@poczta.pl"
    first = person_form(email=email)
    assert add(client, first).status_code == 302
    first_id = saved_id(db_session, last_name=first["last_name"])

    same_pesel = add(client, person_form(pesel=first["pesel"]))
    assert same_pesel.status_code == 409 and f"/clientmodelview/show/{first_id}" in same_pesel.text
    assert "PESEL" in re.search(r'id="duplicate-cards".*?</div>', same_pesel.text, re.S).group(0)
    # an email is the same whatever its letter case
    same_email = add(client, company_form(email=email.upper()))
    assert same_email.status_code == 409 and f"/clientmodelview/show/{first_id}" in same_email.text
    assert add(client, person_form(email=f"{unique('inny')}@poczta.pl")).status_code == 302


def test_editing_an_accepted_duplicate_does_not_ask_again_but_taking_another_cards_value_does(
    client, auth, db_session
):
    auth.login()
    first, second = company_form(), company_form()
    add(client, first)
    add(client, second)
    add(client, company_form(nip=first["nip"], company_name=unique("Bliźniak ")), confirm=True)
    twin = db_session(lambda s: max(c.id for c in s.scalars(select(Client)) if c.nip == first["nip"]))

    page = client.get(f"/clientmodelview/edit/{twin}")
    assert CONFIRM not in page.text
    form = edit_form_data(page.text)
    form["city"] = "Sieradz"
    assert client.post(f"/clientmodelview/edit/{twin}", data=form).status_code == 302
    # its own email, written in capitals: the card itself is no duplicate
    form = edit_form_data(client.get(f"/clientmodelview/edit/{twin}").text)
    form["email"] = form["email"].upper()
    assert client.post(f"/clientmodelview/edit/{twin}", data=form).status_code == 302

    page = client.get(f"/clientmodelview/edit/{twin}")
    form = edit_form_data(page.text)
    form["nip"] = second["nip"]
    refused = client.post(f"/clientmodelview/edit/{twin}", data=form)
    assert refused.status_code == 409 and CONFIRM in refused.text
    assert db_session(lambda s: s.get(Client, twin).nip) == first["nip"], "nothing written"


def test_the_api_answers_409_naming_the_cards_and_saves_with_confirm_duplicate(client, make_user, db_session):
    headers = token_for(client, make_user("Back office"))
    first = client.post("/api/v1/client/", json=new_company(), headers=headers)
    assert first.status_code == 201, first.json
    body = new_company(nip=db_session(lambda s: s.get(Client, first.json["id"]).nip))

    refused = client.post("/api/v1/client/", json=body, headers=headers)
    assert refused.status_code == 409
    assert refused.json["duplicates"] == [{"id": first.json["id"], "field": "nip"}]
    assert cards_named(db_session, company_name=body["company_name"]) == 0

    wrong = client.post("/api/v1/client/", json={**body, "confirm_duplicate": "yes"}, headers=headers)
    assert wrong.status_code == 422 and "confirm_duplicate" in wrong.json["message"]
    saved = client.post("/api/v1/client/", json={**body, "confirm_duplicate": True}, headers=headers)
    assert saved.status_code == 201, saved.json
