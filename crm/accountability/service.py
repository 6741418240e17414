"""Questions the read-access log answers (who opened a person's data, what an account opened), and its retention."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from crm.accountability import trail
from crm.accountability.models import ReadAccess, ReadAccessCard
from crm.security.roles import label_of_role
from crm.timeutil import utcnow

#: records a page of the log shows
PAGE_SIZE = 50


@dataclass(frozen=True)
class Recipient:
    """A staff role that received a person's data (Art. 15(1)(c)), how often and when."""

    role: str
    openings: int
    first: datetime
    last: datetime


def recipients_of(session, client_id: int) -> list[Recipient]:
    """The roles of the staff who opened the person's data, by the roles they held at the time."""
    rows = session.execute(
        select(ReadAccess.roles, func.count(), func.min(ReadAccess.occurred_at), func.max(ReadAccess.occurred_at))
        .join(ReadAccessCard, ReadAccessCard.read_id == ReadAccess.id)
        .where(ReadAccessCard.client_id == client_id)
        .group_by(ReadAccess.roles)
    ).all()
    found: dict[str, list] = {}
    for roles, count, first, last in rows:
        for role in json.loads(roles or "[]") or [""]:
            seen = found.setdefault(role, [0, first, last])
            seen[0] += count
            seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
    return sorted(
        (Recipient(label_of_role(role) if role else "", count, first, last) for role, (count, first, last) in found.items()),
        key=lambda recipient: recipient.role,
    )


@dataclass(frozen=True)
class ReadQuery:
    """What the officer asks the log: a card, an account, a time window, a kind (each optional)."""

    client_id: int | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None


def find_reads(session, query: ReadQuery, page: int = 0) -> tuple[int, list[ReadAccess]]:
    """The records matching the query, newest first, one page of them, and how many match in all."""
    statement = select(ReadAccess)
    if query.client_id is not None:
        statement = statement.where(
            ReadAccess.id.in_(select(ReadAccessCard.read_id).where(ReadAccessCard.client_id == query.client_id))
        )
    if query.user_id is not None:
        statement = statement.where(ReadAccess.user_id == query.user_id)
    if query.since is not None:
        statement = statement.where(ReadAccess.occurred_at >= query.since)
    if query.until is not None:
        statement = statement.where(ReadAccess.occurred_at < query.until)
    if query.kind is not None:
        statement = statement.where(ReadAccess.kind == query.kind)
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    records = list(session.scalars(
        statement.order_by(ReadAccess.occurred_at.desc(), ReadAccess.id.desc()).limit(PAGE_SIZE).offset(page * PAGE_SIZE)
    ))
    return total, records


def cards_of(session, read_ids) -> dict[int, list[int]]:
    """The cards (client numbers) each record still names; an erased person's are gone."""
    shown: dict[int, list[int]] = {read_id: [] for read_id in read_ids}
    if read_ids:
        for read_id, client_id in session.execute(
            select(ReadAccessCard.read_id, ReadAccessCard.client_id)
            .where(ReadAccessCard.read_id.in_(list(read_ids))).order_by(ReadAccessCard.client_id)
        ):
            shown[read_id].append(client_id)
    return shown


def purge_read_log(session, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete read records older than ``CRM_READ_LOG_DAYS``, with their cards, a batch a transaction; returns how many.

    Each batch is linked as removed on purpose in the trail, so verification still passes.
    """
    cutoff = (now or utcnow()) - timedelta(days=int(current_app.config["CRM_READ_LOG_DAYS"]))
    total = 0
    while True:
        ids = list(session.scalars(
            select(ReadAccess.id).where(ReadAccess.occurred_at < cutoff).order_by(ReadAccess.id).limit(batch)
        ))
        if not ids:
            return total
        chosen = ReadAccess.id.in_(ids)
        links = trail.removing(session.connection(), ReadAccess.__table__, chosen)
        # the records' cards go with them (ON DELETE CASCADE)
        session.execute(delete(ReadAccess).where(chosen))
        trail.append(session.connection(), links)
        session.commit()
        total += len(ids)
