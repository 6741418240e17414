"""The key store: each data subject's data key, and the ledger of erasures.

It is a database of its own, never the main one: on the embedded default a
SQLite file in the instance folder (secure delete on), in scale-out a separate
PostgreSQL database (``CRM_KEY_STORE_URL``). A data key is 32 random bytes kept
wrapped (AES-GCM) by the master key of the key file, so a copy of the store
without the key file is useless, and rotating the master key re-wraps keys
instead of re-encrypting values.

Erasing a person destroys their data key: every copy of their ciphertext that
lingers anywhere (dead rows, WAL, statistics, replicas, dumps, backups) stops
being readable. The ledger remembers each erasure (client number, key id,
request, the keyed hashes put on the suppression list), so that a restored
older database can be erased again before it is served.

Unwrapped keys are kept in a small cache of the process (bounded, each for a
minute at most) and never written anywhere. An erasure drops the key from its
own process's cache at once; another worker may hold it for up to a minute, in
which it can only read rows that no longer exist.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crm.privacy.keys import KeyRing
from crm.timeutil import utcnow

_metadata = sa.MetaData()

data_key_table = sa.Table(
    "data_key",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    #: ``<master key id>:<base64url(nonce || AES-GCM(data key))>``, the key id as associated data
    sa.Column("wrapped", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

ledger_table = sa.Table(
    "erasure_ledger",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_number", sa.Integer, nullable=False),
    sa.Column("data_key_id", sa.String(32), index=True),
    sa.Column("erased_at", sa.DateTime, nullable=False),
    sa.Column("request_id", sa.Integer),
    #: JSON list of the keyed hashes put on the suppression list
    sa.Column("suppressed", sa.Text, nullable=False, default="[]"),
)

NONCE_BYTES = 12
#: unwrapped keys held by a process, and for how long
CACHE_SIZE = 4096
CACHE_SECONDS = 60.0
#: key ids one query asks about, well within any driver's limit of bound parameters
KEY_IDS_PER_QUERY = 500


class UnknownDataKey(LookupError):
    """The data key is not in the store: destroyed by an erasure, or never saved."""


@dataclass(frozen=True)
class LedgerEntry:
    """One erasure as the key store remembers it."""

    client_number: int
    data_key_id: str | None
    erased_at: datetime
    request_id: int | None
    suppressed: tuple[str, ...]


def new_key_id() -> str:
    """A random data-key id (it says nothing about the person)."""
    return "p" + secrets.token_urlsafe(15)


def _wrap(ring: KeyRing, key_id: str, key: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(ring.current_key).encrypt(nonce, key, f"data_key.{key_id}".encode())
    return f"{ring.current_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def _unwrap(ring: KeyRing, key_id: str, wrapped: str) -> bytes:
    master_id, _, encoded = wrapped.partition(":")
    master = ring.keys.get(master_id)
    if master is None:
        raise UnknownDataKey(f"Data key {key_id} is wrapped by master key '{master_id}', which is not configured.")
    raw = base64.b64decode(encoded, altchars=b"-_", validate=True)  # strict, as crm.privacy.crypto.decrypt reads
    return AESGCM(master).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"data_key.{key_id}".encode())


def master_key_of(wrapped: str) -> str:
    """The id of the master key that wraps a stored data key."""
    return wrapped.partition(":")[0]


class KeyStore:
    """Data keys and the erasure ledger in their own database."""

    def __init__(self, url: str, ring: KeyRing):
        self.ring = ring
        options = {"hide_parameters": True}
        if url.startswith("sqlite"):
            options["connect_args"] = {"timeout": 30}
        self.engine = sa.create_engine(url, **options)
        self._pending: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()
        _metadata.create_all(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    # -- keys -------------------------------------------------------------------------------
    def new_key(self) -> str:
        """Make a data key for a new data subject; it is saved by :meth:`save_pending` (on commit)."""
        key_id, key = new_key_id(), secrets.token_bytes(32)
        with self._lock:
            self._pending.setdefault(threading.get_ident(), {})[key_id] = _wrap(self.ring, key_id, key)
        _CACHE.put(key_id, key)
        return key_id

    def save_pending(self) -> int:
        """Write this thread's new keys, before the data encrypted under them is committed."""
        with self._lock:
            pending = self._pending.pop(threading.get_ident(), None)
        if not pending:
            return 0
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(
                data_key_table.insert(),
                [{"id": key_id, "wrapped": wrapped, "created_at": now} for key_id, wrapped in pending.items()],
            )
        return len(pending)

    def key(self, key_id: str) -> bytes:
        """The unwrapped data key; raises UnknownDataKey when it is gone."""
        key = _CACHE.get(key_id)
        if key is not None:
            return key
        with self._lock:
            wrapped = self._pending.get(threading.get_ident(), {}).get(key_id)
        if wrapped is None:
            with self.engine.connect() as connection:
                wrapped = connection.scalar(sa.select(data_key_table.c.wrapped).where(data_key_table.c.id == key_id))
        if wrapped is None:
            raise UnknownDataKey(f"Data key {key_id} does not exist (erased).")
        key = _unwrap(self.ring, key_id, wrapped)
        _CACHE.put(key_id, key)
        return key

    def prefetch(self, key_ids: Iterable[str]) -> int:
        """Unwrap into the process's cache the keys of these ids it lacks, a few hundred a query; returns how many.

        For a page naming many clients: one round trip instead of one a client.
        A key the store no longer holds (erased) is simply not cached.
        """
        wanted = [key_id for key_id in set(key_ids) if key_id and _CACHE.get(key_id) is None]
        found = 0
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), KEY_IDS_PER_QUERY):
                chunk = wanted[start:start + KEY_IDS_PER_QUERY]
                query = sa.select(data_key_table.c.id, data_key_table.c.wrapped).where(data_key_table.c.id.in_(chunk))
                for key_id, wrapped in connection.execute(query):
                    _CACHE.put(key_id, _unwrap(self.ring, key_id, wrapped))
                    found += 1
        return found

    def existing(self, key_ids: Iterable[str]) -> set[str]:
        """Which of these key ids the store holds (one query)."""
        with self.engine.connect() as connection:
            return set(connection.scalars(sa.select(data_key_table.c.id).where(data_key_table.c.id.in_(set(key_ids)))))

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(data_key_table))

    # -- erasure ----------------------------------------------------------------------------
    @contextmanager
    def destroying(self, entries: list[LedgerEntry]) -> Iterator[None]:
        """Destroy the entries' data keys and write them to the ledger, together with the caller's work.

        The key store's transaction is open while the body runs (the caller
        commits the main database inside it): if the body fails, no key is
        destroyed and nothing is written to the ledger. Afterwards the store is
        compacted, so the destroyed keys are not left in free pages or dead rows.
        """
        key_ids = [entry.data_key_id for entry in entries if entry.data_key_id]
        self.save_pending()  # nothing of this thread may wait on the transaction below
        with self.engine.begin() as connection:
            if key_ids:
                connection.execute(data_key_table.delete().where(data_key_table.c.id.in_(key_ids)))
            connection.execute(ledger_table.insert(), [
                {"client_number": entry.client_number, "data_key_id": entry.data_key_id,
                 "erased_at": entry.erased_at, "request_id": entry.request_id,
                 "suppressed": json.dumps(sorted(entry.suppressed))}
                for entry in entries
            ])
            yield
        _CACHE.drop(key_ids)
        self.compact()

    def destroy(self, key_ids: list[str]) -> None:
        """Destroy keys no erasure needs to remember (an expired upload's), and compact the store."""
        with self.engine.begin() as connection:
            connection.execute(data_key_table.delete().where(data_key_table.c.id.in_(key_ids)))
        _CACHE.drop(key_ids)
        self.compact()

    def compact(self) -> None:
        """Leave no destroyed key in the store's files: SQLite zeroes freed pages (secure delete), PostgreSQL rewrites the table."""
        if self.is_sqlite:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        # PostgreSQL only, out of make mutate's reach (SQLite): the PostgreSQL run's erasure tests fail without it
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:  # pragma: no mutate
            connection.exec_driver_sql("VACUUM FULL data_key")  # pragma: no mutate

    def ledger(self) -> list[LedgerEntry]:
        """Erasures in the ledger, oldest first."""
        query = sa.select(ledger_table).order_by(ledger_table.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            LedgerEntry(row.client_number, row.data_key_id, row.erased_at, row.request_id,
                        tuple(json.loads(row.suppressed)))
            for row in rows
        ]

    def erased_key_ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.scalars(sa.select(ledger_table.c.data_key_id).where(ledger_table.c.data_key_id.is_not(None))))

    # -- master key rotation ----------------------------------------------------------------
    def rewrap(self, ring: KeyRing, batch_size: int = 1000, progress=lambda n: None) -> int:
        """Re-wrap every data key not under ``ring``'s current master key; returns how many."""
        rewrapped = 0
        last = ""
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    sa.select(data_key_table.c.id, data_key_table.c.wrapped)
                    .where(data_key_table.c.id > last).order_by(data_key_table.c.id).limit(batch_size)
                ).all()
            if not rows:
                return rewrapped
            changes = [
                {"key_id": row.id, "rewrapped": _wrap(ring, row.id, _unwrap(ring, row.id, row.wrapped))}
                for row in rows if master_key_of(row.wrapped) != ring.current_id
            ]
            if changes:
                with self.engine.begin() as connection:
                    connection.execute(
                        data_key_table.update().where(data_key_table.c.id == sa.bindparam("key_id"))
                        .values(wrapped=sa.bindparam("rewrapped")),
                        changes,
                    )
            rewrapped += len(changes)
            progress(len(rows))
            last = rows[-1].id

    def dispose(self) -> None:
        self.engine.dispose()


class _KeyCache:
    """Unwrapped data keys of this process: at most CACHE_SIZE, each for CACHE_SECONDS."""

    def __init__(self):  # pragma: no mutate block (runs at import or app creation)
        self._keys: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_id: str) -> bytes | None:
        with self._lock:
            held = self._keys.get(key_id)
            if held is None:
                return None
            if held[0] < time.monotonic():
                del self._keys[key_id]
                return None
            self._keys.move_to_end(key_id)
            return held[1]

    def put(self, key_id: str, key: bytes) -> None:
        with self._lock:
            self._keys[key_id] = (time.monotonic() + CACHE_SECONDS, key)
            self._keys.move_to_end(key_id)
            while len(self._keys) > CACHE_SIZE:
                self._keys.popitem(last=False)

    def drop(self, key_ids) -> None:
        with self._lock:
            for key_id in key_ids:
                self._keys.pop(key_id, None)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


_CACHE = _KeyCache()


def forget_unwrapped_keys() -> None:
    """Empty this process's cache of unwrapped keys (the next read unwraps from the store again)."""
    _CACHE.clear()


_store: KeyStore | None = None


def bind_key_store(store: KeyStore) -> None:
    """Make ``store`` the process's key store (called by create_app)."""
    global _store
    if _store is not None and _store is not store:
        _store.dispose()
    _store = store


def has_key_store() -> bool:
    return _store is not None


def key_store() -> KeyStore:
    if _store is None:
        raise RuntimeError("No key store is bound: create the app first.")
    return _store
