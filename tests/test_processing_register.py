"""The record of processing activities (Art. 30): kept on a screen, downloaded for the authority in two languages."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from crm.security.roles import AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER
from tests.conftest import csrf_token, unique
from tests.test_gdpr import signed_in

ADD_URL = "/processingactivitymodelview/add"


def activity_form(name: str, **overrides) -> MultiDict:
    """A filled add form: ticks of categories are repeated fields, as a browser sends them."""
    fields = {
        "name": name,
        "purpose": "Obsługa zamówień i reklamacji klientów",
        "lawful_basis": "contract",
        "recipients": "Biuro rachunkowe Saldo sp. z o.o. (podmiot przetwarzający)",
        "third_countries": "",
        "retention": "6 lat od końca roku, w którym umowa wygasła",
        "security_measures": "Szyfrowanie, role, dziennik odczytów",
        "source": "",
        **overrides,
    }
    ticks = [("subject_categories", "clients"), ("subject_categories", "contacts"),
             ("data_categories", "identity"), ("data_categories", "contact")]
    return MultiDict([*fields.items(), *ticks])


def add_activity(client, form: MultiDict):
    page = client.get(ADD_URL)
    assert page.status_code == 200
    form = form.copy()
    form["csrf_token"] = csrf_token(page.text)
    return client.post(ADD_URL, data=form)


def activities_named(db_session, name) -> int:
    from crm.accountability.models import ProcessingActivity

    return db_session(lambda s: s.scalar(select(func.count()).where(ProcessingActivity.name == name)))


def test_the_officer_records_an_activity_and_reads_it_in_words(app, make_user, db_session):
    from crm.accountability.models import ProcessingActivity

    client, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    form_page = client.get(ADD_URL).text
    # the measures Kartoteka takes are offered as the start of the description
    assert "AES-256-GCM" in form_page
    name = unique("Obsługa zamówień ")
    response = add_activity(client, activity_form(name))
    assert response.status_code == 302, response.text[-1500:]
    assert activities_named(db_session, name) == 1

    listed = client.get("/processingactivitymodelview/list/").text
    assert name in listed
    assert "Umowa (art. 6 ust. 1 lit. b)" in listed
    assert "Klienci (osoby fizyczne, przedsiębiorcy jednoosobowi), Osoby kontaktowe klientów" in listed
    assert "contacts" not in listed and "identity" not in listed
    pk = db_session(lambda s: s.scalar(select(ProcessingActivity.id).where(ProcessingActivity.name == name)))
    shown = client.get(f"/processingactivitymodelview/show/{pk}").text
    assert "Brak przekazywania do państw trzecich" in shown


def test_the_record_downloads_for_the_authority_in_polish_and_english(app, make_user, db_session):
    client, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    name = unique("Wysyłka newslettera ")
    assert add_activity(client, activity_form(name, lawful_basis="consent", third_countries="USA (Mailchimp), SCC")).status_code == 302
    app.config["CRM_CONTROLLER_NAME"] = "Hurtownia Testowa sp. z o.o."
    try:
        polish = client.get("/processingactivitymodelview/document?language=pl&format=html")
        english = client.get("/processingactivitymodelview/document?language=en&format=html")
    finally:
        app.config["CRM_CONTROLLER_NAME"] = None
    assert polish.status_code == english.status_code == 200
    assert "attachment" in polish.headers["Content-Disposition"]
    assert name in polish.text and name in english.text
    assert "Hurtownia Testowa sp. z o.o." in polish.text
    assert "Rejestr czynności przetwarzania" in polish.text and "Zgoda (art. 6 ust. 1 lit. a)" in polish.text
    assert "Record of processing activities" in english.text and "Consent (Art. 6(1)(a))" in english.text
    assert "Contact details" in english.text and "Dane kontaktowe" in polish.text
    assert "Record of processing" not in polish.text and "Rejestr czynności" not in english.text
    # the settings not given are said in words, not as the setting's name
    assert "nie podano" in polish.text and "CRM_" not in polish.text

    for language, header, basis in (("pl", "Podstawa prawna", "Zgoda (art. 6 ust. 1 lit. a)"),
                                    ("en", "Lawful basis", "Consent (Art. 6(1)(a))")):
        download = client.get(f"/processingactivitymodelview/document?language={language}&format=csv")
        assert download.status_code == 200 and download.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig")), delimiter=";"))
        assert header in rows[0]
        row = next(row for row in rows[1:] if row[0] == name)
        assert row[rows[0].index(header)] == basis
        assert "USA (Mailchimp), SCC" in row


def test_bad_input_is_refused_in_polish_and_nothing_is_written(app, make_user, db_session):
    client, _ = signed_in(app, make_user(DATA_PROTECTION_OFFICER))
    name = unique("Zła kategoria ")
    form = activity_form(name)
    form.setlist("data_categories", ["identity", "shoe_size"])
    refused = add_activity(client, form)
    assert refused.status_code == 422 and "Zaznaczona wartość nie należy do oferowanych" in refused.text
    long_name = unique("Za długi opis ")
    refused = add_activity(client, activity_form(long_name, purpose="x" * 5000))
    assert refused.status_code == 422 and "4000" in refused.text
    no_ticks = activity_form(unique("Bez kategorii "))
    no_ticks.poplist("subject_categories")
    assert add_activity(client, no_ticks).status_code == 422
    assert activities_named(db_session, name) == activities_named(db_session, long_name) == 0
    for bad in ("language=de", "format=pdf", "language=%27%20OR%201=1"):
        answer = client.get(f"/processingactivitymodelview/document?{bad}")
        assert answer.status_code == 400 and "filtr w adresie są nieprawidłowe" in answer.text, bad


def test_an_auditor_reads_the_record_but_cannot_change_it_and_back_office_cannot_see_it(app, make_user):
    auditor, _ = signed_in(app, make_user(AUDITOR))
    assert auditor.get("/processingactivitymodelview/list/").status_code == 200
    assert auditor.get("/processingactivitymodelview/document?format=csv").status_code == 200
    assert auditor.get(ADD_URL).status_code == 403
    back_office, _ = signed_in(app, make_user(BACK_OFFICE))
    assert back_office.get("/processingactivitymodelview/list/").status_code == 403
    assert back_office.get("/processingactivitymodelview/document").status_code == 403
