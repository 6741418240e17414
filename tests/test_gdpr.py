"""The GDPR tools: requests and deadlines, export, erasure, suppression, consents, restriction, retention."""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from crm.gdpr.service import due_date, request_problems
from crm.security.roles import AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, company_form, csrf_token, person_form, run_command, unique
from tests.test_clients_api import token_for
from tests.test_clients_forms import add_client, edit_form_data, find_client
from tests.test_encryption_at_rest import database_bytes
from tests.test_related_records import new_list, post_form, record_marketing_consent


# -- pure rules ------------------------------------------------------------------------

def test_an_answer_is_due_one_calendar_month_after_receipt():
    assert due_date(date(2026, 3, 14)) == date(2026, 4, 14)
    assert due_date(date(2026, 1, 31)) == date(2026, 2, 28)
    assert due_date(date(2028, 1, 31)) == date(2028, 2, 29)


def test_an_extension_needs_a_reason_and_at_most_two_more_months():
    assert request_problems(date(2026, 1, 10), date(2026, 4, 10), "Złożone żądanie") == []
    assert len(request_problems(date(2026, 1, 10), date(2026, 4, 11), "Złożone żądanie")) == 1
    assert len(request_problems(date(2026, 1, 10), date(2026, 3, 1), " ")) == 1
    assert request_problems(date(2026, 1, 10), None, None) == []


# -- rules on the database: the days a restriction, a basis, a deadline hold ------------------------

DAY = date(2026, 3, 10)


def bare_card(s):
    from crm.clients.models import Client

    card = Client(kind="company", company_name=unique("Dni i terminy "))
    s.add(card)
    s.flush()
    return card


def test_a_restriction_holds_from_its_first_to_its_last_day_until_it_is_lifted(app, db_session):
    from crm.gdpr.models import Restriction
    from crm.gdpr.service import RestrictedError, active_restriction, ensure_not_restricted, restricted_clients

    def check(s):
        bounded, open_ended, lifted = bare_card(s), bare_card(s), bare_card(s)
        s.add_all([
            Restriction(client_id=bounded.id, since=DAY, until=DAY + timedelta(days=5), reason="Sprawdzanie danych"),
            Restriction(client_id=open_ended.id, since=DAY, reason="Sprzeciw"),
            Restriction(client_id=lifted.id, since=DAY, lifted_on=DAY, reason="Zniesione"),
        ])
        s.flush()
        ids = {bounded.id: "bounded", open_ended.id: "open", lifted.id: "lifted"}
        found = {}
        for offset in (-1, 0, 5, 6):
            today = DAY + timedelta(days=offset)
            in_force = {ids[card] for card in s.scalars(restricted_clients(today)) if card in ids}
            assert in_force == {ids[card] for card in ids if active_restriction(s, card, today)}, offset
            found[offset] = in_force
        assert active_restriction(s, None) is None
        ensure_not_restricted(s, bounded.id + 1000000)
        with pytest.raises(RestrictedError):
            ensure_not_restricted(s, open_ended.id)
        s.rollback()
        return found

    assert db_session(check) == {-1: set(), 0: {"bounded", "open"}, 5: {"bounded", "open"}, 6: {"open"}}


def test_a_basis_holds_from_the_day_given_to_the_day_before_its_withdrawal(app, db_session):
    from crm.gdpr.models import Consent
    from crm.gdpr.service import has_basis, is_valid_basis

    withdrawn = DAY + timedelta(days=3)

    def check(s):
        card = bare_card(s)
        consent = Consent(client_id=card.id, purpose="email_marketing", lawful_basis="consent", given_on=DAY,
                          withdrawn_on=withdrawn, source="web_form")
        other_purpose = Consent(client_id=bare_card(s).id, purpose="phone_marketing", lawful_basis="consent",
                                given_on=DAY, source="web_form")
        s.add_all([consent, other_purpose])
        s.flush()
        days = {}
        for offset in (-1, 0, 2, 3):
            today = DAY + timedelta(days=offset)
            days[offset] = (is_valid_basis(consent, today=today), has_basis(s, card.id, today=today),
                            has_basis(s, other_purpose.client_id, today=today))
        # a withdrawal being saved counts as it stands in the form, not as stored
        consent.withdrawn_on = DAY
        judged = [(has_basis(s, card.id, today=DAY + timedelta(days=1), besides=consent),
                   has_basis(s, card.id, today=DAY + timedelta(days=1)))]
        consent.withdrawn_on = None
        judged.append((has_basis(s, card.id, today=withdrawn, besides=consent), has_basis(s, card.id, today=withdrawn)))
        s.rollback()
        return days, judged

    days, judged = db_session(check)
    assert days == {-1: (False, False, False), 0: (True, True, False), 2: (True, True, False), 3: (False, False, False)}
    assert judged == [(False, True), (True, False)], "judged as it is being saved, not as stored"


def test_the_dashboard_lists_a_request_overdue_the_day_after_its_deadline_and_due_a_week_ahead(app, db_session):
    from crm.gdpr.models import DataSubjectRequest
    from crm.gdpr.service import open_requests

    today = date(2031, 6, 15)
    deadlines = {"yesterday": -1, "today": 0, "in a week": 7, "in eight days": 8}

    def check(s):
        card = bare_card(s)
        made = {}
        for name, offset in deadlines.items():
            due = today + timedelta(days=offset)
            made[name] = DataSubjectRequest(kind="access", client_id=card.id, received_on=due, due_on=due)
        # an extension moves the deadline; an answered request is no longer open
        made["extended"] = DataSubjectRequest(kind="access", client_id=card.id, received_on=today, due_on=today - timedelta(days=3),
                                              extended_until=today + timedelta(days=2), extension_reason="Złożone")
        made["answered"] = DataSubjectRequest(kind="access", client_id=card.id, received_on=today, due_on=today - timedelta(days=3),
                                              status="completed")
        made["in progress"] = DataSubjectRequest(kind="access", client_id=card.id, received_on=today, due_on=today - timedelta(days=2),
                                                 status="in_progress")
        s.add_all(made.values())
        s.flush()
        names = {request.id: name for name, request in made.items()}
        overdue, due = open_requests(s, today)
        s.rollback()
        return [names[r.id] for r in overdue if r.id in names], [names[r.id] for r in due if r.id in names]

    assert db_session(check) == (["in progress", "yesterday"], ["today", "extended", "in a week"])


def test_retention_never_proposes_a_restricted_client_or_one_with_an_open_request(app, db_session):
    """Twenty years on, every card made today is past a year without activity; only those free of
    a restriction in force and of an open request are proposed."""
    from crm.gdpr.models import DataSubjectRequest, Restriction
    from crm.gdpr.service import retention_candidates
    from crm.timeutil import utcnow

    def made(s):
        cards = {name: bare_card(s) for name in ("plain", "restricted", "open request", "answered request", "lifted", "ended")}
        s.add_all([
            Restriction(client_id=cards["restricted"].id, since=date.today(), reason="Sprzeciw"),
            Restriction(client_id=cards["ended"].id, since=date.today(), until=date.today() + timedelta(days=5 * 365),
                        reason="Do wyjaśnienia"),
            Restriction(client_id=cards["lifted"].id, since=date.today(), lifted_on=date.today(), reason="Zniesione"),
            DataSubjectRequest(kind="access", client_id=cards["open request"].id, received_on=DAY, due_on=DAY),
            DataSubjectRequest(kind="access", client_id=cards["answered request"].id, received_on=DAY, due_on=DAY,
                               status="completed"),
            # an open request of a person with no card binds nobody else's
            DataSubjectRequest(kind="access", client_id=None, received_on=DAY, due_on=DAY),
        ])
        s.commit()
        return {card.id: name for name, card in cards.items()}

    names = db_session(made)
    later = utcnow() + timedelta(days=20 * 366)
    proposed = db_session(lambda s: [names[c.id] for c, _last in retention_candidates(s, 1, now=later) if c.id in names])
    assert sorted(proposed) == ["answered request", "ended", "lifted", "plain"], "a restriction binds while in force"
    assert db_session(lambda s: [c.id for c, _ in retention_candidates(s, 1, now=utcnow()) if c.id in names]) == [], "active today"
    assert len(db_session(lambda s: retention_candidates(s, 1, now=later, limit=2))) == 2


def test_a_reason_needs_ten_characters_besides_spaces_and_at_most_five_hundred(app, db_session):
    from crm.gdpr.models import DataSubjectRequest
    from crm.gdpr.service import UnknownRequest, check_grounds

    def check(s):
        card, other = bare_card(s), bare_card(s)
        request = DataSubjectRequest(kind="erasure", client_id=card.id, received_on=DAY, due_on=DAY)
        s.add(request)
        s.flush()
        assert check_grounds(s, card.id, request.id, None) is None
        assert check_grounds(s, card.id, request.id, "x") is None, "a request named needs no reason"
        for client_id, request_id in ((other.id, request.id), (card.id, request.id + 1000000)):
            with pytest.raises(UnknownRequest):
                check_grounds(s, client_id, request_id, REASON)
        assert check_grounds(s, card.id, None, "  a b c d e\n f g h i j  ") == "a b c d e f g h i j"
        for refused in ("a b c d e f g h i", "", None, "x" * 501):
            with pytest.raises(ValueError):
                check_grounds(s, card.id, None, refused)
        assert check_grounds(s, card.id, None, "x" * 500) == "x" * 500
        s.rollback()

    db_session(check)


def test_an_answer_completes_only_an_open_request_of_its_kind_and_a_closed_one_gets_its_day(app, db_session, monkeypatch):
    from crm.gdpr import service
    from crm.gdpr.models import DataSubjectRequest

    monkeypatch.setattr(service, "utcnow", lambda: datetime(2031, 6, 15, 12, 0))

    def check(s):
        card = bare_card(s)
        made = {
            "open erasure": DataSubjectRequest(kind="erasure", client_id=card.id, received_on=DAY, due_on=DAY),
            "open access": DataSubjectRequest(kind="access", client_id=card.id, received_on=DAY, due_on=DAY),
            "refused erasure": DataSubjectRequest(kind="erasure", client_id=card.id, received_on=DAY, due_on=DAY, status="refused",
                                                  completed_on=DAY),
        }
        s.add_all(made.values())
        s.flush()
        service.fulfil(s, None, ("erasure",))
        for request in made.values():
            service.fulfil(s, request.id, ("erasure", "portability"))
        states = {name: (r.status, r.completed_on) for name, r in made.items()}
        closing = DataSubjectRequest(kind="access", received_on=DAY, status="refused")
        service.prepare_request(closing)
        still_open = DataSubjectRequest(kind="access", received_on=DAY, status="in_progress")
        service.prepare_request(still_open)
        s.rollback()
        return states, (closing.due_on, closing.completed_on), still_open.completed_on

    states, closing, still_open = db_session(check)
    assert states == {
        "open erasure": ("completed", date(2031, 6, 15)),
        "open access": ("received", None),
        "refused erasure": ("refused", DAY),
    }
    assert closing == (date(2026, 4, 10), date(2031, 6, 15)) and still_open is None


# -- helpers ------------------------------------------------------------------------------

def signed_in(app, username=None):
    client = app.test_client()
    auth = Auth(client)
    auth.login(*((username, STAFF_PASSWORD) if username else ()))
    return client, auth


@pytest.fixture()
def dpo(app, make_user):
    return signed_in(app, make_user(DATA_PROTECTION_OFFICER, first_name="Inga", last_name="Inspektorka"))


def full_card(app, db_session, _reader=None):
    """A person with a contact, a note, a consent, a subscription, and a changed card: every place used.

    Written by an administrator through the forms (the data protection officer only reads cards).
    """
    client, _ = signed_in(app)
    data = person_form(email=f"{unique('osoba')}@erase.pl", phone=f"+48 5{secrets.randbelow(10**8):08d}", city="Gniezno")
    add_client(client, data)
    card = find_client(db_session, last_name=data["last_name"]).id
    # each form accepted (a redirect); the page it leads to is not needed here
    accepted = [
        post_form(client, f"/contactpersonmodelview/add?_flt_0_client={card}",
                  {"first_name": "Kamil", "last_name": unique("Kontakt"), "email": "kamil@erase.pl"}, follow_redirects=False),
        post_form(client, f"/notemodelview/add?_flt_0_client={card}",
                  {"kind": "call", "occurred_on": "2026-05-04", "text": "Rozmowa o reklamacji zamówienia 4711"},
                  follow_redirects=False),
        record_marketing_consent(client, card, follow_redirects=False),
        post_form(client, f"/subscriptionmodelview/add?_flt_0_client={card}",
                  {"mailing_list": str(new_list(db_session)), "source": "manual"}, follow_redirects=False),
    ]
    page = client.get(f"/clientmodelview/edit/{card}")
    accepted.append(client.post(f"/clientmodelview/edit/{card}",
                                data={**edit_form_data(page.text), "city": "Września", "csrf_token": csrf_token(page.text)}))
    assert [response.status_code for response in accepted] == [302] * 5
    return card, data


def register_request(client, card, kind="erasure", received_on=None):
    received_on = received_on or date.today().isoformat()
    response = post_form(client, f"/datasubjectrequestmodelview/add?_flt_0_client={card}",
                         {"kind": kind, "received_on": received_on, "verification_method": "id_document", "verified_on": received_on})
    assert "Dodano rekord" in response.text, response.text[-1500:]
    listed = client.get("/datasubjectrequestmodelview/list/?_oc_DataSubjectRequestModelView=id&_od_DataSubjectRequestModelView=desc")
    return max(int(n) for n in re.findall(r"/datasubjectrequestmodelview/show/(\d+)", listed.text))


REASON = "Porządki w bazie: karta testowa"
#: the suppression-list hash of " Jan.Kowalski@Example.COM " under the test key ring, as releases since 0012 wrote it
PINNED_SUPPRESSION_DIGEST = "e9b2304c12358d29228d4c43b83ee8a4"


def export_zip(client, card, request_id=None, reason=None):
    """Export as the officer does: the form asks what it answers, the POST returns the ZIP."""
    page = client.get(f"/gdpr/client/{card}/export" + (f"?request={request_id}" if request_id else ""))
    assert page.status_code == 200, page.status_code
    data = {"csrf_token": csrf_token(page.text), "request": str(request_id or ""), "reason": reason or ""}
    return client.post(f"/gdpr/client/{card}/export", data=data)


def erase_form(client, card, confirm, request_id=None, reason=None):
    page = client.get(f"/gdpr/client/{card}/erase")
    data = {"csrf_token": csrf_token(page.text), "confirm": confirm, "request": str(request_id or ""), "reason": reason or ""}
    return client.post(f"/gdpr/client/{card}/erase", data=data, follow_redirects=True)


def rows_about(db_session, card):
    """Rows and versions held about the client, per table, from the registry's places."""
    from crm.gdpr.places import counts

    return db_session(lambda s: {table: held for table, held in counts(s, card).items() if any(held)})


# -- requests and deadlines -------------------------------------------------------------------

def test_a_request_registered_from_the_card_gets_its_deadline_and_shows_when_overdue(app, db_session, dpo):
    from crm.gdpr.models import DataSubjectRequest

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    received = (date.today() - timedelta(days=40)).isoformat()
    request_id = register_request(client, card, kind="access", received_on=received)
    due_on, verified_by, method = db_session(lambda s: (
        s.get(DataSubjectRequest, request_id).due_on, s.get(DataSubjectRequest, request_id).verified_by_id,
        s.get(DataSubjectRequest, request_id).verification_method))
    assert method == "id_document", "how the person was verified is kept"
    assert due_on == due_date(date.fromisoformat(received)) and verified_by is not None
    db_session(lambda s: (s.add_all([
        DataSubjectRequest(kind="access", received_on=date.today(), due_on=date.today(), status="completed"),
        # another kind in each status: counted under its own kind
        DataSubjectRequest(kind="rectification", received_on=date.today(), due_on=date.today(), status="completed"),
        DataSubjectRequest(kind="rectification", received_on=date.today(), due_on=date.today()),
    ]), s.commit()))
    dashboard = client.get("/gdpr/").text
    overdue = dashboard.split('id="overdue"')[1].split("</table>")[0]
    assert f"/datasubjectrequestmodelview/show/{request_id}" in overdue
    # the officer answers from the request itself: its page offers the export and the erasure of its person
    shown = client.get(f"/datasubjectrequestmodelview/show/{request_id}").text
    assert f"/gdpr/client/{card}/export?request={request_id}" in shown and 'id="request-erase"' in shown
    # the chart counts the requests of each kind in each status
    for kind in ("access", "rectification"):
        for status in ("received", "completed"):
            held = db_session(lambda s, kind=kind, status=status: s.scalar(
                select(func.count()).select_from(DataSubjectRequest)
                .where(DataSubjectRequest.kind == kind, DataSubjectRequest.status == status)
            ))
            bar = re.search(rf'data-kind="{kind}" data-status="{status}">\s*<span[^>]*>(\d+)</span>', dashboard)
            assert (int(bar.group(1)) if bar else 0) == held > 0, (kind, status)


def test_a_request_not_verified_names_no_verifier_and_one_closed_gets_its_date(app, db_session, dpo):
    from crm.gdpr.models import DataSubjectRequest

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    response = post_form(client, f"/datasubjectrequestmodelview/add?_flt_0_client={card}",
                         {"kind": "access", "received_on": date.today().isoformat()})
    assert "Dodano rekord" in response.text
    listed = client.get("/datasubjectrequestmodelview/list/?_oc_DataSubjectRequestModelView=id&_od_DataSubjectRequestModelView=desc")
    request_id = max(int(n) for n in re.findall(r"/datasubjectrequestmodelview/show/(\d+)", listed.text))
    stored = lambda: db_session(lambda s: s.get(DataSubjectRequest, request_id))  # noqa: E731
    assert (stored().verified_by_id, stored().completed_on) == (None, None), "no verification, no verifier"
    page = client.get(f"/datasubjectrequestmodelview/edit/{request_id}")
    form = {**edit_form_data(page.text), "status": "completed", "csrf_token": csrf_token(page.text)}
    client.post(f"/datasubjectrequestmodelview/edit/{request_id}", data=form, follow_redirects=True)
    assert (stored().status, stored().completed_on, stored().verified_by_id) == ("completed", date.today(), None)


def test_the_export_form_names_the_person_and_offers_their_open_requests_first_newest_first(app, db_session, dpo):
    from crm.clients.models import Client

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    older, newer, answered = (register_request(client, card, kind="access") for _ in range(3))
    page = client.get(f"/datasubjectrequestmodelview/edit/{answered}")
    form = {**edit_form_data(page.text), "status": "completed", "csrf_token": csrf_token(page.text)}
    client.post(f"/datasubjectrequestmodelview/edit/{answered}", data=form, follow_redirects=True)
    page = client.get(f"/gdpr/client/{card}/export").text
    name = db_session(lambda s: s.get(Client, card).display_name)
    assert f": #{card} {name}" in page, "the person the export is about, by number and name"
    offered = [int(n) for n in re.findall(r'<option value="(\d+)"', page.split('id="request"')[1].split("</select>")[0])]
    assert offered == [newer, older, answered]


def test_an_extension_beyond_three_months_is_refused_with_a_message(app, db_session, dpo):
    from crm.gdpr.models import DataSubjectRequest

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    request_id = register_request(client, card, kind="access", received_on="2026-01-10")
    page = client.get(f"/datasubjectrequestmodelview/edit/{request_id}")
    form = {**edit_form_data(page.text), "extended_until": "2026-06-01", "extension_reason": "", "csrf_token": csrf_token(page.text)}
    response = client.post(f"/datasubjectrequestmodelview/edit/{request_id}", data=form, follow_redirects=True)
    assert "najwyżej o dwa kolejne miesiące" in response.text and "Podaj przyczynę" in response.text
    assert db_session(lambda s: s.get(DataSubjectRequest, request_id).extended_until) is None
    # within the two months and with its reason, the extension is kept
    page = client.get(f"/datasubjectrequestmodelview/edit/{request_id}")
    form = {**edit_form_data(page.text), "extended_until": "2026-04-10", "extension_reason": "Wiele systemów do przejrzenia",
            "csrf_token": csrf_token(page.text)}
    client.post(f"/datasubjectrequestmodelview/edit/{request_id}", data=form, follow_redirects=True)
    assert db_session(lambda s: s.get(DataSubjectRequest, request_id).extended_until) == date(2026, 4, 10)


# -- export -----------------------------------------------------------------------------------------

def test_the_export_holds_every_place_with_history_in_json_csv_and_a_summary(app, db_session, dpo):
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    request_id = register_request(client, card, kind="access")
    form = client.get(f"/gdpr/client/{card}/export?request={request_id}")
    assert f'<option value="{request_id}" selected>' in form.text
    response = export_zip(client, card, request_id)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    exported = json.loads(archive.read("export.json"))
    places = exported["places"]
    assert places["client"]["rows"][0]["email"] == data["email"]
    assert "email_bidx" not in places["client"]["rows"][0], "keyed hashes are ours, not the person's"
    assert "data_key_id" not in places["client"]["rows"][0] and "data_key_id" not in places["client"]["history"][0]
    assert [v["city"] for v in places["client"]["history"]] == ["Gniezno", "Września"]
    assert places["client"]["history"][0]["by"] == "Administrator Kartoteka"
    for table in ("contact_person", "note", "consent", "subscription", "data_subject_request"):
        assert len(places[table]["rows"]) == 1, table
        assert len(places[table]["history"]) >= 1, f"{table}: its history is the person's data too"
        assert f"csv/{table}_history.csv" in archive.namelist(), table
    assert places["note"]["history"][0]["text"] == "Rozmowa o reklamacji zamówienia 4711"
    assert places["contact_person"]["history"][0]["email"] == "kamil@erase.pl"
    assert "csv/client.csv" in archive.namelist() and "csv/client_history.csv" in archive.namelist()
    summary = archive.read("summary.html").decode()
    assert "Dane osobowe, które o Tobie przechowujemy" in summary and data["last_name"] in summary
    event = db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).one())
    assert (event.kind, event.request_id) == ("export", request_id)
    assert json.loads(event.counts)["client"] == {"rows": 1, "versions": 2}
    assert "Zakończone" in client.get(f"/datasubjectrequestmodelview/show/{request_id}").text, "the request shows it answered"


def test_an_export_or_erasure_is_a_post_naming_its_request_or_reason(app, db_session, dpo):
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    page = client.get(f"/gdpr/client/{card}/export")
    assert page.status_code == 200 and page.mimetype == "text/html", "opening the address records nothing"
    assert client.post(f"/gdpr/client/{card}/export").status_code == 400, "no CSRF token"
    refused = export_zip(client, card, reason="za krótko")
    assert refused.status_code == 400 and "podaj przyczynę" in refused.text
    refused = erase_form(client, card, str(card))
    assert "podaj przyczynę" in refused.text and rows_about(db_session, card) != {}
    assert db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).all()) == []
    assert export_zip(client, card, reason=REASON).mimetype == "application/zip"
    done = erase_form(client, card, str(card), reason=REASON)
    assert "usunięta ze wszystkich miejsc" in done.text and rows_about(db_session, card) == {}
    events = db_session(lambda s: [(e.kind, e.request_id, e.reason) for e in s.scalars(select(GdprEvent).where(GdprEvent.client_number == card))])
    assert events == [("export", None, REASON), ("erasure", None, REASON)]


def test_a_reason_longer_than_the_record_keeps_is_refused_with_the_limit(app, db_session, dpo):
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, _data = full_card(app, db_session, client)
    refused = export_zip(client, card, reason="Porządki " + "x" * 492)
    assert refused.status_code == 400 and "Przyczyna może mieć najwyżej 500 znaków." in refused.text
    assert db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).all()) == []
    assert export_zip(client, card, reason="Porządki " + "x" * 491).mimetype == "application/zip"


def test_a_request_number_beyond_what_the_database_holds_is_no_request(app, db_session, dpo):
    """A typed number too large for the database's integers names no request (rather than an error
    of the database): the reason given stands, as for no number at all."""
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, _data = full_card(app, db_session, client)
    answer = export_zip(client, card, request_id=10**20, reason=REASON)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    events = db_session(lambda s: [(e.request_id, e.reason) for e in s.scalars(
        select(GdprEvent).where(GdprEvent.client_number == card))])
    assert events == [(None, REASON)]


def test_the_api_document_states_the_bodies_of_the_gdpr_operations(app, make_user):
    """An export or an erasure through the API takes a request id or a reason; the document says so,
    and every reference in it names a schema it defines."""
    from crm.gdpr.views import ERASURE_GROUNDS_SCHEMA, GROUNDS_SCHEMA

    api = app.test_client()
    document = api.get("/api/v1/_openapi", headers=token_for(api, make_user(DATA_PROTECTION_OFFICER))).json
    schemas = document["components"]["schemas"]
    assert (schemas["Grounds"], schemas["ErasureGrounds"]) == (GROUNDS_SCHEMA, ERASURE_GROUNDS_SCHEMA)
    bodies = {
        path: operation["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        for path, operation in document["paths"].items() if path.startswith("/api/v1/gdpr/") and "post" in operation
    }
    assert bodies == {"/api/v1/gdpr/client/{pk}/export": "#/components/schemas/Grounds",
                      "/api/v1/gdpr/client/{pk}/erasure": "#/components/schemas/ErasureGrounds"}
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert references and references <= set(schemas)


def test_the_export_through_the_api_and_the_command_line(app, db_session, dpo, make_user, tmp_path):
    client, _ = dpo
    card, data = full_card(app, db_session, client)
    api = app.test_client()
    headers = token_for(api, make_user(DATA_PROTECTION_OFFICER))
    url = f"/api/v1/gdpr/client/{card}/export"
    body = api.post(url, json={"reason": REASON}, headers=headers).json
    assert body["places"]["client"]["rows"][0]["email"] == data["email"]
    assert api.get(url, headers=headers).status_code == 405, "an export is recorded: never a GET"
    assert api.post(url, json={}, headers=headers).status_code == 400
    assert api.post(url, json={"reason": 7}, headers=headers).status_code == 400
    assert api.post("/api/v1/gdpr/client/987654/export", json={"reason": REASON}, headers=headers).status_code == 404
    assert api.post(url, json={"reason": REASON}, headers=token_for(api, make_user(MANAGER))).status_code == 403

    result = run_command(app, ["crm", "export", str(card)])
    assert result.exit_code == 1 and "podaj przyczynę" in result.stderr
    result = run_command(app, ["crm", "export", str(card), "--reason", REASON])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["places"]["client"]["rows"][0]["email"] == data["email"]
    target = tmp_path / "eksport.zip"
    result = run_command(app, ["crm", "export", str(card), "--output", str(target), "--reason", REASON])
    assert result.exit_code == 0 and "export.json" in zipfile.ZipFile(target).namelist()
    result = run_command(app, ["crm", "export", "987654", "--reason", REASON])
    assert result.exit_code == 1 and "Nie ma takiego klienta" in result.stderr


# -- erasure --------------------------------------------------------------------------------------

def stored_ciphertexts(app, card) -> list[bytes]:
    """The raw stored (encrypted) values of the client's personal columns and versions."""
    from crm.extensions import db

    with app.app_context():
        found = []
        for table in ("client", "client_version", "note", "note_version", "contact_person", "consent"):
            column = "client_id" if table not in ("client", "client_version") else "id"
            for row in db.session.execute(text(f"SELECT * FROM {table} WHERE {column} = :id"), {"id": card}).mappings():
                found += [value.encode() for value in row.values() if isinstance(value, str) and value.startswith(("v1:", "v2:"))]
        db.session.remove()
    return found


def test_erasure_previews_then_removes_the_person_from_every_place_and_the_raw_database(app, db_session, dpo):
    from flask_appbuilder.security.sqla.models import User

    from crm.gdpr.models import DataSubjectRequest, GdprEvent, Suppression

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    request_id = register_request(client, card)
    # what the officer wrote about the person on the request: the request stays as proof, this goes
    db_session(lambda s: (setattr(s.get(DataSubjectRequest, request_id), "extension_reason",
                                  f"Pani {data['last_name']} dosłała dokumenty"), s.commit()))
    before = rows_about(db_session, card)
    assert {"client", "contact_person", "note", "consent", "subscription", "data_subject_request"} <= before.keys()
    ciphertexts = stored_ciphertexts(app, card)
    assert len(ciphertexts) > 10

    preview = client.get(f"/gdpr/client/{card}/erase?request={request_id}")
    assert preview.status_code == 200
    assert '<tr data-table="client"><td>' in preview.text and "<td>1</td><td>2</td>" in preview.text
    refused = client.post(f"/gdpr/client/{card}/erase",
                          data={"csrf_token": csrf_token(preview.text), "confirm": str(card + 1), "request": str(request_id)})
    assert refused.status_code == 400 and "wpisz numer klienta" in refused.text
    # nothing was erased; the officer's two views of the form are recorded as openings of the card
    after = rows_about(db_session, card)
    assert after.pop("read_access_card") == (before.pop("read_access_card")[0] + 2, 0)
    assert after == before

    done = erase_form(client, card, f"#{card}", request_id)
    assert "usunięta ze wszystkich miejsc" in done.text
    assert rows_about(db_session, card) == {}
    kept = db_session(lambda s: s.get(DataSubjectRequest, request_id))
    assert (kept.client_id, kept.outcome, kept.status) == (None, None, "completed")
    emptied = db_session(lambda s: s.execute(text(
        "SELECT extension_reason, outcome FROM data_subject_request WHERE id = :id"), {"id": request_id}).one())
    assert tuple(emptied) == (None, None), "the request's personal text is emptied"
    event = db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.kind == "erasure", GdprEvent.client_number == card)).one())
    assert event.request_id == request_id and json.loads(event.counts)["note"] == {"rows": 1, "versions": 1}
    assert db_session(lambda s: s.get(User, event.user_id).last_name) == "Inspektorka", "the record names who erased"
    # email, phone and PESEL: three values, three hashes (none of them the card's blind indexes)
    digests = db_session(lambda s: set(s.scalars(select(Suppression.digest).where(Suppression.event_id == event.id))))
    from crm.gdpr.suppression import digests_of
    from crm.privacy.crypto import blind_index

    assert digests == digests_of({"email": data["email"], "phone": data["phone"], "pesel": data["pesel"]}) and len(digests) == 3
    assert blind_index(data["email"], "email", "email") not in digests, "the list has a key of its own"

    raw = database_bytes(app)
    values = [data["email"], data["last_name"], data["pesel"], "Rozmowa o reklamacji", "kamil@erase.pl"]
    assert [value for value in values if value.encode() in raw] == []
    assert [value for value in ciphertexts if value in raw] == [], "erased ciphertext must not linger in the file"
    # every row the erasure removed or emptied has its link in the trail: the record still proves itself
    verified = run_command(app, ["crm", "audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_transactions_left_empty_by_an_erasure_are_removed_and_shared_ones_kept(app, db_session, dpo):
    from sqlalchemy_continuum import versioning_manager

    from crm.gdpr.erasure import erase

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    other, _ = full_card(app, db_session, client)
    transaction = versioning_manager.transaction_cls

    def transactions_of(s, client_id):
        from crm.clients.models import Client
        from sqlalchemy_continuum import version_class

        version = version_class(Client)
        return set(s.scalars(select(version.transaction_id).where(version.id == client_id)))

    # one change of both cards: a transaction shared by the erased card and the one that stays
    from tests.test_bulk_changes import submit, tick

    admin, _ = signed_in(app)
    page = tick(admin, [card, other])
    assert submit(admin, page, status="former").status_code == 302
    own, kept = db_session(lambda s: transactions_of(s, card)), db_session(lambda s: transactions_of(s, other))
    shared = own & kept
    assert len(shared) == 1 and own - kept, "the erased card has transactions of its own and one shared"
    preview = client.get(f"/gdpr/client/{card}/erase").text
    left_empty = re.search(r'<tr data-table="transaction"><td>[^<]+</td><td>(\d+)</td>', preview).group(1)
    every_transaction = db_session(lambda s: set(s.scalars(select(transaction.id))))
    db_session(lambda s: erase(s, card, reason=REASON))
    removed = every_transaction - db_session(lambda s: set(s.scalars(select(transaction.id))))
    assert own - kept <= removed and int(left_empty) == len(removed), "the preview counted the change records that went"
    remaining = db_session(lambda s: set(s.scalars(select(transaction.id).where(transaction.id.in_(own | kept)))))
    assert remaining == kept
    other_versions = db_session(lambda s: transactions_of(s, other))
    assert other_versions == kept, "the card that stays keeps its whole history, the shared change included"


def test_the_record_of_an_erasure_of_a_card_without_email_or_phone_counts_no_public_request(app, db_session):
    from crm.gdpr.erasure import erase

    def erase_a_bare_card(s):
        card = bare_card(s).id
        s.commit()
        return json.loads(erase(s, card, reason=REASON).counts)

    counts = db_session(erase_a_bare_card)
    assert counts["client"] == {"rows": 1, "versions": 1} and counts["public_request"] == {"rows": 0, "versions": 0}, counts


def test_a_failure_in_the_middle_of_an_erasure_changes_nothing(app, db_session, dpo, monkeypatch):
    import crm.gdpr.erasure as erasure

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    before = rows_about(db_session, card)
    original, calls = erasure._erase_place, []

    def failing(session, place, client_id):
        calls.append(place.table.name)
        if len(calls) == 4:
            raise RuntimeError("the disk is full")
        original(session, place, client_id)

    monkeypatch.setattr(erasure, "_erase_place", failing)
    with pytest.raises(RuntimeError):
        db_session(lambda s: erasure.erase(s, card, reason=REASON))
    assert len(calls) == 4
    assert rows_about(db_session, card) == before


def test_an_erased_persons_email_cannot_come_back_unnoticed(app, db_session, dpo, make_user):
    from crm.gdpr.erasure import erase

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    db_session(lambda s: erase(s, card, reason=REASON))
    admin, _ = signed_in(app)
    again = company_form(email=data["email"].upper())
    response = add_client(admin, again)
    assert "została usunięta na swoje żądanie" in response.text
    assert find_client(db_session, company_name=again["company_name"]) is None
    add_client(admin, {**again, "confirm_new_legal_basis": "y"})
    returned = find_client(db_session, company_name=again["company_name"])
    assert returned is not None
    # erased again: the email is on the list once, under the first erasure
    from crm.gdpr.models import Suppression
    from crm.gdpr.suppression import digests_of

    [digest] = digests_of({"email": data["email"]})
    db_session(lambda s: erase(s, returned.id, reason=REASON))
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(Suppression).where(Suppression.digest == digest))) == 1
    same_person = person_form(pesel=data["pesel"])
    assert "została usunięta na swoje żądanie" in add_client(admin, same_person).text
    assert find_client(db_session, last_name=same_person["last_name"]) is None
    # known by the PESEL alone: no email or phone, of which the entries from before 0012 were made
    by_pesel = person_form(pesel=data["pesel"], email="", phone="")
    assert "została usunięta na swoje żądanie" in add_client(admin, by_pesel).text
    assert find_client(db_session, last_name=by_pesel["last_name"]) is None

    api = app.test_client()
    headers = token_for(api, make_user(BACK_OFFICE))
    body = {"kind": "company", "company_name": unique("Powrót "), "phone": data["phone"].replace("+48 ", ""), "status": "lead"}
    assert api.post("/api/v1/client/", json=body, headers=headers).status_code == 409
    assert api.post("/api/v1/client/", json={**body, "confirm_new_legal_basis": True}, headers=headers).status_code == 201


def test_an_entry_from_before_per_value_hashes_stops_the_form_and_the_api(app, db_session, make_user):
    """Migration 0012 kept the old entries (blind indexes of an email or phone) beside the new hashes:
    a card written by hand or through the API must honour both kinds, and neither kind stands for the other."""
    from crm.gdpr.models import Suppression
    from crm.gdpr.suppression import digests_of
    from crm.privacy.crypto import blind_index

    old_email, old_phone = f"{unique('dawna')}@erase.pl", f"60{unique('')[-7:]}"
    new_email = f"{unique('nowa')}@erase.pl"
    [new_digest] = digests_of({"email": new_email})

    def add(s):
        s.add_all([Suppression(digest=blind_index(old_email, "email", "email"), under_index_key=True),
                   Suppression(digest=blind_index(old_phone, "phone", "phone"), under_index_key=True),
                   # a new hash stored as if it were an old index: looked up among new hashes only, it stops nobody
                   Suppression(digest=new_digest, under_index_key=True)])
        s.commit()

    db_session(add)
    admin, _ = signed_in(app)
    for value in ({"email": old_email.upper()}, {"phone": f"+48 {old_phone[:3]} {old_phone[3:6]} {old_phone[6:]}"}):
        form = company_form(**value)
        assert "została usunięta na swoje żądanie" in add_client(admin, form).text
        assert find_client(db_session, company_name=form["company_name"]) is None
    form = company_form(email=new_email)
    add_client(admin, form)
    assert find_client(db_session, company_name=form["company_name"]) is not None, "an entry is read as its own kind only"

    api = app.test_client()
    headers = token_for(api, make_user(BACK_OFFICE))
    body = {"kind": "company", "company_name": unique("Powrót "), "email": old_email, "status": "lead"}
    assert api.post("/api/v1/client/", json=body, headers=headers).status_code == 409


def test_the_suppression_hash_of_a_value_does_not_change_between_releases(app):
    """The list outlives releases: an entry written by an earlier one must still match the same value.
    The hash under the test key ring (config.TEST_ENCRYPTION_KEYS) is pinned: a change of its key
    derivation, its normalisation or its length would let every erased person back in unnoticed."""
    from crm.gdpr.suppression import digest

    with app.app_context():
        assert digest(" Jan.Kowalski@Example.COM ", "email") == PINNED_SUPPRESSION_DIGEST


def test_erasure_through_the_api_and_the_command_line(app, db_session, dpo, make_user):
    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    api = app.test_client()
    headers = token_for(api, make_user(DATA_PROTECTION_OFFICER))
    preview = api.get(f"/api/v1/gdpr/client/{card}/erasure", headers=headers).json
    assert preview["places"]["client"] == {"rows": 1, "versions": 2}
    url = f"/api/v1/gdpr/client/{card}/erasure"
    assert api.post(url, json={"confirm": card, "reason": REASON}, headers=headers).status_code == 400, "confirm is true"
    assert api.post(url, json={"reason": REASON}, headers=headers).status_code == 400
    assert api.post(url, json={"confirm": True}, headers=headers).status_code == 400, "neither a request nor a reason"
    assert api.post(url, json={"confirm": True, "reason": REASON, "extra": 1}, headers=headers).status_code == 400
    assert api.post(url, json={"confirm": True, "reason": REASON}, headers=token_for(api, make_user(MANAGER))).status_code == 403
    assert rows_about(db_session, card) != {}
    done = api.post(url, json={"confirm": True, "reason": REASON}, headers=headers)
    assert done.status_code == 200 and rows_about(db_session, card) == {}
    # the card is gone: each way in says so, in words
    gone = "Nie ma takiego klienta; mógł już zostać usunięty."
    again = api.post(url, json={"confirm": True, "reason": REASON}, headers=headers)
    assert again.status_code == 404 and again.json["message"] == gone
    previewed = api.get(url, headers=headers)
    assert previewed.status_code == 404 and previewed.json["message"] == gone
    page = client.get(f"/gdpr/client/{card}/erase?reason=x")
    assert page.status_code == 404 and "Być może został usunięty." in page.text
    result = run_command(app, ["crm", "erase", str(card), "--yes", "--reason", REASON])
    assert result.exit_code == 1 and gone in result.stderr

    other, _ = full_card(app, db_session, client)
    result = run_command(app, ["crm", "erase", str(other), "--reason", REASON], input_text="n\n")
    assert result.exit_code == 1 and "Niczego nie usunięto" in result.stderr
    assert rows_about(db_session, other) != {}
    result = run_command(app, ["crm", "erase", str(other), "--yes"])
    assert result.exit_code == 1 and "podaj przyczynę" in result.stderr
    result = run_command(app, ["crm", "erase", str(other), "--yes", "--reason", REASON])
    assert result.exit_code == 0, result.stderr
    assert rows_about(db_session, other) == {}


def test_an_api_body_other_than_the_documented_one_is_refused_and_records_nothing(app, db_session, make_user):
    """A request id that is no positive integer (true, 0, "5"), a reason that is no text, a key the
    document does not name, or cards to erase with that are not numbers: 400, nothing exported or erased."""
    from crm.gdpr.models import GdprEvent

    admin, _ = signed_in(app)
    data = person_form(email=f"{unique('api')}@erase.pl")
    add_client(admin, data)
    card = find_client(db_session, last_name=data["last_name"]).id
    api = app.test_client()
    headers = token_for(api, make_user(DATA_PROTECTION_OFFICER))
    grounds = ({"request_id": True}, {"request_id": 0}, {"request_id": -3}, {"request_id": "5"}, {"request_id": 1.0},
               {"reason": ["Porządki w bazie"]}, {"reason": REASON, "note": "x"}, [REASON], REASON)
    for body in grounds:
        answer = api.post(f"/api/v1/gdpr/client/{card}/export", json=body, headers=headers)
        assert answer.status_code == 400, body
        erasure = {**body, "confirm": True} if isinstance(body, dict) else body
        assert api.post(f"/api/v1/gdpr/client/{card}/erasure", json=erasure, headers=headers).status_code == 400, body
    for also in ("5", [True], ["5"], [5.0], {"id": 5}):
        body = {"confirm": True, "reason": REASON, "also": also}
        assert api.post(f"/api/v1/gdpr/client/{card}/erasure", json=body, headers=headers).status_code == 400, also
    assert db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).all()) == []
    assert find_client(db_session, last_name=data["last_name"]).id == card

    answer = api.post(f"/api/v1/gdpr/client/{card}/erasure", json={"confirm": True, "reason": REASON, "also": []}, headers=headers)
    assert answer.status_code == 200 and find_client(db_session, last_name=data["last_name"]) is None


# -- consents, objection, restriction ------------------------------------------------------------------

def withdraw_consent(client, consent_id, on: date | None = None):
    """Withdraw a consent through its edit form."""
    page = client.get(f"/consentmodelview/edit/{consent_id}")
    form = {**edit_form_data(page.text), "withdrawn_on": (on or date.today()).isoformat(), "csrf_token": csrf_token(page.text)}
    response = client.post(f"/consentmodelview/edit/{consent_id}", data=form, follow_redirects=True)
    assert "Zapisano zmiany" in response.text


def test_a_subscription_needs_a_basis_and_withdrawing_it_ends_the_subscriptions(app, db_session):
    from crm.clients.models import Client
    from crm.gdpr.models import Consent

    admin, _ = signed_in(app)
    add_client(admin, company_form(company_name=unique("Bez zgody ")))
    card = db_session(lambda s: s.scalar(select(Client.id).order_by(Client.id.desc()).limit(1)))
    list_id = new_list(db_session)
    refused = post_form(admin, f"/subscriptionmodelview/add?_flt_0_client={card}", {"mailing_list": str(list_id), "source": "manual"})
    assert "nie ma ważnej zgody" in refused.text
    record_marketing_consent(admin, card)
    post_form(admin, f"/subscriptionmodelview/add?_flt_0_client={card}", {"mailing_list": str(list_id), "source": "manual"})
    assert len(db_session(lambda s: s.get(Client, card).subscriptions)) == 1

    record_marketing_consent(admin, card, given_on="2026-02-01", evidence="Druga zgoda, w sklepie")
    first, second = db_session(lambda s: s.scalars(select(Consent.id).where(Consent.client_id == card).order_by(Consent.id)).all())

    withdraw_consent(admin, first)
    assert len(db_session(lambda s: s.get(Client, card).subscriptions)) == 1, "the other consent is still a basis"
    withdraw_consent(admin, second)
    assert db_session(lambda s: s.get(Client, card).subscriptions) == []


def test_an_objection_withdraws_marketing_and_ends_subscriptions(app, db_session, dpo):
    from crm.clients.models import Client

    from crm.gdpr.models import Consent

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    admin, _ = signed_in(app)
    record_marketing_consent(admin, card, purpose="phone_marketing")
    record_marketing_consent(admin, card, purpose="contract", lawful_basis="contract")
    record_marketing_consent(admin, card, purpose="phone_marketing", evidence="Wycofana wcześniej")
    withdraw_consent(admin, db_session(lambda s: s.scalar(select(func.max(Consent.id)))), on=date(2026, 3, 1))
    assert len(db_session(lambda s: s.get(Client, card).subscriptions)) == 1
    other, _ = full_card(app, db_session, client)
    register_request(client, card, kind="objection")
    assert db_session(lambda s: s.get(Client, card).subscriptions) == []
    assert len(db_session(lambda s: s.get(Client, other).subscriptions)) == 1, "another client's objection is not theirs"
    assert db_session(lambda s: s.scalars(select(Consent.withdrawn_on).where(Consent.client_id == other)).all()) == [None]
    withdrawn = db_session(lambda s: sorted((c.purpose, c.withdrawn_on) for c in s.scalars(select(Consent).where(Consent.client_id == card))))
    assert withdrawn == [("contract", None), ("email_marketing", date.today()), ("phone_marketing", date(2026, 3, 1)),
                         ("phone_marketing", date.today())], \
        "marketing of every kind ends; a contract is no marketing; an earlier withdrawal keeps its day"


def test_a_restricted_card_can_be_viewed_but_not_changed_until_lifted(app, db_session, dpo, make_user):
    from crm.clients.models import Client
    from crm.gdpr.models import Restriction

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    post_form(client, f"/restrictionmodelview/add?_flt_0_client={card}",
              {"since": date.today().isoformat(), "reason": "Osoba kwestionuje prawidłowość danych"})
    recorded_by = db_session(lambda s: s.scalar(select(Restriction).where(Restriction.client_id == card)).created_by)
    assert (recorded_by.first_name, recorded_by.last_name) == ("Inga", "Inspektorka"), "who restricted it is recorded"
    manager, _ = signed_in(app, make_user(MANAGER))
    assert manager.get(f"/clientmodelview/show/{card}").status_code == 200
    page = manager.get(f"/clientmodelview/edit/{card}")
    response = manager.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(page.text), "city": "Kalisz", "csrf_token": csrf_token(page.text)}, follow_redirects=True)
    assert "jest ograniczone (art. 18)" in response.text
    note = post_form(manager, f"/notemodelview/add?_flt_0_client={card}", {"kind": "note", "occurred_on": "2026-05-05", "text": "x"})
    assert "jest ograniczone (art. 18)" in note.text
    api = app.test_client()
    headers = token_for(api, make_user(MANAGER))
    version = api.get(f"/api/v1/client/{card}", headers=headers).json["result"]["lock_version"]
    assert api.put(f"/api/v1/client/{card}", json={"city": "Kalisz", "lock_version": version}, headers=headers).status_code == 409
    versions = sorted(int(v) for v in re.findall(r'name="older" value="(\d+)"', manager.get(f"/history/client/{card}/").text))
    for confirm in ("", "yes"):
        restore = manager.post(f"/history/client/{card}/restore",
                               data={"csrf_token": csrf_token(page.text), "version": str(versions[0]), "confirm": confirm},
                               follow_redirects=True)
        assert "jest ograniczone (art. 18)" in restore.text and 'id="restore-confirm-form"' not in restore.text
    assert db_session(lambda s: s.get(Client, card).city) == "Września", "no restore, no edit went through"
    last_name = db_session(lambda s: s.get(Client, card).last_name)
    assert last_name not in manager.get("/clientmodelview/export/csv").data.decode("utf-8-sig"), "not exported to a list"

    # the card's rows are the card: none is added, changed or deleted either
    from crm.clients.models import ContactPerson, Note

    def rows(s):
        return (sorted((c.id, c.last_name, c.email) for c in s.scalars(select(ContactPerson).where(ContactPerson.client_id == card))),
                sorted((n.id, n.text) for n in s.scalars(select(Note).where(Note.client_id == card))))

    before = db_session(rows)
    (contact_id, *_), (note_id, *_) = before[0][0], before[1][0]
    added = post_form(manager, f"/contactpersonmodelview/add?_flt_0_client={card}", {"first_name": "Ola", "last_name": "Nowa"})
    assert "jest ograniczone (art. 18)" in added.text
    for url, change in ((f"/contactpersonmodelview/edit/{contact_id}", {"email": "zmieniony@erase.pl"}),
                        (f"/notemodelview/edit/{note_id}", {"text": "Zmieniona treść notatki"})):
        form = manager.get(url)
        refused = manager.post(url, data={**edit_form_data(form.text), **change}, follow_redirects=True)
        assert "jest ograniczone (art. 18)" in refused.text, url
    show = manager.get(f"/notemodelview/show/{note_id}")
    manager.post(f"/notemodelview/delete/{note_id}", data={"csrf_token": csrf_token(show.text)})
    assert db_session(rows) == before
    # nor is it put on another mailing list, though its consent to email marketing stands
    from crm.mailing.models import Subscription

    subscribed = post_form(manager, f"/subscriptionmodelview/add?_flt_0_client={card}",
                           {"mailing_list": str(new_list(db_session)), "source": "manual"})
    assert "jest ograniczone (art. 18)" in subscribed.text
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(Subscription).where(Subscription.client_id == card))) == 1

    restriction = db_session(lambda s: s.scalar(select(Restriction.id).where(Restriction.client_id == card)))
    page = client.get(f"/restrictionmodelview/edit/{restriction}")
    client.post(f"/restrictionmodelview/edit/{restriction}", data={**edit_form_data(page.text), "lifted_on": date.today().isoformat(), "csrf_token": csrf_token(page.text)})
    page = manager.get(f"/clientmodelview/edit/{card}")
    response = manager.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(page.text), "city": "Kalisz", "csrf_token": csrf_token(page.text)}, follow_redirects=True)
    assert "Zapisano zmiany" in response.text


def test_a_consent_or_restriction_with_dates_that_cannot_be_is_refused_and_nothing_is_saved(app, db_session, dpo):
    """A consent given tomorrow, withdrawn before it was given, a restriction ending or lifted before it began."""
    from crm.gdpr.models import Consent, Restriction

    admin, _ = signed_in(app)
    data = person_form(email=f"{unique('daty')}@erase.pl")
    add_client(admin, data)
    card = find_client(db_session, last_name=data["last_name"]).id
    today, tomorrow = date.today(), date.today() + timedelta(days=1)

    def consents(s):
        return sorted((c.given_on, c.withdrawn_on) for c in s.scalars(select(Consent).where(Consent.client_id == card)))

    refused = record_marketing_consent(admin, card, given_on=tomorrow.isoformat())
    assert "Zgoda nie może mieć daty z przyszłości." in refused.text and db_session(consents) == []
    record_marketing_consent(admin, card, given_on=today.isoformat())
    assert db_session(consents) == [(today, None)]
    consent = db_session(lambda s: s.scalar(select(Consent.id).where(Consent.client_id == card)))
    for withdrawn, saved in (((today - timedelta(days=1)), None), (today, today)):
        page = admin.get(f"/consentmodelview/edit/{consent}")
        answer = admin.post(f"/consentmodelview/edit/{consent}", follow_redirects=True, data={
            **edit_form_data(page.text), "withdrawn_on": withdrawn.isoformat(), "csrf_token": csrf_token(page.text)})
        assert ("Data końcowa nie może być wcześniejsza niż początkowa." in answer.text) is (saved is None)
        assert db_session(consents) == [(today, saved)]

    officer, _ = dpo

    def restrictions(s):
        return sorted((r.since, r.until, r.lifted_on) for r in s.scalars(select(Restriction).where(Restriction.client_id == card)))

    url = f"/restrictionmodelview/add?_flt_0_client={card}"
    reason = "Osoba kwestionuje prawidłowość danych"
    refused = post_form(officer, url, {"since": today.isoformat(), "until": (today - timedelta(days=1)).isoformat(), "reason": reason})
    assert "Data końcowa nie może być wcześniejsza niż początkowa." in refused.text and db_session(restrictions) == []
    post_form(officer, url, {"since": today.isoformat(), "until": today.isoformat(), "reason": reason})
    assert db_session(restrictions) == [(today, today, None)]
    restriction = db_session(lambda s: s.scalar(select(Restriction.id).where(Restriction.client_id == card)))
    for lifted, saved in (((today - timedelta(days=1)), None), (today, today)):
        page = officer.get(f"/restrictionmodelview/edit/{restriction}")
        answer = officer.post(f"/restrictionmodelview/edit/{restriction}", follow_redirects=True, data={
            **edit_form_data(page.text), "lifted_on": lifted.isoformat(), "csrf_token": csrf_token(page.text)})
        assert ("Data końcowa nie może być wcześniejsza niż początkowa." in answer.text) is (saved is None)
        assert db_session(restrictions) == [(today, today, saved)]


# -- retention ------------------------------------------------------------------------------------------

def test_clients_without_activity_are_listed_and_erased_by_the_retention_rule(app, db_session, dpo):
    from sqlalchemy_continuum import versioning_manager

    from crm.gdpr.models import GdprEvent
    from crm.gdpr.places import places

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    # written after the other, without activity for longer
    older, _ = full_card(app, db_session, client)
    fresh, _ = full_card(app, db_session, client)

    def age(s, who, when):
        transaction = versioning_manager.transaction_cls.__table__
        ids = set()
        for place in places():
            if place.version_table is not None:
                ids |= set(s.scalars(select(place.version_table.c.transaction_id).where(place.rows_of(place.version_table, who))))
        s.execute(transaction.update().where(transaction.c.id.in_(ids)).values(issued_at=when))
        s.commit()

    db_session(lambda s: age(s, card, datetime(2015, 1, 1)))
    db_session(lambda s: age(s, older, datetime(2012, 3, 1)))
    page = client.get("/gdpr/retention").text
    assert f"#{card} " in page and f"#{fresh} " not in page
    assert page.index(f"#{older} ") < page.index(f"#{card} "), "the longest without activity first"
    result = run_command(app, ["crm", "retention"])
    assert f"Klient {card}: ostatnia aktywność 2015-01-01" in result.stdout
    result = run_command(app, ["crm", "retention", "--apply"])
    assert result.exit_code == 0, result.stderr
    assert rows_about(db_session, card) == {} and rows_about(db_session, fresh) != {}
    assert db_session(lambda s: s.scalars(select(GdprEvent.kind).where(GdprEvent.client_number == card)).all()) == ["retention"]


def test_roles_without_the_permissions_reach_no_gdpr_tool(app, db_session, make_user):
    admin, _ = signed_in(app)
    card, _ = full_card(app, db_session, admin)
    auditor, _ = signed_in(app, make_user(AUDITOR))
    for path in (f"/gdpr/client/{card}/export", f"/gdpr/client/{card}/erase", "/gdpr/", "/gdpr/retention"):
        assert auditor.get(path).status_code == 403, path
    show = auditor.get(f"/clientmodelview/show/{card}").text
    assert "card-export" not in show and "card-erase" not in show


def test_exports_and_erasures_are_listed_without_personal_data(app, db_session, dpo, make_user):
    from crm.gdpr.erasure import erase
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, data = full_card(app, db_session)
    export_zip(client, card, reason=REASON)
    db_session(lambda s: erase(s, card, reason=REASON))
    auditor, _ = signed_in(app, make_user(AUDITOR))
    page = auditor.get("/gdpreventmodelview/list/").text
    assert page.count(f"<td>{card}</td>") == 2 and "Eksport" in page and "Usunięcie" in page
    assert data["last_name"] not in page and data["email"] not in page
    # the erasure's record says how much went from each place, in the places' own words
    # who exported is recorded
    exported = db_session(lambda s: s.scalar(select(GdprEvent.id).where(GdprEvent.client_number == card, GdprEvent.kind == "export")))
    assert "Inspektorka" in auditor.get(f"/gdpreventmodelview/show/{exported}").text
    erasure = db_session(lambda s: s.scalar(select(GdprEvent.id).where(GdprEvent.client_number == card, GdprEvent.kind == "erasure")))
    shown = auditor.get(f"/gdpreventmodelview/show/{erasure}").text
    assert re.search(r"Karty klientów: osoba albo firma i jej ludzie: 1 \(wersji: [1-9]\d*\); ", shown), "one card and its versions, then the next place"
    assert re.search(r"Puste zapisy zmian: [1-9]\d* \(wersji: 0\)", shown) and "transactions" not in shown


def test_an_export_or_erasure_naming_another_clients_request_is_refused_and_changes_nothing(app, db_session, dpo, make_user):
    from crm.gdpr.models import GdprEvent

    client, _ = dpo
    card, _ = full_card(app, db_session)
    other, _ = full_card(app, db_session)
    foreign = register_request(client, other, kind="access")
    for request_id in (foreign, 987654):
        response = export_zip(client, card, request_id)
        assert response.status_code == 404 and "Nie ma takiego żądania" in response.text
        page = client.get(f"/gdpr/client/{card}/erase")
        response = client.post(f"/gdpr/client/{card}/erase",
                               data={"csrf_token": csrf_token(page.text), "confirm": str(card), "request": str(request_id)})
        assert response.status_code == 404 and "Nie ma takiego żądania" in response.text
    api = app.test_client()
    headers = token_for(api, make_user(DATA_PROTECTION_OFFICER))
    assert api.post(f"/api/v1/gdpr/client/{card}/erasure", json={"confirm": True, "request_id": foreign}, headers=headers).status_code == 404
    assert api.post(f"/api/v1/gdpr/client/{card}/erasure", json={"confirm": True, "request_id": "x"}, headers=headers).status_code == 400
    result = run_command(app, ["crm", "erase", str(card), "--yes", "--request", str(foreign)])
    assert result.exit_code == 1 and "Nie ma takiego żądania" in result.stderr
    assert rows_about(db_session, card) != {}
    assert db_session(lambda s: [(e.kind, e.request_id) for e in s.scalars(select(GdprEvent).where(GdprEvent.client_number == card))]) == []


def test_erasing_or_exporting_needs_the_requests_and_the_persons_data_in_clear(app, db_session, make_user):
    from crm.extensions import appbuilder
    from crm.security.capabilities import pairs_for
    from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_id

    admin, auth = admin_client(app)
    role = new_role(admin, auth)
    rid = role_id(app, role)
    refused = post_form(admin, read_form(admin), add=[f"{rid}:clients.view", f"{rid}:gdpr.erase", f"{rid}:gdpr.export"])
    assert refused.status_code == 400
    assert "wymaga też" in refused.text and "Rejestrowanie i obsługa żądań osób oraz ich terminy" in refused.text

    # a role holding erasure without them (as set up before this rule existed) is refused at the door
    def grant(s):
        found = appbuilder.sm.find_role(role)
        rows = {(pv.permission.name, pv.view_menu.name): pv for pv in s.scalars(s.query(appbuilder.sm.permissionview_model).statement)}
        found.permissions = [rows[pair] for pair in pairs_for({"clients.view", "gdpr.erase", "gdpr.export"})]
        s.commit()

    db_session(grant)
    card, _ = full_card(app, db_session)
    staff, _ = signed_in(app, make_user(role))
    assert staff.get(f"/gdpr/client/{card}/erase").status_code == 403
    page = staff.get(f"/clientmodelview/show/{card}")
    response = staff.post(f"/gdpr/client/{card}/erase", data={"csrf_token": csrf_token(page.text), "confirm": str(card), "reason": REASON})
    assert response.status_code == 403 and "aby sprawdzić, kogo usuwasz" in response.text
    api = app.test_client()
    headers = token_for(api, make_user(role))
    assert api.post(f"/api/v1/gdpr/client/{card}/erasure", json={"confirm": True, "reason": REASON}, headers=headers).status_code == 403
    assert api.post(f"/api/v1/gdpr/client/{card}/export", json={"reason": REASON}, headers=headers).status_code == 403
    assert rows_about(db_session, card) != {}


def test_a_role_that_may_export_may_not_erase(app, db_session, make_user):
    """Export and erasure are two cells of the matrix: ticking one opens nothing of the other."""
    from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_id

    admin, auth = admin_client(app)
    role = new_role(admin, auth)
    rid = role_id(app, role)
    ticked = ("clients.view", "personal_data.see", "gdpr.requests", "gdpr.export")
    assert post_form(admin, read_form(admin), add=[f"{rid}:{key}" for key in ticked]).status_code in (200, 302)
    card, _ = full_card(app, db_session)
    staff, _ = signed_in(app, make_user(role))
    assert staff.get(f"/gdpr/client/{card}/erase").status_code == 403
    page = staff.get(f"/clientmodelview/show/{card}")
    assert staff.post(f"/gdpr/client/{card}/erase",
                      data={"csrf_token": csrf_token(page.text), "confirm": str(card), "reason": REASON}).status_code == 403
    api = app.test_client()
    headers = token_for(api, make_user(role))
    url = f"/api/v1/gdpr/client/{card}/erasure"
    assert api.get(url, headers=headers).status_code == 403
    assert api.post(url, json={"confirm": True, "reason": REASON}, headers=headers).status_code == 403
    assert rows_about(db_session, card) != {}
    exported = api.post(f"/api/v1/gdpr/client/{card}/export", json={"reason": REASON}, headers=headers)
    assert exported.status_code == 200, "the export it was given works"


def test_deleting_a_card_deletes_its_consents_and_returns_to_the_list(app, db_session, make_user):
    from crm.clients.models import Client
    from crm.gdpr.models import Consent, DataSubjectRequest

    admin, _ = signed_in(app)
    card, _ = full_card(app, db_session)
    request_id = register_request(admin, card, kind="access")
    show = admin.get(f"/clientmodelview/show/{card}")
    response = admin.post(f"/clientmodelview/delete/{card}", data={"csrf_token": csrf_token(show.text)},
                          headers={"Referer": f"https://localhost/clientmodelview/show/{card}"}, follow_redirects=True)
    assert response.status_code == 200 and response.request.path == "/clientmodelview/list/"
    assert "Usunięto rekord" in response.text
    assert "INSERT" not in response.text and "UPDATE" not in response.text and "NOT NULL" not in response.text
    assert db_session(lambda s: s.get(Client, card)) is None
    assert db_session(lambda s: s.scalars(select(Consent).where(Consent.client_id == card)).all()) == []
    kept = db_session(lambda s: s.get(DataSubjectRequest, request_id))
    assert kept is not None and kept.client_id is None, "the request stays in the register"

    other, _ = full_card(app, db_session)
    api = app.test_client()
    response = api.delete(f"/api/v1/client/{other}", headers=token_for(api, make_user(MANAGER)))
    assert response.status_code == 200, response.json
    assert db_session(lambda s: s.get(Client, other)) is None


def test_a_restricted_card_is_not_deleted(app, db_session, dpo, make_user):
    from crm.clients.models import Client

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    post_form(client, f"/restrictionmodelview/add?_flt_0_client={card}",
              {"since": date.today().isoformat(), "reason": "Osoba sprzeciwia się usunięciu danych"})
    admin, _ = signed_in(app)
    show = admin.get(f"/clientmodelview/show/{card}")
    response = admin.post(f"/clientmodelview/delete/{card}", data={"csrf_token": csrf_token(show.text)}, follow_redirects=True)
    assert "jest ograniczone (art. 18)" in response.text
    api = app.test_client()
    response = api.delete(f"/api/v1/client/{card}", headers=token_for(api, make_user(MANAGER)))
    assert response.status_code == 409 and "art. 18" in response.json["message"]
    assert db_session(lambda s: s.get(Client, card)) is not None


def openings_of(s, client_ids) -> dict[int, int]:
    """How many recorded openings each of these cards has."""
    from crm.accountability.models import ReadAccessCard

    counted = dict(s.execute(select(ReadAccessCard.client_id, func.count()).where(
        ReadAccessCard.client_id.in_(client_ids)).group_by(ReadAccessCard.client_id)).all())
    return {client_id: counted.get(client_id, 0) for client_id in client_ids}


def test_the_erasure_preview_offers_at_most_fifty_cards_sharing_one_value(app, db_session, dpo):
    """A company phone shared by hundreds of cards must not make the officer's page endless."""
    from crm.clients.models import Client
    from crm.gdpr.erasure import MAX_SHARING

    client, _ = dpo
    phone = f"+48 5{secrets.randbelow(10**7):07d}1"

    def cards_sharing_a_phone(s):
        cards = [Client(kind="company", company_name=unique("Wspólny telefon "), phone=phone) for _ in range(MAX_SHARING + 2)]
        s.add_all(cards)
        s.commit()
        return cards[0].id

    card = db_session(cards_sharing_a_phone)
    offered = re.findall(r'name="also" value="(\d+)"', client.get(f"/gdpr/client/{card}/erase").text)
    assert len(offered) == MAX_SHARING == 50


def test_the_erasure_preview_names_cards_sharing_the_persons_identifiers_and_erases_the_ticked_ones(app, db_session, dpo):
    from crm.clients.models import Client
    from crm.gdpr.models import GdprEvent
    from crm.privacy.keystore import key_store

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    admin, _ = signed_in(app)
    twin = person_form(pesel=data["pesel"], email=f"{unique('blizniak')}@erase.pl", confirm_duplicate="y")
    add_client(admin, twin)
    colleague = company_form(phone=data["phone"], confirm_duplicate="y")
    add_client(admin, colleague)
    stranger = company_form()
    add_client(admin, stranger)
    twin_id = find_client(db_session, last_name=twin["last_name"]).id
    colleague_id = find_client(db_session, company_name=colleague["company_name"]).id
    stranger_id = find_client(db_session, company_name=stranger["company_name"]).id

    opened_before = db_session(lambda s: openings_of(s, [twin_id, colleague_id]))
    page = client.get(f"/gdpr/client/{card}/erase")
    offered = re.findall(r'name="also" value="(\d+)"', page.text)
    assert offered == sorted([str(twin_id), str(colleague_id)], key=int)
    assert re.search(r'<textarea[^>]*name="reason"[^>]*></textarea>', page.text), "a first visit gives no reason"
    assert db_session(lambda s: openings_of(s, [twin_id, colleague_id])) == {
        key: count + 1 for key, count in opened_before.items()}, "the page shows the sharing cards: their openings are recorded"
    sharing = page.text.split('id="sharing-cards"')[1].split("</div>\n  </div>")[0]
    assert "PESEL" in sharing and "Telefon" in sharing and data["pesel"] not in page.text
    assert twin["last_name"] in sharing and colleague["company_name"] in sharing, "each card by its name"

    # a card that shares nothing cannot be slipped in: nothing is erased
    refused = client.post(f"/gdpr/client/{card}/erase", data={
        "csrf_token": csrf_token(page.text), "confirm": str(card), "reason": REASON, "also": [str(twin_id), str(stranger_id)]})
    assert refused.status_code == 400 and "Niczego nie usunięto" in refused.text
    assert f">{REASON}</textarea>" in refused.text, "the reason written is kept for the next try"
    assert rows_about(db_session, card) and rows_about(db_session, stranger_id)

    keys = {cid: db_session(lambda s, cid=cid: s.get(Client, cid).data_key_id) for cid in (card, twin_id, colleague_id)}
    done = client.post(f"/gdpr/client/{card}/erase", data={
        "csrf_token": csrf_token(page.text), "confirm": str(card), "reason": REASON, "also": [str(twin_id)]}, follow_redirects=True)
    assert done.status_code == 200 and f"#{twin_id}" in done.text
    assert rows_about(db_session, card) == {} and rows_about(db_session, twin_id) == {}
    assert rows_about(db_session, colleague_id), "an unticked card stays"
    assert key_store().existing(keys.values()) == {keys[colleague_id]}
    events = db_session(lambda s: s.scalars(select(GdprEvent.client_number).where(
        GdprEvent.kind == "erasure", GdprEvent.client_number.in_([card, twin_id]))).all())
    assert sorted(events) == sorted([card, twin_id]), "each card erased has its own record"
