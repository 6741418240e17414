"""The database failing in the middle of a write, in process, on either database.

The statement that would write the change fails as a lost connection does
(``OperationalError``). The PostgreSQL run also cuts a real connection under
real servers (tests/test_scale_out.py); this file holds the same promise on the
embedded default: a clear 503 page in the user's language, nothing half-written.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from types import SimpleNamespace

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from crm.clients.models import Client
from crm.gdpr.models import GdprEvent
from tests.conftest import company_form, csrf_token
from tests.test_clients_api import token_for
from tests.test_clients_forms import add_client, edit_form_data, find_client

UNAVAILABLE = "Nie można teraz połączyć się z bazą danych"


def connection_lost(statement: str) -> Exception:
    return OperationalError(statement, None, ConnectionError("server closed the connection unexpectedly"))


@contextmanager
def database_fails_on(app, statement_start: str, error=connection_lost):
    """Fail the first statement starting with ``statement_start`` with ``error(statement)``
    (by default as a dropped connection would)."""
    from crm.extensions import db

    with app.app_context():
        engine = db.engine
    failed = []

    def fail(conn, cursor, statement, parameters, context, executemany):
        if not failed and statement.lstrip().startswith(statement_start):
            failed.append(statement)
            raise error(statement)

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def test_a_save_cut_short_by_the_database_answers_503_and_changes_nothing(app, client, auth, db_session):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])
    form = edit_form_data(client.get(f"/clientmodelview/edit/{saved.id}").text)
    form["city"] = "Kraków"
    form["postal_code"] = "30-001"
    with database_fails_on(app, "UPDATE client SET") as failed:
        response = client.post(f"/clientmodelview/edit/{saved.id}", data=form)
    assert failed
    assert response.status_code == 503
    assert UNAVAILABLE in response.text and "Traceback" not in response.text
    assert response.headers["Retry-After"]
    current = find_client(db_session, id=saved.id)
    assert current.city == data["city"] and current.lock_version == saved.lock_version
    # the app answers again at once, and the same form now saves
    assert client.post(f"/clientmodelview/edit/{saved.id}", data=form).status_code == 302
    assert find_client(db_session, id=saved.id).city == "Kraków"


def test_an_erasure_cut_short_by_the_database_answers_503_and_erases_nothing(app, client, auth, db_session):
    auth.login()
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])
    events_before = db_session(lambda s: s.scalar(select(func.count()).select_from(GdprEvent)))
    preview = client.get(f"/gdpr/client/{saved.id}/erase")
    with database_fails_on(app, "INSERT INTO gdpr_event") as failed:
        response = client.post(
            f"/gdpr/client/{saved.id}/erase",
            data={"csrf_token": csrf_token(preview.text), "confirm": str(saved.id), "reason": "Karta testowa do usunięcia"},
        )
    assert failed
    assert response.status_code == 503 and UNAVAILABLE in response.text
    assert db_session(lambda s: s.get(Client, saved.id)) is not None
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(GdprEvent))) == events_before


def test_the_api_answers_503_in_json_when_the_database_fails(app, client, make_user):
    headers = token_for(client, make_user("Back office"))
    with database_fails_on(app, "SELECT") as failed:
        response = client.get("/api/v1/client/", headers=headers)
    assert failed and response.status_code == 503
    assert UNAVAILABLE in response.get_json()["message"]


def test_an_api_save_cut_short_by_the_database_answers_503_and_changes_nothing(app, client, make_user, db_session):
    from tests.test_clients_api import new_company

    headers = token_for(client, make_user("Back office"))
    created = client.post("/api/v1/client/", json=new_company(), headers=headers)
    assert created.status_code == 201, created.get_json()
    card = created.get_json()["id"]
    lock_version = client.get(f"/api/v1/client/{card}", headers=headers).get_json()["result"]["lock_version"]
    with database_fails_on(app, "UPDATE client SET") as failed:
        response = client.put(f"/api/v1/client/{card}", json={"city": "Kraków", "lock_version": lock_version},
                              headers=headers)
    assert failed and response.status_code == 503
    assert UNAVAILABLE in response.get_json()["message"]
    assert find_client(db_session, id=card).city != "Kraków"


SECRET_CITY = "Tajemnicze Sioło"


class ConstraintFailed(Exception):
    """A driver's error as psycopg raises it for a failed constraint: its detail quotes the row."""

    sqlstate = "23514"
    diag = SimpleNamespace(constraint_name="client_city_check")


def refused_quoting_the_row(statement: str) -> Exception:
    detail = f'new row violates check constraint\nDETAIL:  Failing row contains (7, {SECRET_CITY}, 30-001).'
    return IntegrityError(statement, None, ConstraintFailed(detail))


def secret_in_a_message(statement: str) -> Exception:
    return ValueError(f"cannot store {SECRET_CITY}")


def edit_city(client, db_session):
    """A new card and its edit form's data with the secret city: the card as saved, the data."""
    data = company_form()
    add_client(client, data)
    saved = find_client(db_session, company_name=data["company_name"])
    form = edit_form_data(client.get(f"/clientmodelview/edit/{saved.id}").text)
    return saved, dict(form, city=SECRET_CITY, postal_code="30-001")


def test_a_database_error_quoting_the_row_reaches_no_log(app, client, auth, db_session, caplog):
    """PostgreSQL's detail of a failed constraint quotes the row; FAB logs each database error of
    a save with its traceback. The log keeps the error's type, code and constraint, not the row."""
    auth.login()
    saved, form = edit_city(client, db_session)
    with caplog.at_level(logging.DEBUG), database_fails_on(app, "UPDATE client SET", refused_quoting_the_row) as failed:
        response = client.post(f"/clientmodelview/edit/{saved.id}", data=form)
    assert failed and response.status_code < 500 and "Failing row" not in response.text
    assert "IntegrityError" in caplog.text and "client_city_check" in caplog.text and "23514" in caplog.text
    assert SECRET_CITY not in caplog.text and "Failing row" not in caplog.text
    assert find_client(db_session, id=saved.id).city != SECRET_CITY


def test_an_unexpected_error_is_logged_with_its_route_and_frames_not_its_message(app, client, auth, db_session,
                                                                                caplog, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as served, not as under test
    auth.login()
    saved, form = edit_city(client, db_session)
    with caplog.at_level(logging.DEBUG), database_fails_on(app, "UPDATE client SET", secret_in_a_message) as failed:
        response = client.post(f"/clientmodelview/edit/{saved.id}", data=form)
    assert failed and response.status_code == 500 and SECRET_CITY not in response.text
    # the page (its menu reads the database after the failed flush) in Polish, not Werkzeug's English one
    assert "Wystąpił błąd po naszej stronie i nic nie zostało zapisane" in response.text
    assert "unhandled error on POST /clientmodelview/edit/<pk>" in caplog.text
    assert "Traceback (most recent call last)" in caplog.text and "ValueError" in caplog.text
    assert SECRET_CITY not in caplog.text
    assert find_client(db_session, id=saved.id).city != SECRET_CITY


def test_an_api_error_is_logged_without_its_message(app, client, make_user, db_session, caplog, monkeypatch):
    """FAB's API logs each error it answers 500 to (``log.exception(error)``)."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    from tests.test_clients_api import new_company

    headers = token_for(client, make_user("Back office"))
    created = client.post("/api/v1/client/", json=new_company(), headers=headers)
    card = created.get_json()["id"]
    lock_version = client.get(f"/api/v1/client/{card}", headers=headers).get_json()["result"]["lock_version"]
    for error in (refused_quoting_the_row, secret_in_a_message):
        with caplog.at_level(logging.DEBUG), database_fails_on(app, "UPDATE client SET", error) as failed:
            response = client.put(f"/api/v1/client/{card}", json={"city": SECRET_CITY, "lock_version": lock_version},
                                  headers=headers)
        assert failed and SECRET_CITY not in response.get_data(as_text=True)
    assert caplog.text and SECRET_CITY not in caplog.text
    assert find_client(db_session, id=card).city != SECRET_CITY
