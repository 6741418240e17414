"""A working day in Kartoteka: what a Polish back office reads and does on the screens."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from crm.timeutil import shown_time
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, named_like, unique


def signed_in(app, username=None, password=STAFF_PASSWORD):
    client = app.test_client()
    Auth(client).login(*((username, password) if username else ()))
    return client


def test_times_read_in_the_offices_zone_without_microseconds(app):
    with app.test_request_context():
        assert shown_time(datetime(2026, 7, 1, 12, 0, 5, 123456)) == "01.07.2026 14:00", "summer: UTC+2"
        assert shown_time(datetime(2026, 12, 1, 23, 30), seconds=True) == "02.12.2026 00:30:00", "winter: UTC+1"
        assert shown_time(date(2026, 3, 9)) == "09.03.2026"
        assert shown_time(None) == ""


def test_the_login_history_shows_office_time(app, db_session):
    from crm.security.models import LoginEvent

    typed = unique("strefa_")

    def add(s):
        s.add(LoginEvent(occurred_at=datetime(2026, 7, 1, 12, 0, 5, 999), result="unknown_user", username_tried=typed))
        s.commit()

    db_session(add)
    client = signed_in(app)
    listing = client.get("/logineventmodelview/list/")
    found = client.post("/logineventmodelview/search", data={"csrf_token": csrf_token(listing.text), "_flt_0_username_tried": typed})
    page = client.get(found.headers["Location"]).text
    row = next(row for row in re.findall(r"<tr.*?</tr>", page, re.S) if typed in row)
    assert "01.07.2026 14:00" in row and "12:00:05" not in row and ".000999" not in row


def test_a_restricted_card_says_so_before_anyone_types(app, db_session):
    from crm.clients.models import Client
    from crm.gdpr.models import Restriction

    def restricted(s):
        card = Client(kind="company", company_name=unique("Ograniczona "))
        card.restrictions.append(Restriction(since=date(2026, 1, 5), reason="Osoba kwestionuje dane"))
        s.add(card)
        s.commit()
        return card.id

    card = db_session(restricted)
    client = signed_in(app)
    show = client.get(f"/clientmodelview/show/{card}").text
    assert 'id="card-restricted"' in show and "Przetwarzanie ograniczone od 05.01.2026" in show
    edit = client.get(f"/clientmodelview/edit/{card}").text
    assert "jest ograniczone (art. 18)" in edit
    def free(s):
        card = Client(kind="company", company_name=unique("Wolna "))
        s.add(card)
        s.commit()
        return card.id

    assert 'id="card-restricted"' not in client.get(f"/clientmodelview/show/{db_session(free)}").text


def test_saves_return_to_the_record_and_a_cards_rows_to_their_card(app, db_session):
    from tests.conftest import company_form, csrf_token
    from tests.test_clients_forms import find_client

    client = signed_in(app)
    client.get("/users/list/")  # another page of the session's history, which FAB would go back to
    data = company_form()
    page = client.get("/clientmodelview/add")
    added = client.post("/clientmodelview/add", data={**data, "csrf_token": csrf_token(page.text)})
    card = find_client(db_session, company_name=data["company_name"]).id
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/clientmodelview/show/{card}")

    url = f"/notemodelview/add?_flt_0_client={card}"
    page = client.get(url)
    note = client.post(url, data={"csrf_token": csrf_token(page.text), "kind": "call", "occurred_on": "2026-05-04", "text": "Telefon"})
    assert note.headers["Location"].endswith(f"/clientmodelview/show/{card}")

    page = client.get(f"/clientmodelview/edit/{card}")
    from tests.test_clients_forms import edit_form_data

    edited = client.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(page.text), "city": "Kutno", "csrf_token": csrf_token(page.text)})
    assert edited.headers["Location"].endswith(f"/clientmodelview/show/{card}")


def test_switching_the_language_stays_on_the_page(app, db_session):
    client = signed_in(app)
    page = "https://localhost/clientmodelview/list/?_oc_ClientModelView=status"
    response = client.get("/lang/en", headers={"Referer": page})
    assert response.status_code == 302 and response.headers["Location"] == page
    assert "Clients" in client.get("/clientmodelview/list/").text
    response = client.get("/lang/pl", headers={"Referer": "https://elsewhere.example/phish"})
    assert "elsewhere.example" not in response.headers["Location"]
    assert client.get("/lang/xx").status_code == 404


def test_a_long_paste_is_refused_whole_with_its_limit_and_lists_show_its_start(client, auth, db_session):
    from sqlalchemy import select

    from crm.clients.models import Note
    from tests.test_related_records import new_card, post_form

    card = new_card(client, auth, db_session)
    url = f"/notemodelview/add?_flt_0_client={card.id}"
    form = client.get(url).text
    # the limit is in the form (a script turns it into a counter, see the browser test)
    assert re.search(r'<textarea[^>]*maxlength="20000"', form)
    refused = post_form(client, url, {"kind": "note", "text": "ą" * 100_000})
    assert refused.status_code == 422
    assert "nie może mieć więcej niż 20000 znaków" in refused.text and "Dodano rekord" not in refused.text
    assert db_session(lambda s: s.scalar(select(Note.id).where(Note.client_id == card.id))) is None

    words = " ".join(f"słowo{n}" for n in range(1500))
    post_form(client, url, {"kind": "note", "text": words})
    note_id = db_session(lambda s: s.scalar(select(Note.id).where(Note.client_id == card.id)))
    listing = client.get("/notemodelview/list/").text
    row = next(row for row in re.findall(r"<tr.*?</tr>", listing, re.S) if "słowo0 " in row)
    start = re.search(r'<span class="long-text-start">(.*?)…</span>', row).group(1)
    assert start.startswith("słowo0 słowo1 ") and len(start) <= 200
    assert f"pokaż całość ({len(words):,} znaków)".replace(",", "\u00a0") in row
    shown = client.get(f"/notemodelview/show/{note_id}").text
    assert words in shown and "long-text" not in shown
    timeline = client.get(f"/history/client/{card.id}/").text
    assert '<details class="long-text">' in timeline and "słowo1499" in timeline.split('class="long-text-full"')[1]


def test_dates_are_typed_and_shown_as_polish_writes_them_and_a_bad_one_is_explained(client, auth, db_session):
    from sqlalchemy import select

    from crm.clients.models import Note
    from tests.test_related_records import new_card, post_form

    card = new_card(client, auth, db_session)
    url = f"/notemodelview/add?_flt_0_client={card.id}"
    form = client.get(url).text
    assert re.search(r'name="occurred_on"[^>]*value="\d\d\.\d\d\.\d{4}"', form), "today, as Polish writes it"
    refused = post_form(client, url, {"kind": "note", "text": "Zła data", "occurred_on": "31.02.2026"})
    assert refused.status_code == 422 and "Wpisz datę jako RRRR-MM-DD lub DD.MM.RRRR." in refused.text
    assert 'value="31.02.2026"' in refused.text, "what was typed stays in the field"
    for typed, stored in (("05.03.2026", date(2026, 3, 5)), (" 2026-03-06 ", date(2026, 3, 6))):
        post_form(client, url, {"kind": "note", "text": f"Notatka {typed}", "occurred_on": typed})
        saved = db_session(lambda s: [n.occurred_on for n in s.scalars(select(Note).where(Note.client_id == card.id))
                                      if n.text == f"Notatka {typed}"])
        assert saved == [stored]
    note_id = db_session(lambda s: s.scalar(select(Note.id).where(Note.client_id == card.id, Note.occurred_on == date(2026, 3, 5))))
    edit = client.get(f"/notemodelview/edit/{note_id}").text
    assert re.search(r'name="occurred_on"[^>]*value="05\.03\.2026"', edit)


def test_the_start_page_shows_each_role_its_own_work(app, make_user, db_session):
    from crm.clients.models import Client
    from crm.gdpr.models import DataSubjectRequest
    from crm.security.roles import ADMINISTRATOR, AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER

    clerk = make_user(BACK_OFFICE, first_name="Bogna")
    clerk_client = signed_in(app, clerk)
    from tests.conftest import company_form
    from tests.test_clients_forms import add_client

    data = company_form()
    add_client(clerk_client, data)
    home = clerk_client.get("/")
    assert home.status_code == 200 and "Dzień dobry, Bogna" in home.text
    mine = re.search(r'<table class="table table-condensed" id="home-my-cards">.*?</table>', home.text, re.S).group(0)
    assert data["company_name"] in mine
    assert 'id="home-my-requests"' not in home.text and 'id="home-locked"' not in home.text

    officer = make_user(DATA_PROTECTION_OFFICER, first_name="Olga")
    officer_id = db_session(lambda s: app.appbuilder.sm.find_user(username=officer).id)
    card_id = db_session(lambda s: next(c.id for c in s.scalars(named_like(Client, data["company_name"])) if c.company_name == data["company_name"]))

    def assigned(s):
        late = DataSubjectRequest(client_id=card_id, kind="erasure", received_on=date(2026, 1, 2), due_on=date(2026, 2, 2),
                                  handler_id=officer_id)
        s.add(late)
        s.commit()
        return late.id

    late = db_session(assigned)
    page = signed_in(app, officer).get("/").text
    requests = re.search(r'id="home-my-requests">.*?</table>', page, re.S).group(0)
    assert f"/datasubjectrequestmodelview/show/{late}" in requests and "termin 02.02.2026" in requests
    assert re.search(rf'<tr class="danger">\s*<td><a href="/datasubjectrequestmodelview/show/{late}"', requests), "overdue"

    admin_page = signed_in(app).get("/").text
    assert re.search(r'id="home-locked">Zablokowane konta: \d+\.', admin_page)
    auditor_page = signed_in(app, make_user(AUDITOR)).get("/").text
    changes = re.search(r'id="home-recent-changes">.*?</table>', auditor_page, re.S).group(0)
    assert "/history/client/" in changes and data["company_name"] not in changes, "an auditor reads names masked"


def test_a_cards_pages_and_its_rows_name_and_link_the_card(app, make_user, db_session):
    from crm.security.roles import AUDITOR
    from tests.test_related_records import new_card, post_form

    client = app.test_client()
    card = new_card(client, Auth(client), db_session)
    name = card.display_name
    crumbs = re.compile(r'<ol class="breadcrumb" id="card-crumbs">.*?</ol>', re.S)
    show = client.get(f"/clientmodelview/show/{card.id}").text
    own = crumbs.search(show).group(0)
    assert name in own and f'href="/clientmodelview/show/{card.id}"' not in own
    assert f"Karta klienta: {name}" in show, "the card's page is titled by its name"
    assert "<title>Kartoteka</title>" in show, "the browser's title and history keep no name"
    add = client.get(f"/notemodelview/add?_flt_0_client={card.id}").text
    assert f'<a href="/clientmodelview/show/{card.id}">{name}</a>' in crumbs.search(add).group(0), "the add form names its card"
    post_form(client, f"/notemodelview/add?_flt_0_client={card.id}", {"kind": "note", "text": "Okruszki"})
    listing = client.get("/notemodelview/list/").text
    row = next(row for row in re.findall(r"<tr.*?</tr>", listing, re.S) if "Okruszki" in row)
    assert f'<a href="/clientmodelview/show/{card.id}">{name}</a>' in row, "a row links its card"
    note = re.search(r"/notemodelview/show/(\d+)", row).group(1)
    for page in (f"/notemodelview/show/{note}", f"/notemodelview/edit/{note}"):
        assert f'<a href="/clientmodelview/show/{card.id}">{name}</a>' in crumbs.search(client.get(page).text).group(0)
    auditor = signed_in(app, make_user(AUDITOR))
    masked = crumbs.search(auditor.get(f"/notemodelview/show/{note}").text).group(0)
    assert name not in masked and f'href="/clientmodelview/show/{card.id}"' in masked


def test_role_names_read_in_polish_and_the_anonymous_role_is_never_offered(app, db_session):
    from crm.security.roles import PUBLIC

    client = signed_in(app)
    public_id = db_session(lambda s: app.appbuilder.sm.find_role(PUBLIC).id)
    for page in ("/users/add", "/users/edit/1", "/groups/add", "/rolesecuritypolicyview/add"):
        form = client.get(page).text
        select = re.search(r'<select[^>]*name="roles?"[^>]*>(.*?)</select>', form, re.S).group(1)
        options = dict((value, label.strip()) for value, label in re.findall(r'<option[^>]*value="(\d+)"[^>]*>([^<]*)</option>', select))
        assert options and str(public_id) not in options, page
        assert "Audytor" in options.values() and "Auditor" not in options.values(), page
    userinfo = client.get("/users/userinfo/").text
    assert "Administrator" in userinfo and "[Administrator]" not in userinfo, "a list of roles reads as words"
