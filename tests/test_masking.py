"""Personal data is masked on screens and in the API for roles that may not see it."""

from __future__ import annotations

from datetime import date

import pytest

from crm.privacy.masking import mask, mask_email, mask_identifier, mask_name, mask_phone
from crm.security.roles import AUDITOR, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, unique
from tests.test_clients_api import token_for


def test_masks_keep_enough_to_recognise_a_record_and_nothing_more():
    assert mask_email("jan.kowalski@wp.pl") == "j***@w***.pl"
    assert mask_email("ala@localhost") == "a***@l***"
    assert mask_email("jan@firma.com.pl") == "j***@f***.pl", "only the last part of the domain shows"
    assert mask_email("a@b@c.pl") == "a***@b***.pl" and mask_email("bez-malpy") == "b***"
    assert mask_phone("+48 601 234 123") == "+48 *** *** 123"
    assert mask_phone("601-234-123") == "*** *** 123"
    assert mask_phone("+420 601 234 123") == "+420 *** *** 123"
    # a number of another length: up to three digits after the plus show, as its country code
    assert mask_phone("+43 1 234 56") == "+431 *** *** 456" and mask_phone("+1 234 567 890 1234") == "+123 *** *** 234"
    assert mask_identifier("44051401359") == "*********59"
    assert mask_phone("601 234 1 23") == "*** *** 123", "separators anywhere are not digits"
    assert mask_identifier("7712") == "***12", "at least three stars: a short value shows no more than two"
    assert mask_name("Żaneta Wiśniewska-Nowak") == "Ż*** W***"
    assert mask("hidden", "Rozmowa o zaległej fakturze") == "***"
    assert mask("email", None) is None and mask("name", "") == ""


@pytest.fixture(scope="module")
def card(app):
    """A person with every kind of personal value, a contact person and a note."""
    from crm.clients.models import Client, ContactPerson, Note
    from crm.extensions import db
    from crm.mailing.models import MailingList, Subscription

    values = {
        "first_name": "Wiesława",
        "last_name": unique("Maskowana"),
        "email": f"{unique('wieslawa')}@poczta.pl",
        "phone": "+48 698 765 432",
        "street": "ul. Różana 17",
        "postal_code": "31-401",
        "city": "Kraków",
        "pesel": "44051401359",
        "remarks": "Prosi o kontakt po 16:00",
    }
    with app.app_context():
        client = Client(kind="person", status="active", **values)
        client.contacts.append(ContactPerson(first_name="Bogumiła", last_name=unique("Kontaktowa"),
                                             email=f"{unique('bogumila')}@firma.pl", phone="+48 511 222 333"))
        client.notes.append(Note(kind="call", occurred_on=date(2026, 5, 1), text="Tajemnica rozmowy telefonicznej"))
        client.subscriptions.append(Subscription(mailing_list=MailingList(name=unique("Lista ")), source="manual"))
        db.session.add(client)
        db.session.commit()
        ids = {"client": client.id, "contact": client.contacts[0].id, "note": client.notes[0].id}
        values["contact_last_name"] = client.contacts[0].last_name
        values["contact_first_name"] = client.contacts[0].first_name
        values["contact_email"] = client.contacts[0].email
        values["contact_phone"] = client.contacts[0].phone
        values["note"] = client.notes[0].text
        db.session.remove()
    return ids, values


def pages(card):
    ids, _ = card
    return [
        "/clientmodelview/list/",
        f"/clientmodelview/show/{ids['client']}",
        "/contactpersonmodelview/list/",
        f"/contactpersonmodelview/show/{ids['contact']}",
        "/notemodelview/list/",
        f"/notemodelview/show/{ids['note']}",
        "/subscriptionmodelview/list/",
    ]


def signed_in(app, username):
    client = app.test_client()
    Auth(client).login(username, STAFF_PASSWORD)
    return client


def clear_values(values):
    return [value for key, value in values.items() if key not in ("city",)] + ["698 765 432", "Kraków", "511 222 333"]


def test_a_role_without_the_permission_sees_masked_values_on_every_screen(app, make_user, card):
    ids, values = card
    staff = signed_in(app, make_user(AUDITOR))
    for path in pages(card):
        page = staff.get(path)
        assert page.status_code == 200, path
        leaked = [value for value in clear_values(values) if value in page.text]
        assert leaked == [], f"{path} shows {leaked}"
    show = staff.get(f"/clientmodelview/show/{ids['client']}").text
    assert "W***" in show and "+48 *** *** 432" in show and "*********59" in show
    assert mask_email(values["email"]) in show
    contact = staff.get(f"/contactpersonmodelview/show/{ids['contact']}").text
    client_cell = contact.split(">Klient</th>")[1].split("</td>")[0]
    assert mask_name(f"{values['first_name']} {values['last_name']}") in client_cell, "a contact's client by its masked name"


def test_a_role_with_the_permission_sees_values_in_clear(app, make_user, card):
    ids, values = card
    staff = signed_in(app, make_user(MANAGER))
    show = staff.get(f"/clientmodelview/show/{ids['client']}").text
    for key in ("first_name", "last_name", "email", "pesel", "remarks"):
        assert values[key] in show
    # a personal field the card leaves empty still goes through the column's own formatting: an empty cell
    for path in pages(card):
        assert ">None<" not in staff.get(path).text, path


def test_the_api_masks_for_a_role_without_the_permission(app, make_user, card):
    ids, values = card
    client = app.test_client()
    headers = token_for(client, make_user(AUDITOR))
    record = client.get(f"/api/v1/client/{ids['client']}", headers=headers).json["result"]
    assert record["email"] == mask_email(values["email"])
    assert record["pesel"] == "*********59"
    assert record["nip"] is None, "an empty value stays empty: a mask of nothing is nothing"
    assert record["remarks"] == "***"
    assert record["status"] == "active", "values that are not personal stay readable"
    listed = client.get("/api/v1/client/", headers=headers).json["result"]
    assert listed and all("***" in row["email"] for row in listed if row.get("email"))
    assert all(values["email"] not in str(row) for row in listed)

    headers = token_for(client, make_user(MANAGER))
    assert client.get(f"/api/v1/client/{ids['client']}", headers=headers).json["result"]["email"] == values["email"]
