"""Recording who opened whose data: one record per request, written once its answer is ready.

Views call :func:`note` (or :func:`note_rows`) with the clients whose data they
show; the request's record is written after the view, whatever else it did,
with the cards it showed as (record, client) pairs in one statement. A request
that showed nobody's data writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable

from flask import g, has_request_context, request
from sqlalchemy import insert, select

from crm.accountability import trail
from crm.accountability.models import ReadAccess, ReadAccessCard
from crm.privacy.masking import can_see
from crm.privacy.registry import declaration_of
from crm.timeutil import utcnow
from crm.versioning import current_remote_addr


@dataclass
class Opened:
    """What the current request has shown so far."""

    kind: str
    client_ids: set[int] = field(default_factory=set)
    masked: bool = False


def note(kind: str, client_ids: Iterable[int | None], masked: bool = False) -> None:
    """Record that this request shows these clients' data; the first kind noted names the request's record."""
    if not has_request_context():
        return
    ids = {int(client_id) for client_id in client_ids if client_id is not None}
    if not ids:
        return
    current = g.get("opened")
    if current is None:
        g.opened = current = Opened(kind)
    current.client_ids |= ids
    current.masked = current.masked or masked


def masks_for_reader(model: type) -> bool:
    """Whether the current reader sees some of the model's personal columns masked."""
    declaration = declaration_of(model)
    if declaration is None:
        return False
    personal = [*declaration.columns.values(), *declaration.masked_properties.values()]
    return not all(can_see(column.category) for column in personal)


def clients_of(session, model: type, ids: Iterable) -> set[int]:
    """The clients the records of a model (by primary key) are about; none for a model not about clients."""
    declaration = declaration_of(model)
    ids = [value for value in ids if value is not None]
    if declaration is None or declaration.subject is None or not ids:
        return set()
    if declaration.subject == "id":
        return {int(value) for value in ids}
    subject = getattr(model, declaration.subject)
    return {value for value in session.scalars(select(subject).where(model.id.in_(ids))) if value is not None}


def note_rows(kind: str, session, model: type, ids: Iterable) -> None:
    """Record that this request shows these records (primary keys) of a model, as their clients' data."""
    note(kind, clients_of(session, model, ids), masks_for_reader(model))


def is_about_a_client(item) -> bool:
    """Whether a record is a client's (its model names a data subject)."""
    declaration = declaration_of(type(item))
    return declaration is not None and declaration.subject is not None


def note_item(kind: str, item) -> None:
    """Record that this request shows one record (a card, a contact person, a note)."""
    if item is None or not is_about_a_client(item):
        return
    note(kind, [getattr(item, declaration_of(type(item)).subject)], masks_for_reader(type(item)))


def write_opened(session, user) -> int | None:
    """Write the request's record, if it showed anybody's data; committed, with nothing else of the request.

    Returns the record's id. Written with cached Core statements (the record, its
    trail link, its cards), not the ORM's unit of work: it runs on every page that shows a person.
    """
    current = g.pop("opened", None) if has_request_context() else None
    if current is None:
        return None
    # read before the rollback, which expires them (the permission checks have loaded them)
    user_id = getattr(user, "id", None)
    roles = json.dumps(sorted(role.name for role in getattr(user, "roles", None) or ()))
    # the view is done: whatever it left uncommitted would be rolled back at teardown anyway
    session.rollback()
    values = {
        "occurred_at": utcnow(), "user_id": user_id, "roles": roles, "kind": current.kind, "place": request.endpoint or "",
        "masked": current.masked, "card_count": len(current.client_ids), "ip_address": current_remote_addr(),
    }
    record_id = values["id"] = session.execute(insert(ReadAccess.__table__), values).inserted_primary_key[0]
    trail.append(session.connection(), [trail.written(ReadAccess.__table__, values)])
    session.execute(
        insert(ReadAccessCard.__table__), [{"read_id": record_id, "client_id": client_id} for client_id in sorted(current.client_ids)]
    )
    session.commit()
    return record_id


def init_read_log(app) -> None:
    """Write each request's read record after its view."""
    from crm.extensions import db

    @app.after_request
    def record_what_was_opened(response):
        if g.get("opened") is not None:
            write_opened(db.session, getattr(g, "user", None))
        return response
