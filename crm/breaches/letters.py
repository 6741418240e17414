"""Telling the affected persons of a breach (Art. 34): an email each, or letters to print; each telling recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.accountability import register
from crm.breaches.models import Breach, BreachPerson
from crm.clients.models import Client
from crm.security.mail import send_mail
from crm.timeutil import shown_time, utcnow

EMAIL, LETTER = "email", "letter"
CHANNELS = (EMAIL, LETTER)
BAD_CHOICE_MESSAGE = _l("Choose how to tell the persons (email or letter) and the language: Polish or English.")


@dataclass
class Outcome:
    """What one round of telling did."""

    emailed: int = 0
    failed: int = 0
    #: the letters to print, one HTML document (None when the round was by email)
    letters: str | None = None
    client_ids: list[int] = field(default_factory=list)


def letter(breach: Breach, client: Client) -> tuple[str, str]:
    """The subject and plain-text body of one person's notification, in the current language."""
    body = render_template(
        "breaches/letter.txt", breach=breach, name=client.display_name or "", controller=register.controller(),
        discovered=shown_time(breach.discovered_at),
    )
    return gettext("Information about a breach of your personal data"), body


def notify(session, breach: Breach, language: str, channel: str) -> Outcome:
    """Tell the persons not yet told: by email (those with an address), or all of them by letter."""
    outcome = Outcome()
    waiting = list(session.scalars(
        select(BreachPerson).where(BreachPerson.breach_id == breach.id, BreachPerson.notified_at.is_(None))
    ))
    clients = {client.id: client for client in session.scalars(
        select(Client).where(Client.id.in_([person.client_id for person in waiting]))
    )}
    printed = []
    with force_locale(language):
        for person in waiting:
            client = clients[person.client_id]
            if channel == EMAIL and not client.email:
                continue
            subject, body = letter(breach, client)
            outcome.client_ids.append(client.id)
            if channel == EMAIL:
                if not send_mail(client.email, subject, body):
                    outcome.failed += 1
                    continue
                outcome.emailed += 1
            else:
                printed.append((client, body))
            person.notified_at, person.notified_by = utcnow(), channel
            # recorded as soon as it is sent: a round cut short is not sent twice
            session.commit()
        if channel == LETTER:
            outcome.letters = render_template("breaches/letters.html", letters=printed, language=language,
                                              subject=gettext("Information about a breach of your personal data"))
    return outcome
