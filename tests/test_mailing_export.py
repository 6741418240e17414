"""A mailing list's subscribers, exported for a mailing tool: only those it may write to."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from crm.security.roles import BACK_OFFICE, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, unique


def subscribed(app, list_id=None, **card):
    """A card with a basis for email marketing, subscribed to the list (a new one when None); returns both ids."""
    from crm.clients.models import Client
    from crm.extensions import db
    from crm.gdpr.choices import MAILING_PURPOSE
    from crm.gdpr.models import Consent
    from crm.mailing.models import MailingList, Subscription

    with app.app_context():
        if list_id is None:
            mailing_list = MailingList(name=unique("Nowości "))
            db.session.add(mailing_list)
            db.session.flush()
            list_id = mailing_list.id
        client = Client(kind="person", status="active", **card)
        client.consents.append(Consent(purpose=MAILING_PURPOSE, lawful_basis="consent", source="web_form",
                                       given_on=date(2025, 3, 1), evidence="Formularz na stronie"))
        client.subscriptions.append(Subscription(mailing_list_id=list_id, source="web_form"))
        db.session.add(client)
        db.session.commit()
        card_id = client.id
        db.session.remove()
    return list_id, card_id


def test_the_export_holds_the_subscribers_one_may_write_to_and_nobody_else(app, make_user):
    from crm.extensions import db
    from crm.gdpr.models import Consent, Restriction

    first = {"first_name": "Halina", "last_name": unique("Poczta"), "email": f"{unique('halina')}@poczta.pl"}
    list_id, _ = subscribed(app, **first)
    _, restricted = subscribed(app, list_id, first_name="Rafał", last_name=unique("Wstrzymany"), email=f"{unique('r')}@poczta.pl")
    _, no_email = subscribed(app, list_id, first_name="Bez", last_name=unique("Adresu"))
    _, later = subscribed(app, list_id, first_name="Lena", last_name=unique("Przyszła"), email=f"{unique('l')}@poczta.pl")
    with app.app_context():
        db.session.add(Restriction(client_id=restricted, since=date(2026, 1, 1), reason="Osoba kwestionuje dane"))
        # a consent that starts tomorrow is no basis today
        db.session.query(Consent).filter(Consent.client_id == later).update({"given_on": date.today() + timedelta(days=1)})
        db.session.commit()
        db.session.remove()

    client = app.test_client()
    Auth(client).login(make_user(MANAGER), STAFF_PASSWORD)
    show = client.get(f"/mailinglistmodelview/show/{list_id}")
    assert f'href="/mailinglistmodelview/{list_id}/subscribers.csv"' in show.text
    response = client.get(f"/mailinglistmodelview/{list_id}/subscribers.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and first["email"] not in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["E-mail", "Imię", "Nazwisko", "Nazwa firmy", "Data zapisu", "Nagłówek List-Unsubscribe",
                       "Nagłówek List-Unsubscribe-Post"]
    assert [row[:3] for row in rows[1:]] == [[first["email"], "Halina", first["last_name"]]]
    assert no_email and restricted and later  # each was on the list, and is not in the file

    clerk = app.test_client()
    Auth(clerk).login(make_user(BACK_OFFICE), STAFF_PASSWORD)
    assert clerk.get(f"/mailinglistmodelview/{list_id}/subscribers.csv").status_code == 403
    assert "subscribers.csv" not in clerk.get(f"/mailinglistmodelview/show/{list_id}").text
    assert client.get("/mailinglistmodelview/999999/subscribers.csv").status_code == 404
