"""The person's export (Art. 15): a document to read in their language, and export.json in the documented form."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select

from tests.conftest import csrf_token, run_command, unique
from tests.test_gdpr import REASON, dpo, full_card, register_request, signed_in  # noqa: F401
from tests.test_processing_register import activity_form, add_activity

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "crm" / "gdpr" / "export.schema.json").read_text())


def export_in(client, card, language: str, request_id=None):
    page = client.get(f"/gdpr/client/{card}/export")
    data = {"csrf_token": csrf_token(page.text), "request": str(request_id or ""),
            "reason": "" if request_id else REASON, "language": language}
    return client.post(f"/gdpr/client/{card}/export", data=data)


def readable(html: str) -> str:
    """The document's text as the person reads it."""
    text = re.sub(r"(?s)<style>.*?</style>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_the_document_tells_the_person_their_data_in_words_and_what_article_15_requires(app, db_session, dpo):
    from crm.mailing.models import MailingList, Subscription

    officer, _ = dpo
    card, data = full_card(app, db_session, officer)
    _, someone_else = full_card(app, db_session, officer)
    about_clients, about_staff = unique("Sprzedaż i reklamacje "), unique("Konta pracowników ")
    admin, _ = signed_in(app)
    assert add_activity(admin, activity_form(about_clients, source="Rejestr CEIDG")).status_code == 302
    staff_only = activity_form(about_staff)
    staff_only.setlist("subject_categories", ["staff"])
    assert add_activity(admin, staff_only).status_code == 302
    request_id = register_request(officer, card, kind="access")

    response = export_in(officer, card, "pl", request_id)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    html = archive.read("summary.html").decode()
    text = readable(html)
    list_id, subscription_id = db_session(lambda s: s.execute(
        select(MailingList.id, Subscription.id).join(Subscription).where(Subscription.client_id == card)).one())
    list_name = db_session(lambda s: s.get(MailingList, list_id).name)

    # the data in words: labels, names, the office's dates; no column, code or internal number
    for shown in (f"Nazwisko {data['last_name']}", "Miejscowość Września", "Kraj Polska", f"Lista mailingowa {list_name}",
                  "Rodzaj Rozmowa telefoniczna", "Data 04.05.2026", "Podstawa prawna Zgoda (art. 6 ust. 1 lit. a)",
                  "Rodzaj Dostęp (art. 15)", "Miejscowość: Gniezno"):
        assert shown in text, shown
    # nothing of another person, now or in their history
    for theirs in (someone_else["last_name"], someone_else["email"], someone_else["pesel"]):
        assert theirs not in html and theirs not in archive.read("export.json").decode(), "another person's data"
    for raw in ("lock_version", "client_id", "mailing_list_id", "last_name", "email_marketing", "data_key",
                "_bidx", "None", "True", f"#{list_id}", "call"):
        assert raw not in text, raw
    numbers = f"({card}|{subscription_id}|{list_id}|{request_id})"
    assert not re.search(rf"<dd>{numbers}</dd>|: {numbers}(;|\s*</td>)", html), "no internal numbers as values"
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", text), "no microsecond timestamps"

    # what Art. 15(1) requires: purposes, bases, retention, recipients, source, categories, rights
    assert about_clients in text and "Obsługa zamówień i reklamacji klientów" in text
    assert "Biuro rachunkowe Saldo sp. z o.o. (podmiot przetwarzający)" in text and "Rejestr CEIDG" in text
    assert "6 lat od końca roku, w którym umowa wygasła" in text
    assert about_staff not in text, "an activity about staff is not the person's"
    assert "Kategorie Twoich danych Tożsamość" in text and "Identyfikatory urzędowe (NIP, PESEL)" in text
    for right in ("sprostowania", "usunięcia danych", "ograniczenia przetwarzania", "sprzeciw",
                  "Prezesa Urzędu Ochrony Danych Osobowych"):
        assert right in text, right
    assert "Inspektor ochrony danych" in text

    # each earlier version of the card says when (the office's day and minute), what and by whom
    from crm.timeutil import to_office_time, utcnow

    history = readable(html.split("Wcześniejsze wersje")[1].split("</table>")[0])
    today = to_office_time(utcnow()).strftime("%d.%m.%Y")
    assert re.search(rf"{today}\D{{1,3}}\d{{2}}:\d{{2}} (utworzono|zmieniono) Administrator Kartoteka", history), history[:600]
    assert "zmieniono Administrator Kartoteka" in history and "Miejscowość: Gniezno" in history
    # when it was prepared, in the office's zone; the roles that opened the data, with the first and last time
    assert re.search(rf"Przygotowano {today} \d{{2}}:\d{{2}} \(Europe/Warsaw\)", text)
    assert '<html lang="pl">' in html
    recipients = readable(html.split('id="recipients"')[1].split("</table>")[0])
    assert re.search(rf"Inspektor ochrony danych \d+ {today} \d{{2}}:\d{{2}} {today} \d{{2}}:\d{{2}}", recipients), recipients
    # the machine-readable copies hold the same, readable as written, compressed
    exported = archive.read("export.json").decode()
    assert "Września" in exported and '\n  "client_id"' in exported, "letters as written, not escaped; indented"
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    client_csv, history_csv = archive.read("csv/client.csv").decode(), archive.read("csv/client_history.csv").decode()
    assert data["last_name"] in client_csv and "Września" in client_csv and "Gniezno" in history_csv


def test_a_restore_of_the_card_is_in_the_document_with_the_state_it_went_back_to(app, db_session, dpo):
    from crm.timeutil import to_office_time, utcnow
    from tests.test_history import versions

    officer, _ = dpo
    card, _ = full_card(app, db_session, officer)
    admin, auth = signed_in(app)
    restored = admin.post(f"/history/client/{card}/restore",
                          data={"csrf_token": auth.csrf, "version": min(versions(admin, card)), "confirm": "yes"})
    assert restored.status_code == 302
    text = readable(zipfile.ZipFile(io.BytesIO(export_in(officer, card, "pl").data)).read("summary.html").decode())
    today = to_office_time(utcnow()).strftime("%d.%m.%Y")
    part = text.split("Przywrócenia Twojej karty do wcześniejszej wersji")[1]
    assert re.match(rf"\s*Przywrócono do stanu z {today} \d{{2}}:\d{{2}}", part), part[:200]


def test_the_document_says_the_system_made_a_change_and_holds_no_empty_part_or_category(app, db_session, dpo):
    from crm.clients.models import Client
    from tests.conftest import person_form
    from tests.test_clients_forms import add_client, find_client

    officer, _ = dpo
    admin, _ = signed_in(app)
    data = person_form()
    assert add_client(admin, data).status_code == 200
    card = find_client(db_session, last_name=data["last_name"]).id
    # written with no one signed in, as a command does; remarks left as empty text, which is no value
    db_session(lambda s: (setattr(s.get(Client, card), "city", "Kalisz"), setattr(s.get(Client, card), "remarks", ""),
                          s.commit()))
    html = zipfile.ZipFile(io.BytesIO(export_in(officer, card, "pl").data)).read("summary.html").decode()
    history = readable(html.split("Wcześniejsze wersje")[1].split("</table>")[0])
    assert "utworzono Administrator Kartoteka" in history and "zmieniono system (wiersz poleceń)" in history, history
    text = readable(html)
    assert "None" not in text
    # the machine-readable copy: each earlier version says when, and who (the system, in its own code)
    exported = json.loads(zipfile.ZipFile(io.BytesIO(export_in(officer, card, "pl").data)).read("export.json"))
    history = exported["places"]["client"]["history"]
    assert all(version["at"] for version in history) and [version["by"] for version in history][-1] == "system"
    # a card alone, with empty remarks: no part of notes or contacts, no free text among the categories
    titles = re.findall(r"<h3>([^<]+)</h3>", html)
    assert "Notatka" not in titles and "Osoba kontaktowa" not in titles, titles
    categories = text.split("Kategorie Twoich danych")[1][:300]
    assert "Tożsamość" in categories and "Dowolny tekst o osobie" not in categories, categories


def test_the_document_is_written_in_the_persons_language_and_a_bad_one_is_refused(app, db_session, dpo):
    from crm.gdpr.models import GdprEvent

    officer, _ = dpo
    card, data = full_card(app, db_session, officer)
    text = readable(zipfile.ZipFile(io.BytesIO(export_in(officer, card, "en").data)).read("summary.html").decode())
    assert "Personal data held about you" in text and "Your rights" in text and "Country Poland" in text
    assert f"City Września" in text and "Dane osobowe" not in text and "Twoje prawa" not in text
    events = lambda: db_session(lambda s: len(s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).all()))
    before = events()
    refused = export_in(officer, card, "de")
    assert refused.status_code == 400 and "Wybierz język dokumentu" in refused.text
    assert events() == before, "a refused export is not recorded"
    # the officer's own pages stay in their language
    assert "Eksport danych osoby" in officer.get(f"/gdpr/client/{card}/export").text


def test_the_schema_file_is_what_the_registry_declares_today(app):
    """A new column or place cannot leave the shipped schema behind."""
    written = run_command(app, ["crm", "export-schema"])
    assert written.exit_code == 0 and json.loads(written.output) == SCHEMA, \
        "regenerate: flask crm export-schema > crm/gdpr/export.schema.json"


def test_export_json_has_the_documented_form(app, db_session, dpo, monkeypatch):
    officer, _ = dpo
    controller = {"CRM_CONTROLLER_NAME": "Hurtownia Kłos sp. z o.o.", "CRM_CONTROLLER_CONTACT": "biuro@klos.pl",
                  "CRM_DPO_CONTACT": "iod@klos.pl"}
    for name, value in controller.items():
        monkeypatch.setitem(app.config, name, value)
    card, _ = full_card(app, db_session, officer)
    admin, _ = signed_in(app)
    name, bare = unique("Obsługa "), unique("Bez odbiorców ")
    assert add_activity(admin, activity_form(name)).status_code == 302
    assert add_activity(admin, activity_form(bare)).status_code == 302
    # an activity whose optional fields were never filled, as a record written before they existed
    from sqlalchemy import update

    from crm.accountability.models import ProcessingActivity

    db_session(lambda s: (s.execute(update(ProcessingActivity).where(ProcessingActivity.name == bare).values(
        recipients=None, third_countries=None, source=None)), s.commit()))
    archive = zipfile.ZipFile(io.BytesIO(export_in(officer, card, "pl").data))
    exported = json.loads(archive.read("export.json"))
    assert json.loads(archive.read("export.schema.json")) == SCHEMA, "the archive carries its schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [error.message for error in validator.iter_errors(exported)] == []
    [activity] = [item for item in exported["information"]["processing"] if item["activity"] == name]
    assert activity == {
        "activity": name, "purpose": "Obsługa zamówień i reklamacji klientów", "lawful_basis": "contract",
        "data_categories": ["identity", "contact"], "subject_categories": ["clients", "contacts"],
        "recipients": "Biuro rachunkowe Saldo sp. z o.o. (podmiot przetwarzający)", "third_countries": "",
        "retention": "6 lat od końca roku, w którym umowa wygasła", "source": "",
    }, "every field of the activity as the record states it, the empty ones as empty text"
    [unfilled] = [item for item in exported["information"]["processing"] if item["activity"] == bare]
    assert (unfilled["recipients"], unfilled["third_countries"], unfilled["source"]) == ("", "", ""), \
        "a field the record leaves empty is empty text"
    assert all(value is not None for item in exported["information"]["processing"] for value in item.values()), \
        "a field the record leaves empty is empty text, never null"
    assert exported["information"]["controller"] == {
        "name": "Hurtownia Kłos sp. z o.o.", "contact": "biuro@klos.pl", "data_protection_officer": "iod@klos.pl"}
    said = readable(archive.read("summary.html").decode()).split("Inspektor ochrony danych")[0]
    assert "Hurtownia Kłos sp. z o.o." in said and "biuro@klos.pl" in said, "the document names the controller too"
    assert "iod@klos.pl" in readable(archive.read("summary.html").decode())
    # and the schema refuses what is not the form
    broken = {**exported, "generated_at": "yesterday"}
    assert list(validator.iter_errors(broken))
    broken = {**exported, "places": {**exported["places"], "client": {**exported["places"]["client"], "rows": [
        {**exported["places"]["client"]["rows"][0], "email_bidx": "abc"}]}}}
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize(("column_type", "stated"), [
    ("Boolean", {"type": ["boolean", "null"]}),
    ("DateTime", {"type": ["string", "null"], "format": "date-time"}),
    ("Date", {"type": ["string", "null"], "format": "date"}),
    ("Integer", {"type": ["integer", "null"]}),
    ("BigInteger", {"type": ["integer", "null"]}),
    ("Numeric", {"type": ["number", "null"]}),
    ("String", {"type": ["string", "null"]}),
    ("Text", {"type": ["string", "null"]}),
])
def test_the_schema_states_each_kind_of_column_a_place_may_declare(column_type, stated):
    """Today's places hold no true/false or decimal column; one declared tomorrow is stated rightly."""
    import sqlalchemy

    from crm.gdpr.export_schema import _type

    assert _type(sqlalchemy.Column("value", getattr(sqlalchemy, column_type)())) == stated


def test_every_exported_place_has_a_part_in_the_document(app):
    from crm.gdpr.document import exported_places_without_a_section

    with app.app_context():
        assert exported_places_without_a_section() == []


def test_the_command_line_writes_the_document_in_english(app, db_session, dpo, tmp_path):
    officer, _ = dpo
    card, data = full_card(app, db_session, officer)
    target = tmp_path / "export.zip"
    result = app.test_cli_runner().invoke(
        args=["crm", "export", str(card), "--output", str(target), "--reason", REASON, "--language", "en"])
    assert result.exit_code == 0, result.output
    text = readable(zipfile.ZipFile(target).read("summary.html").decode())
    assert "Personal data held about you" in text and data["last_name"] in text


def test_the_document_names_the_staff_and_the_attributes_of_the_persons_rows(app, db_session, dpo, make_user):
    """The card's owner (one who never changed it), a note's author and an attribute are named as the card
    shows them, not as numbers."""
    from crm.clients.models import Client
    from crm.security.roles import MANAGER
    from tests.conftest import person_form
    from tests.test_attributes import define
    from tests.test_clients_forms import add_client, find_client
    from tests.test_related_records import post_form

    officer, _ = dpo
    admin, _ = signed_in(app)
    key = define(app, "text")
    data = person_form()
    assert add_client(admin, {**data, f"attr_{key}": "Produkcja"}).status_code == 200
    card = find_client(db_session, last_name=data["last_name"]).id
    post_form(admin, f"/notemodelview/add?_flt_0_client={card}",
              {"kind": "call", "occurred_on": "2026-05-04", "text": "Rozmowa o dostawie"})
    owner = make_user(MANAGER, first_name="Oskar", last_name="Opiekun")
    db_session(lambda s: (setattr(s.get(Client, card), "owner_id", app.appbuilder.sm.find_user(username=owner).id),
                          s.commit()))
    text = readable(zipfile.ZipFile(io.BytesIO(export_in(officer, card, "pl").data)).read("summary.html").decode())
    card_part = text.split("Wcześniejsze wersje")[0]
    assert "Opiekun Oskar Opiekun" in card_part, "the card's owner"
    assert "Autor Administrator Kartoteka" in text, "the note's author"
    assert f"Atrybut Etykieta {key} Wartość Produkcja" in text


@pytest.mark.parametrize(("value", "written"), [
    (datetime(2026, 5, 4, 12, 30), "2026-05-04T12:30:00Z"),
    (datetime(2026, 5, 4, 14, 30, tzinfo=timezone(timedelta(hours=2))), "2026-05-04T14:30:00+02:00"),
    (date(2026, 5, 4), "2026-05-04"),
    ("Września", "Września"),
    (None, None),
], ids=["stored naive UTC", "with its zone", "date", "text", "empty"])
def test_export_values_are_written_as_rfc_3339_says(value, written):
    """A stored time is naive UTC and gets its "Z"; a time that carries its zone keeps it, with no "Z" after it."""
    from crm.gdpr.export import plain

    assert plain(value) == written
