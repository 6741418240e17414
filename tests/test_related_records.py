"""Contact persons, notes and subscriptions: added from the card, versioned, filtered."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class, versioning_manager

from crm.clients.models import Client, ContactPerson, Note
from crm.mailing.models import MailingList, Subscription
from tests.conftest import company_form, csrf_token, unique
from tests.test_clients_forms import add_client, find_client

configure_mappers()


def new_card(client, auth, db_session):
    if auth.csrf is None:
        auth.login()
    data = company_form()
    add_client(client, data)
    return find_client(db_session, company_name=data["company_name"])


def post_form(client, url, data, follow_redirects=True):
    page = client.get(url)
    assert page.status_code == 200, url
    return client.post(url, data={**data, "csrf_token": csrf_token(page.text)}, follow_redirects=follow_redirects)


def new_list(db_session):
    def create(s):
        mailing_list = MailingList(name=unique("Newsletter "))
        s.add(mailing_list)
        s.commit()
        return mailing_list.id

    return db_session(create)


def test_contact_person_added_from_the_card_tab_is_versioned_with_its_author(client, auth, db_session):
    card = new_card(client, auth, db_session)
    url = f"/contactpersonmodelview/add?_flt_0_client={card.id}"
    post_form(
        client,
        url,
        {"first_name": "Bożena", "last_name": "Kołodziej", "position": "Główna księgowa", "email": "b.kolodziej@firma.pl", "phone": "22 123 45 67"},
    )

    def check(s):
        contact = s.scalars(select(ContactPerson).where(ContactPerson.client_id == card.id)).one()
        assert contact.position == "Główna księgowa"
        ContactVersion = version_class(ContactPerson)
        user_id = s.scalar(
            select(versioning_manager.transaction_cls.user_id)
            .join(ContactVersion, ContactVersion.transaction_id == versioning_manager.transaction_cls.id)
            .where(ContactVersion.id == contact.id)
        )
        assert user_id is not None

    db_session(check)
    show = client.get(f"/clientmodelview/show/{card.id}")
    assert "Kołodziej" in show.text


def test_contact_person_email_is_validated(client, auth, db_session):
    card = new_card(client, auth, db_session)
    response = post_form(
        client,
        f"/contactpersonmodelview/add?_flt_0_client={card.id}",
        {"first_name": "Jan", "last_name": "Zły", "email": "jan@", "phone": "xx"},
    )
    assert "Podaj poprawny adres e-mail" in response.text
    assert "Podaj numer telefonu" in response.text
    assert db_session(lambda s: s.scalar(select(ContactPerson.id).where(ContactPerson.client_id == card.id))) is None


def test_note_records_its_author_and_kind(client, auth, db_session):
    card = new_card(client, auth, db_session)
    post_form(
        client,
        f"/notemodelview/add?_flt_0_client={card.id}",
        {"kind": "meeting", "occurred_on": "2026-11-20", "text": "Spotkanie w Łodzi, omówiono zamówienie."},
    )
    note = db_session(lambda s: s.scalars(select(Note).where(Note.client_id == card.id)).one())
    assert note.kind == "meeting" and note.author_id is not None
    card_page = client.get(f"/clientmodelview/show/{card.id}")
    assert "Spotkanie w Łodzi, omówiono zamówienie." in card_page.text
    assert re.search(r">\s*Spotkanie\s*<", card_page.text), "the kind shows its Polish label"


def test_related_record_is_added_from_its_card_only(client, auth):
    auth.login()
    response = client.get("/contactpersonmodelview/add", follow_redirects=True)
    assert "Otwórz kartę klienta i dodaj rekord z jej zakładki." in response.text


def record_marketing_consent(client, card_id, follow_redirects=True, **overrides):
    """Record a consent to email marketing through the card's Consents tab."""
    data = {"purpose": "email_marketing", "lawful_basis": "consent", "given_on": "2026-01-15", "source": "web_form",
            "evidence": "Formularz zapisu, zgoda nr 17", **overrides}
    return post_form(client, f"/consentmodelview/add?_flt_0_client={card_id}", data, follow_redirects)


def test_subscription_is_versioned_and_a_duplicate_is_refused(client, auth, db_session):
    card = new_card(client, auth, db_session)
    list_id = new_list(db_session)
    record_marketing_consent(client, card.id)
    url = f"/subscriptionmodelview/add?_flt_0_client={card.id}"
    post_form(client, url, {"mailing_list": str(list_id), "source": "event"})
    response = post_form(client, url, {"mailing_list": str(list_id), "source": "manual"})
    assert "Ten klient jest już zapisany na tę listę." in response.text

    def check(s):
        subscriptions = s.scalars(select(Subscription).where(Subscription.client_id == card.id)).all()
        assert [(x.mailing_list_id, x.source) for x in subscriptions] == [(list_id, "event")]
        SubscriptionVersion = version_class(Subscription)
        assert s.scalar(select(SubscriptionVersion.id).where(SubscriptionVersion.client_id == card.id)) is not None

    db_session(check)


def test_client_list_filters_by_mailing_list(client, auth, db_session):
    card = new_card(client, auth, db_session)
    other = new_card(client, auth, db_session)
    list_id = new_list(db_session)
    record_marketing_consent(client, card.id)
    post_form(client, f"/subscriptionmodelview/add?_flt_0_client={card.id}", {"mailing_list": str(list_id), "source": "manual"})
    page = client.get("/clientmodelview/list/", query_string={"_flt_0_mailing_lists": list_id})
    assert card.company_name in page.text
    assert other.company_name not in page.text


def test_deleting_a_card_versions_the_deletion_of_its_related_rows(client, auth, db_session):
    card = new_card(client, auth, db_session)
    post_form(
        client,
        f"/contactpersonmodelview/add?_flt_0_client={card.id}",
        {"first_name": "Ewa", "last_name": "Żak", "position": "", "email": "", "phone": ""},
    )
    show = client.get(f"/clientmodelview/show/{card.id}")
    client.post(f"/clientmodelview/delete/{card.id}", data={"csrf_token": csrf_token(show.text)})

    def check(s):
        assert s.get(Client, card.id) is None
        ContactVersion = version_class(ContactPerson)
        operations = s.scalars(
            select(ContactVersion.operation_type).where(ContactVersion.client_id == card.id).order_by(ContactVersion.transaction_id)
        ).all()
        assert operations == [0, 2]

    db_session(check)


def test_a_contact_person_stays_on_its_card_when_edited(client, auth, db_session):
    from tests.test_clients_forms import edit_form_data

    card = new_card(client, auth, db_session)
    post_form(
        client,
        f"/contactpersonmodelview/add?_flt_0_client={card.id}",
        {"first_name": "Jan", "last_name": "Wiśniewski", "position": "", "email": "", "phone": ""},
    )
    contact_id = db_session(lambda s: s.scalar(select(ContactPerson.id).where(ContactPerson.client_id == card.id)))
    page = client.get(f"/contactpersonmodelview/edit/{contact_id}")
    assert 'name="client"' not in page.text
    form = edit_form_data(page.text)
    form["position"] = "Prezes"
    assert client.post(f"/contactpersonmodelview/edit/{contact_id}", data=form).status_code == 302
    contact = db_session(lambda s: s.get(ContactPerson, contact_id))
    assert contact.position == "Prezes" and contact.client_id == card.id
