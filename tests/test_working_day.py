"""A working day in Kartoteka: what a Polish back office reads and does on the screens."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from crm.timeutil import shown_time
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique


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
