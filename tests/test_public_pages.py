"""The person's own pages: a request verified by an email link, its status, one-click unsubscribe."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import secrets

import pytest
from sqlalchemy import func, select

from crm.timeutil import office_today
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
    before_id = db_session(lambda s: s.scalar(select(func.max(DataSubjectRequest.id)))) or 0
    person = visitor(app)
    ask(person, email, kind="erasure", text="Proszę usunąć moje dane")
    path = link_in(mailbox, email)
    before = requests_count(db_session)
    assert person.get(f"/privacy{path}").status_code == 200 and requests_count(db_session) == before, \
        "opening the link (as a mail scanner does) registers nothing"
    registered = confirm(person, path)
    assert registered.status_code == 200 and "Twoje żądanie zostało zarejestrowane" in registered.text
    registered_now = db_session(lambda s: s.scalars(select(DataSubjectRequest).where(
        DataSubjectRequest.public_request_id.is_not(None), DataSubjectRequest.id > before_id)).all())
    assert len(registered_now) == 1, "one matching card, one request"
    [request] = registered_now
    assert request.client_id == card and request.outcome is None
    assert (request.kind, request.verification_method, request.status) == ("erasure", "email_link", "received")
    # received on the office's day (in Warsaw it may already be tomorrow in UTC terms, or the other way)
    assert request.received_on == request.verified_on == office_today() and request.due_on > office_today()

    status_path = re.search(r'href="(/privacy/status/[\w-]+)"', registered.text).group(1)
    status = person.get(status_path)
    assert status.status_code == 200 and "Usunięcie (art. 17)" in status.text and "Otrzymane" in status.text
    assert request.received_on.strftime("%d.%m.%Y") in status.text and request.due_on.strftime("%d.%m.%Y") in status.text
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


def test_a_flood_of_requests_is_throttled_per_address_and_per_email(app, mailbox, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "CRM_PUBLIC_MESSAGES_PER_ADDRESS", "2 per day")
    target = f"{unique('ofiara')}@public.pl"
    answers = [ask(visitor(app), target).status_code for _ in range(3)]
    assert answers == [200, 200, 429], "a third message to one address, from anywhere, is refused"
    assert len(mailbox.messages) == 2
    monkeypatch.setitem(app.config, "CRM_PUBLIC_RATE_LIMIT", "3 per hour")
    flooder = visitor(app)
    with caplog.at_level(logging.DEBUG):
        answers = [ask(flooder, f"{unique('adres')}@public.pl").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert "exceeded" in caplog.text and flooder.environ_base["REMOTE_ADDR"] not in caplog.text, \
        "the limiter's line says a limit was hit, not whose address hit it"
    assert "Zbyt wiele prób" in ask(flooder, f"{unique('adres')}@public.pl").text
    # and pages opened (a status link guessed again and again)
    monkeypatch.setitem(app.config, "CRM_PUBLIC_PAGE_RATE_LIMIT", "5 per minute")
    guesser = visitor(app)
    answers = [guesser.get("/privacy/status/" + secrets.token_urlsafe(32)).status_code for _ in range(6)]
    assert answers == [404] * 5 + [429]


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
    from crm.gdpr.models import GdprEvent
    from crm.public.models import PublicRequest

    email = f"{unique('niepotwierdzona')}@public.pl"
    phone = f"+48 5{secrets.randbelow(10**8):08d}"
    card, _ = new_card(app, email=email, phone=phone)
    ask(visitor(app), email)
    path = link_in(mailbox, email)
    # the same person from other addresses, known by the phone only: one request confirmed (it is on
    # the card now), one not; and somebody else
    confirmed, by_phone = visitor(app), f"{unique('potwierdzona')}@public.pl"
    ask(confirmed, by_phone, phone=phone.replace(" ", "")[3:])
    assert "zarejestrowane" in confirm(confirmed, link_in(mailbox, by_phone)).text
    ask(visitor(app), f"{unique('inny-adres')}@public.pl", phone=phone.replace(" ", "")[3:])
    stranger = f"{unique('ktos-inny')}@public.pl"
    ask(visitor(app), stranger, phone=f"6{secrets.randbelow(10**8):08d}")
    sent = db_session(lambda s: s.scalar(select(func.count()).select_from(PublicRequest)))
    erase_form(signed_in(app)[0], card, str(card), reason=REASON)
    person = visitor(app)
    assert person.get(f"/privacy{path}").status_code == 410, "the link died with the person's data"
    held = db_session(lambda s: s.scalars(select(PublicRequest).where(PublicRequest.verified_at.is_(None))).all())
    assert [request.email for request in held if request.email == stranger] == [stranger], "nobody else's"
    assert db_session(lambda s: s.scalar(select(func.count()).select_from(PublicRequest))) == sent - 3
    assert not [request for request in held if request.email == email]
    event = db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.kind == "erasure",
                                                                  GdprEvent.client_number == card)).one())
    assert json.loads(event.counts)["public_request"] == {"rows": 3, "versions": 0}, "one on the card, two not yet"


DOWNLOAD_LINK = re.compile(r"https?://\S+/privacy/download/[\w-]+")


def hand_over(officer, request_id, email, language="pl"):
    page = officer.get(f"/datasubjectrequestmodelview/show/{request_id}")
    assert page.status_code == 200 and "handover-form" in page.text
    sent = officer.post(f"/datasubjectrequestmodelview/{request_id}/handover", data={
        "csrf_token": csrf_token(page.text), "email": email, "language": language})
    assert sent.status_code == 200, sent.status_code
    return re.search(r'id="handover-code"><strong>(\d{4} \d{4})</strong>', sent.text).group(1)


def download(client, path, code):
    page = client.get(f"/privacy{path}")
    if page.status_code != 200:
        return page
    return client.post(f"/privacy{path}", data={"csrf_token": csrf_token(page.text), "code": code})


def test_the_officer_sends_the_data_and_only_link_and_code_together_open_it_once(app, db_session, mailbox, make_user):
    import zipfile

    from crm.gdpr.models import GdprEvent
    from tests.test_gdpr import register_request
    from tests.test_read_access import openings_of

    email = f"{unique('odbiorca')}@public.pl"
    card, _ = new_card(app, email=email)
    officer, _ = signed_in(app, make_user("Data protection officer"))
    request_id = register_request(officer, card, kind="access")
    form = officer.get(f"/datasubjectrequestmodelview/show/{request_id}").text
    assert f'id="handover-email" value="{email}"' in form, "the card's address is offered"
    code = hand_over(officer, request_id, email, language="en")
    [message] = [message for message in mailbox.messages if email in message]
    assert code not in message and code.replace(" ", "") not in message, "the code never travels with the link"
    path = DOWNLOAD_LINK.search(message.replace("=\n", "")).group(0).split("/privacy", 1)[1]

    person = visitor(app)
    wrong = download(person, path, "0000 0000" if code != "0000 0000" else "1111 1111")
    assert wrong.status_code == 403 and "Kod jest niepoprawny. Pozostałe próby: 4." in wrong.text
    received = download(person, path, code.replace(" ", ""))
    assert received.status_code == 200 and received.mimetype == "application/zip"
    summary = zipfile.ZipFile(io.BytesIO(received.data)).read("summary.html").decode()
    assert "Personal data held about you" in summary, "in the language the officer chose for the person"
    assert download(person, path, code).status_code == 410, "used once"
    event = db_session(lambda s: s.scalars(select(GdprEvent).where(GdprEvent.client_number == card)).one())
    assert (event.kind, event.request_id, event.user_id) == ("export", request_id, None)
    assert openings_of(db_session, card)[-1]["kind"] == "export"
    shown = officer.get(f"/datasubjectrequestmodelview/show/{request_id}").text
    assert re.search(r'(?s)id="handovers".*?<td>1</td>', shown), "the wrong code is on the request's page"


def test_wrong_codes_lock_the_link_and_an_expired_or_erased_one_gives_nothing(app, db_session, mailbox, make_user, monkeypatch):
    from tests.test_gdpr import register_request

    email = f"{unique('zgadywacz')}@public.pl"
    card, _ = new_card(app, email=email)
    officer, _ = signed_in(app, make_user("Data protection officer"))
    request_id = register_request(officer, card, kind="access")
    code = hand_over(officer, request_id, email)
    path = DOWNLOAD_LINK.search([m for m in mailbox.messages if email in m][0].replace("=\n", "")).group(0).split("/privacy", 1)[1]
    guesser = visitor(app)
    wrong = "9999 9999" if code != "9999 9999" else "8888 8888"
    answers = [download(guesser, path, wrong) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [403] * 5
    assert "link został zablokowany" in answers[-1].text
    assert download(guesser, path, code).status_code == 410, "locked: even the right code opens nothing"

    monkeypatch.setitem(app.config, "CRM_HANDOVER_DAYS", 0)
    mailbox.messages.clear()
    code = hand_over(officer, request_id, email)
    path = DOWNLOAD_LINK.search(mailbox.messages[0].replace("=\n", "")).group(0).split("/privacy", 1)[1]
    assert download(visitor(app), path, code).status_code == 410, "expired"

    monkeypatch.setitem(app.config, "CRM_HANDOVER_DAYS", 7)
    mailbox.messages.clear()
    code = hand_over(officer, request_id, email)
    path = DOWNLOAD_LINK.search(mailbox.messages[0].replace("=\n", "")).group(0).split("/privacy", 1)[1]
    erase_form(signed_in(app)[0], card, str(card), reason=REASON)
    assert download(visitor(app), path, code).status_code == 410, "the link died with the person's data"


def test_a_hand_over_needs_a_valid_address_and_the_export_permission(app, make_user, db_session):
    from tests.test_gdpr import register_request

    card, _ = new_card(app, email=None)
    officer, _ = signed_in(app, make_user("Data protection officer"))
    request_id = register_request(officer, card, kind="access")
    page = officer.get(f"/datasubjectrequestmodelview/show/{request_id}")
    assert 'id="handover-email" value=""' in page.text, "a card without an address offers none"
    refused = officer.post(f"/datasubjectrequestmodelview/{request_id}/handover", data={
        "csrf_token": csrf_token(page.text), "email": "nie-adres", "language": "pl"})
    assert refused.status_code == 400 and "Podaj poprawny adres e-mail" in refused.text
    auditor, auth = signed_in(app, make_user("Auditor"))
    assert "handover-form" not in auditor.get(f"/datasubjectrequestmodelview/show/{request_id}").text
    assert auditor.post(f"/datasubjectrequestmodelview/{request_id}/handover", data={
        "csrf_token": auth.csrf, "email": "a@b.pl", "language": "pl"}).status_code == 403


def test_every_public_page_reads_as_polish(app, db_session, mailbox):
    from tests.test_polish_pages import english_words, foreign_words

    english = english_words()
    email = f"{unique('polszczyzna')}@public.pl"
    new_card(app, email=email)
    person = visitor(app)
    pages = {"form": person.get("/privacy/request").text, "sent": ask(person, email, text="Dzień dobry").text,
             "refused": ask(person, "zły adres").text}
    path = link_in(mailbox, email)
    pages["verify"] = person.get(f"/privacy{path}").text
    pages["registered"] = confirm(person, path).text
    pages["status"] = person.get(re.search(r'href="(/privacy/status/[\w-]+)"', pages["registered"]).group(1)).text
    pages["expired"] = person.get(f"/privacy{path}").text
    pages["unknown"] = person.get("/privacy/unsubscribe/nieznany").text
    problems = {name: sorted(words) for name, html in pages.items() if (words := foreign_words(html, english))}
    assert problems == {}


def test_a_phone_in_any_spacing_finds_the_card_and_the_deadline_runs_from_sending(app, db_session, mailbox):
    from datetime import timedelta

    from crm.gdpr.models import DataSubjectRequest
    from crm.public.models import PublicRequest

    card, body = new_card(app, phone=f"+48 6{secrets.randbelow(10**8):08d}")
    email = f"{unique('inny')}@public.pl"
    person = visitor(app)
    ask(person, email, phone=body["phone"].replace(" ", "")[3:], kind="rectification")
    path = link_in(mailbox, email)

    def sent_days_ago(session):
        # the form was sent three days ago; the link is followed today
        pending = session.scalars(select(PublicRequest).where(PublicRequest.verified_at.is_(None))
                                  .order_by(PublicRequest.id.desc()).limit(1)).one()
        pending.submitted_at -= timedelta(days=3)
        session.commit()

    db_session(sent_days_ago)
    assert confirm(person, path).status_code == 200
    request = db_session(lambda s: s.scalars(select(DataSubjectRequest).where(
        DataSubjectRequest.client_id == card, DataSubjectRequest.kind == "rectification")).one())
    assert request.received_on == office_today() - timedelta(days=3), "the deadline runs from receipt, not confirmation"
    assert request.verified_on == office_today()
