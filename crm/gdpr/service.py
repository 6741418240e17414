"""Rules of the GDPR tools: deadlines, restriction, lawful bases, objection, retention."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy_continuum import version_class, versioning_manager

from crm.clients.models import Client
from crm.gdpr.choices import MAILING_PURPOSE, OPEN_STATUSES
from crm.gdpr.models import Consent, DataSubjectRequest, Restriction
from crm.gdpr.places import places
from crm.timeutil import utcnow

RESTRICTED_MESSAGE = _l(
    "Processing of this client is restricted (Art. 18): the card can be viewed but not changed, mailed "
    "or exported to a list until the restriction is lifted."
)
NO_BASIS_MESSAGE = _l(
    "This client has no valid consent or other lawful basis for direct marketing by email; record one on "
    "the card's Consents tab before subscribing."
)
EXTENSION_TOO_LONG_MESSAGE = _l("A deadline can be extended by at most two further months (Art. 12(3)).")
EXTENSION_REASON_MESSAGE = _l("Give the reason for extending the deadline; the person must be told it.")
SUPPRESSED_MESSAGE = _l(
    "A person with this email, phone, NIP or PESEL was erased at their request. Save only with a new legal basis: tick "
    "the confirmation to do so."
)

NO_SUCH_REQUEST_MESSAGE = _l("There is no such request for this client.")
NO_GROUNDS_MESSAGE = _l(
    "Name the data-subject request this answers, or write the reason (at least %(min)d characters besides spaces, "
    "without the person's data). Nothing was done."
)
REASON_TOO_LONG_MESSAGE = _l("The reason has at most %(max)d characters.")
MIN_REASON, MAX_REASON = 10, 500

#: Art. 12(3): one month, extendable by two further months
ANSWER_WITHIN = relativedelta(months=1)
LONGEST_EXTENSION = relativedelta(months=2)


def due_date(received_on: date) -> date:
    """The day an answer to a request received on this day is due."""
    return received_on + ANSWER_WITHIN


def request_problems(received_on: date | None, extended_until: date | None, extension_reason: str | None) -> list[str]:
    """What is wrong with a request's deadline fields (pure)."""
    problems = []
    if received_on and extended_until:
        if extended_until > due_date(received_on) + LONGEST_EXTENSION:
            problems.append(str(EXTENSION_TOO_LONG_MESSAGE))
        if not (extension_reason or "").strip():
            problems.append(str(EXTENSION_REASON_MESSAGE))
    return problems


def prepare_request(request: DataSubjectRequest) -> None:
    """Set the due date from the receipt; refuse an impossible extension (ValueError)."""
    problems = request_problems(request.received_on, request.extended_until, request.extension_reason)
    if problems:
        raise ValueError(" ".join(problems))
    request.due_on = due_date(request.received_on)
    if request.status in ("completed", "refused") and request.completed_on is None:
        request.completed_on = utcnow().date()


class UnknownRequest(ValueError):
    """A request named that does not exist for this client."""

    status = 404


def check_request(session, request_id: int | None, client_id: int) -> None:
    """A request named for an export or erasure must exist and concern that client (ValueError otherwise)."""
    if request_id is None:
        return
    found = session.get(DataSubjectRequest, request_id)
    if found is None or found.client_id != client_id:
        raise UnknownRequest(str(NO_SUCH_REQUEST_MESSAGE))


def check_grounds(session, client_id: int, request_id: int | None, reason: str | None) -> str | None:
    """An export or erasure answers a request of this client, or has a written reason (ValueError otherwise).

    Returns the reason as it is kept (stripped), or None when a request is named.
    """
    check_request(session, request_id, client_id)
    if request_id is not None:
        return None
    reason = reason or ""
    if len(reason) > MAX_REASON:
        raise ValueError(str(REASON_TOO_LONG_MESSAGE % {"max": MAX_REASON}))
    if len("".join(reason.split())) < MIN_REASON:
        raise ValueError(str(NO_GROUNDS_MESSAGE % {"min": MIN_REASON}))
    return " ".join(reason.split())


def fulfil(session, request_id: int | None, kinds: tuple[str, ...]) -> None:
    """Mark the request an export or erasure answered as completed today, if it is open and of one of ``kinds``."""
    if request_id is None:
        return
    request = session.get(DataSubjectRequest, request_id)
    if request.status in OPEN_STATUSES and request.kind in kinds:
        request.status, request.completed_on = "completed", utcnow().date()
        session.flush()


def requests_of(session, client_id: int) -> list[DataSubjectRequest]:
    """The client's requests, open ones first, newest first: what an export or erasure may answer."""
    return sorted(
        session.scalars(select(DataSubjectRequest).where(DataSubjectRequest.client_id == client_id)),
        key=lambda request: (request.status not in OPEN_STATUSES, -request.id),
    )


def open_requests(session, today: date | None = None) -> tuple[list, list]:
    """Open requests that are overdue, and those due within a week, soonest first."""
    today = today or utcnow().date()
    deadline = func.coalesce(DataSubjectRequest.extended_until, DataSubjectRequest.due_on)
    query = select(DataSubjectRequest).where(DataSubjectRequest.status.in_(OPEN_STATUSES)).order_by(deadline)
    overdue = list(session.scalars(query.where(deadline < today)))
    due = list(session.scalars(query.where(deadline >= today, deadline <= today + timedelta(days=7))))
    return overdue, due


def requests_by_kind_and_status(session) -> dict[tuple[str, str], int]:
    """How many requests there are of each kind in each status."""
    rows = session.execute(
        select(DataSubjectRequest.kind, DataSubjectRequest.status, func.count()).group_by(
            DataSubjectRequest.kind, DataSubjectRequest.status
        )
    )
    return {(kind, status): count for kind, status, count in rows}


# -- restriction (Art. 18) ---------------------------------------------------------------

def restricted_clients(today: date | None = None):
    """A query of the ids of clients whose processing is restricted today."""
    today = today or utcnow().date()
    return select(Restriction.client_id).where(
        Restriction.lifted_on.is_(None), Restriction.since <= today,
        or_(Restriction.until.is_(None), Restriction.until >= today),
    )


def active_restriction(session, client_id: int | None, today: date | None = None) -> Restriction | None:
    """The restriction in force for a client today, if any."""
    if client_id is None:
        return None
    today = today or utcnow().date()
    return session.scalars(
        select(Restriction).where(
            Restriction.client_id == client_id,
            Restriction.lifted_on.is_(None),
            Restriction.since <= today,
            or_(Restriction.until.is_(None), Restriction.until >= today),
        ).limit(1)
    ).first()


class SuppressedError(ValueError):
    """The email, phone, NIP or PESEL of a person erased at their request: a conflict with that erasure, 409 through the API."""

    status = 409
    #: the form's tick that confirms a new legal basis
    confirmation = "confirm_new_legal_basis"


class RestrictedError(ValueError):
    """The card's processing is restricted (Art. 18): a conflict with its state, 409 through the API."""

    status = 409


def ensure_not_restricted(session, client_id: int | None) -> None:
    """Refuse a change to a restricted client's card (RestrictedError, a ValueError, with the reason)."""
    with session.no_autoflush:
        restricted = active_restriction(session, client_id) is not None
    if restricted:
        raise RestrictedError(str(RESTRICTED_MESSAGE))


# -- lawful bases (Art. 6, 7, 21) ----------------------------------------------------------

def is_valid_basis(consent: Consent, purpose: str = MAILING_PURPOSE, today: date | None = None) -> bool:
    """Whether this consent is a basis for the purpose today (pure)."""
    today = today or utcnow().date()
    return (
        consent.purpose == purpose
        and consent.given_on is not None and consent.given_on <= today
        and (consent.withdrawn_on is None or consent.withdrawn_on > today)
    )


def valid_basis(client_id, purpose: str = MAILING_PURPOSE, today: date | None = None):
    """The condition "a consent of this client (an id, or a column) is a basis for the purpose today"."""
    today = today or utcnow().date()
    return and_(
        Consent.client_id == client_id,
        Consent.purpose == purpose,
        Consent.given_on <= today,
        or_(Consent.withdrawn_on.is_(None), Consent.withdrawn_on > today),
    )


def has_basis(session, client_id: int, purpose: str = MAILING_PURPOSE, today: date | None = None,
              besides: Consent | None = None) -> bool:
    """Whether a valid (given, not withdrawn) basis exists for the purpose.

    ``besides``, a consent being edited, is judged as it is in memory, not as stored.
    """
    today = today or utcnow().date()
    if besides is not None and is_valid_basis(besides, purpose, today):
        return True
    query = select(Consent.id).where(valid_basis(client_id, purpose, today))
    if besides is not None and besides.id is not None:
        query = query.where(Consent.id != besides.id)
    with session.no_autoflush:
        return session.scalar(query.limit(1)) is not None


def check_subscription(session, client_id: int) -> None:
    """A subscription needs an unrestricted client with a basis for email marketing (ValueError otherwise)."""
    ensure_not_restricted(session, client_id)
    if not has_basis(session, client_id):
        raise ValueError(str(NO_BASIS_MESSAGE))


def end_subscriptions_without_basis(session, client: Client, changed: Consent | None = None) -> None:
    """Remove the client's subscriptions once no basis for email marketing is left."""
    if not has_basis(session, client.id, besides=changed):
        client.subscriptions.clear()


def object_to_marketing(session, client: Client, today: date | None = None) -> None:
    """An objection (Art. 21): withdraw every marketing basis and end the subscriptions."""
    today = today or utcnow().date()
    for consent in session.scalars(select(Consent).where(Consent.client_id == client.id, Consent.withdrawn_on.is_(None))):
        if consent.purpose in (MAILING_PURPOSE, "phone_marketing"):
            consent.withdrawn_on = today
    session.flush()
    end_subscriptions_without_basis(session, client)


# -- retention (Art. 5(1)(e)) --------------------------------------------------------------

def last_activity(client_ids=None):
    """A query of (client id, time of the last change to the card or its rows)."""
    transaction = versioning_manager.transaction_cls
    parts = []
    for place in places():
        if place.version_table is None:
            continue
        version = version_class(place.model)
        column = getattr(version, place.subject_column)
        parts.append(select(column.label("client_id"), version.transaction_id.label("transaction_id")))
    changes = union_all(*parts).subquery()
    query = (
        select(changes.c.client_id, func.max(transaction.issued_at).label("last_activity"))
        .join(transaction, transaction.id == changes.c.transaction_id)
        .group_by(changes.c.client_id)
    )
    return query


def retention_candidates(session, years: int, now: datetime | None = None, limit: int | None = None) -> list[tuple[Client, datetime]]:
    """Clients with no activity for ``years``, not restricted and with no open request."""
    now = now or utcnow()
    cutoff = now - relativedelta(years=years)
    activity = last_activity().subquery()
    restricted = restricted_clients(now.date())
    pending = select(DataSubjectRequest.client_id).where(
        DataSubjectRequest.status.in_(OPEN_STATUSES), DataSubjectRequest.client_id.is_not(None)
    )
    query = (
        select(Client, activity.c.last_activity)
        .join(activity, activity.c.client_id == Client.id)
        .where(and_(activity.c.last_activity < cutoff, Client.id.not_in(restricted), Client.id.not_in(pending)))
        .order_by(activity.c.last_activity)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).all())
