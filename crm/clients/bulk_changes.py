"""One change to many client cards at once: status, owner, a mailing list; all of them or none.

Each card is held to the rules of a change to one card (crm.clients.service,
crm.gdpr.service): a restricted card (Art. 18) is not changed, a card without a
basis for email marketing is not subscribed. One card refused refuses the whole
change, naming the cards, and nothing is written; a change that passes is one
recorded transaction, so the history shows it as one step of one person.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.clients.models import Client
from crm.clients.service import card_name, prepare_for_save

#: most cards one bulk change takes (a larger search is narrowed first)
MAX_CARDS = 5000

NOTHING_CHOSEN_MESSAGE = _l("Choose at least one change.")
NO_CARDS_MESSAGE = _l("No cards are selected: tick cards on the list, or search first.")
TOO_MANY_MESSAGE = _l("A change takes at most %(max)d cards at once; narrow the search.")
RESTRICTED_MESSAGE = _l("Processing of these cards is restricted (Art. 18), so nothing was changed: %(cards)s.")
NO_BASIS_MESSAGE = _l(
    "These cards have no valid basis for email marketing, so nothing was changed: %(cards)s. "
    "Record a consent on each card first, or leave them out."
)
#: how many refused cards a message names
NAMED = 10


@dataclass(frozen=True)
class BulkChange:
    """What to change; None leaves it as it is."""

    status: str | None = None
    owner_id: int | None = None
    subscribe_to: int | None = None
    unsubscribe_from: int | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in (self.status, self.owner_id, self.subscribe_to, self.unsubscribe_from))


class BulkRefused(ValueError):
    """Nothing was changed; the message says why. A conflict with a card's state (409), or a bad request (422)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def _named(cards: list[Client]) -> str:
    shown = ", ".join(card_name(card) or f"#{card.id}" for card in cards[:NAMED])
    return shown + (f" (+{len(cards) - NAMED})" if len(cards) > NAMED else "")


def _subscriptions(session, card_ids: list[int], list_id: int | None) -> dict:
    from crm.mailing.models import Subscription

    if list_id is None:
        return {}
    return {subscription.client_id: subscription for subscription in session.scalars(
        select(Subscription).where(Subscription.client_id.in_(card_ids), Subscription.mailing_list_id == list_id)
    )}


def apply(session, card_ids: list[int], change: BulkChange, acting_user=None) -> int:
    """Make ``change`` to every card, in one transaction; returns how many cards changed."""
    from crm.gdpr.service import has_basis, restricted_clients
    from crm.mailing.models import Subscription

    if change.is_empty():
        raise BulkRefused(str(NOTHING_CHOSEN_MESSAGE), 422)
    if not card_ids:
        raise BulkRefused(str(NO_CARDS_MESSAGE), 422)
    if len(card_ids) > MAX_CARDS:
        raise BulkRefused(str(TOO_MANY_MESSAGE % {"max": MAX_CARDS}), 422)
    try:
        cards = list(session.scalars(select(Client).where(Client.id.in_(card_ids)).order_by(Client.id)))
        restricted = set(session.scalars(restricted_clients()))
        refused = [card for card in cards if card.id in restricted]
        if refused:
            raise BulkRefused(str(RESTRICTED_MESSAGE % {"cards": _named(refused)}))
        on_list = _subscriptions(session, card_ids, change.subscribe_to)
        leaving = _subscriptions(session, card_ids, change.unsubscribe_from)
        if change.subscribe_to is not None:
            missing = [card for card in cards if card.id not in on_list and not has_basis(session, card.id)]
            if missing:
                raise BulkRefused(str(NO_BASIS_MESSAGE % {"cards": _named(missing)}))
        changed = 0
        for card in cards:
            touched = False
            if change.status is not None and card.status != change.status:
                card.status, touched = change.status, True
            if change.owner_id is not None and card.owner_id != change.owner_id:
                card.owner_id, touched = change.owner_id, True
            if touched:
                prepare_for_save(card, acting_user=acting_user)
            if change.subscribe_to is not None and card.id not in on_list:
                session.add(Subscription(client_id=card.id, mailing_list_id=change.subscribe_to, source="manual"))
                touched = True
            if card.id in leaving:
                session.delete(leaving[card.id])
                touched = True
            changed += touched
        session.commit()
    except Exception:
        session.rollback()
        raise
    return changed
