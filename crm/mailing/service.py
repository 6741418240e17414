"""Rules of subscriptions."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select

from crm.extensions import db
from crm.mailing.models import Subscription


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
