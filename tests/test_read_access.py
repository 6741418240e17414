"""The read-access log: every opening of a person's data is recorded, and the officer can ask it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import func, select

from crm.security.roles import ADMINISTRATOR, AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER
from tests.conftest import csrf_token, unique
from tests.test_clients_api import token_for
from tests.test_gdpr import REASON, dpo, erase_form, export_zip, full_card, register_request, signed_in  # noqa: F401
from tests.test_route_access import NEVER_ALLOWED, PUBLIC_ENDPOINTS, url_for_rule


def openings_of(db_session, card) -> list[dict]:
    """The read records naming a card, oldest first, as plain values."""
    from crm.accountability.models import ReadAccess, ReadAccessCard

    def query(session):
        rows = session.scalars(
            select(ReadAccess).join(ReadAccessCard, ReadAccessCard.read_id == ReadAccess.id)
            .where(ReadAccessCard.client_id == card).order_by(ReadAccess.id)
        )
        return [
            {"id": row.id, "user_id": row.user_id, "kind": row.kind, "place": row.place, "masked": row.masked,
             "cards": row.card_count, "roles": json.loads(row.roles), "ip": row.ip_address}
            for row in rows
        ]

    return db_session(query)


def user_id(db_session, username):
    from crm.extensions import appbuilder

    return db_session(lambda s: appbuilder.sm.find_user(username=username).id)


@pytest.fixture(scope="module")
def held(app):
    """A card with a row in every place a screen shows, and the ids each screen opens."""
    from crm.extensions import db
    from tests.conftest import Auth

    class Session:
        def __call__(self, fn):
            with app.app_context():
                try:
                    return fn(db.session)
                finally:
                    db.session.remove()

    db_session = Session()
    card, data = full_card(app, db_session)
    client = app.test_client()
    Auth(client).login()
    request_id = register_request(client, card, kind="access")

    def ids(session):
        from crm.clients.models import Client
        from crm.gdpr.models import Consent
        from crm.mailing.models import Subscription

        found = session.get(Client, card)
        return {
            "contact": found.contacts[0].id, "note": found.notes[0].id,
            "subscription": session.scalar(select(Subscription.id).where(Subscription.client_id == card)),
            "list": session.scalar(select(Subscription.mailing_list_id).where(Subscription.client_id == card)),
            "consent": session.scalar(select(Consent.id).where(Consent.client_id == card)),
            "contact_name": found.contacts[0].last_name,
        }

    found = db_session(ids)
    by_view = {
        "ClientModelView": card, "ClientApi": card, "ClientHistoryView": card, "GdprView": card, "GdprApi": card,
        "ContactPersonModelView": found["contact"], "NoteModelView": found["note"],
        "SubscriptionModelView": found["subscription"], "MailingListModelView": found["list"],
        "ConsentModelView": found["consent"], "DataSubjectRequestModelView": request_id,
    }
    return {"card": card, "data": data, "ids": by_view, "markers": (data["last_name"], data["email"], found["contact_name"])}


def test_every_page_that_shows_a_person_records_the_opening(app, db_session, held):
    """Each GET route, opened by an administrator: if the answer names the person, a record names their card.

    The property covers every screen and API route the app has, so a new page
    showing clients' data without recording it fails here.
    """
    client, _ = signed_in(app)
    headers = token_for(app.test_client(), "admin", __import__("tests.conftest", fromlist=["ADMIN_PASSWORD"]).ADMIN_PASSWORD)
    card = held["card"]
    unrecorded, showing = [], set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        public = PUBLIC_ENDPOINTS - {"HomeView.index"}  # the start page is public only to send visitors to log in
        if "GET" not in rule.methods or rule.endpoint in public or NEVER_ALLOWED.search(rule.endpoint):
            continue
        if rule.endpoint.endswith((".delete", ".download")) or "static" in rule.endpoint:
            continue
        before = len(openings_of(db_session, card))
        url = url_for_rule(rule, held["ids"], existing=True)
        response = client.get(url, headers=headers if rule.rule.startswith("/api/") else {})
        body = response.get_data(as_text=True)
        if response.status_code != 200 or not any(marker in body for marker in held["markers"]):
            continue
        showing.add(rule.endpoint)
        if len(openings_of(db_session, card)) == before:
            unrecorded.append(rule.endpoint)
    timeline = client.get(f"/history/client/{card}/").text
    versions = sorted({int(v) for v in __import__("re").findall(r'data-version="(\d+)"', timeline)})
    more_pages = {
        "ClientHistoryView.compare": f"/history/client/{card}/compare?older={versions[0]}&newer={versions[-1]}",
        **{
            f"{view}.add": f"/{view.lower()}/add?_flt_0_client={card}"
            for view in ("ContactPersonModelView", "NoteModelView", "SubscriptionModelView", "ConsentModelView",
                         "DataSubjectRequestModelView", "RestrictionModelView")
        },
    }
    for endpoint, url in more_pages.items():
        before = len(openings_of(db_session, card))
        response = client.get(url)
        if response.status_code == 200 and any(marker in response.text for marker in held["markers"]):
            showing.add(endpoint)
            if len(openings_of(db_session, card)) == before:
                unrecorded.append(endpoint)
    assert unrecorded == [], (unrecorded, " ".join(sorted(showing)))
    # the property is not empty: the pages that must show the person did
    assert {
        "ClientModelView.show", "ClientModelView.edit", "ClientApi.get", "ContactPersonModelView.show",
        "ClientHistoryView.timeline", "ClientHistoryView.compare", "DataSubjectRequestModelView.show",
        "NoteModelView.add", "HomeView.index", "MailingListModelView.export_subscribers", "GdprView.erase_preview",
    } <= showing, sorted(showing)


# -- what a record holds --------------------------------------------------------------------

def new_card(app, **overrides) -> tuple[int, dict]:
    from tests.conftest import ADMIN_PASSWORD
    from tests.test_clients_api import new_company

    api = app.test_client()
    body = new_company(**overrides)
    response = api.post("/api/v1/client/", json=body, headers=token_for(api, "admin", ADMIN_PASSWORD))
    assert response.status_code == 201, response.json
    return response.json["id"], body


def test_opening_a_card_records_who_when_from_where_and_in_clear(app, db_session, make_user):
    from crm.accountability.models import ReadAccess

    card, body = new_card(app)
    username = make_user(BACK_OFFICE)
    client, _ = signed_in(app, username)
    before = len(openings_of(db_session, card))
    page = client.get(f"/clientmodelview/show/{card}", environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert body["company_name"] in page.text
    [opening] = openings_of(db_session, card)[before:]
    assert opening | {"id": 0} == {
        "id": 0, "user_id": user_id(db_session, username), "kind": "card", "place": "ClientModelView.show",
        "masked": False, "cards": 1, "roles": [BACK_OFFICE], "ip": "192.0.2.77",
    }
    # the address is encrypted at rest like the rest of the personal data
    from sqlalchemy import text

    stored = db_session(lambda s: s.execute(text("SELECT ip_address FROM read_access WHERE id = :id"), {"id": opening["id"]}).scalar())
    assert "192.0.2.77" not in stored
    assert db_session(lambda s: s.get(ReadAccess, opening["id"]).occurred_at) is not None


def test_a_role_seeing_names_masked_is_recorded_as_reading_masked(app, db_session, make_user):
    card, body = new_card(app)
    client, _ = signed_in(app, make_user(AUDITOR))
    before = len(openings_of(db_session, card))
    page = client.get(f"/clientmodelview/show/{card}")
    assert page.status_code == 200 and body["company_name"] not in page.text
    [opening] = openings_of(db_session, card)[before:]
    assert (opening["kind"], opening["masked"], opening["roles"]) == ("card", True, [AUDITOR])


def test_a_list_page_is_one_record_naming_every_card_it_shows(app, db_session, make_user):
    from crm.accountability.models import ReadAccess

    cards = [new_card(app)[0] for _ in range(3)]
    client, _ = signed_in(app, make_user(BACK_OFFICE))
    before = db_session(lambda s: s.scalar(select(func.count()).select_from(ReadAccess)))
    page = client.get("/clientmodelview/list/")
    assert page.status_code == 200
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(ReadAccess))) == before + 1
    shown = set(map(int, __import__("re").findall(r"/clientmodelview/show/(\d+)", page.text)))
    assert set(cards) <= shown
    latest = openings_of(db_session, cards[0])[-1]
    assert (latest["kind"], latest["cards"]) == ("list", len(shown))
    assert latest == openings_of(db_session, cards[2])[-1]


def test_search_results_and_api_reads_are_recorded_as_such(app, db_session, make_user):
    card, body = new_card(app)
    username = make_user(BACK_OFFICE)
    client, auth = signed_in(app, username)
    before = len(openings_of(db_session, card))
    client.post("/clientmodelview/search", data={"csrf_token": auth.csrf, "_flt_0_email": body["email"]}, follow_redirects=True)
    assert [o["kind"] for o in openings_of(db_session, card)[before:]] == ["search"]
    api = app.test_client()
    headers = token_for(api, username)
    assert api.get(f"/api/v1/client/{card}", headers=headers).status_code == 200
    assert api.post("/api/v1/client/_search", json={"filters": [{"col": "email", "opr": "equals", "value": body["email"]}], "columns": ["id", "email"]},
                    headers=headers).json["ids"] == [card]
    openings = openings_of(db_session, card)[before:]
    assert [(o["kind"], o["place"]) for o in openings[1:]] == [("api", "ClientApi.get"), ("api", "ClientApi.search")]


def test_pages_showing_nobody_and_refused_requests_record_nothing(app, db_session, make_user):
    from crm.accountability.models import ReadAccess

    client, _ = signed_in(app)
    count = lambda: db_session(lambda s: s.scalar(select(func.count()).select_from(ReadAccess)))  # noqa: E731
    before = count()
    assert client.get("/personal-data/").status_code == 200
    assert client.get("/clientmodelview/show/987654").status_code == 404
    assert client.get("/users/list/").status_code == 200
    assert count() == before


# -- the person's export and erasure --------------------------------------------------------

def test_the_persons_export_names_the_roles_that_received_their_data(app, db_session, dpo, make_user):
    card, _ = new_card(app)
    reader, _ = signed_in(app, make_user(BACK_OFFICE))
    reader.get(f"/clientmodelview/show/{card}")
    reader.get(f"/clientmodelview/edit/{card}")
    officer, _ = dpo
    archive = zipfile.ZipFile(io.BytesIO(export_zip(officer, card, reason=REASON).data))
    data = json.loads(archive.read("export.json"))
    [back_office] = [r for r in data["recipients"] if r["role"] == "Biuro obsługi"]
    # the start page after signing in (it lists the card among recent changes), the card, its edit form
    assert back_office["openings"] == 3
    assert "read_access_card" not in data["places"]
    summary = archive.read("summary.html").decode()
    assert "Kto otrzymał Twoje dane" in summary and "Biuro obsługi" in summary
    assert openings_of(db_session, card)[-1]["kind"] == "export"


def test_erasure_removes_the_persons_openings_and_keeps_the_readers_records(app, db_session, dpo, make_user):
    from crm.accountability.models import ReadAccess, ReadAccessCard
    from crm.gdpr.models import GdprEvent

    card, _ = new_card(app)
    neighbour, _ = new_card(app)
    reader, _ = signed_in(app, make_user(BACK_OFFICE))
    before = len(openings_of(db_session, card))
    reader.get("/clientmodelview/list/")
    reader.get(f"/clientmodelview/show/{card}")
    records = [o["id"] for o in openings_of(db_session, card)[before:]]
    assert len(records) == 2
    officer, _ = dpo
    opened = len(openings_of(db_session, card))
    erase_form(officer, card, str(card), reason=REASON)
    assert openings_of(db_session, card) == []
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(ReadAccessCard).where(ReadAccessCard.client_id == card))) == 0
    # the staff member's records stay, counting the erased card; the neighbour is still named
    kept = db_session(lambda s: [(r.id, r.card_count) for r in s.scalars(select(ReadAccess).where(ReadAccess.id.in_(records)).order_by(ReadAccess.id))])
    assert [record for record, _count in kept] == records and kept[1][1] == 1
    assert records[0] in [o["id"] for o in openings_of(db_session, neighbour)]
    counts = db_session(lambda s: json.loads(s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).one().counts))
    # and the erasure form, which showed the card to the officer
    assert counts["read_access_card"]["rows"] == opened + 1


# -- the officer's screen ------------------------------------------------------------------------

def test_the_officer_sees_who_opened_a_card_and_what_an_account_opened(app, db_session, make_user):
    card, body = new_card(app)
    other, other_body = new_card(app)
    reader_name = make_user(BACK_OFFICE, first_name="Rozalia", last_name=unique("Czytelnicka"))
    reader, _ = signed_in(app, reader_name)
    reader.get(f"/clientmodelview/show/{card}")
    reader.get(f"/history/client/{card}/")
    reader.get(f"/clientmodelview/show/{other}")
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    card_page = officer.get(f"/clientmodelview/show/{card}").text
    assert f'href="/reads/?card={card}"' in card_page
    expected = len(openings_of(db_session, card))
    by_card = officer.get(f"/reads/?card={card}").text
    rows = by_card.split('id="reads"')[1].split("</table>")[0]
    assert "Rozalia" in rows and "Historia i porównanie wersji" in rows and "Karta lub strona rekordu" in rows
    assert rows.count("<tr>") - 1 == expected and f"Znalezione otwarcia: {expected}" in by_card
    # by account and kind
    account = user_id(db_session, reader_name)
    by_account = officer.get(f"/reads/?user={account}&kind=card").text.split('id="reads"')[1]
    assert body["company_name"] in by_account and other_body["company_name"] in by_account
    assert "Historia i porównanie wersji" not in by_account
    # by time: nothing before today in the office's zone
    assert "Żadne otwarcie nie pasuje." in officer.get(f"/reads/?card={card}&until=2020-01-01").text
    # reading the log opens the card too
    assert openings_of(db_session, card)[-1]["place"] == "ReadLogView.index"


@pytest.mark.parametrize("query", ["card=abc", "user=-1", "since=2026-13-01", "kind=everything", "page=x"])
def test_a_bad_filter_of_the_log_is_a_400_with_a_polish_message(app, query, make_user):
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    response = officer.get(f"/reads/?{query}")
    assert response.status_code == 400
    assert "Numer strony, wersja lub filtr w adresie są nieprawidłowe." in response.text
