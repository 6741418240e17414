"""History of a client card: timeline, comparison of two versions, restore, recent changes."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from crm.clients.models import Note
from crm.history.diff import ADDED, CHANGED, REMOVED, SAME, compare_rows, changed_fields, diff_cards, word_diff
from crm.security.roles import AUDITOR, BACK_OFFICE, MANAGER
from crm.timeutil import office_today
from tests.conftest import STAFF_PASSWORD, Auth, company_form, csrf_token, run_command, unique
from tests.test_clients_api import new_company, token_for
from tests.test_clients_forms import add_client, edit_form_data, find_client
from tests.test_related_records import post_form

VERSION = re.compile(r'name="older" value="(\d+)"')


# -- the pure comparison --------------------------------------------------------------

def test_rows_compare_as_added_removed_changed_or_same():
    fields = ("city", "status")
    assert compare_rows(None, {"city": "Łódź", "status": "lead"}, fields)[0] == ADDED
    assert compare_rows({"city": "Łódź", "status": "lead"}, None, fields)[0] == REMOVED
    assert compare_rows({"city": "Łódź", "status": "lead"}, {"city": "Łódź", "status": "lead"}, fields)[0] == SAME
    status, changes = compare_rows({"city": "Łódź", "status": "lead"}, {"city": "Kutno", "status": "lead"}, fields)
    assert status == CHANGED and [c.field for c in changes if c.changed] == ["city"]


def test_changed_fields_of_every_value_type():
    old = {"text": "a", "number": 1, "day": date(2026, 1, 1), "flag": True, "none": None, "same": "x"}
    new = {"text": "b", "number": 2, "day": date(2026, 1, 2), "flag": False, "none": "now set", "same": "x"}
    assert [c.field for c in changed_fields(old, new, tuple(old))] == ["text", "number", "day", "flag", "none"]
    created = changed_fields(None, {"text": "a", "none": None}, ("text", "none"))
    assert [(c.field, c.old, c.new) for c in created] == [("text", None, "a")]


def test_cards_compare_row_by_row_with_related_rows_added_and_removed():
    old = {"client": {1: {"city": "Łódź"}}, "contacts": {7: {"last_name": "Nowak"}}}
    new = {"client": {1: {"city": "Kutno"}}, "contacts": {8: {"last_name": "Kowal"}}}
    rows = diff_cards(old, new, {"client": ("city",), "contacts": ("last_name",)})
    assert [(r.section, r.row_id, r.status) for r in rows] == [
        ("client", 1, CHANGED), ("contacts", 7, REMOVED), ("contacts", 8, ADDED),
    ]


def test_long_text_differs_word_by_word():
    pieces = word_diff("Klient prosi o kontakt rano", "Klient prosi o kontakt wieczorem po 18")
    assert pieces == [
        (SAME, "Klient prosi o kontakt "), (REMOVED, "rano"), (ADDED, "wieczorem po 18"),
    ]
    assert word_diff("", "nowy tekst") == [(ADDED, "nowy tekst")]


# -- helpers ----------------------------------------------------------------------------

def signed_in(app, username=None, password=STAFF_PASSWORD):
    client = app.test_client()
    auth = Auth(client)
    if username is None:
        auth.login()
    else:
        auth.login(username, password)
    return client, auth


def edit_client(client, client_id, **changes):
    page = client.get(f"/clientmodelview/edit/{client_id}")
    data = {**edit_form_data(page.text), **changes, "csrf_token": csrf_token(page.text)}
    response = client.post(f"/clientmodelview/edit/{client_id}", data=data, follow_redirects=True)
    assert "Zapisano zmiany" in response.text, response.text[-2000:]


def new_card(client, db_session, **overrides):
    data = company_form(**overrides)
    add_client(client, data)
    return find_client(db_session, company_name=data["company_name"]).id


def versions(client, client_id) -> list[int]:
    return [int(v) for v in VERSION.findall(client.get(f"/history/client/{client_id}/").text)]


# -- timeline -------------------------------------------------------------------------------

def test_form_writes_appear_on_the_timeline_with_author_address_and_values(app, db_session):
    client, _ = signed_in(app)
    card = new_card(client, db_session, city="Łódź")
    edit_client(client, card, city="Kutno", status="active")
    page = client.get(f"/history/client/{card}/")
    assert page.status_code == 200
    text = page.text
    assert text.count('class="history-change"') == 2
    assert "Administrator Kartoteka" in text and "203.0.113.17" in text
    assert "utworzono" in text and "zmieniono" in text
    newest = text.split('class="history-change"')[1]
    assert "<del>Łódź</del>" in newest and "<ins>Kutno</ins>" in newest
    assert "<del>Potencjalny</del>" in newest and "<ins>Aktywny</ins>" in newest


def test_each_version_of_a_card_ends_where_the_next_begins(app, db_session):
    from sqlalchemy_continuum import version_class

    from crm.clients.models import Client

    client, _ = signed_in(app)
    card = new_card(client, db_session, city="Łódź")
    for city in ("Kutno", "Sieradz", "Zgierz"):
        edit_client(client, card, city=city)
    ClientVersion = version_class(Client)
    chain = db_session(lambda s: [(v.transaction_id, v.end_transaction_id, v.city) for v in s.scalars(
        select(ClientVersion).where(ClientVersion.id == card).order_by(ClientVersion.transaction_id))])
    assert [city for _, _, city in chain] == ["Łódź", "Kutno", "Sieradz", "Zgierz"]
    assert [end for _, end, _ in chain] == [begin for begin, _, _ in chain[1:]] + [None]


def test_the_card_shows_who_created_and_last_changed_it(app, db_session, make_user):
    client, _ = signed_in(app)
    card = new_card(client, db_session)
    manager, _ = signed_in(app, make_user(MANAGER, first_name="Halina", last_name="Zmieniająca"))
    edit_client(manager, card, city="Radom")
    record = manager.get(f"/clientmodelview/show/{card}").text
    block = record.split('id="card-record"')[1].split("</div>")[0]
    assert "Administrator Kartoteka" in block and "Halina Zmieniająca" in block
    assert f'href="/history/client/{card}/"' in block


def test_api_writes_are_on_the_timeline_with_the_api_user(app, make_user):
    client = app.test_client()
    headers = token_for(client, make_user(BACK_OFFICE, first_name="Apolonia", last_name="Interfejs"))
    created = client.post("/api/v1/client/", json=new_company(), headers=headers)
    assert created.status_code == 201
    admin, _ = signed_in(app)
    page = admin.get(f"/history/client/{created.json['id']}/").text
    assert "Apolonia Interfejs" in page


def test_command_line_writes_are_on_the_timeline_as_the_system(app, db_session):
    from crm.clients.models import Client

    before = db_session(lambda s: s.scalar(select(Client.id).order_by(Client.id.desc()).limit(1))) or 0
    result = run_command(app, ["crm", "demo", "--clients", "1", "--seed", "7"])
    assert result.exit_code == 0, result.stderr
    created = db_session(lambda s: s.scalar(select(Client.id).where(Client.id > before).limit(1)))
    admin, _ = signed_in(app)
    page = admin.get(f"/history/client/{created}/").text
    assert "system (wiersz poleceń)" in page


def test_related_rows_are_on_the_card_timeline(app, db_session):
    client, _ = signed_in(app)
    card = new_card(client, db_session)
    page = client.get(f"/contactpersonmodelview/add?_flt_0_client={card}")
    client.post(
        f"/contactpersonmodelview/add?_flt_0_client={card}",
        data={"csrf_token": csrf_token(page.text), "first_name": "Teodor", "last_name": "Kontaktowy"},
    )
    text = client.get(f"/history/client/{card}/").text
    newest = text.split('class="history-change"')[1]
    assert "Osoba kontaktowa" in newest and "<ins>Kontaktowy</ins>" in newest


# -- comparison -------------------------------------------------------------------------

def test_two_far_apart_versions_compare_field_by_field(app, db_session):
    client, _ = signed_in(app)
    card = new_card(client, db_session, remarks="Klient prosi o kontakt rano, najlepiej telefonicznie przed dziewiątą")
    edit_client(client, card, city="Płock")
    edit_client(client, card, remarks="Klient prosi o kontakt wieczorem, najlepiej telefonicznie przed dziewiątą")
    oldest, newest = min(versions(client, card)), max(versions(client, card))
    page = client.get(f"/history/client/{card}/compare?older={oldest}&newer={newest}")
    assert page.status_code == 200
    changed = re.findall(r'<tr class="warning field-changed">\s*<td>([^<]+)</td>', page.text)
    assert set(changed) == {"Miejscowość", "Uwagi"}
    assert "<del>rano,</del>" in page.text and "<ins>wieczorem,</ins>" in page.text


def test_comparison_shows_related_rows_added_and_removed(app, db_session):
    from crm.clients.models import ContactPerson

    client, _ = signed_in(app)
    card = new_card(client, db_session)
    first = max(versions(client, card))

    def add_contact(s):
        s.add(ContactPerson(client_id=card, first_name="Dodany", last_name="Później"))
        s.commit()

    db_session(add_contact)
    latest = max(versions(client, card))
    page = client.get(f"/history/client/{card}/compare?older={first}&newer={latest}").text
    assert "dodano" in page and "Później" in page
    page = client.get(f"/history/client/{card}/compare?older={latest}&newer={first}").text
    assert "dodano" in page, "the older version is always on the left"


def test_comparing_versions_of_another_card_or_bad_numbers_is_refused(app, db_session):
    client, _ = signed_in(app)
    card, other = new_card(client, db_session), new_card(client, db_session)
    foreign = max(versions(client, other))
    own = max(versions(client, card))
    assert client.get(f"/history/client/{card}/compare?older={foreign}&newer={own}").status_code == 404
    assert client.get(f"/history/client/{card}/compare?older=x&newer={own}").status_code == 400
    assert client.get(f"/history/client/{card}/?page=-1").status_code == 400
    assert client.get("/history/client/987654/").status_code == 404


# -- restore ---------------------------------------------------------------------------------

def test_a_manager_restores_an_earlier_version_as_a_new_version(app, db_session, make_user):
    from crm.clients.models import Client, ContactPerson, Note

    manager, auth = signed_in(app, make_user(MANAGER, first_name="Roman", last_name="Przywracający"))
    card = new_card(manager, db_session, city="Sopot")

    def add_note(s):
        s.add(Note(client_id=card, kind="call", occurred_on=date(2026, 3, 1), text="Notatka, która zniknie"))
        s.commit()
        return s.scalar(select(Note.id).where(Note.client_id == card))

    note_id = db_session(add_note)
    target = max(versions(manager, card))
    edit_client(manager, card, city="Gdynia")

    def change_related(s):
        s.delete(s.get(Note, note_id))
        s.add(ContactPerson(client_id=card, first_name="Nowy", last_name="Kontakt"))
        s.commit()

    db_session(change_related)
    timeline = manager.get(f"/history/client/{card}/").text
    choices = timeline.split('id="restore-version"')[1].split("</select>")[0]
    assert f'value="{max(versions(manager, card))}"' not in choices, "the card as it is is not offered"
    preview = manager.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": target})
    assert preview.status_code == 200 and 'id="restore-confirm-form"' in preview.text
    assert "Gdynia" in preview.text and "Sopot" in preview.text
    assert db_session(lambda s: s.get(Client, card).city) == "Gdynia", "nothing is restored before it is confirmed"
    response = manager.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": target, "confirm": "yes"})
    assert response.status_code == 302

    def state(s):
        client = s.get(Client, card)
        return client.city, [n.id for n in client.notes], len(client.contacts)

    assert db_session(state) == ("Sopot", [note_id], 0)
    page = manager.get(f"/history/client/{card}/").text
    newest = page.split('class="history-change"')[1]
    assert "przywrócono" in newest and "Roman Przywracający" in newest


def test_restore_is_refused_without_its_permission_and_for_a_version_of_another_card(app, db_session, make_user):
    admin, auth = signed_in(app)
    card, other = new_card(admin, db_session), new_card(admin, db_session)
    foreign = max(versions(admin, other))
    response = admin.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": foreign})
    assert response.status_code == 404
    response = admin.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": foreign, "confirm": "yes"})
    assert response.status_code == 404
    assert admin.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": "abc"}).status_code == 400
    own = max(versions(admin, card))
    response = admin.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": own}, follow_redirects=True)
    assert "już wygląda jak ta wersja" in response.text

    back_office, auth = signed_in(app, make_user(BACK_OFFICE))
    response = back_office.post(f"/history/client/{card}/restore", data={"csrf_token": auth.csrf, "version": own})
    assert response.status_code == 403


# -- masking -------------------------------------------------------------------------------------

def test_history_masks_personal_values_for_a_role_without_the_permission(app, db_session, make_user):
    admin, _ = signed_in(app)
    email = f"{unique('historia')}@maskowanie.pl"
    card = new_card(admin, db_session, email=email, city="Ełk",
                    remarks="Dzwonić rano, jest lekarzem w Ełku i ma dyżury w przychodni przy ulicy Długiej")
    post_form(admin, f"/notemodelview/add?_flt_0_client={card}", {
        "kind": "call", "occurred_on": "2026-05-05",
        "text": "Pyta o rabat na kolejne zamówienie, mówi że choruje na cukrzycę i prosi o dyskrecję"})
    edit_client(admin, card, city="Olecko",
                remarks="Dzwonić wieczorem, jest lekarzem w Olecku i ma dyżury w przychodni przy ulicy Długiej")
    note = db_session(lambda s: s.scalar(select(Note.id).where(Note.client_id == card)))
    form = edit_form_data(admin.get(f"/notemodelview/edit/{note}").text)
    changed_note = "Pyta o rabat na kolejne zamówienie, mówi że choruje na astmę i prosi o dyskrecję"
    assert admin.post(f"/notemodelview/edit/{note}", data={**form, "text": changed_note}).status_code == 302
    # long texts are compared word by word: the words themselves are what a masked reader must not get
    secrets = ("Olecko", "Ełk", email, "rano", "wieczorem", "lekarzem", "cukrzycę", "astmę", "rabat")
    auditor, _ = signed_in(app, make_user(AUDITOR))
    timeline = auditor.get(f"/history/client/{card}/").text
    assert [word for word in (*secrets, "203.0.113.17") if word in timeline] == []
    assert "<ins>O***</ins>" in timeline
    numbers = sorted(versions(auditor, card))
    assert len(numbers) == 4, "added, a note, the card changed, the note changed"
    for older, changed_words in ((numbers[0], ["wieczorem,"]), (numbers[1], ["wieczorem,", "astmę"])):
        url = f"/history/client/{card}/compare?older={older}&newer={numbers[-1]}"
        comparison = auditor.get(url).text
        assert [word for word in secrets if word in comparison] == []
        shown = admin.get(url).text
        assert [word for word in changed_words if f"<ins>{word}</ins>" not in shown] == [], "in clear, word by word"


# -- recent changes and staff accounts ------------------------------------------------------

def test_recent_changes_filter_by_user_record_and_change(app, db_session, make_user):
    username = make_user(MANAGER, first_name="Filip", last_name="Filtrowany")
    manager, _ = signed_in(app, username)
    card = new_card(manager, db_session)
    admin, _ = signed_in(app)
    staff_id = db_session(lambda s: s.scalar(select(app.appbuilder.sm.user_model.id).where(app.appbuilder.sm.user_model.username == username)))
    page = admin.get(f"/history/recent/?user={staff_id}&record=client&change=created").text
    assert f'href="/history/client/{card}/"' in page and "Filip Filtrowany" in page
    page = admin.get(f"/history/recent/?user={staff_id}&change=deleted").text
    assert f'href="/history/client/{card}/"' not in page
    # the office's day, not the machine's: between midnight in Warsaw and midnight UTC they differ
    today = office_today().isoformat()
    assert f'href="/history/client/{card}/"' in admin.get(f"/history/recent/?since={today}&until={today}&user={staff_id}").text
    for bad in ("since=wczoraj", "record=faktura", "change=zgubiono", "user=-3", "page=x"):
        assert admin.get(f"/history/recent/?{bad}").status_code == 400, bad


def test_deleting_a_staff_account_that_made_changes_deactivates_it_and_history_keeps_the_name(app, db_session, make_user):
    username = make_user(BACK_OFFICE, first_name="Ksawery", last_name="Odchodzący")
    colleague, _ = signed_in(app, username)
    card = new_card(colleague, db_session)
    admin, auth = signed_in(app)
    user_id = db_session(lambda s: app.appbuilder.sm.find_user(username=username).id)
    response = admin.post(f"/users/delete/{user_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert "zamiast usunięte" in response.text
    assert db_session(lambda s: app.appbuilder.sm.find_user(username=username).active) is False
    assert "Ksawery Odchodzący (konto nieaktywne)" in admin.get(f"/history/client/{card}/").text


def test_deleting_a_staff_account_that_never_acted_deletes_it(app, db_session, make_user):
    username = make_user(BACK_OFFICE)
    admin, auth = signed_in(app)
    user_id = db_session(lambda s: app.appbuilder.sm.find_user(username=username).id)
    admin.post(f"/users/delete/{user_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert db_session(lambda s: app.appbuilder.sm.find_user(username=username)) is None


def test_every_kind_of_field_compares_with_its_shown_value(app, db_session, make_user):
    from crm.clients.models import Client, ContactPerson, Note
    from crm.mailing.models import MailingList, Subscription

    admin, _ = signed_in(app)
    card = new_card(admin, db_session)
    list_name = unique("Lista porównań ")
    owner = make_user(MANAGER, first_name="Oskar", last_name="Opiekun")

    def add_rows(s):
        client = s.get(Client, card)
        client.contacts.append(ContactPerson(first_name="Ewa", last_name="Porównywana", email="ewa@stara.pl"))
        client.notes.append(Note(kind="call", occurred_on=date(2026, 3, 1), text="Pierwsza"))
        client.subscriptions.append(Subscription(mailing_list=MailingList(name=list_name), source="manual"))
        s.commit()

    db_session(add_rows)
    older = max(versions(admin, card))

    def change_everything(s):
        client = s.get(Client, card)
        client.status, client.owner_id = "former", app.appbuilder.sm.find_user(username=owner).id
        client.contacts[0].email = "ewa@nowa.pl"
        client.notes[0].occurred_on, client.notes[0].kind = date(2026, 4, 2), "meeting"
        client.subscriptions[0].source = "event"
        s.commit()

    db_session(change_everything)
    newer = max(versions(admin, card))
    page = admin.get(f"/history/client/{card}/compare?older={older}&newer={newer}").text
    changed = re.findall(r'<tr class="warning field-changed">\s*<td>([^<]+)</td>\s*<td>([^<]*)</td><td>([^<]*)</td>', page)
    assert ("Status", "Potencjalny", "Były") in changed
    assert ("Opiekun", "Administrator Kartoteka", "Oskar Opiekun") in changed
    assert ("E-mail", "ewa@stara.pl", "ewa@nowa.pl") in changed
    assert ("Rodzaj", "Rozmowa telefoniczna", "Spotkanie") in changed
    assert ("Data", "01.03.2026", "02.04.2026") in changed
    assert ("Źródło", "Wprowadzona przez pracownika", "Wydarzenie lub targi") in changed
    assert len(changed) == 6, changed
