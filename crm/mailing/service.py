"""Rules of subscriptions."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from sqlalchemy import select

from crm.extensions import db
from crm.mailing.models import Subscription
from crm.timeutil import utcnow


def refuse_duplicate(subscription: Subscription) -> None:
    """Raise ValueError when the client is already on that list."""
    if subscription.client is None or subscription.mailing_list is None:
        return
    with db.session.no_autoflush:
        existing = db.session.scalar(
            select(Subscription.id).where(
                Subscription.client_id == subscription.client.id,
                Subscription.mailing_list_id == subscription.mailing_list.id,
                Subscription.id != (subscription.id or 0),
            )
        )
    if existing is not None:
        raise ValueError(gettext("This client is already subscribed to this list."))


def require_basis(subscription: Subscription) -> None:
    """Raise ValueError unless the client may be subscribed: not restricted, with a basis for email marketing."""
    from crm.gdpr.service import check_subscription

    client = subscription.client
    if client is None:
        return
    with db.session.no_autoflush:
        check_subscription(db.session, client.id)


def writable_subscribers(session, mailing_list_id: int, today: date | None = None) -> list:
    """The list's subscribers a mailing may reach today, as (client, subscribed at, subscription id), oldest card first.

    Only those with an email, a valid basis for email marketing (Art. 6, 7) and
    no restriction of processing (Art. 18).
    """
    from crm.clients.models import Client
    from crm.gdpr.models import Consent
    from crm.gdpr.service import restricted_clients, valid_basis

    today = today or utcnow().date()
    return session.execute(
        select(Client, Subscription.subscribed_at, Subscription.id)
        .join(Subscription, Subscription.client_id == Client.id)
        .where(
            Subscription.mailing_list_id == mailing_list_id,
            Client.email_bidx.is_not(None),
            select(Consent.id).where(valid_basis(Client.id, today=today)).exists(),
            Client.id.not_in(restricted_clients(today)),
        )
        .order_by(Client.id)
    ).all()
