"""One change to many cards: ticked on the list or every card of a search; all of them in one step, or none."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class
from werkzeug.datastructures import MultiDict

from crm.clients.models import Client
from crm.security.roles import AUDITOR, BACK_OFFICE
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique

configure_mappers()
ClientVersion = version_class(Client)


def cards(app, count, prefix, consent=False):
    """``count`` companies named ``prefix``…, optionally with a basis for email marketing; their ids."""
    from crm.extensions import db
    from crm.gdpr.choices import MAILING_PURPOSE
    from crm.gdpr.models import Consent

    with app.app_context():
        made = []
        for number in range(count):
            card = Client(kind="company", status="lead", company_name=f"{prefix}{number}")
            if consent:
                card.consents.append(Consent(purpose=MAILING_PURPOSE, lawful_basis="consent", source="web_form",
                                             given_on=date(2025, 1, 2), evidence="Formularz"))
            db.session.add(card)
            made.append(card)
        db.session.commit()
        ids = [card.id for card in made]
        db.session.remove()
    return ids


def mailing_list(app) -> int:
    from crm.extensions import db
    from crm.mailing.models import MailingList

    with app.app_context():
        created = MailingList(name=unique("Biuletyn "))
        db.session.add(created)
        db.session.commit()
        list_id = created.id
        db.session.remove()
    return list_id


def signed_in(app, username=None):
    client = app.test_client()
    Auth(client).login(*((username, STAFF_PASSWORD) if username else ()))
    return client


def tick(client, ids):
    """Tick cards on the list and choose the bulk action, as the list's form does."""
    page = client.get("/clientmodelview/list/")
    data = MultiDict([("csrf_token", csrf_token(page.text)), ("action", "bulk"), *(("rowid", str(i)) for i in ids)])
    response = client.post("/clientmodelview/action_post", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/clientmodelview/bulk")
    return client.get("/clientmodelview/bulk")


def submit(client, page, url="/clientmodelview/bulk", **choices):
    return client.post(url, data={"csrf_token": csrf_token(page.text), "action": "change", **choices})


def test_ticked_cards_change_status_and_owner_in_one_step_of_the_history(app, make_user, db_session):
    ids = cards(app, 3, unique("Hurtownia "))
    owner = make_user(BACK_OFFICE, first_name="Olimpia")
    owner_id = db_session(lambda s: app.appbuilder.sm.find_user(username=owner).id)
    client = signed_in(app)
    page = tick(client, ids[:2])
    assert "Zaznaczone karty: 2" in page.text or "2 karty" in page.text
    done = submit(client, page, status="active", owner=str(owner_id))
    assert done.status_code == 302
    assert "Zmieniono karty: 2" in client.get(done.headers["Location"]).text

    def state(s):
        rows = {card.id: (card.status, card.owner_id) for card in s.scalars(select(Client).where(Client.id.in_(ids)))}
        steps = s.scalar(select(func.count(func.distinct(ClientVersion.transaction_id))).where(
            ClientVersion.id.in_(ids[:2]), ClientVersion.operation_type == 1))
        return rows, steps

    rows, steps = db_session(state)
    assert rows == {ids[0]: ("active", owner_id), ids[1]: ("active", owner_id), ids[2]: ("lead", None)}
    assert steps == 1, "one change of many cards is one transaction"


def test_every_card_of_a_search_is_subscribed_only_when_each_has_a_basis(app, db_session):
    from crm.gdpr.choices import MAILING_PURPOSE
    from crm.gdpr.models import Consent
    from crm.mailing.models import Subscription

    prefix = unique("Piekarnia ")
    with_basis = cards(app, 2, prefix, consent=True)
    without = cards(app, 1, prefix)
    list_id = mailing_list(app)
    client = signed_in(app)
    listing = client.get("/clientmodelview/list/")
    found = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(listing.text), "_flt_0_word_index": prefix})
    token = found.headers["Location"].split("_s=")[1]
    assert f'/clientmodelview/bulk?_s={token}' in client.get(found.headers["Location"]).text
    url = f"/clientmodelview/bulk?_s={token}"
    page = client.get(url)
    assert "3 karty" in page.text or "Zaznaczone karty: 3" in page.text
    refused = submit(client, page, url, subscribe_to=str(list_id))
    assert refused.status_code == 409 and "nie mają ważnej podstawy" in refused.text and f"{prefix}0" in refused.text
    subscribed = lambda: db_session(lambda s: sorted(s.scalars(  # noqa: E731
        select(Subscription.client_id).where(Subscription.mailing_list_id == list_id))))
    assert subscribed() == [], "one card refused: nothing written"

    def give_basis(s):
        s.add(Consent(client_id=without[0], purpose=MAILING_PURPOSE, lawful_basis="consent", source="phone",
                      given_on=date(2026, 1, 5), evidence="Rozmowa"))
        s.commit()

    db_session(give_basis)
    assert submit(client, client.get(url), url, subscribe_to=str(list_id)).status_code == 302
    assert subscribed() == sorted(with_basis + without)
    assert submit(client, client.get(url), url, unsubscribe_from=str(list_id)).status_code == 302
    assert subscribed() == []


def test_a_restricted_card_refuses_the_whole_change_by_name(app, db_session):
    from crm.gdpr.models import Restriction

    prefix = unique("Stolarnia ")
    ids = cards(app, 2, prefix)

    def restrict(s):
        s.add(Restriction(client_id=ids[1], since=date(2026, 2, 1), reason="Osoba kwestionuje dane"))
        s.commit()

    db_session(restrict)
    client = signed_in(app)
    refused = submit(client, tick(client, ids), status="former")
    assert refused.status_code == 409 and "ograniczone" in refused.text and f"{prefix}1" in refused.text
    assert db_session(lambda s: sorted(s.scalars(select(Client.status).where(Client.id.in_(ids))))) == ["lead", "lead"]


def test_bad_choices_and_roles_without_the_right_are_refused(app, make_user, db_session):
    ids = cards(app, 1, unique("Drukarnia "))
    client = signed_in(app)
    page = tick(client, ids)
    assert submit(client, page).status_code == 422, "no change chosen"
    assert submit(client, page, status="archived").status_code == 400
    assert submit(client, page, owner="999999").status_code == 400
    assert db_session(lambda s: s.get(Client, ids[0]).status) == "lead"
    auditor = signed_in(app, make_user(AUDITOR))
    assert auditor.get("/clientmodelview/bulk").status_code == 403
    listing = auditor.get("/clientmodelview/list/").text
    assert 'name="rowid"' not in listing, "no boxes to tick for a role that may not change cards"


def test_the_ticked_cards_export_alone(app):
    prefix = unique("Wytwórnia ")
    ids = cards(app, 3, prefix)
    client = signed_in(app)
    page = tick(client, ids[:2])
    response = client.post("/clientmodelview/bulk", data={"csrf_token": csrf_token(page.text), "action": "export"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    names = {row[1] for row in csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";")}
    assert {f"{prefix}0", f"{prefix}1"} <= names and f"{prefix}2" not in names
    assert re.search(r"kartoteka-klienci\.csv", response.headers["Content-Disposition"])


def test_a_role_that_may_not_subscribe_gets_no_list_choice_and_is_refused(app, make_user, db_session):
    from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_id

    admin, admin_auth = admin_client(app)
    role = new_role(admin, admin_auth, name=unique("Recepcja "))
    rid = role_id(app, role)
    capabilities = ("clients.view", "clients.edit", "personal_data.see.identity")
    assert post_form(admin, read_form(admin), add=[f"{rid}:{key}" for key in capabilities]).status_code == 302
    ids = cards(app, 1, unique("Pracownia "), consent=True)
    list_id = mailing_list(app)
    client = signed_in(app, make_user(role))
    page = tick(client, ids)
    assert 'name="subscribe_to"' not in page.text and 'name="unsubscribe_from"' not in page.text
    assert 'id="bulk-export"' not in page.text
    assert submit(client, page, subscribe_to=str(list_id)).status_code == 403
    assert submit(client, page, unsubscribe_from=str(list_id)).status_code == 403
    assert client.post("/clientmodelview/bulk", data={"csrf_token": csrf_token(page.text), "action": "export"}).status_code == 403
    assert submit(client, page, status="active").status_code == 302, "what the role may change, it changes"
