"""Importing clients from CSV and XLSX, and exporting the client list."""

from __future__ import annotations

import io
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy_continuum import version_class, versioning_manager

from crm.security.roles import AUDITOR, BACK_OFFICE
from crm.timeutil import utcnow
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, named_like, run_command, unique, unique_nip
from tests.test_attributes import archive, define
from tests.test_clients_forms import edit_form_data

TOKEN = re.compile(r'action="/import/([\w-]+)/"')


def signed_in(app, username=None):
    client = app.test_client()
    auth = Auth(client)
    auth.login(*((username, STAFF_PASSWORD) if username else ()))
    return client, auth


def csv_bytes(rows, delimiter=";", encoding="utf-8"):
    return "\n".join(delimiter.join(row) for row in rows).encode(encoding)


def upload(client, data: bytes, filename="klienci.csv"):
    page = client.get("/import/")
    return client.post("/import/", data={"csrf_token": csrf_token(page.text), "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def mapping_form(client, response):
    """The mapping page's form as the browser would send it (the guessed mapping kept)."""
    page = client.get(response.headers["Location"])
    token = TOKEN.search(page.text).group(1)
    fields = {"csrf_token": csrf_token(page.text)}
    for name, body in re.findall(r'<select class="form-control" name="(map-\d+)"[^>]*>(.*?)</select>', page.text, re.S):
        selected = re.search(r'<option value="([^"]*)" selected', body)
        fields[name] = selected.group(1) if selected else ""
    return token, fields


def job_result(client, response, timeout=120):
    """The page of the job a form started, once the job has ended (a worker may take a moment)."""
    assert response.status_code == 302 and "/jobs/" in response.headers["Location"], response.status_code
    location = response.headers["Location"]
    deadline = time.monotonic() + timeout
    while not (progress := client.get(f"{location}/progress").get_json())["finished"]:
        assert time.monotonic() < deadline, progress
        time.sleep(0.2)
    return client.get(location)


def run_import(client, token, fields, **extra):
    """Post the mapping form (check or import) and wait for its job; returns the job's page."""
    return job_result(client, client.post(f"/import/{token}/", data={**fields, **extra}))


def failed(page) -> bool:
    return 'data-status="failed"' in page.text


def clients_named(db_session, prefix):
    from crm.clients.models import Client

    return db_session(lambda s: sorted(
        c.company_name for c in s.scalars(named_like(Client, prefix)) if (c.company_name or "").startswith(prefix)
    ))


@pytest.fixture()
def sector(app):
    key = define(app, "choice", key=unique("branza_").lower(), label_pl=unique("Branża "))
    yield key
    archive(app, key)


def label_of(app, key):
    from crm.attributes.models import AttributeDefinition
    from crm.extensions import db

    with app.app_context():
        label = db.session.scalars(select(AttributeDefinition.label_pl).where(AttributeDefinition.key == key)).one()
        db.session.remove()
    return label


def test_good_rows_are_imported_versioned_with_the_importing_user(app, db_session, make_user, sector):
    from crm.clients.models import Client

    prefix = unique("Import ")
    nip = unique_nip()
    username = make_user(BACK_OFFICE, first_name="Irena", last_name="Importująca")
    client, _ = signed_in(app, username)
    data = csv_bytes([
        ["Nazwa firmy", "E-mail", "Miejscowość", "NIP", label_of(app, sector)],
        [f"{prefix}Alfa", f"{unique('a')}@alfa.pl", "Łódź", f"{nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}", "IT"],
        [f"{prefix}Beta", "", "Kraków", "", "Handel"],
    ])
    response = upload(client, data)
    assert response.status_code == 302
    token, fields = mapping_form(client, response)
    assert list(fields.values())[1:] == ["company_name", "email", "city", "nip", f"attr:{sector}"]
    dry = run_import(client, token, fields, action="check")
    assert "Wiersze bez błędów: 2; wiersze z błędami: 0." in dry.text
    assert clients_named(db_session, prefix) == []
    done = run_import(client, token, fields, action="import")
    assert "Zaimportowano klientów: 2" in done.text
    assert clients_named(db_session, prefix) == [f"{prefix}Alfa", f"{prefix}Beta"]

    def author_and_attribute(s):
        imported = [c for c in s.scalars(named_like(Client, prefix)) if c.company_name == f"{prefix}Alfa"][0]
        version = version_class(Client)
        transaction = s.scalars(select(versioning_manager.transaction_cls).join(
            version, version.transaction_id == versioning_manager.transaction_cls.id).where(version.id == imported.id)).one()
        stamps = (imported.created_at, imported.updated_at, transaction.issued_at)
        return (imported.id, transaction.user_id, imported.nip, {row.definition.key: row.stored for row in imported.attribute_values},
                imported.owner_id, stamps)

    card, user_id, stored_nip, attributes, owner_id, stamps = db_session(author_and_attribute)
    importer = db_session(lambda s: app.appbuilder.sm.find_user(username=username).id)
    assert user_id == importer and owner_id == importer, "the importer made the cards and owns them"
    assert len(set(stamps)) == 1 and abs(stamps[0] - utcnow()) < timedelta(minutes=10), "made, changed and recorded at once"
    assert stored_nip == nip and attributes == {sector: "IT"}
    timeline = client.get(f"/history/client/{card}/")
    assert timeline.status_code == 200
    assert "Irena Importująca" in timeline.text and timeline.text.count('class="history-change"') == 1
    assert client.get(f"/import/{token}/").status_code == 404, "an imported upload is gone"


def test_a_file_of_several_batches_is_written_whole_or_not_at_all(app, db_session, monkeypatch):
    """1,100 rows are three batches of the writer: a failure in the last leaves none of the first two."""
    import crm.bulk
    from crm.clients.models import Client
    from crm.imports.service import BATCH

    rows = 2 * BATCH + 100
    prefix = unique("Partia ")
    client, _ = signed_in(app)
    data = csv_bytes([["Nazwa firmy", "Miejscowość"], *([f"{prefix}{n:05d}", "Łódź"] for n in range(rows))])
    token, fields = mapping_form(client, upload(client, data))
    original, flushes = crm.bulk.BulkWriter.flush, []

    def failing(writer):
        flushes.append(len(flushes))
        if len(flushes) == 3:
            raise RuntimeError("the disk is full")
        original(writer)

    monkeypatch.setattr(crm.bulk.BulkWriter, "flush", failing)
    broken = run_import(client, token, fields, action="import")
    assert failed(broken) and "nic nie zostało zapisane" in broken.text
    assert len(flushes) == 3
    assert clients_named(db_session, prefix) == [], "nothing of the first two batches is kept"
    monkeypatch.undo()

    done = run_import(client, token, fields, action="import")
    assert f"Zaimportowano klientów: {rows}" in done.text

    def steps(s):
        version = version_class(Client)
        ids = [c.id for c in s.scalars(named_like(Client, prefix)) if (c.company_name or "").startswith(prefix)]
        return len(ids), set(s.scalars(select(version.transaction_id).where(version.id.in_(ids))))

    written, transactions = db_session(steps)
    assert written == rows and len(transactions) == 1, "the whole file is one step of the history"


def test_checking_a_long_file_reports_its_progress_a_batch_at_a_time(app):
    """The job's progress bar moves while the rows are checked: a step for each full batch."""
    from crm.extensions import db
    from crm.imports.service import BATCH, check_rows

    rows = [{"Nazwa firmy": f"Firma {n}"} for n in range(2 * BATCH + 7)]
    steps = []
    with app.app_context():
        checks = check_rows(db.session, rows, {"Nazwa firmy": "company_name"}, confirmed_new_basis=True,
                            confirmed_duplicates=True, progress=steps.append)
        db.session.remove()
    assert steps == [BATCH, BATCH] and len(checks) == len(rows)
    assert [check.number for check in checks[:2]] == [2, 3] and not any(check.errors for check in checks)


def test_an_erased_persons_email_phone_or_pesel_is_not_imported_back_unnoticed(app, db_session):
    """Rows naming an erased person (the email she had before the last change, her current one in another
    case, her phone in another spacing, her PESEL) are refused until the importer ticks a new legal basis;
    the rest of the file is unaffected."""
    from crm.gdpr.erasure import erase
    from tests.test_gdpr import REASON, full_card

    card, data = full_card(app, db_session)
    client, _ = signed_in(app)
    current = f"{unique('nowy')}@erase.pl"
    page = client.get(f"/clientmodelview/edit/{card}")
    client.post(f"/clientmodelview/edit/{card}", data={**edit_form_data(page.text), "email": current, "csrf_token": csrf_token(page.text)})
    db_session(lambda s: erase(s, card, reason=REASON))
    prefix = unique("Powrót ")
    phone = data["phone"].replace("+48 ", "").replace(" ", "")
    surname = unique("Nowak")
    file = csv_bytes([
        ["Nazwa firmy", "E-mail", "Telefon", "Imię", "Nazwisko", "PESEL"],
        [f"{prefix}Mail", current.upper(), "", "", "", ""],
        [f"{prefix}Dawny", data["email"], "", "", "", ""],
        [f"{prefix}Telefon", "", f"{phone[:3]}-{phone[3:6]}-{phone[6:]}", "", "", ""],
        ["", "", "", "Anna", surname, data["pesel"]],
        [f"{prefix}Inna", f"{unique('inna')}@firma.pl", "", "", "", ""],
    ])
    token, fields = mapping_form(client, upload(client, file))
    dry = run_import(client, token, fields, action="check")
    errors = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", dry.text))
    assert set(errors) == {"2", "3", "4", "5"} and all("usunięta na swoje żądanie" in error for error in errors.values())
    refused = run_import(client, token, fields, action="import")
    assert failed(refused) and clients_named(db_session, prefix) == []
    done = run_import(client, token, fields, action="import", confirm_new_basis="y")
    assert "Zaimportowano klientów: 5" in done.text
    assert clients_named(db_session, prefix) == [f"{prefix}Dawny", f"{prefix}Inna", f"{prefix}Mail", f"{prefix}Telefon"]


def test_an_entry_from_before_per_value_hashes_still_stops_a_row(app, db_session):
    """Migration 0012 kept the old entries (blind indexes of an email or phone): the import honours them."""
    from crm.gdpr.models import Suppression
    from crm.privacy.crypto import blind_index

    email, phone = f"{unique('dawna')}@erase.pl", f"60{unique('')[-7:]}"

    def add(s):
        s.add_all([Suppression(digest=blind_index(email, "email", "email"), under_index_key=True),
                   Suppression(digest=blind_index(phone, "phone", "phone"), under_index_key=True)])
        s.commit()

    db_session(add)
    client, _ = signed_in(app)
    prefix = unique("Sprzed migracji ")
    file = csv_bytes([["Nazwa firmy", "E-mail", "Telefon"], [f"{prefix}A", email.upper(), ""],
                      [f"{prefix}B", "", f"+48 {phone[:3]} {phone[3:6]} {phone[6:]}"],
                      [f"{prefix}C", f"{unique('inna')}@firma.pl", ""]])
    token, fields = mapping_form(client, upload(client, file))
    errors = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", run_import(client, token, fields, action="check").text))
    assert set(errors) == {"2", "3"} and all("usunięta na swoje żądanie" in error for error in errors.values())


def test_bad_rows_are_listed_and_stop_the_file_unless_skipped(app, db_session, sector):
    required = define(app, "integer", required=True, label_pl="Liczba pracowników")
    try:
        prefix = unique("Zły import ")
        client, _ = signed_in(app)
        data = csv_bytes([
            ["Nazwa firmy", "NIP", label_of(app, sector), "Liczba pracowników"],
            [f"{prefix}Dobra", "", "IT", "12"],
            [f"{prefix}ZłyNIP", "526-025-02-75", "IT", "5"],
            [f"{prefix}BezLiczby", "", "Handel", ""],
            [f"{prefix}ZłaBranża", "", "Rolnictwo", "3"],
        ])
        token, fields = mapping_form(client, upload(client, data))
        dry = run_import(client, token, fields, action="check")
        errors = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", dry.text))
        assert set(errors) == {"3", "4", "5"}
        assert "NIP" in errors["3"] and "wymagana" in errors["4"] and "Wybierz z listy" in errors["5"] and "Rolnictwo" not in errors["5"]
        refused = run_import(client, token, fields, action="import")
        assert failed(refused) and "nic nie zaimportowano" in refused.text
        assert clients_named(db_session, prefix) == []
        skipped = run_import(client, token, fields, action="import", skip_bad="y")
        assert "Zaimportowano klientów: 1" in skipped.text and "pominięto wierszy z błędami: 3" in skipped.text
        assert clients_named(db_session, prefix) == [f"{prefix}Dobra"]
        # a file of bad rows only, skipped: nothing to write, nothing written
        token, fields = mapping_form(client, upload(client, csv_bytes([
            ["Nazwa firmy", "NIP", label_of(app, sector), "Liczba pracowników"],
            [f"{prefix}ZłyNIP", "526-025-02-75", "IT", "5"]])))
        skipped = run_import(client, token, fields, action="import", skip_bad="y")
        assert "Zaimportowano klientów: 0" in skipped.text and "pominięto wierszy z błędami: 1" in skipped.text
        assert clients_named(db_session, prefix) == [f"{prefix}Dobra"]
    finally:
        archive(app, required)


def test_rows_with_a_held_nip_pesel_or_email_are_duplicates_until_confirmed(app, db_session):
    from crm.clients.models import Client

    prefix = unique("Dubel ")
    email, nip = f"{unique('dubel')}@firma.pl", unique_nip()
    client, _ = signed_in(app)

    def held(s):
        card = Client(kind="company", company_name=f"{prefix}Stara", nip=nip)
        s.add(card)
        s.commit()
        return card.id

    held_id = db_session(held)
    data = csv_bytes([
        ["Nazwa firmy", "NIP", "E-mail"],
        [f"{prefix}Nowa", "", email],
        [f"{prefix}TenSamNIP", nip, ""],
        [f"{prefix}TenSamEmail", "", email.upper()],
        [f"{prefix}Inna", unique_nip(), f"{unique('inna')}@firma.pl"],
    ])
    token, fields = mapping_form(client, upload(client, data))
    dry = run_import(client, token, fields, action="check")
    errors = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", dry.text))
    assert errors == {
        "3": f"NIP: karta nr {held_id} ma już tę wartość (zaznacz potwierdzenie, aby zaimportować ją jako innego klienta).",
        "4": "E-mail: wiersz 2 pliku ma tę samą wartość.",
    }
    refused = run_import(client, token, fields, action="import")
    assert failed(refused) and clients_named(db_session, prefix) == [f"{prefix}Stara"]
    done = run_import(client, token, fields, action="import", confirm_duplicates="y")
    assert not failed(done)
    assert clients_named(db_session, prefix) == sorted(
        f"{prefix}{name}" for name in ("Stara", "Nowa", "TenSamNIP", "TenSamEmail", "Inna")
    )


@pytest.mark.parametrize(
    "data, filename, status, message",
    [
        ("Nazwa firmy;Miejscowość\nPrzędzalnia;Łódź".encode("cp1250"), "klienci.csv", 422, "nie jest tekstem UTF-8"),
        (b"Nazwa firmy|||\n", "klienci.csv", 422, "nagłówek, ale nie ma w nim klientów"),
        ("Nazwa firmy Miejscowość\nAlfa Łódź".encode(), "klienci.csv", 422, "Znaleziono tylko jedną kolumnę"),
        (b"", "klienci.csv", 422, "Plik jest pusty"),
        (b"PK\x03\x04 to nie jest arkusz", "klienci.xlsx", 422, "nie jest czytelnym skoroszytem XLSX"),
        ("a;b\n1;2\n".encode() * 1, "klienci.csv", 302, None),
    ],
    ids=["broken encoding", "header only", "wrong delimiter", "empty", "broken xlsx", "fine"],
)
def test_a_bad_file_gets_its_message_and_nothing_is_kept(app, data, filename, status, message):
    client, _ = signed_in(app)
    response = upload(client, data, filename)
    assert response.status_code == status
    if message:
        assert message in response.text


def test_a_file_over_the_limit_is_refused_with_a_message(app):
    client, _ = signed_in(app)
    response = upload(client, b"Nazwa firmy;Miasto\n" + b"x;y\n" * (20 * 1024 * 1024 // 4))
    assert response.status_code == 413 and "zbyt duże" in response.text


def test_an_xlsx_workbook_imports_like_a_csv(app, db_session):
    prefix = unique("Arkusz ")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Company name", "City", "Status"])
    sheet.append([f"{prefix}Gamma", "Poznań", "aktywny"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, buffer.getvalue(), "klienci.xlsx"))
    run_import(client, token, fields, action="import")
    assert clients_named(db_session, prefix) == [f"{prefix}Gamma"]


def test_kind_and_status_are_read_in_either_language_or_inferred(app, db_session):
    """A file's "Firma", "osoba", "aktywny", "były" (any case, any spaces) are the card's kind and
    status; without a kind a row with a company name is a company, else a person; without a status, a lead."""
    from crm.clients.models import Client

    prefix = unique("Rodzaje ")
    rows = [["Rodzaj", "Nazwa firmy", "Imię", "Nazwisko", "Status"],
            [" Firma ", f"{prefix}Alfa", "", "", "Aktywny"],
            ["osoba", "", "Ola", f"{prefix}Beta", "były"],
            ["", f"{prefix}Gamma", "", "", ""],
            ["", "", "Jan", f"{prefix}Delta", "potencjalny"],
            ["COMPANY", f"{prefix}Epsilon", "", "", " Former"]]
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, csv_bytes(rows)))
    assert not failed(run_import(client, token, fields, action="import"))
    found = db_session(lambda s: {
        (c.company_name or c.last_name).removeprefix(prefix): (c.kind, c.status)
        for c in s.scalars(named_like(Client, prefix)) if (c.company_name or c.last_name or "").startswith(prefix)
    })
    assert found == {"Alfa": ("company", "active"), "Beta": ("person", "former"), "Gamma": ("company", "lead"),
                     "Delta": ("person", "lead"), "Epsilon": ("company", "former")}
    # a kind or a status the file means but Kartoteka does not know is an error of its row, not a guess
    unknown = [rows[0], ["spółka", f"{prefix}Dzeta", "", "", ""], ["firma", f"{prefix}Eta", "", "", "zawieszony"]]
    token, fields = mapping_form(client, upload(client, csv_bytes(unknown)))
    assert "Wiersze bez błędów: 0; wiersze z błędami: 2." in run_import(client, token, fields, action="check").text


def test_another_sessions_upload_cannot_be_opened(app):
    first, _ = signed_in(app)
    token, _fields = mapping_form(first, upload(first, csv_bytes([["Nazwa firmy", "Miejscowość"], ["X", "Y"]])))
    second, _ = signed_in(app)
    assert second.get(f"/import/{token}/").status_code == 404


def test_the_command_line_import_checks_writes_and_refuses(app, db_session, tmp_path):
    prefix = unique("Z wiersza ")
    good = tmp_path / "dobre.csv"
    good.write_bytes(csv_bytes([["Nazwa firmy", "Miejscowość"], [f"{prefix}A", "Łódź"], [f"{prefix}B", "Łask"]]))
    result = run_command(app, ["crm", "import", str(good), "--dry-run"])
    assert result.exit_code == 0 and "Wiersze bez błędów: 2" in result.stdout
    assert clients_named(db_session, prefix) == []
    result = run_command(app, ["crm", "import", str(good)])
    assert result.exit_code == 0, result.stderr
    assert clients_named(db_session, prefix) == [f"{prefix}A", f"{prefix}B"]
    bad = tmp_path / "zle.csv"
    bad.write_bytes(csv_bytes([["Nazwa firmy", "NIP"], [f"{prefix}C", "123"]]))
    result = run_command(app, ["crm", "import", str(bad)])
    assert result.exit_code == 1 and "Wiersz 2" in result.stderr
    assert clients_named(db_session, prefix) == [f"{prefix}A", f"{prefix}B"]
    twice = tmp_path / "dwa_razy.csv"
    nip = unique_nip()
    twice.write_bytes(csv_bytes([["Nazwa firmy", "NIP"], [f"{prefix}D", nip], [f"{prefix}E", nip]]))
    result = run_command(app, ["crm", "import", str(twice)])
    assert result.exit_code == 1 and "Wiersz 3: NIP: wiersz 2 pliku ma tę samą wartość." in result.stderr
    result = run_command(app, ["crm", "import", str(twice), "--confirm-duplicates"])
    assert result.exit_code == 0, result.stderr
    assert clients_named(db_session, prefix)[-2:] == [f"{prefix}D", f"{prefix}E"]


def test_a_column_is_known_by_its_name_in_any_case_letters_and_punctuation_and_a_short_row_leaves_fields_empty(
        app, db_session, tmp_path):
    """A header names a field by its Polish or English label or its key, an attribute by either label or
    its key, in any letter case, with or without Polish letters, spaces or punctuation."""
    from crm.clients.models import Client
    from tests.test_attributes import CHOICES

    number = unique("")
    by_polish = define(app, "choice", key=unique("ladownosc_").lower(), label_pl=f"Ładowność wełny {number}")
    by_english, by_key = define(app, "text"), define(app, "text", key=unique("rozmiar_").lower())
    prefix = unique("Nagłówki ")
    columns = {
        "NAZWA  FIRMY": "company_name", "miejscowosc": "city", "street AND number": "street",
        f"ladownosc-WELNY ({number})": f"attr:{by_polish}", f"LABEL {by_english.upper()}": f"attr:{by_english}",
        by_key.upper(): f"attr:{by_key}",
    }
    path = tmp_path / "naglowki.csv"
    path.write_bytes(csv_bytes([list(columns), [f"{prefix}A", "Łódź", "ul. Długa 1", CHOICES[0], "tak", "XL"], [f"{prefix}B"]]))
    try:
        result = run_command(app, ["crm", "import", str(path)])
    finally:
        for key in (by_polish, by_english, by_key):
            archive(app, key)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert {f"{column} -> {target}" for column, target in columns.items()} <= set(result.stdout.splitlines()), result.stdout
    cities = db_session(lambda s: {c.company_name: c.city for c in s.scalars(named_like(Client, prefix))})
    assert cities == {f"{prefix}A": "Łódź", f"{prefix}B": None}, "a row shorter than the header: its last fields empty"


def test_a_file_with_polish_headers_is_mapped_in_an_english_session(app, sector):
    """Someone working in English imports the office's Polish spreadsheet: its columns still find their fields."""
    client, _ = signed_in(app)
    client.get("/lang/en")
    try:
        response = upload(client, csv_bytes([["Nazwa firmy", label_of(app, sector), "Miejscowość"],
                                             [unique("Angielska "), "IT", "Łódź"]]))
        _token, fields = mapping_form(client, response)
    finally:
        client.get("/lang/pl")
    assert list(fields.values())[1:] == ["company_name", f"attr:{sector}", "city"]


def test_a_column_of_a_field_the_company_does_not_collect_is_left_out(app, db_session, tmp_path):
    from crm.clients.models import Client

    admin, _ = signed_in(app)
    admin.post("/card-fields/", data={"csrf_token": csrf_token(admin.get("/card-fields/").text), "hidden": ["phone"]})
    prefix = unique("Bez telefonu ")
    path = tmp_path / "telefony.csv"
    path.write_bytes(csv_bytes([["Nazwa firmy", "Telefon", "Miejscowość"], [f"{prefix}A", "601 234 567", "Łask"]]))
    try:
        result = run_command(app, ["crm", "import", str(path)])
    finally:
        admin.post("/card-fields/", data={"csrf_token": csrf_token(admin.get("/card-fields/").text)})
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Telefon -> phone" not in result.stdout
    cards = db_session(lambda s: [(c.city, c.phone) for c in s.scalars(named_like(Client, prefix))])
    assert cards == [("Łask", None)]


def test_a_mapping_that_fills_nothing_names_no_field_or_fills_one_twice_is_refused_with_its_reason(
        app, db_session, tmp_path):
    prefix = unique("Mapa ")
    path = tmp_path / "mapa.csv"
    path.write_bytes(csv_bytes([["Nazwa firmy", "Kolor oczu", "Miejscowość"], [f"{prefix}A", "zielony", "Łask"]]))
    nothing = run_command(app, ["crm", "import", str(path), "--map", "Nazwa firmy=", "--map", "Miejscowość="])
    assert nothing.exit_code == 1 and "Przypisz co najmniej jedną kolumnę do pola karty." in nothing.stderr, nothing.stderr
    unknown = run_command(app, ["crm", "import", str(path), "--map", "Kolor oczu=kolor_oczu"])
    assert unknown.exit_code == 1 and "Przypisz co najmniej jedną kolumnę do pola karty." in unknown.stderr
    twice = run_command(app, ["crm", "import", str(path), "--map", "Kolor oczu=city"])
    assert twice.exit_code == 1 and "Dwie kolumny są przypisane do pola „Miejscowość”." in twice.stderr, twice.stderr
    assert clients_named(db_session, prefix) == []
    once = run_command(app, ["crm", "import", str(path), "--map", "Kolor oczu=remarks"])
    assert once.exit_code == 0 and clients_named(db_session, prefix) == [f"{prefix}A"], once.stderr


def test_the_list_exports_its_search_to_csv_and_xlsx_for_roles_that_see_personal_data(app, db_session, make_user):
    prefix = unique("Eksport ")
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, csv_bytes([
        ["Nazwa firmy", "Miejscowość"], [f"{prefix}Jeden", "Sopot"], [f"{prefix}Dwa", "Gdynia"],
    ])))
    run_import(client, token, fields, action="import")
    page = client.get("/clientmodelview/list/")
    found = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), "_flt_0_city": "Sopot"})
    search = found.headers["Location"].split("_s=")[1]
    exported = client.get(f"/clientmodelview/export/csv?_s={search}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.data.decode("utf-8-sig")
    assert f"{prefix}Jeden" in text and f"{prefix}Dwa" not in text
    assert text.splitlines()[0].startswith("Rodzaj;Nazwa firmy")
    workbook = load_workbook(io.BytesIO(client.get("/clientmodelview/export/xlsx").data), read_only=True)
    names = {row[1] for row in workbook.active.iter_rows(values_only=True)}
    assert {f"{prefix}Jeden", f"{prefix}Dwa"} <= names
    assert client.get("/clientmodelview/export/pdf").status_code == 404
    auditor, _ = signed_in(app, make_user(AUDITOR))
    assert auditor.get("/clientmodelview/export/csv").status_code == 403
    assert 'id="export-csv"' in client.get("/clientmodelview/list/").text
    assert 'id="export-csv"' not in auditor.get("/clientmodelview/list/").text


FORMULA = '=HYPERLINK("https://zlo.example/","Kliknij")'


def test_exported_values_never_run_as_spreadsheet_formulas_and_import_back_exactly(app, db_session):
    from crm.clients.models import Client

    prefix = unique("Formuła ")
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, csv_bytes([
        ["Nazwa firmy", "Telefon", "Uwagi", "Miejscowość"],
        [f"{prefix}A", "+48 601 234 567", FORMULA.replace('"', '""').join('""'), "@Sopot"],
    ])))
    run_import(client, token, fields, action="import")
    stored = db_session(lambda s: [(c.phone, c.remarks, c.city) for c in s.scalars(named_like(Client, prefix)) if c.company_name == f"{prefix}A"])
    assert stored == [("+48 601 234 567", FORMULA, "@Sopot")]

    page = client.get("/clientmodelview/list/")
    found = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), "_flt_0_city": "@Sopot"})
    search = found.headers["Location"].split("_s=")[1]
    text = client.get(f"/clientmodelview/export/csv?_s={search}").data.decode("utf-8-sig")
    cells = [cell for line in text.splitlines()[1:] for cell in next(iter(__import__("csv").reader([line], delimiter=";")))]
    assert "'" + FORMULA in cells and "'+48 601 234 567" in cells and "'@Sopot" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)

    workbook = load_workbook(io.BytesIO(client.get(f"/clientmodelview/export/xlsx?_s={search}").data))
    row = [cell for cell in workbook.active.iter_rows(min_row=2) for cell in cell if cell.value == FORMULA]
    assert row and row[0].data_type == "s", "the remark is text in the workbook, not a formula"

    # the exported file imports back to the very same values
    again = unique("Powrót ")
    exported = text.replace(f"{prefix}A", f"{again}A")
    token, fields = mapping_form(client, upload(client, exported.encode("utf-8")))
    run_import(client, token, fields, action="import")
    back = db_session(lambda s: [(c.phone, c.remarks, c.city) for c in s.scalars(named_like(Client, again)) if c.company_name == f"{again}A"])
    assert back == stored


def upload_file(app, response):
    token = response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    return token, Path(app.instance_path) / "imports" / f"{token}.enc"


def test_an_upload_is_sealed_under_a_key_of_its_own_that_dies_with_it(app):
    from crm.privacy.crypto import DecryptionError, data_key_id_of, decrypt
    from crm.privacy.keystore import forget_unwrapped_keys, key_store

    client, _ = signed_in(app)
    email = f"{unique('wgrany')}@firma.pl"
    token, path = upload_file(app, upload(client, csv_bytes([["Nazwa firmy", "E-mail"], [unique("Wgrana "), email]])))
    sealed = path.read_text()
    key_id = data_key_id_of(sealed)
    assert key_id and email not in sealed and key_store().existing([key_id]) == {key_id}
    assert client.get(f"/import/{token}/").status_code == 200

    # a day later the app's clean-up (here the command, in the app's process) forgets it: key first, then file
    from crm.clients.models import Client
    from crm.extensions import db
    from tests.test_read_access import new_card

    card, _ = new_card(app)
    with app.app_context():
        others = {db.session.get(Client, card).data_key_id}
        db.session.remove()
    day_ago = time.time() - 25 * 3600
    os.utime(path, (day_ago, day_ago))
    purged = app.test_cli_runner().invoke(args=["crm", "purge-uploads"])
    assert purged.exit_code == 0 and "Zapomniane wygasłe pliki importu: 1." in purged.output, purged.output
    assert not path.exists() and key_store().existing([key_id]) == set()
    assert None not in others and key_store().existing(list(others)) == others, "a client's key stays"
    forget_unwrapped_keys()  # as a process that never held it unwrapped (a worker may keep one for a minute)
    with app.app_context(), pytest.raises(DecryptionError):
        decrypt(sealed, "import.upload")  # a copy of the file taken before is unreadable
    gone = client.get(f"/import/{token}/")
    assert gone.status_code == 404 and "nie jest już dostępny" in gone.text


def test_an_erasure_drops_the_uploads_that_hold_the_person(app, db_session):
    from crm.gdpr.erasure import erase
    from tests.test_gdpr import REASON, full_card

    card, data = full_card(app, db_session)
    client, _ = signed_in(app)
    _, holding = upload_file(app, upload(client, csv_bytes([["Nazwa firmy", "Telefon"], [unique("Ktoś "), data["phone"].replace(" ", "")]])))
    _, other = upload_file(app, upload(client, csv_bytes([["Nazwa firmy", "E-mail"], [unique("Inny "), f"{unique('inny')}@firma.pl"]])))
    db_session(lambda s: erase(s, card, reason=REASON))
    assert not holding.exists() and other.exists()
