"""The person's own pages: a request verified by an email link, its status, one-click unsubscribe."""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token, unique
from tests.test_gdpr import REASON, erase_form, full_card, signed_in
from tests.test_read_access import new_card
from tests.test_sessions_and_forced_change import SmtpSink

LINK = re.compile(r"https?://\S+/privacy/verify/[\w-]+")


@pytest.fixture()
def mailbox(app, monkeypatch):
    sink = SmtpSink()
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CRM_SMTP_PORT", sink.port)
    yield sink
    sink.close()


def visitor(app):
    """A browser with no account, from an address of its own (the pages count per address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"198.51.100.{secrets.randbelow(250) + 1}"
    return client


def ask(client, email, kind="access", **fields):
    page = client.get("/privacy/request")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.text), "kind": kind, "email": email, "phone": "", "text": "", **fields}
    return client.post("/privacy/request", data=data)


def link_in(mailbox, email) -> str:
    [message] = [message for message in mailbox.messages if email in message]
    # quoted-printable soft line breaks would split a long link
    return LINK.search(message.replace("=\n", "")).group(0).split("/privacy", 1)[1]


def requests_count(db_session) -> int:
    from crm.gdpr.models import DataSubjectRequest

    return db_session(lambda s: s.scalar(select(func.count()).select_from(DataSubjectRequest)))


def confirm(client, path):
    page = client.get(f"/privacy{path}")
    assert page.status_code == 200, page.status_code
    return client.post(f"/privacy{path}", data={"csrf_token": csrf_token(page.text)})


def test_the_form_answers_the_same_whether_or_not_anything_is_held(app, db_session, mailbox):
    held = f"{unique('znany')}@public.pl"
    new_card(app, email=held)
    unknown = f"{unique('nieznany')}@public.pl"
    before = requests_count(db_session)
    answers = [ask(visitor(app), email) for email in (held, unknown)]
    assert [answer.status_code for answer in answers] == [200, 200]
    bodies = [re.sub(r'nonce="[^"]*"|value="[^"]*"', "", answer.text) for answer in answers]
    assert bodies[0] == bodies[1] and "wysłaliśmy na niego wiadomość z linkiem" in bodies[0]
    assert requests_count(db_session) == before, "nothing is registered before the link is followed"
    assert len(mailbox.messages) == 2, "both addresses get the link: the answer tells nothing"
    assert held not in answers[0].text and held not in str(answers[0].headers)


def test_the_link_registers_the_request_on_the_persons_card_once(app, db_session, mailbox, make_user):
    from crm.gdpr.models import DataSubjectRequest

    email = f"{unique('osoba')}@public.pl"
    card, _ = new_card(app, email=email.upper())
    person = visitor(app)
    ask(person, email, kind="erasure", text="Proszę usunąć moje dane")
    path = link_in(mailbox, email)
    before = requests_count(db_session)
    assert person.get(f"/privacy{path}").status_code == 200 and requests_count(db_session) == before, \
        "opening the link (as a mail scanner does) registers nothing"
    registered = confirm(person, path)
    assert registered.status_code == 200 and "Twoje żądanie zostało zarejestrowane" in registered.text
    request = db_session(lambda s: s.scalars(select(DataSubjectRequest).where(DataSubjectRequest.client_id == card)).one())
    assert (request.kind, request.verification_method, request.status) == ("erasure", "email_link", "received")
    assert request.received_on == date.today() and request.due_on > date.today()

    status_path = re.search(r'href="(/privacy/status/[\w-]+)"', registered.text).group(1)
    status = person.get(status_path)
    assert status.status_code == 200 and "Usunięcie (art. 17)" in status.text and "Otrzymane" in status.text
    assert email not in status.text
    table = re.search(r'(?s)<table[^>]*id="request-status".*?</table>', status.text).group(0)
    assert not re.search(rf"\b{card}\b", re.sub(r"\d{2}\.\d{2}\.\d{4}", "", table)), "no card number"

    replayed = person.post(f"/privacy{path}", data={"csrf_token": csrf_token(person.get("/privacy/request").text)})
    assert replayed.status_code == 410 and "wygasł albo został już użyty" in replayed.text
    assert requests_count(db_session) == before + 1

    officer, _ = signed_in(app, make_user("Data protection officer"))
    shown = officer.get(f"/datasubjectrequestmodelview/show/{request.id}").text
    assert "Link wysłany na e-mail podany w formularzu publicznym" in shown

    # the person's erasure takes their request's links with it
    erase_form(signed_in(app)[0], card, str(card), reason=REASON)
    assert person.get(status_path).status_code == 404


def test_a_request_about_nobody_is_registered_for_the_officer_to_answer(app, db_session, mailbox):
    from crm.gdpr.models import DataSubjectRequest

    email = f"{unique('obcy')}@public.pl"
    person = visitor(app)
    ask(person, email)
    registered = confirm(person, link_in(mailbox, email))
    assert registered.status_code == 200
    latest = db_session(lambda s: s.scalars(select(DataSubjectRequest).order_by(DataSubjectRequest.id.desc()).limit(1)).one())
    assert latest.client_id is None and latest.verification_method == "email_link"
    assert "Nie przechowujemy danych" in latest.outcome


def test_an_expired_or_forged_link_registers_nothing(app, db_session, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_PUBLIC_LINK_HOURS", 0)
    email = f"{unique('spoznialski')}@public.pl"
    person = visitor(app)
    ask(person, email)
    path = link_in(mailbox, email)
    before = requests_count(db_session)
    assert person.get(f"/privacy{path}").status_code == 410
    page = person.get("/privacy/request")
    assert person.post(f"/privacy{path}", data={"csrf_token": csrf_token(page.text)}).status_code == 410
    assert person.get("/privacy/verify/" + "A" * 43).status_code == 410
    assert person.get("/privacy/status/" + "A" * 43).status_code == 404
    assert requests_count(db_session) == before


def test_bad_input_is_refused_in_polish(app, mailbox):
    person = visitor(app)
    refused = ask(person, "to nie jest adres")
    assert refused.status_code == 422 and "adres e-mail" in refused.text.lower()
    assert ask(person, f"{unique('x')}@public.pl", kind="telepathy").status_code == 422
    assert ask(person, f"{unique('x')}@public.pl", text="x" * 3000).status_code == 422
    assert mailbox.messages == []


def test_a_flood_of_requests_is_throttled_per_address_and_per_email(app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_PUBLIC_MESSAGES_PER_ADDRESS", "2 per day")
    target = f"{unique('ofiara')}@public.pl"
    answers = [ask(visitor(app), target).status_code for _ in range(3)]
    assert answers == [200, 200, 429], "a third message to one address, from anywhere, is refused"
    assert len(mailbox.messages) == 2
    monkeypatch.setitem(app.config, "CRM_PUBLIC_RATE_LIMIT", "3 per hour")
    flooder = visitor(app)
    answers = [ask(flooder, f"{unique('adres')}@public.pl").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert "Zbyt wiele prób" in ask(flooder, f"{unique('adres')}@public.pl").text


def test_one_click_unsubscribe_from_the_mailing_tools_header(app, db_session):
    from crm.gdpr.models import DataSubjectRequest
    from crm.mailing.models import Subscription

    admin, _ = signed_in(app)
    card, data = full_card(app, db_session, admin)
    list_id = db_session(lambda s: s.scalars(select(Subscription.mailing_list_id).where(Subscription.client_id == card)).one())
    exported = admin.get(f"/mailinglistmodelview/{list_id}/subscribers.csv")
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    header = rows[0].index("Nagłówek List-Unsubscribe")
    [row] = [row for row in rows[1:] if row[0] == data["email"]]
    assert row[header + 1] == "List-Unsubscribe=One-Click"
    path = re.fullmatch(r"<https?://[^/]+(/privacy/unsubscribe/[\w.-]+)>", row[header]).group(1)

    mail_program = visitor(app)
    from tests.test_related_records import new_list

    other_list = new_list(db_session)

    def move(session, to):
        subscription = session.scalars(select(Subscription).where(Subscription.client_id == card)).one()
        subscription.mailing_list_id = to
        session.commit()

    # the link names one list: a subscription moved to another list is not ended by it
    db_session(lambda s: move(s, other_list))
    assert mail_program.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    db_session(lambda s: move(s, list_id))
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert mail_program.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert "Przestać otrzymywać" in mail_program.get(path).text
    # RFC 8058: the mail program posts without a form token
    done = mail_program.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Zapisaliśmy Twój sprzeciw" in done.text
    assert db_session(lambda s: s.scalars(select(Subscription).where(Subscription.client_id == card)).all()) == []
    objection = db_session(lambda s: s.scalars(select(DataSubjectRequest).where(
        DataSubjectRequest.client_id == card, DataSubjectRequest.kind == "objection")).one())
    assert objection.status == "completed" and "jednym kliknięciem" in objection.outcome
    assert mail_program.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404, "used once"


def test_an_erasure_takes_the_persons_requests_not_yet_confirmed(app, db_session, mailbox):
    from crm.public.models import PublicRequest

    email = f"{unique('niepotwierdzona')}@public.pl"
    card, _ = new_card(app, email=email)
    ask(visitor(app), email)
    path = link_in(mailbox, email)
    erase_form(signed_in(app)[0], card, str(card), reason=REASON)
    person = visitor(app)
    assert person.get(f"/privacy{path}").status_code == 410, "the link died with the person's data"
    held = db_session(lambda s: s.scalars(select(PublicRequest.id).where(PublicRequest.verified_at.is_(None))).all())
    assert all(db_session(lambda s: s.get(PublicRequest, i).email) != email for i in held)
