"""A data key per client, outside the database: erasure destroys it, and every old copy goes dark."""

from __future__ import annotations

import os
import json
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from crm.backup import put_back
from crm.gdpr.suppression import digests_of, is_suppressed
from crm.privacy.crypto import DecryptionError, data_key_id_of, decrypt
from tests.conftest import csrf_token
from tests.test_cli import PROJECT_ROOT, count, fresh_env, run_flask  # noqa: F401  (fresh_env is a fixture)
from tests.test_encryption_at_rest import database_bytes
from tests.test_gdpr import REASON, dpo, erase_form, full_card, register_request, rows_about, signed_in  # noqa: F401  (dpo is a fixture)

TOKEN = re.compile(rb"v([12]):([A-Za-z0-9_-]{1,32}):([A-Za-z0-9_=-]{20,})")


def client_row(db_session, card):
    from crm.clients.models import Client

    return db_session(lambda s: s.get(Client, card))


def sealed_values_of(app, card) -> dict[str, list[str]]:
    """Every stored ciphertext of the client's rows and versions, by ``table.column`` context."""
    from crm.extensions import db
    from crm.gdpr.places import places
    from crm.privacy.types import EncryptedString

    found: dict[str, list[str]] = {}
    with app.app_context():
        for place in places():
            for table in [t for t in (place.table, place.version_table) if t is not None]:
                columns = [c for c in table.columns if isinstance(c.type, EncryptedString)]
                if not columns:
                    continue
                raw = [text(f'"{c.name}"') for c in columns]
                query = select(*raw).select_from(table).where(place.rows_of(table, card))
                for row in db.session.execute(query):
                    for column, value in zip(columns, row):
                        if value is not None:
                            found.setdefault(column.type.context, []).append(value)
        db.session.remove()
    return found


def narrowest_key_id_column() -> int:
    """The fewest characters a column naming a data key holds."""
    from crm.clients.models import Client
    from crm.privacy.keystore import data_key_table, ledger_table

    return min(column.type.length for column in (Client.__table__.c.data_key_id, data_key_table.c.id,
                                                 ledger_table.c.data_key_id))


def test_each_client_is_sealed_under_a_data_key_of_its_own_kept_outside_the_database(app, db_session, dpo):
    from crm.extensions import db
    from crm.privacy.keystore import key_store

    client, _ = dpo
    first, _ = full_card(app, db_session, client)
    second, _ = full_card(app, db_session, client)
    keys = {card: client_row(db_session, card).data_key_id for card in (first, second)}
    assert all(keys.values()) and keys[first] != keys[second]
    assert all(len(key) <= narrowest_key_id_column() for key in keys.values()), \
        "PostgreSQL refuses a longer id, SQLite (where make mutate runs) would keep it"
    for card in (first, second):
        sealed = sealed_values_of(app, card)
        assert {"client.email", "client.pesel", "contact_person.email", "note.text"} <= sealed.keys()
        assert {data_key_id_of(value) for values in sealed.values() for value in values} == {keys[card]}, \
            "every value of every place and version of the client is under the client's own key"
    assert key_store().existing(keys.values()) == set(keys.values())

    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        db.session.remove()
    assert "data_key" not in tables and "erasure_ledger" not in tables
    assert make_url(app.config["CRM_KEY_STORE_URL"]) != make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    raw = database_bytes(app)
    with key_store().engine.connect() as connection:
        wrapped = connection.execute(text("SELECT id, wrapped FROM data_key WHERE id IN (:a, :b)"),
                                     {"a": keys[first], "b": keys[second]}).all()
    assert len(wrapped) == 2 and not any(value.encode() in raw for _, value in wrapped), \
        "the main database never holds a data key, wrapped or not"


def test_after_an_erasure_no_old_copy_of_the_person_can_be_decrypted(app, db_session, dpo):
    from crm.gdpr.erasure import erase
    from crm.privacy.keystore import UnknownDataKey, key_store

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    neighbour, _ = full_card(app, db_session, client)
    data_key_id = client_row(db_session, card).data_key_id
    copy = database_bytes(app)  # a backup, a dump, a replica: the raw database taken before the erasure
    old = [match for match in TOKEN.finditer(copy) if match.group(2).decode() == data_key_id]
    stored = [value for values in sealed_values_of(app, card).values() for value in values]
    assert len(stored) > 15 and all(value.encode() in copy for value in stored), "the copy holds every value and version"

    with key_store().engine.connect() as connection:
        wrapped = connection.scalar(text("SELECT wrapped FROM data_key WHERE id = :id"), {"id": data_key_id})

    db_session(lambda s: erase(s, card, reason=REASON))
    assert rows_about(db_session, card) == {}
    assert key_store().existing([data_key_id]) == set()

    with app.app_context():
        for match in old:
            with pytest.raises(DecryptionError):
                decrypt(match.group(0).decode(), "client.email")
        with pytest.raises(UnknownDataKey):
            key_store().key(data_key_id)
    # the neighbour, in the same copy, still reads: only the erased person went dark
    neighbours = sealed_values_of(app, neighbour)
    with app.app_context():
        assert decrypt(neighbours["client.email"][0], "client.email").endswith("@erase.pl")

    if key_store().is_sqlite:
        with open(make_url(app.config["CRM_KEY_STORE_URL"]).database, "rb") as handle:
            store_file = handle.read()
        assert data_key_id.encode() in store_file, "the ledger names the destroyed key"
        assert wrapped.partition(":")[2].encode() not in store_file, "the wrapped key is not left in a free page"
        with key_store().engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM data_key WHERE id = :id"), {"id": data_key_id}) == 0


def test_an_erasure_that_fails_destroys_no_key_and_writes_no_ledger_entry(app, db_session, dpo, monkeypatch):
    import crm.gdpr.erasure as erasure
    from crm.privacy.keystore import key_store

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    data_key_id = client_row(db_session, card).data_key_id
    ledger_before = len(key_store().ledger())
    before = rows_about(db_session, card)
    original = erasure._erase_place

    def failing(session, place, client_id):
        if place.subject_column == "id":
            raise RuntimeError("the disk is full")
        original(session, place, client_id)

    monkeypatch.setattr(erasure, "_erase_place", failing)
    with pytest.raises(RuntimeError):
        db_session(lambda s: erasure.erase(s, card, reason=REASON))
    assert rows_about(db_session, card) == before
    assert key_store().existing([data_key_id]) == {data_key_id}
    assert len(key_store().ledger()) == ledger_before
    with app.app_context():
        email = sealed_values_of(app, card)["client.email"][0]
        assert decrypt(email, "client.email").endswith("@erase.pl")


def test_the_ledger_records_each_erasure_without_personal_data(app, db_session, dpo):
    from crm.gdpr.erasure import erase
    from crm.privacy.keystore import key_store

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    data_key_id = client_row(db_session, card).data_key_id
    db_session(lambda s: erase(s, card, reason=REASON))
    entry = key_store().ledger()[-1]
    assert (entry.client_number, entry.data_key_id) == (card, data_key_id)
    assert set(entry.suppressed) == digests_of({"email": data["email"], "phone": data["phone"], "pesel": data["pesel"]})
    assert data["email"] not in repr(entry) and data["last_name"] not in repr(entry)


SERVE_ONE_PAGE = (
    "from crm import create_app\n"
    "app = create_app()\n"
    "page = app.test_client().get('/login/', base_url='https://localhost')\n"
    "print(page.status_code)\n"
    "print(page.get_data(as_text=True))\n"
)


def serve_one_page(env) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-c", SERVE_ONE_PAGE], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    status, _, page = result.stdout.partition("\n")
    return int(status), page


def test_a_restored_backup_does_not_bring_an_erased_person_back(fresh_env, tmp_path):
    assert run_flask(["crm", "init"], fresh_env).returncode == 0
    assert run_flask(["crm", "demo", "--clients", "6"], fresh_env).returncode == 0
    url = fresh_env["DATABASE_URL"]
    made = run_flask(["crm", "backup", "--out", str(tmp_path / "db"), "--key-store-out", str(tmp_path / "keys")], fresh_env)
    assert made.returncode == 0, made.stderr
    backup = re.search(r"Kopia bazy danych: (\S+)", made.stdout).group(1)
    assert re.search(r"Kopia magazynu kluczy: (\S+)", made.stdout).group(1).startswith(str(tmp_path / "keys"))
    assert "nie dłużej niż 30 dni" in made.stdout

    erased = run_flask(["crm", "erase", "2", "--yes", "--reason", "Porządki w bazie: karta testowa"], fresh_env)
    assert erased.returncode == 0, erased.stderr
    suppressed_after_erasure = count(url, "SELECT count(*) FROM suppression")
    assert count(url, "SELECT count(*) FROM client WHERE id = 2") == 0 and suppressed_after_erasure > 0

    # the backup put back by hand, without re-applying the ledger: the app refuses to serve it
    put_back(url, Path(backup), fresh_env["INSTANCE_PATH"])
    assert count(url, "SELECT count(*) FROM client WHERE id = 2") == 1
    status, page = serve_one_page(fresh_env)
    assert status == 503 and "flask crm reapply-erasures" in page and "usunięte" in page

    done = run_flask(["crm", "reapply-erasures"], fresh_env)
    assert done.returncode == 0, done.stderr
    assert "Ponownie usunięto zgodnie z rejestrem usunięć klientów: 1" in done.stdout
    for table in ("client", "client_version", "note", "contact_person"):
        column = "id" if table.startswith("client") else "client_id"
        assert count(url, f"SELECT count(*) FROM {table} WHERE {column} = 2") == 0, table
    assert count(url, "SELECT count(*) FROM suppression") == suppressed_after_erasure, "the suppression entries are back"
    assert count(url, "SELECT count(*) FROM gdpr_event WHERE kind = 'erasure' AND client_number = 2") == 1
    assert count(url, "SELECT count(*) FROM client") == 5
    assert serve_one_page(fresh_env)[0] == 200

    # the restore command does both at once
    again = run_flask(["crm", "restore", backup, "--yes"], fresh_env)
    assert again.returncode == 0, again.stderr
    assert "klientów: 1" in again.stdout and count(url, "SELECT count(*) FROM client WHERE id = 2") == 0
    assert serve_one_page(fresh_env)[0] == 200

    missing = run_flask(["crm", "restore", str(tmp_path / "nie-ma.sqlite"), "--yes"], fresh_env)
    assert missing.returncode != 0 and "Nie ma pliku" in missing.stderr and "Traceback" not in missing.stderr
    assert count(url, "SELECT count(*) FROM client") == 5, "nothing was touched"


def test_a_restore_run_in_the_apps_process_erases_again_whom_the_ledger_names(app, db_session, dpo, tmp_path):
    """The backup and restore commands in the app's own process (as `make mutate` can follow them): the
    person erased on a request since the backup is erased again, the request answered; the suppression
    entries come back; a neighbour stays."""
    from crm.gdpr.models import DataSubjectRequest, GdprEvent

    client, _ = dpo
    card, data = full_card(app, db_session, client)
    neighbour, _ = full_card(app, db_session, client)
    late, _ = full_card(app, db_session, client)
    request_id = register_request(client, card)
    runner = app.test_cli_runner()
    made = runner.invoke(args=["crm", "backup", "--out", str(tmp_path / "db"), "--key-store-out", str(tmp_path / "keys")])
    assert made.exit_code == 0, made.output
    backup = re.search(r"Kopia bazy danych: (\S+)", made.output).group(1)
    suppressed = {"email": data["email"], "phone": data["phone"], "pesel": data["pesel"]}
    assert not db_session(lambda s: is_suppressed(s, suppressed))
    assert "usunięta ze wszystkich miejsc" in erase_form(client, card, str(card), request_id, REASON).text
    # a request registered after the backup is not in the restored database: its erasure names none
    late_request = register_request(client, late)
    assert "usunięta ze wszystkich miejsc" in erase_form(client, late, str(late), late_request, REASON).text

    restored = runner.invoke(args=["crm", "restore", backup, "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "Ponownie usunięto zgodnie z rejestrem usunięć klientów: 2" in restored.output
    assert rows_about(db_session, card) == {} and rows_about(db_session, late) == {}
    assert rows_about(db_session, neighbour) != {}
    assert db_session(lambda s: is_suppressed(s, suppressed)), "the erased person's suppression entries are back"

    def events(client_number):
        return db_session(lambda s: [(e.kind, e.request_id, e.reason, json.loads(e.counts)["client"])
                                     for e in s.scalars(select(GdprEvent).where(GdprEvent.client_number == client_number))])

    why = "Usunięto ponownie po przywróceniu kopii bazy danych starszej niż usunięcie."
    assert events(card) == [("erasure", request_id, why, {"rows": 1, "versions": 2})], "one erasure, answering the request"
    assert events(late) == [("erasure", None, why, {"rows": 1, "versions": 2})]
    assert db_session(lambda s: s.get(DataSubjectRequest, request_id).status) == "completed"
    again = runner.invoke(args=["crm", "reapply-erasures"])
    assert again.exit_code == 0 and "klientów: 0" in again.output, "nothing is held twice"


def test_rows_written_together_in_bulk_share_their_clients_key(app, db_session):
    """The bulk path (imports, the benchmarks' dataset) seals a card's versions and rows under one key."""
    from datetime import datetime

    from crm.bulk import BulkWriter, columns_of
    from crm.clients.models import Client, Note
    from crm.extensions import db
    from tests.conftest import company_form

    with app.app_context():
        with db.engine.begin() as connection:
            writer = BulkWriter(connection)
            moment = datetime(2026, 1, 5, 9, 0)
            created, changed = writer.transactions([(None, None, moment), (None, None, moment)])
            [card] = writer.new_ids(Client.__table__, 1)
            values = {k: v for k, v in company_form().items() if k in ("company_name", "email", "nip", "status", "kind")}
            first = columns_of(Client(**values))
            first.update(id=card, created_at=moment, updated_at=moment, lock_version=1)
            second = {**first, "company_name": first["company_name"] + " S.A.", "lock_version": 2}
            writer.add(Client, first, created, end=changed, live=False)
            writer.add(Client, second, changed, operation=1)
            [note] = writer.new_ids(Note.__table__, 1)
            writer.add(Note, {**columns_of(Note(kind="call", text="Rozmowa", occurred_on=moment.date(), created_at=moment)),
                              "id": note, "client_id": card, "lock_version": 1}, created)
            writer.flush()
        db.session.remove()
    sealed = sealed_values_of(app, card)
    assert len(sealed["client.company_name"]) == 3 and "note.text" in sealed
    assert {data_key_id_of(value) for values in sealed.values() for value in values} == {client_row(db_session, card).data_key_id}


def test_a_page_of_many_cards_fetches_their_keys_in_one_round_trip_and_never_an_erased_one(app, db_session, dpo):
    """The read-access log names up to 500 cards a page: their keys come from the store together."""
    from sqlalchemy import event

    from crm.clients.models import Client
    from crm.privacy.keystore import forget_unwrapped_keys, key_store
    from tests.test_read_access import new_card

    cards = [new_card(app)[0] for _ in range(4)]
    erased = new_card(app)[0]
    erased_key = client_row(db_session, erased).data_key_id
    erase_form(dpo[0], erased, str(erased), reason=REASON)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    store = key_store()
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        def read_names(session):
            forget_unwrapped_keys()
            keys = list(session.scalars(select(Client.data_key_id).where(Client.id.in_(cards))))
            assert store.prefetch([*keys, erased_key]) == len(cards)
            fetched = len(statements)
            names = [client.display_name for client in session.scalars(select(Client).where(Client.id.in_(cards)))]
            return fetched, names

        fetched, names = db_session(read_names)
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert fetched == 1 and len(statements) == 1, statements
    assert all(name.startswith("Spółdzielnia") for name in names)


def test_many_keys_are_prefetched_chunk_by_chunk_and_re_wrapped_batch_by_batch(tmp_path):
    """More keys than a query asks for: each is fetched once and each re-wrapped once."""
    from sqlalchemy import event

    from crm.privacy.keys import append_key, parse_keys, write_new_key_file
    from crm.privacy.keystore import KEY_IDS_PER_QUERY, KeyStore, forget_unwrapped_keys, master_key_of

    key_file = tmp_path / "keys"
    write_new_key_file(key_file)
    store = KeyStore(f"sqlite:///{tmp_path / 'keystore.db'}", parse_keys(key_file.read_text()))
    try:
        many = 2 * KEY_IDS_PER_QUERY + 3
        ids = [store.new_key() for _ in range(many)]
        store.save_pending()
        forget_unwrapped_keys()
        queries = []
        event.listen(store.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
        assert store.prefetch([*ids, None, "never-saved"]) == many
        assert len(queries) == 3
        assert store.existing(ids) == set(ids)

        append_key(key_file, store.ring)
        ring = parse_keys(key_file.read_text())
        batches = []
        assert store.rewrap(ring, batch_size=KEY_IDS_PER_QUERY, progress=batches.append) == many
        assert batches == [KEY_IDS_PER_QUERY, KEY_IDS_PER_QUERY, 3], "the progress bar reaches the count, once each"
        with store.engine.connect() as connection:
            wrapped = connection.execute(text("SELECT wrapped FROM data_key")).scalars().all()
        assert {master_key_of(value) for value in wrapped} == {ring.current_id} and len(wrapped) == many
        assert store.rewrap(ring) == 0, "nothing left under the old key"
    finally:
        store.dispose()
        forget_unwrapped_keys()


def test_a_long_ledger_is_checked_a_few_hundred_keys_a_query_and_none_is_missed(app, db_session, tmp_path):
    """Years of erasures: the restore guard and reapply-erasures find a held client wherever the ledger names it."""
    from datetime import datetime

    from sqlalchemy import event

    from crm.extensions import db
    from crm.gdpr.erasure import erased_but_held
    from crm.privacy.keys import parse_keys, write_new_key_file
    from crm.privacy.keystore import KEY_IDS_PER_QUERY, KeyStore, LedgerEntry, bind_key_store, key_store
    from tests.test_read_access import new_card

    cards = [new_card(app)[0] for _ in range(2)]
    held = {card: client_row(db_session, card).data_key_id for card in cards}
    key_file = tmp_path / "keys"
    write_new_key_file(key_file)
    ledger = KeyStore(f"sqlite:///{tmp_path / 'keystore.db'}", parse_keys(key_file.read_text()))
    # ids sorting before any real one ("!" < digits and letters): the held clients come last, past two chunks
    others = [f"!{n:05d}" for n in range(2 * KEY_IDS_PER_QUERY)]
    entries = [LedgerEntry(n, key_id, datetime(2026, 1, 1), None, ()) for n, key_id in enumerate([*others, *held.values()])]
    with ledger.destroying(entries):
        pass
    previous, queries = key_store(), []

    def count(*args):
        queries.append(args[2])

    bind_key_store(ledger)
    try:
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", count)
            try:
                found = erased_but_held(db.session)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
                db.session.remove()
    finally:
        bind_key_store(previous)
        ledger.dispose()
    assert found == held
    assert len(queries) == 2 * 3, "a query of the cards and one of their versions per chunk"


def test_a_failed_write_names_no_value_in_its_error_neither_in_the_key_store_nor_in_the_database(app, tmp_path):
    """A database error is logged with its statement: the values bound to it (a wrapped data key, a
    person's data) must not be in it, on either engine (`hide_parameters`)."""
    from sqlalchemy.exc import IntegrityError

    from crm.extensions import db
    from crm.privacy.crypto import key_ring
    from crm.privacy.keystore import KeyStore, data_key_table

    with app.app_context():
        store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", key_ring())
        key_id = store.new_key()
        store.save_pending()
        with store.engine.connect() as connection:
            wrapped = connection.scalar(select(data_key_table.c.wrapped).where(data_key_table.c.id == key_id))
        with pytest.raises(IntegrityError) as failure, store.engine.begin() as connection:
            connection.execute(data_key_table.insert(), [{"id": key_id, "wrapped": wrapped, "created_at": None}])
        assert key_id not in str(failure.value) and wrapped not in str(failure.value)
        store.engine.dispose()

        secret = "Sekretna-Wartość-Osobowa"
        with pytest.raises(IntegrityError) as failure:
            # a role's number taken: PostgreSQL's own detail names the key alone (a NOT NULL failure would quote the row)
            db.session.execute(text("INSERT INTO ab_role (id, name) VALUES (:id, :name)"), {"id": 1, "name": secret})
        db.session.rollback()
        assert secret not in str(failure.value)
        db.session.remove()


def test_a_deleted_card_keeps_every_copy_of_its_rows_under_its_own_key(app, db_session, dpo):
    """Deleting a card writes the last versions of its contacts, notes and consents after the card's
    row is gone; they must still be sealed under the card's key (found in its versions), so that
    an erasure of the card, which destroys that key, leaves none of them readable."""
    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    key = client_row(db_session, card).data_key_id
    admin, _ = signed_in(app)
    show = admin.get(f"/clientmodelview/show/{card}")
    admin.post(f"/clientmodelview/delete/{card}", data={"csrf_token": csrf_token(show.text)})
    assert client_row(db_session, card) is None
    sealed = sealed_values_of(app, card)
    assert {"contact_person.email", "note.text"} <= sealed.keys()
    assert {data_key_id_of(value) for values in sealed.values() for value in values} == {key}


def test_a_clients_value_written_past_the_registrys_binding_is_refused(app, db_session, dpo):
    """A write that skips the binding of values to their client's key (a bulk UPDATE fires no
    mapper event) is refused by the column type, not sealed under the master key, which an
    erasure does not destroy; the card keeps its value."""
    from sqlalchemy import update
    from sqlalchemy.exc import StatementError

    from crm.clients.models import Client
    from crm.extensions import db
    from crm.privacy.types import UnboundPersonalValue

    client, _ = dpo
    card, _ = full_card(app, db_session, client)
    before = sealed_values_of(app, card)
    with app.app_context():
        with pytest.raises(StatementError) as refused:
            db.session.execute(update(Client).where(Client.id == card).values(email="nowy.adres@example.pl"))
        db.session.rollback()
        db.session.remove()
    assert isinstance(refused.value.orig, UnboundPersonalValue)
    assert sealed_values_of(app, card) == before


def name_key_of(card: int, key_id: str | None) -> None:
    """The card and its versions name ``key_id`` (None: as in a base from before per-client keys),
    the versions linked in the trail as they now read, as that base had linked them."""
    from sqlalchemy_continuum import version_class

    from crm.accountability import trail
    from crm.clients.models import Client
    from crm.extensions import db

    versions = version_class(Client).__table__
    with db.engine.begin() as connection:
        for table in ("client", "client_version"):
            connection.execute(text(f"UPDATE {table} SET data_key_id = :key WHERE id = {card}"), {"key": key_id})
        trail.append(connection, trail.rewritten(connection, versions, versions.c.id == card))


def test_two_writers_giving_an_old_card_a_key_at_once_agree_on_one(app, db_session):
    """A card from before per-client keys gets its key when a row about it is first written. When
    another writer gives it one first (its UPDATE lands between this writer's read and its own), this
    writer takes the key that stuck, not the one it made: values under the other would be sealed
    under a key the card does not name, and an erasure would leave them readable."""
    from sqlalchemy import event

    from crm.extensions import db
    from crm.privacy.keystore import key_store
    from crm.privacy.subjects import data_key_for
    from tests.conftest import person_form
    from tests.test_clients_forms import add_client, find_client

    admin, _ = signed_in(app)
    cards = []
    for _ in range(2):
        data = person_form()
        add_client(admin, data)
        cards.append(find_client(db_session, last_name=data["last_name"]).id)
    card = cards[-1]
    original = client_row(db_session, card).data_key_id

    with app.app_context():
        name_key_of(card, None)
        winner = key_store().new_key()
        key_store().save_pending()
        with db.engine.begin() as connection:
            mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"

            came_first = []

            def the_other_writer_first(conn, cursor, statement, parameters, context, executemany):
                if statement.startswith("UPDATE client SET data_key_id") and not came_first:
                    came_first.append(cursor.execute(f"UPDATE client SET data_key_id = {mark} WHERE id = {mark}",
                                                     (winner, card)))

            event.listen(connection, "before_cursor_execute", the_other_writer_first)
            taken = data_key_for(connection, card, {})
        db.session.remove()
    try:
        assert came_first and taken == winner
        assert client_row(db_session, card).data_key_id == winner
    finally:
        # the card's rows as they were: its values are sealed under the original key
        with app.app_context():
            name_key_of(card, original)
            db.session.remove()


@contextmanager
def held_by_another_writer(connect, lock_statement: str, seconds: float = 6):
    """Another writer holding the key store (a DB-API connection from ``connect``, locked by
    ``lock_statement``) from entry for ``seconds``, or until the block is left."""
    held, done = threading.Event(), threading.Event()

    def hold():
        raw = connect()
        try:
            raw.cursor().execute(lock_statement)
            held.set()
            done.wait(seconds)
            raw.commit()
        finally:
            raw.close()

    writer = threading.Thread(target=hold)
    writer.start()
    try:
        assert held.wait(30)
        yield
    finally:
        done.set()
        writer.join()


def test_a_new_card_waits_for_another_writer_of_the_key_store_instead_of_failing(app, db_session):
    """Several workers write new data keys to one key store; a save that finds it held by another
    (here for six seconds, longer than SQLite's default patience of five) waits, then succeeds."""
    from crm.privacy.keystore import key_store
    from tests.conftest import person_form
    from tests.test_clients_forms import add_client, find_client

    admin, _ = signed_in(app)
    lock = "BEGIN IMMEDIATE" if key_store().is_sqlite else "LOCK TABLE data_key IN EXCLUSIVE MODE"
    with held_by_another_writer(key_store().engine.raw_connection, lock):
        started = time.monotonic()
        data = person_form()
        response = add_client(admin, data)
        waited = time.monotonic() - started
    assert response.status_code == 200 and waited >= 5.5, "the save came while the other writer held the store"
    card = find_client(db_session, last_name=data["last_name"])
    assert card is not None and key_store().existing([card.data_key_id]) == {card.data_key_id}


def test_a_key_store_file_opened_anew_waits_for_another_writer_too(app, tmp_path):
    """Each process opens the key store file itself (the app, a command, a worker): a store opened
    on a SQLite file waits for another writer past SQLite's default patience of five seconds."""
    import sqlite3

    from crm.privacy.crypto import key_ring
    from crm.privacy.keystore import KeyStore

    path = tmp_path / "keystore.db"
    with app.app_context():
        store = KeyStore(f"sqlite:///{path}", key_ring())
    try:
        with held_by_another_writer(lambda: sqlite3.connect(path), "BEGIN IMMEDIATE"):
            started = time.monotonic()
            key_id = store.new_key()
            store.save_pending()
            waited = time.monotonic() - started
    finally:
        store.engine.dispose()
    assert waited >= 5.5, "the save came while the other writer held the store"
    assert KeyStore(f"sqlite:///{path}", store.ring).existing([key_id]) == {key_id}


def test_a_new_key_is_found_before_it_is_saved_after_the_cache_let_it_go(app):
    """A large import gives more new cards keys in one transaction than a process caches: the first
    of them, let go by the cache, are found among the keys waiting to be saved, not refused as erased."""
    from crm.privacy.keystore import CACHE_SIZE, key_store

    with app.app_context():
        store = key_store()
        first = store.new_key()
        key = store.key(first)
        for _ in range(CACHE_SIZE):
            store.new_key()
        try:
            assert store.key(first) == key
        finally:
            store.save_pending()


def test_a_card_from_before_per_client_keys_given_its_key_still_proves_its_history(app, db_session):
    """A card from before per-client keys gets its key when a row about it is first sealed (a key
    rotation does it for each row of such a card), and its versions name the key (a deleted card
    finds it there). The versions are links of the accountability trail: the key written into them
    is linked too, and `crm audit verify` still finds the trail intact."""
    from sqlalchemy_continuum import version_class

    from crm.clients.models import Client
    from crm.extensions import db
    from crm.privacy.crypto import key_ring
    from crm.privacy.keystore import key_store
    from crm.privacy.subjects import data_key_for
    from tests.conftest import person_form, run_command
    from tests.test_clients_forms import add_client, find_client
    from tests.test_key_rotation import make_legacy

    admin, _ = signed_in(app)
    data = person_form()
    add_client(admin, data)
    card = find_client(db_session, last_name=data["last_name"]).id
    versions = version_class(Client).__table__
    with app.app_context():
        make_legacy(app.config["SQLALCHEMY_DATABASE_URI"], key_store(), key_ring(), [card])
        name_key_of(card, None)
        with db.engine.begin() as connection:
            key = data_key_for(connection, card, {})
        db.session.remove()
    named = db_session(lambda s: set(s.scalars(select(versions.c.data_key_id).where(versions.c.id == card))))
    assert client_row(db_session, card).data_key_id == key and named == {key}, \
        "the card and each of its versions name the key it was given"
    verified = run_command(app, ["crm", "audit", "verify"])
    assert verified.exit_code == 0, verified.output
