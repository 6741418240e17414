"""A working day in Kartoteka: what a Polish back office reads and does on the screens."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from crm.timeutil import shown_time
from tests.conftest import STAFF_PASSWORD, Auth, unique


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
    page = signed_in(app).get("/logineventmodelview/list/").text
    row = page.split(typed)[0].rsplit("<tr", 1)[1]
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
