"""The person's own way in: a request verified by an email link, its status, and one-click unsubscribe.

Nothing here looks at the client base before the email link is followed, so
the form answers the same, in the same time, whether anything is held about the
address (no enumeration). Tokens are random, kept as SHA-256 hashes, and the
verification token works once; unsubscribe links are signed and name only a
subscription, which an erasure deletes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, or_, select

from crm.clients.models import Client
from crm.gdpr.models import DataSubjectRequest
from crm.gdpr.service import due_date
from crm.mailing.models import MailingList, Subscription
from crm.public.models import PublicRequest
from crm.timeutil import office_today, utcnow

LINK_EXPIRED_MESSAGE = _l("This link has expired or has already been used. Send the form again.")
UNKNOWN_LINK_MESSAGE = _l("This link is not valid (it may have been used already, or the subscription has ended).")
NO_DATA_OUTCOME = _l("No data held about the email address or phone number given (checked when the request was verified).")
UNSUBSCRIBED_OUTCOME = _l("Unsubscribed from the mailing list \"%(list)s\" with the one-click link.")


def token_hash(token: str) -> str:
    """How a link's token is stored: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def submit(session, kind: str, email: str, phone: str | None, text: str | None) -> str:
    """Keep a request until its email link is followed; returns the link's token (sent to ``email`` only).

    Expired, never verified requests are deleted on the way: they were never requests.
    """
    now = utcnow()
    session.execute(delete(PublicRequest).where(PublicRequest.verified_at.is_(None), PublicRequest.expires_at < now))
    token = secrets.token_urlsafe(32)
    hours = int(current_app.config["CRM_PUBLIC_LINK_HOURS"])
    session.add(PublicRequest(
        kind=kind, email=email, phone=phone or None, text=text or None, submitted_at=now,
        expires_at=now + timedelta(hours=hours), verification_hash=token_hash(token),
    ))
    session.commit()
    return token


def pending(session, token: str) -> PublicRequest | None:
    """The request a verification link names, if it is still waiting and not expired."""
    found = session.scalars(select(PublicRequest).where(PublicRequest.verification_hash == token_hash(token))).first()
    if found is None or found.verified_at is not None or found.expires_at < utcnow():
        return None
    return found


def verify(session, token: str) -> str | None:
    """Register a pending request as data-subject requests, one per matching card (or one "no data held").

    Identity is recorded as verified by the email link; the deadline runs from
    the day the form was sent. Returns the token of the status page, or None
    when the link is unknown, used or expired.
    """
    public = pending(session, token)
    if public is None:
        return None
    received: date = office_today(public.submitted_at)
    matched = list(session.scalars(select(Client.id).where(or_(
        Client.email_bidx == public.email_bidx,
        *([Client.phone_bidx == public.phone_bidx] if public.phone_bidx else []),
    )).order_by(Client.id)))
    for client_id in matched or [None]:
        session.add(DataSubjectRequest(
            kind=public.kind, client_id=client_id, received_on=received, due_on=due_date(received),
            verification_method="email_link", verified_on=office_today(), status="received",
            outcome=None if client_id else str(NO_DATA_OUTCOME), public_request=public,
        ))
    status_token = secrets.token_urlsafe(32)
    public.verified_at, public.status_hash = utcnow(), token_hash(status_token)
    public.client_id = matched[0] if matched else None
    session.commit()
    return status_token


@dataclass(frozen=True)
class Status:
    """What the status page shows: no personal data, only the request's course."""

    kind: str
    received_on: date
    due_on: date
    status: str
    completed_on: date | None


def status_of(session, token: str) -> list[Status] | None:
    """The course of each request a status link names; None for an unknown link."""
    public = session.scalars(select(PublicRequest).where(PublicRequest.status_hash == token_hash(token))).first()
    if public is None:
        return None
    requests = session.scalars(
        select(DataSubjectRequest).where(DataSubjectRequest.public_request_id == public.id).order_by(DataSubjectRequest.id)
    )
    return [Status(r.kind, r.received_on, r.deadline, r.status, r.completed_on) for r in requests]


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------------------

def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kartoteka-unsubscribe")


def unsubscribe_token(subscription_id: int, client_id: int, mailing_list_id: int) -> str:
    """The signed token of one subscription's unsubscribe link (client and list, so it fits no other)."""
    return _unsubscribe_signer().dumps([subscription_id, client_id, mailing_list_id])


def subscription_of(session, token: str) -> Subscription | None:
    """The subscription an unsubscribe link names, if the signature holds and it still exists."""
    try:
        subscription_id, client_id, list_id = _unsubscribe_signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    found = session.get(Subscription, subscription_id) if isinstance(subscription_id, int) else None
    if found is None or (found.client_id, found.mailing_list_id) != (client_id, list_id):
        return None
    return found


def unsubscribe(session, subscription: Subscription) -> str:
    """End the subscription and register the person's objection to it as a completed request; returns the list's name."""
    list_name = session.get(MailingList, subscription.mailing_list_id).name
    today = office_today()
    session.add(DataSubjectRequest(
        kind="objection", client_id=subscription.client_id, received_on=today, due_on=due_date(today),
        verification_method="email_link", verified_on=today, status="completed", completed_on=today,
        outcome=str(UNSUBSCRIBED_OUTCOME) % {"list": list_name},
    ))
    session.delete(subscription)
    session.commit()
    return list_name
