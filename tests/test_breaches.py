"""The breach register (Art. 33-34): the 72-hour clock, affected persons from the records, the report, the letters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from crm.security.roles import AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER, MANAGER
from tests.conftest import STAFF_PASSWORD, csrf_token, unique
from tests.test_clients_forms import edit_form_data
from tests.test_gdpr import REASON, erase_form, signed_in
from tests.test_read_access import new_card, user_id
from tests.test_sessions_and_forced_change import SmtpSink

OFFICE = ZoneInfo("Europe/Warsaw")
ADD_URL = "/breachmodelview/add"


def office_time(hours_ago: float) -> str:
    """A moment as a Polish officer types it."""
    return (datetime.now(OFFICE) - timedelta(hours=hours_ago)).strftime("%d.%m.%Y %H:%M")


def breach_form(title: str, discovered_hours_ago: float = 2, **overrides) -> MultiDict:
    fields = {
        "title": title,
        "occurred_at": office_time(discovered_hours_ago + 1),
        "discovered_at": office_time(discovered_hours_ago),
        "description": "Laptop handlowca z niezaszyfrowanym eksportem listy klientów skradziony z samochodu",
        "consequences": "Możliwe wykorzystanie danych kontaktowych do phishingu",
        "measures": "Zablokowano konto, zmieniono hasła, zgłoszono kradzież policji",
        "reported_at": "",
        "authority_reference": "",
        "delay_reason": "",
        **overrides,
    }
    ticks = [("data_categories", "identity"), ("data_categories", "contact"), ("subject_categories", "clients")]
    return MultiDict([*fields.items(), *ticks])


def post_breach(client, url: str, form: MultiDict):
    page = client.get(url)
    assert page.status_code == 200, url
    form = form.copy()
    form["csrf_token"] = csrf_token(page.text)
    for name, value in edit_form_data(page.text).items():
        if name == "lock_version":
            form[name] = value
    return client.post(url, data=form)


def breach_id(db_session, title) -> int | None:
    from crm.breaches.models import Breach

    return db_session(lambda s: s.scalar(select(Breach.id).where(Breach.title == title)))


def test_a_breach_found_80_hours_ago_is_overdue_until_its_report_is_recorded_with_the_delays_reason(app, make_user, db_session):
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Kradzież laptopa ")
    assert post_breach(officer, ADD_URL, breach_form(title, discovered_hours_ago=80.5)).status_code == 302
    pk = breach_id(db_session, title)
    listed = officer.get("/breachmodelview/list/").text
    assert title in listed and "po terminie o 8 godz." in listed
    dashboard = officer.get("/gdpr/").text
    due = re.search(r'(?s)<table[^>]*id="breaches-due".*?</table>', dashboard).group(0)
    assert title in due and "po terminie o 8 godz." in due
    assert re.search(r'data-breaches="overdue"', dashboard), "the chart counts the overdue breach"

    late = breach_form(title, discovered_hours_ago=80.5, reported_at=office_time(0.1))
    refused = post_breach(officer, f"/breachmodelview/edit/{pk}", late)
    assert refused.status_code == 422 and "musi podawać przyczyny opóźnienia" in refused.text
    late["delay_reason"] = "Kradzież zgłoszona przez handlowca dopiero po weekendzie"
    late["authority_reference"] = "DKN.5130.1234.2026"
    assert post_breach(officer, f"/breachmodelview/edit/{pk}", late).status_code == 302
    assert "zgłoszono organowi nadzorczemu" in officer.get(f"/breachmodelview/show/{pk}").text
    assert title not in officer.get("/gdpr/").text, "a reported breach leaves the deadlines page"


def test_a_breach_within_72_hours_shows_the_hours_left(app, make_user, db_session):
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Błędny e-mail ")
    assert post_breach(officer, ADD_URL, breach_form(title, discovered_hours_ago=10.5)).status_code == 302
    assert "61 godz. na zgłoszenie" in officer.get(f"/breachmodelview/show/{breach_id(db_session, title)}").text


def test_contradictory_or_unreadable_times_are_refused_in_polish_and_nothing_is_written(app, make_user, db_session):
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    for overrides, message in (
        ({"discovered_at": office_time(-5)}, "ani w przyszłości"),
        ({"discovered_at": "wczoraj wieczorem"}, "Podaj datę i godzinę"),
        ({"occurred_at": office_time(0.5), "discovered_at": office_time(3)}, "przed jego wystąpieniem"),
        ({"reported_at": office_time(10)}, "przed stwierdzeniem naruszenia"),
        ({"description": "x" * 5000}, "4000"),
    ):
        title = unique("Zły wpis ")
        refused = post_breach(officer, ADD_URL, breach_form(title, discovered_hours_ago=5, **overrides))
        assert refused.status_code == 422 and message in refused.text, overrides
        assert breach_id(db_session, title) is None


def test_affected_persons_are_found_by_account_and_role_from_openings_and_changes(app, make_user, db_session):
    from crm.breaches.models import Breach, BreachPerson

    opened, changed = new_card(app)[0], new_card(app)[0]
    clerk = make_user(BACK_OFFICE)
    clerk_client, _ = signed_in(app, clerk)
    clerk_client.get(f"/clientmodelview/show/{opened}")
    page = clerk_client.get(f"/clientmodelview/edit/{changed}")
    saved = clerk_client.post(f"/clientmodelview/edit/{changed}", data={
        **edit_form_data(page.text), "city": "Kalisz", "csrf_token": csrf_token(page.text)})
    assert saved.status_code == 302
    # made after the clerk's pages (the start page names recently changed cards: an opening too)
    elsewhere = new_card(app)[0]
    manager, _ = signed_in(app, make_user(MANAGER))
    manager.get(f"/clientmodelview/show/{elsewhere}")

    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Przejęte konto ")
    assert post_breach(officer, ADD_URL, breach_form(title)).status_code == 302
    pk = breach_id(db_session, title)

    def find(**fields):
        show = officer.get(f"/breachmodelview/show/{pk}")
        data = {"csrf_token": csrf_token(show.text), "since": office_time(1), "until": office_time(-0.1), **fields}
        return officer.post(f"/breachmodelview/{pk}/affected", data=data)

    def persons():
        return db_session(lambda s: {
            p.client_id: (p.openings, p.changes) for p in s.scalars(select(BreachPerson).where(BreachPerson.breach_id == pk))})

    assert find(user=str(user_id(db_session, clerk))).status_code == 302
    found = persons()
    # (the clerk's start page named other recently changed cards too: those were opened as well)
    assert {opened, changed} <= set(found) and elsewhere not in found, "the clerk's cards, not the manager's"
    assert found[opened][0] >= 1 and found[changed][1] == 1, "the card opened, the card changed"
    assert find(role="Back office").status_code == 302
    assert elsewhere not in persons() and {opened, changed} <= set(persons())
    assert find(role="Manager").status_code == 302 and elsewhere in persons()
    shown = officer.get(f"/breachmodelview/show/{pk}").text
    assert re.search(rf'href="/clientmodelview/show/{elsewhere}"', shown)

    # a window that cannot be searched is refused in words, and nothing changes
    before = persons()
    for fields, message in (({"since": office_time(1), "until": office_time(2)}, "Koniec przedziału"),
                            ({"since": "kiedyś"}, "Koniec przedziału"),
                            ({"since": office_time(24 * 400), "until": office_time(0)}, "Koniec przedziału"),
                            ({"user": "987654"}, "z listy"), ({"user": "1 OR 1=1"}, "z listy"), ({"role": "Szef"}, "z listy")):
        refused = find(**fields)
        assert refused.status_code == 400 and message in refused.text, fields
    assert persons() == before

    # the persons are the person's data: an erasure takes them out; the breach keeps its count
    assert find(user=str(user_id(db_session, clerk))).status_code == 302
    counted = len(persons())
    admin, _ = signed_in(app)
    erase_form(admin, opened, str(opened), reason=REASON)
    assert opened not in persons() and len(persons()) == counted - 1
    assert db_session(lambda s: s.get(Breach, pk).affected_count) == counted


def test_the_persons_are_told_by_email_once_and_the_rest_by_letter(app, make_user, db_session, monkeypatch):
    from crm.breaches.models import BreachPerson
    from crm.clients.models import Client

    with_email, _ = new_card(app, email=f"{unique('klient')}@breach.pl")
    without_email, _ = new_card(app, email="")
    clerk = make_user(BACK_OFFICE)
    clerk_client, _ = signed_in(app, clerk)
    for card in (with_email, without_email):
        clerk_client.get(f"/clientmodelview/show/{card}")
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Wyciek listy ")
    assert post_breach(officer, ADD_URL, breach_form(title, high_risk="y")).status_code == 302
    pk = breach_id(db_session, title)
    show = officer.get(f"/breachmodelview/show/{pk}")
    officer.post(f"/breachmodelview/{pk}/affected", data={
        "csrf_token": csrf_token(show.text), "since": office_time(1), "until": office_time(-0.1),
        "user": str(user_id(db_session, clerk))})

    sink = SmtpSink()
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CRM_SMTP_PORT", sink.port)

    def tell(channel, language="pl"):
        page = officer.get(f"/breachmodelview/show/{pk}")
        return officer.post(f"/breachmodelview/{pk}/notify", data={
            "csrf_token": csrf_token(page.text), "channel": channel, "language": language}, follow_redirects=True)

    address = db_session(lambda s: s.get(Client, with_email).email)
    try:
        first = tell("email").text
        # the clerk's start page named other recently changed cards too: they are affected as well
        emailed = int(re.search(r"Wysłane e-maile: (\d+); niewysłane: 0\.", first).group(1))
        assert "Wysłane e-maile: 0; niewysłane: 0." in tell("email").text, "nobody is told twice"
    finally:
        sink.close()
    assert emailed >= 1 and len(sink.messages) == emailed
    [message] = [message for message in sink.messages if address in message]
    assert "Laptop handlowca" in message and "Zablokowano konto" in message and "art. 34 RODO" in message
    waiting = db_session(lambda s: len(s.scalars(select(BreachPerson).where(
        BreachPerson.breach_id == pk, BreachPerson.notified_at.is_(None))).all()))
    letters = tell("letter", "en")
    assert letters.status_code == 200 and "attachment" in letters.headers["Content-Disposition"]
    assert "Information about a breach of your personal data" in letters.text
    assert waiting >= 1 and letters.text.count('class="letter"') == waiting
    told = db_session(lambda s: {p.client_id: p.notified_by for p in s.scalars(select(BreachPerson).where(BreachPerson.breach_id == pk))})
    assert told[with_email] == "email" and told[without_email] == "letter" and None not in told.values()
    refused = tell("pigeon")
    assert refused.status_code == 400 and "Wybierz sposób zawiadomienia" in refused.text


def test_the_report_for_the_authority_in_polish_and_english(app, make_user, db_session):
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Zgubiony pendrive ")
    assert post_breach(officer, ADD_URL, breach_form(title)).status_code == 302
    pk = breach_id(db_session, title)
    polish = officer.get(f"/breachmodelview/{pk}/report?language=pl")
    english = officer.get(f"/breachmodelview/{pk}/report?language=en")
    assert polish.status_code == english.status_code == 200
    assert "Zgłoszenie naruszenia ochrony danych osobowych" in polish.text and title in polish.text
    assert "Tożsamość" in polish.text and "Klienci (osoby fizyczne" in polish.text
    assert "Notification of a personal data breach" in english.text and "Likely consequences" in english.text
    assert officer.get(f"/breachmodelview/{pk}/report?language=fr").status_code == 400
    assert officer.get("/breachmodelview/987654/report").status_code == 404


def test_an_auditor_reads_the_register_but_cannot_record_or_search(app, make_user, db_session):
    card, body = new_card(app)
    clerk = make_user(BACK_OFFICE)
    signed_in(app, clerk)[0].get(f"/clientmodelview/show/{card}")
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Do wglądu ")
    assert post_breach(officer, ADD_URL, breach_form(title)).status_code == 302
    pk = breach_id(db_session, title)
    show = officer.get(f"/breachmodelview/show/{pk}")
    officer.post(f"/breachmodelview/{pk}/affected", data={
        "csrf_token": csrf_token(show.text), "since": office_time(1), "until": office_time(-0.1),
        "user": str(user_id(db_session, clerk))})
    assert body["company_name"] in officer.get(f"/breachmodelview/show/{pk}").text
    auditor, auth = signed_in(app, make_user(AUDITOR))
    assert title in auditor.get("/breachmodelview/list/").text
    audited = auditor.get(f"/breachmodelview/show/{pk}").text
    assert body["company_name"] not in audited and f"/clientmodelview/show/{card}" not in audited, "names are for the officer"
    assert auditor.get(f"/breachmodelview/{pk}/report").status_code == 200
    assert auditor.get(ADD_URL).status_code == 403
    data = {"csrf_token": auth.csrf, "since": office_time(1), "until": office_time(0)}
    assert auditor.post(f"/breachmodelview/{pk}/affected", data=data).status_code == 403
    back_office, _ = signed_in(app, make_user(BACK_OFFICE))
    assert back_office.get("/breachmodelview/list/").status_code == 403


def test_a_lost_copy_affects_everyone_of_whom_its_category_is_held(app, make_user, db_session):
    from crm.breaches.models import BreachPerson
    from crm.clients.models import Client

    with_identifier, _ = new_card(app)
    without_identifier, _ = new_card(app, nip="")
    officer, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    title = unique("Zgubiona kopia ")
    assert post_breach(officer, ADD_URL, breach_form(title)).status_code == 302
    pk = breach_id(db_session, title)
    show = officer.get(f"/breachmodelview/show/{pk}")
    done = officer.post(f"/breachmodelview/{pk}/affected", data={"csrf_token": csrf_token(show.text), "category": "identifiers"})
    assert done.status_code == 302
    persons = set(db_session(lambda s: s.scalars(select(BreachPerson.client_id).where(BreachPerson.breach_id == pk)).all()))
    holders = set(db_session(lambda s: s.scalars(select(Client.id).where(
        (Client.pesel_bidx.is_not(None)) | (Client.nip_bidx.is_not(None)))).all()))
    assert with_identifier in persons and without_identifier not in persons and persons == holders
    refused = officer.post(f"/breachmodelview/{pk}/affected", data={"csrf_token": csrf_token(show.text), "category": "shoe_size"})
    assert refused.status_code == 400 and "z listy" in refused.text
