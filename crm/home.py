"""The start page: what the signed-in person works on, in the parts their role may open.

Each part is shown only to a role holding the permission of the screen it
leads to, and reads as that screen would (names masked where the role sees
them masked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

#: how many rows each part of the start page shows
SHOWN = 8


@dataclass
class Home:
    """The parts of one person's start page; None: the role does not open that screen."""

    my_cards: list | None = None
    my_requests: list | None = None
    open_requests: int | None = None
    overdue_requests: int | None = None
    recent_changes: list | None = None
    locked_accounts: int | None = None
    today: date = field(default_factory=date.today)

    def cards_shown(self) -> list[int]:
        """The client cards the page names (requests are shown by number only)."""
        return [card.id for card in self.my_cards or ()] + [change.client_id for change in self.recent_changes or ()]


def home_of(session, user, may) -> Home:
    """The start page of ``user``; ``may(permission, view)`` tells what their role opens."""
    from crm.clients.models import Client
    from crm.gdpr.choices import OPEN_STATUSES
    from crm.gdpr.models import DataSubjectRequest

    home = Home()
    if may("can_list", "ClientModelView"):
        home.my_cards = list(session.scalars(
            select(Client).where(Client.owner_id == user.id).order_by(Client.updated_at.desc()).limit(SHOWN)
        ))
    if may("can_list", "DataSubjectRequestModelView"):
        open_requests = DataSubjectRequest.status.in_(OPEN_STATUSES)
        deadline = func.coalesce(DataSubjectRequest.extended_until, DataSubjectRequest.due_on)
        home.my_requests = list(session.scalars(
            select(DataSubjectRequest).where(open_requests, DataSubjectRequest.handler_id == user.id)
            .order_by(deadline).limit(SHOWN)
        ))
        home.open_requests = session.scalar(select(func.count()).where(open_requests))
        home.overdue_requests = session.scalar(select(func.count()).where(open_requests, deadline < home.today))
    if may("can_list", "RecentChangesView"):
        from crm.history.service import RecentFilter, recent_changes

        home.recent_changes = recent_changes(session, RecentFilter(), per_page=SHOWN)[0]
    if may("can_list", "UserDBModelView"):
        from crm.security.models import User

        home.locked_accounts = session.scalar(select(func.count()).select_from(User).where(User.is_locked))
    return home
