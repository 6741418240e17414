"""A safe hand-over of the person's export: a link by email, a code by another channel, both needed, once.

The officer sends the link from the request; the code is shown to the officer
once, to give by phone or letter. The file is made when downloaded, from the
person's current data, and recorded as the request's export. Wrong codes are
counted; after ``CRM_HANDOVER_ATTEMPTS`` the link is locked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from crm.gdpr import export
from crm.gdpr.models import DataSubjectRequest
from crm.public.models import Handover
from crm.public.service import token_hash
from crm.timeutil import utcnow

NO_PERSON_MESSAGE = _l("This request names no client card: there is nothing to send.")
WRONG_CODE_MESSAGE = _l("The code is not correct. Attempts left: %(left)d.")
HANDOVER_REASON = _l("Downloaded by the person with the link and code sent to them")
LOCKED_MESSAGE = _l("Too many wrong codes: this link is locked. Ask us for a new one.")


class HandoverError(ValueError):
    """A hand-over that cannot be made or used; the message says why."""


def _code_hash(token: str, code: str) -> str:
    # keyed, and bound to its link: a copy of the table does not give the codes away
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{token}\x00{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    """Eight digits, written in two groups to read over the phone."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"{digits[:4]} {digits[4:]}"


def send(session, request: DataSubjectRequest, email: str, language: str, actor) -> tuple[str, str]:
    """Prepare a hand-over of the request's person's data; returns the link's token and the code (committed)."""
    if request.client_id is None:
        raise HandoverError(str(NO_PERSON_MESSAGE))
    token, code = secrets.token_urlsafe(32), new_code()
    now = utcnow()
    session.add(Handover(
        request_id=request.id, client_id=request.client_id, email=email, language=language,
        token_hash=token_hash(token), code_hash=_code_hash(token, code.replace(" ", "")),
        sent_at=now, sent_by_id=getattr(actor, "id", None),
        expires_at=now + timedelta(days=int(current_app.config["CRM_HANDOVER_DAYS"])),
    ))
    session.commit()
    return token, code


def waiting(session, token: str) -> Handover | None:
    """The hand-over a link names, if it can still be downloaded (not used, not expired, not locked)."""
    found = session.scalars(select(Handover).where(Handover.token_hash == token_hash(token))).first()
    attempts = int(current_app.config["CRM_HANDOVER_ATTEMPTS"])
    if found is None or found.downloaded_at is not None or found.expires_at < utcnow() or found.failed_codes >= attempts:
        return None
    return found


@dataclass(frozen=True)
class Download:
    """The file the person receives."""

    body: bytes
    client_id: int


def download(session, token: str, code: str) -> Download:
    """The export, made now, if the code is right; a wrong code is counted (and may lock the link)."""
    handover = waiting(session, token)
    if handover is None:
        raise HandoverError("")
    typed = "".join(code.split())
    if not hmac.compare_digest(handover.code_hash, _code_hash(token, typed)):
        handover.failed_codes += 1
        session.commit()
        left = int(current_app.config["CRM_HANDOVER_ATTEMPTS"]) - handover.failed_codes
        raise HandoverError(str(LOCKED_MESSAGE) if left <= 0 else str(WRONG_CODE_MESSAGE) % {"left": left})
    client_id, request_id, language, handover_id = handover.client_id, handover.request_id, handover.language, handover.id
    data = export.collect(session, client_id)
    body = export.package(session, data, language)
    # claimed with the export's record in one commit, by one download only (two at once: the second is refused)
    claimed = session.execute(
        update(Handover).where(Handover.id == handover_id, Handover.downloaded_at.is_(None)).values(downloaded_at=utcnow())
    ).rowcount
    if not claimed:
        session.rollback()
        raise HandoverError("")
    export.record(session, client_id, data, actor=None, request_id=request_id,
                  reason=None if request_id else str(HANDOVER_REASON))
    return Download(body, client_id)


def handovers_of(session, request_id: int) -> list[Handover]:
    """The hand-overs of a request, newest first, for its page."""
    return list(session.scalars(select(Handover).where(Handover.request_id == request_id).order_by(Handover.id.desc())))
