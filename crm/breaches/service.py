"""Rules of the breach register: the 72-hour clock (Art. 33(1)) and finding the persons a breach affected.

Affected persons are found in the accountability records: the read-access log
(whose data an account or role opened) and the change history (whose card it
changed), within a time window; the result is saved with the breach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select
from sqlalchemy import or_ as sa_or
from sqlalchemy_continuum import versioning_manager

from crm.accountability.models import ReadAccess, ReadAccessCard
from crm.breaches.models import Breach, BreachPerson
from crm.gdpr.places import places
from crm.timeutil import utcnow

#: Art. 33(1): the authority is told without undue delay, where feasible within 72 hours of discovery
NOTIFY_WITHIN = timedelta(hours=72)
#: the longest window one search of affected persons covers
LONGEST_WINDOW = timedelta(days=366)

REPORTED, OVERDUE, RUNNING = "reported", "overdue", "running"
STATE_LABELS = {
    REPORTED: _l("reported to the authority"),
    OVERDUE: _l("overdue by %(hours)d h"),
    RUNNING: _l("%(hours)d h left to report"),
}
WINDOW_MESSAGE = _l("The end of the window must come after its start, at most a year later.")
DISCOVERY_MESSAGE = _l("A breach cannot be discovered before it happened, nor in the future.")
REPORT_MESSAGE = _l("The report to the authority cannot come before the discovery, nor in the future.")
DELAY_MESSAGE = _l("A report made more than 72 hours after the discovery must say why it was late (Art. 33(1)).")


class BreachError(ValueError):
    """A breach or a search that breaks a rule; the message says which."""


def report_due_at(breach: Breach) -> datetime:
    """When the authority must have been told."""
    return breach.discovered_at + NOTIFY_WITHIN


def clock(breach: Breach, now: datetime | None = None) -> str:
    """Where the 72-hour clock stands: reported, overdue, or still running."""
    if breach.reported_at is not None:
        return REPORTED
    return OVERDUE if (now or utcnow()) > report_due_at(breach) else RUNNING


def hours_left(breach: Breach, now: datetime | None = None) -> int:
    """Whole hours until the report is due, negative once overdue (started hours are not counted either way)."""
    return int((report_due_at(breach) - (now or utcnow())).total_seconds() / 3600)


def notification_label(value: tuple[str, int]) -> str:
    """The clock of ``Breach.notification`` in words ("13 h left to report")."""
    state, hours = value
    return str(STATE_LABELS[state]) % {"hours": abs(hours)}


def check(breach: Breach, now: datetime | None = None) -> None:
    """Refuse a breach whose times contradict each other, or a late report without its reason."""
    now = now or utcnow()
    if breach.discovered_at > now or (breach.occurred_at and breach.occurred_at > breach.discovered_at):
        raise BreachError(str(DISCOVERY_MESSAGE))
    if breach.reported_at is not None:
        if breach.reported_at < breach.discovered_at or breach.reported_at > now:
            raise BreachError(str(REPORT_MESSAGE))
        if breach.reported_at > report_due_at(breach) and not (breach.delay_reason or "").strip():
            raise BreachError(str(DELAY_MESSAGE))


def unreported(session) -> list[Breach]:
    """Breaches the authority has not been told of, the earliest due first."""
    return list(session.scalars(select(Breach).where(Breach.reported_at.is_(None)).order_by(Breach.discovered_at)))


@dataclass(frozen=True)
class Window:
    """Whose data to look for: a time window, and optionally one staff account or one role."""

    since: datetime
    until: datetime
    user_id: int | None = None
    role: str | None = None

    def __post_init__(self):
        if not self.since < self.until <= self.since + LONGEST_WINDOW:
            raise BreachError(str(WINDOW_MESSAGE))


def _actors(session, window: Window):
    """The staff accounts a window names (None: every account)."""
    from crm.extensions import appbuilder

    if window.user_id is not None:
        return [window.user_id]
    if window.role is None:
        return None
    sm = appbuilder.sm
    role = sm.find_role(window.role)
    return [user.id for user in (role.user if role is not None else [])]


def find_affected(session, window: Window) -> dict[int, tuple[int, int]]:
    """Each client whose data the window's accounts opened or changed: (openings, changes)."""
    openings = (
        select(ReadAccessCard.client_id, func.count())
        .join(ReadAccess, ReadAccess.id == ReadAccessCard.read_id)
        .where(ReadAccess.occurred_at >= window.since, ReadAccess.occurred_at < window.until)
        .group_by(ReadAccessCard.client_id)
    )
    if window.user_id is not None:
        openings = openings.where(ReadAccess.user_id == window.user_id)
    elif window.role is not None:
        # the roles the reader held at the time, not today's
        openings = openings.where(ReadAccess.roles.contains(json.dumps(window.role), autoescape=True))
    found: dict[int, list[int]] = {}
    for client_id, count in session.execute(openings):
        found.setdefault(client_id, [0, 0])[0] += count
    transaction = versioning_manager.transaction_cls
    changed = select(transaction.id).where(transaction.issued_at >= window.since, transaction.issued_at < window.until)
    actors = _actors(session, window)
    if actors is not None:
        changed = changed.where(transaction.user_id.in_(actors))
    for place in places():
        if place.version_table is None:
            continue
        subject = place.version_table.c[place.subject_column]
        rows = session.execute(
            select(subject, func.count(func.distinct(place.version_table.c.transaction_id)))
            .where(place.version_table.c.transaction_id.in_(changed), subject.is_not(None))
            .group_by(subject)
        )
        for client_id, count in rows:
            found.setdefault(client_id, [0, 0])[1] += count
    # a version of a card erased since names nobody any more
    from crm.clients.models import Client

    existing = set(session.scalars(select(Client.id).where(Client.id.in_(list(found)))))
    return {client_id: (seen[0], seen[1]) for client_id, seen in found.items() if client_id in existing}


def holding(session, category_key: str) -> dict[int, tuple[int, int]]:
    """Each client of whom a category of data is held now, in any place (a lost backup, a leaked table).

    Only live rows are read: each names an existing client (a foreign key), and the version
    tables repeat what the rows held.
    """
    found: set[int] = set()
    for place in places():
        columns = [name for name, personal in place.declaration.columns.items() if personal.category.key == category_key]
        if not columns:
            continue
        subject = place.table.c[place.subject_column]
        held = sa_or(*(place.table.c[name].is_not(None) for name in columns))
        found.update(session.scalars(select(subject).where(held, subject.is_not(None)).distinct()))
    return {client_id: (0, 0) for client_id in found}


def save_affected(session, breach: Breach, found: dict[int, tuple[int, int]]) -> int:
    """Replace the breach's affected persons with ``found`` (committed); returns how many there are."""
    session.execute(delete(BreachPerson).where(BreachPerson.breach_id == breach.id))
    if found:
        session.execute(insert(BreachPerson), [
            {"breach_id": breach.id, "client_id": client_id, "openings": openings, "changes": changes}
            for client_id, (openings, changes) in found.items()
        ])
    breach.affected_count = len(found)
    session.commit()
    return len(found)


def affected(session, breach_id: int, limit: int | None = None) -> list[BreachPerson]:
    """The breach's affected persons, those most involved first."""
    query = (
        select(BreachPerson).where(BreachPerson.breach_id == breach_id)
        .order_by((BreachPerson.openings + BreachPerson.changes).desc(), BreachPerson.client_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
