"""The tamper-evident trail: the records that prove accountability, chained by keyed hashes.

Every row of a chained table (Continuum's transactions and versions, GDPR
events, permission changes, logins, read access) gets a link when it is
written: a keyed digest of its values and a MAC over that digest and the
previous link of its chain. The key is derived from the key ring's index key,
so it lives outside the database and survives master-key rotation.

The digest covers the row's values as read back (decrypted), not its
ciphertext: rotating keys re-encrypts rows without changing them. A person's
rows go in an erasure; the erasure appends a "removed" link for each (and a
"changed" link for each row it anonymises), so the chain stays whole and a
removed row is expected to be gone. A removed row's link keeps only the
digest of the whole row (every column, ids and times included), which
matches no single value.

:func:`verify` walks every chain, then every chained row, and names the first
link or row that does not match: a row changed, removed or inserted behind
the application's back.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Mapping

import sqlalchemy as sa
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.orm import Mapper, Session
from sqlalchemy_continuum import versioning_manager

from crm.accountability.models import AuditHead, AuditLink
from crm.privacy.crypto import key_ring

WRITTEN, CHANGED, REMOVED = "written", "changed", "removed"
#: the MAC a chain's first link follows
GENESIS = "0" * 64
#: columns left out of a row's digest: Continuum closes a version by setting it later
UNSEALED = frozenset({"end_transaction_id"})
#: chained tables that are not Continuum's, by chain
OWN_CHAINS = {"gdpr_event": "gdpr", "permission_change": "permissions", "login_event": "logins", "read_access": "reads"}
CHAIN_CHANGES = "changes"


@functools.cache
def chained_tables() -> dict[str, sa.Table]:
    """Every chained table by name: Continuum's transactions and version tables, and the records of OWN_CHAINS.

    Asked once the mappers are configured (Continuum has built its version classes).
    """
    metadata = versioning_manager.transaction_cls.__table__.metadata
    tables = {versioning_manager.transaction_cls.__table__.name: versioning_manager.transaction_cls.__table__}
    tables.update({cls.__table__.name: cls.__table__ for cls in versioning_manager.version_class_map.values()})
    tables.update({name: metadata.tables[name] for name in OWN_CHAINS})
    return tables


def chain_of(table_name: str) -> str | None:
    """The chain a table's rows belong to (None: not chained)."""
    if table_name in OWN_CHAINS:
        return OWN_CHAINS[table_name]
    return CHAIN_CHANGES if table_name in chained_tables() else None


def _trail_key() -> bytes:
    return _derived_key(key_ring().index_key)


@functools.lru_cache(maxsize=4)
def _derived_key(index_key: bytes) -> bytes:
    return hmac.new(index_key, b"kartoteka accountability trail", hashlib.sha256).digest()


def _plain(value) -> str:
    """A value as the digest reads it, tagged with its kind so that 1, True, "1" and nothing differ."""
    if value is None:
        return "n"
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, (datetime, date)):
        return f"t{value.isoformat()}"
    return f"s{value}"


@functools.lru_cache(maxsize=None)
def _sealed_columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(sorted(column.name for column in table.columns if column.name not in UNSEALED))


@functools.lru_cache(maxsize=None)
def _key_columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.primary_key.columns)


def row_key(table: sa.Table, values: Mapping) -> str:
    """A row's primary key as the trail names it ("12" or "12/340" for a version)."""
    return "/".join(str(values[name]) for name in _key_columns(table))


def row_digest(table: sa.Table, values: Mapping) -> str:
    """The keyed digest of a row's values (decrypted, as the application reads them)."""
    payload = "\x1e".join([table.name, *(f"{name}\x1f{_plain(values.get(name))}" for name in _sealed_columns(table))])
    return hmac.digest(_trail_key(), payload.encode(), "sha256").hex()


def _link_mac(previous: str, chain: str, seq: int, table: str, key: str, action: str, digest: str) -> str:
    payload = "\x00".join((previous, chain, str(seq), table, key, action, digest))
    return hmac.digest(_trail_key(), payload.encode(), "sha256").hex()


@dataclass(frozen=True)
class Entry:
    """One link to append: a row written, changed or removed."""

    table: str
    key: str
    action: str
    digest: str = ""


def written(table: sa.Table, values: Mapping, action: str = WRITTEN) -> Entry:
    """The entry of a row written (or changed) with these values."""
    return Entry(table.name, row_key(table, values), action, row_digest(table, values))


def removed(table: sa.Table, values: Mapping) -> Entry:
    """The entry of a row removed on purpose (an erasure, a retention purge)."""
    return Entry(table.name, row_key(table, values), REMOVED)


def append(connection, entries: Iterable[Entry]) -> int:
    """Append links for these entries, chain by chain, in the caller's transaction; returns how many.

    The chain's head row is locked until the transaction ends, so two writers
    never link to the same previous link.
    """
    by_chain: dict[str, list[Entry]] = {}
    for entry in entries:
        by_chain.setdefault(chain_of(entry.table), []).append(entry)
    head, link = AuditHead.__table__, AuditLink.__table__
    count = 0
    for chain, items in sorted(by_chain.items()):
        current = connection.execute(sa.select(head.c.seq, head.c.mac).where(head.c.chain == chain).with_for_update()).first()
        if current is None:
            connection.execute(head.insert().values(chain=chain, seq=0, mac=GENESIS))
            seq, mac = 0, GENESIS
        else:
            seq, mac = current
        rows = []
        for entry in items:
            seq += 1
            mac = _link_mac(mac, chain, seq, entry.table, entry.key, entry.action, entry.digest)
            rows.append({"chain": chain, "seq": seq, "record_table": entry.table, "record_key": entry.key,
                         "action": entry.action, "digest": entry.digest, "mac": mac})
        connection.execute(link.insert(), rows)
        connection.execute(head.update().where(head.c.chain == chain).values(seq=seq, mac=mac))
        count += len(rows)
    return count


def removing(connection, table: sa.Table, condition) -> list[Entry]:
    """The entries of the rows of ``table`` matching ``condition``, about to be removed on purpose."""
    keys = list(table.primary_key.columns)
    return [removed(table, row._mapping) for row in connection.execute(sa.select(*keys).where(condition))]


def keys_of(connection, table: sa.Table, condition):
    """A condition naming, by primary key, the rows that match ``condition`` now (before they are changed)."""
    keys = list(table.primary_key.columns)
    found = [tuple(row) for row in connection.execute(sa.select(*keys).where(condition))]
    if not found:
        return sa.false()
    return sa.tuple_(*keys).in_(found) if len(keys) > 1 else keys[0].in_([key for (key,) in found])


def rewritten(connection, table: sa.Table, condition) -> list[Entry]:
    """The entries of the rows of ``table`` matching ``condition`` as they are now (after a deliberate change)."""
    return [written(table, row._mapping, CHANGED) for row in connection.execute(sa.select(table).where(condition))]


# -- rows written through the ORM: linked at the end of each flush ---------------------------------

def _collect(action: str):
    """A mapper listener adding the link of a chained row the ORM wrote, changed or deleted to its session's list."""

    def collect(mapper, connection, target):
        table = mapper.local_table
        if chain_of(table.name) is None:
            return
        values = {attribute.columns[0].name: getattr(target, attribute.key) for attribute in mapper.column_attrs}
        entry = removed(table, values) if action == REMOVED else written(table, values, action)
        sa.orm.object_session(target).info.setdefault("trail", []).append(entry)

    return collect


event.listen(Mapper, "after_insert", _collect(WRITTEN))
event.listen(Mapper, "after_update", _collect(CHANGED))
event.listen(Mapper, "after_delete", _collect(REMOVED))


@event.listens_for(Session, "after_flush")
def _link_flushed(session, flush_context):
    pending = session.info.pop("trail", None)
    if pending:
        append(session.connection(), pending)


@event.listens_for(Session, "after_rollback")
def _forget_unflushed(session):
    session.info.pop("trail", None)


# -- verification ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """The first thing in a chain that does not match, in words a person and a test can read."""

    chain: str
    what: str
    table: str
    key: str

    def __str__(self) -> str:
        return f"{self.chain}: {self.what} ({self.table} {self.key})"


@dataclass
class Verification:
    """What :func:`verify` found: links and rows checked, and the first problem of each chain."""

    links: int = 0
    rows: int = 0
    problems: list[Problem] | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


#: what a problem says (translated where it is shown)
LINK_BROKEN = "link_broken"
ROW_CHANGED = "row_changed"
ROW_MISSING = "row_missing"
ROW_UNLINKED = "row_unlinked"
ROW_UNREADABLE = "row_unreadable"


def verify(connection, batch: int = 2000) -> Verification:
    """Walk every chain and every chained row; the first problem of each chain, in chain order."""
    result = Verification(problems=[])
    found: dict[str, Problem] = {}
    latest: dict[tuple[str, str], tuple[str, str, str]] = {}
    link = AuditLink.__table__
    for chain in sorted({*OWN_CHAINS.values(), CHAIN_CHANGES}):
        mac, expected = GENESIS, 1
        query = sa.select(link).where(link.c.chain == chain).order_by(link.c.seq)
        for row in connection.execute(query.execution_options(yield_per=batch)):
            result.links += 1
            if chain in found:
                continue
            recomputed = _link_mac(mac, chain, row.seq, row.record_table, row.record_key, row.action, row.digest)
            if row.seq != expected or not hmac.compare_digest(recomputed, row.mac):
                found[chain] = Problem(chain, LINK_BROKEN, row.record_table, row.record_key)
                continue
            mac, expected = row.mac, expected + 1
            latest[(row.record_table, row.record_key)] = (row.action, row.digest, chain)
        head = connection.execute(sa.select(AuditHead.__table__).where(AuditHead.__table__.c.chain == chain)).first()
        if chain not in found and head is not None and (head.seq != expected - 1 or head.mac != mac):
            # links removed from the end of the chain
            found[chain] = Problem(chain, LINK_BROKEN, "audit_link", str(expected))
    for name, table in sorted(chained_tables().items()):
        chain = chain_of(name)
        query = sa.select(table).order_by(*table.primary_key.columns)
        rows = connection.execute(query.execution_options(yield_per=batch))
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except Exception:  # a value that no longer decrypts: the row cannot be checked
                found.setdefault(chain, Problem(chain, ROW_UNREADABLE, name, "?"))
                break
            result.rows += 1
            values = row._mapping
            key = row_key(table, values)
            held = latest.pop((name, key), None)
            if chain in found:
                continue
            if held is None or held[0] == REMOVED:
                found[chain] = Problem(chain, ROW_UNLINKED, name, key)
            elif not hmac.compare_digest(held[1], row_digest(table, values)):
                found[chain] = Problem(chain, ROW_CHANGED, name, key)
    for (name, key), (action, _digest, chain) in sorted(latest.items()):
        if action != REMOVED and chain not in found:
            found[chain] = Problem(chain, ROW_MISSING, name, key)
    result.problems = [found[chain] for chain in sorted(found)]
    return result


def seal_existing(connection) -> int:
    """Link every chained row that has no link yet (rows written before the trail existed); returns how many."""
    linked = {(row.record_table, row.record_key) for row in connection.execute(
        sa.select(AuditLink.record_table, AuditLink.record_key))}
    entries = []
    for name, table in sorted(chained_tables().items()):
        for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns)):
            if (name, row_key(table, row._mapping)) not in linked:
                entries.append(written(table, row._mapping))
    return append(connection, entries) if entries else 0


def start_trail(session) -> int:
    """Link the records written before the trail existed, once: when no chain has a link yet; returns how many.

    Run by ``flask crm init`` after the migrations. Later, a record without a
    link is one inserted behind the application's back, and is never linked.
    """
    if session.scalar(sa.select(sa.func.count()).select_from(AuditHead)):
        return 0
    linked = seal_existing(session.connection())
    if not linked:
        # an empty database: the chains start with their first record
        session.execute(sa.insert(AuditHead), [
            {"chain": chain, "seq": 0, "mac": GENESIS} for chain in sorted({*OWN_CHAINS.values(), CHAIN_CHANGES})
        ])
    session.commit()
    return linked


# -- anchors: the chains' heads kept outside the database ------------------------------------------

ANCHOR_FORMAT = "kartoteka-trail-anchor/1"
ANCHOR_FORGED = "anchor_forged"
ANCHOR_LOST = "anchor_lost"


def _anchor_signature(document: Mapping) -> str:
    body = json.dumps({name: document[name] for name in ("format", "taken_at", "heads")}, sort_keys=True)
    return hmac.new(_trail_key(), body.encode(), hashlib.sha256).hexdigest()


def take_anchor(connection) -> dict:
    """Each chain's head (its last link's number and MAC), signed: kept outside, it shows later whether the end of
    a chain was cut off and the head rewound, which the chain alone cannot show."""
    from crm.timeutil import utcnow

    heads = {row.chain: {"seq": row.seq, "mac": row.mac} for row in connection.execute(sa.select(AuditHead.__table__))}
    document = {"format": ANCHOR_FORMAT, "taken_at": utcnow().isoformat(timespec="seconds") + "Z", "heads": heads}
    return {**document, "signature": _anchor_signature(document)}


def check_anchor(connection, document: Mapping) -> list[Problem]:
    """The chains that no longer hold the link an anchor recorded (or the anchor itself, when it was altered)."""
    try:
        genuine = document.get("format") == ANCHOR_FORMAT and hmac.compare_digest(
            _anchor_signature(document), str(document.get("signature", "")))
    except (AttributeError, KeyError, TypeError):
        genuine = False
    if not genuine:
        return [Problem(CHAIN_ANCHOR, ANCHOR_FORGED, "audit_head", "-")]
    link = AuditLink.__table__
    problems = []
    for chain, head in sorted(document["heads"].items()):
        held = connection.execute(
            sa.select(link.c.mac).where(link.c.chain == chain, link.c.seq == head["seq"])
        ).scalar()
        if head["seq"] and (held is None or not hmac.compare_digest(held, head["mac"])):
            problems.append(Problem(chain, ANCHOR_LOST, "audit_link", str(head["seq"])))
    return problems


#: what each kind of problem says, in the reader's language
PROBLEM_LABELS = {
    ANCHOR_FORGED: _l("the anchor was altered or does not belong to this installation"),
    ANCHOR_LOST: _l("the link an anchor recorded is gone: the end of the chain was cut off or rewritten"),
    LINK_BROKEN: _l("a link of the chain was changed or removed"),
    ROW_CHANGED: _l("a record was changed outside Kartoteka"),
    ROW_MISSING: _l("a record was removed outside Kartoteka"),
    ROW_UNLINKED: _l("a record was inserted outside Kartoteka"),
    ROW_UNREADABLE: _l("a record cannot be read to be checked"),
}
CHAIN_ANCHOR = "anchor"
CHAIN_LABELS = {
    CHAIN_ANCHOR: _l("Anchor of the trail"),
    CHAIN_CHANGES: _l("History of changes"),
    "gdpr": _l("Exports and erasures"),
    "permissions": _l("Permission changes"),
    "logins": _l("Login history"),
    "reads": _l("Read-access log"),
}


def described(problem: Problem) -> str:
    """A problem for whoever runs the command: which chain, what happened, which row (table and key) to look at."""
    return gettext(
        "%(chain)s: %(what)s: %(table)s, record %(key)s.",
        chain=CHAIN_LABELS[problem.chain], what=PROBLEM_LABELS[problem.what], table=problem.table, key=problem.key,
    )


def _record_label(table_name: str) -> str:
    """What a chained table holds, in the reader's words (a screen shows no table names)."""
    from crm.privacy.registry import declared

    if table_name == versioning_manager.transaction_cls.__table__.name:
        return str(_l("record of a change"))
    if table_name == AuditLink.__tablename__:
        return str(_l("end of the chain"))
    if table_name == AuditHead.__tablename__:
        return str(_l("the anchor file"))
    base = table_name.removesuffix("_version")
    for model, declaration in declared().items():
        if model.__table__.name == base and base != table_name:
            return gettext("%(place)s, earlier version", place=declaration.description)
    chain = chain_of(table_name)
    return str(CHAIN_LABELS[chain]) if chain else table_name


def shown(problem: Problem) -> str:
    """A problem as the officer's screen says it: which chain, what happened, to which kind of record, its number."""
    return gettext(
        "%(chain)s: %(what)s (%(record)s, no. %(key)s).",
        chain=CHAIN_LABELS[problem.chain], what=PROBLEM_LABELS[problem.what], record=_record_label(problem.table),
        key=problem.key,
    )


def record_verification(session, result: Verification) -> None:
    """Keep the result for the officer's screen (committed)."""
    from crm.accountability.models import AuditVerification

    session.add(AuditVerification(
        links=result.links, rows=result.rows, intact=result.intact,
        problems=json.dumps([{"chain": p.chain, "what": p.what, "table": p.table, "key": p.key} for p in result.problems]),
    ))
    session.commit()


@dataclass(frozen=True)
class LastVerification:
    """The latest verification as the officer's screen shows it."""

    verified_at: datetime
    intact: bool
    links: int
    rows: int
    problems: list[str]


def last_verification(session) -> LastVerification | None:
    """The latest recorded verification, its problems in the reader's words; None before the first."""
    from crm.accountability.models import AuditVerification

    latest = session.scalars(sa.select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)).first()
    if latest is None:
        return None
    problems = [shown(Problem(**problem)) for problem in json.loads(latest.problems)]
    return LastVerification(latest.verified_at, latest.intact, latest.links, latest.rows, problems)
