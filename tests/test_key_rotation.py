"""Key rotation through the real command: move to per-client keys, re-wrap, drop the old key, read everything back."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask_appbuilder import Model
from sqlalchemy import Text, create_engine, select, text, type_coerce, update

from crm.privacy import subjects
from crm.privacy.crypto import bind_key_ring, data_key_id_of, decrypt, encrypt, key_id_of, key_ring
from crm.privacy.keys import append_key, parse_keys, write_new_key_file
from crm.privacy.keystore import KeyStore, bind_key_store, forget_unwrapped_keys, key_store, master_key_of
from crm.privacy.rotation import encrypted_tables, rotate
from tests.init_template import InitTemplate
from tests.test_cli import run_flask

DEMO_CLIENTS = 60
#: the cards made as a database from before per-client keys holds them
LEGACY = list(range(1, 11))


def stored_values(url):
    """Every encrypted value in the database: (table, column, ciphertext)."""
    engine = create_engine(url)
    found = []
    columns = {
        "client": ["company_name", "first_name", "last_name", "email", "phone", "street", "postal_code", "city", "nip", "pesel", "remarks"],
        "contact_person": ["first_name", "last_name", "position", "email", "phone"],
        "note": ["text"],
        "transaction": ["remote_addr"],
    }
    with engine.connect() as connection:
        for table, names in columns.items():
            for version in ("", "_version") if table != "transaction" else ("",):
                for name in names:
                    rows = connection.execute(text(f'SELECT {name} FROM "{table}{version}" WHERE {name} IS NOT NULL'))
                    found.extend((table, name, value) for (value,) in rows)
    engine.dispose()
    return found


def clear_values(values, ring, store):
    return sorted((table, column, decrypt(value, f"{table}.{column}", ring, store)) for table, column, value in values)


class Interrupted(Exception):
    pass


def wrapped_under(store) -> dict[str, str]:
    """The master key that wraps each data key, by the data key's id."""
    with store.engine.connect() as connection:
        return {key: master_key_of(wrapped) for key, wrapped in connection.execute(text("SELECT id, wrapped FROM data_key"))}


def make_legacy(url, store, ring, client_ids):
    """Turn these clients back into what a database from before per-client keys held: values under the master key."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for spec in encrypted_tables(Model.metadata):
            subject = subjects.spec_of(spec.table.name)
            if subject is None:
                continue
            column = spec.table.c[subject.subject_column]
            names = list(spec.columns)
            query = select(*spec.table.primary_key.columns, *(type_coerce(spec.table.c[n], Text()) for n in names))
            for row in connection.execute(query.where(column.in_(client_ids))).all():
                keys = row[: len(spec.table.primary_key.columns)]
                values = {
                    name: type_coerce(encrypt(decrypt(value, spec.columns[name], ring, store), spec.columns[name], ring), Text())
                    for name, value in zip(names, row[len(keys):]) if value is not None
                }
                if values:
                    condition = [c == v for c, v in zip(spec.table.primary_key.columns, keys)]
                    connection.execute(update(spec.table).where(*condition).values(values))
        for table in ("client", "client_version"):
            connection.execute(text(f"UPDATE {table} SET data_key_id = NULL WHERE id IN ({','.join(map(str, client_ids))})"))
    engine.dispose()


def demo_base(env) -> None:
    """`crm init` and the demo's clients on ``env``'s database, under a new key file.

    Under `make mutate` the first session without a mutant keeps the result beside the init
    template and the others copy it (tests/init_template.py): the two commands take eight of a
    rotation mutant's eleven seconds. A slip in what they ran is tried by the tests of init and
    encryption, not here.
    """
    database = os.environ.get("TEST_DATABASE_URL")
    template = InitTemplate.configured(database)
    if template is not None:
        template = InitTemplate(f"{template.folder}-rotation")
        if template.serves():
            template.copy_to(Path(env["DATABASE_URL"].removeprefix("sqlite:///")), Path(env["INSTANCE_PATH"]))
            return
    write_new_key_file(env["CRM_KEY_FILE"])
    assert run_flask(["crm", "init"], env).returncode == 0
    assert run_flask(["crm", "demo", "--clients", str(DEMO_CLIENTS)], env).returncode == 0
    if template is not None and template.may_keep():
        template.keep(Path(env["DATABASE_URL"].removeprefix("sqlite:///")), Path(env["INSTANCE_PATH"]))


@dataclass
class RotationBase:
    """A demo base under key k1, ten of its cards as a database from before per-client keys holds them."""

    env: dict
    key_file: Path
    store: KeyStore
    #: every encrypted value before the ten cards were made legacy, and the same in clear
    before: list
    expected: list


@pytest.fixture()
def rotation_base(app, databases, tmp_path):
    # in the instance folder, which a kept base holds whole
    key_file = tmp_path / "instance" / "keys"
    env = {
        "DATABASE_URL": databases.new(),
        "SECRET_KEY": "rotation-test-secret-0123456789abcdef012345",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_KEY_FILE": str(key_file),
    }
    demo_base(env)
    first_ring = parse_keys(key_file.read_text())
    store = KeyStore(f"sqlite:///{tmp_path / 'instance' / 'keystore.db'}", first_ring)
    assert store.count() == DEMO_CLIENTS
    # values that are no client's (the addresses changes came from): under the key file's key, k1
    engine = create_engine(env["DATABASE_URL"])
    with engine.begin() as connection:
        numbers = connection.execute(text('SELECT id FROM "transaction" ORDER BY id LIMIT 5')).scalars().all()
        for number in numbers:
            connection.execute(text('UPDATE "transaction" SET remote_addr = :value WHERE id = :id'), {
                "value": encrypt(f"203.0.113.{number % 250}", "transaction.remote_addr", first_ring), "id": number})
    engine.dispose()
    before = stored_values(env["DATABASE_URL"])
    assert len(before) > 500 and all(data_key_id_of(value) for table, _, value in before if table != "transaction")
    assert sum(table == "transaction" for table, _, _ in before) == len(numbers) > 0
    expected = clear_values(before, first_ring, store)

    # ten cards as a database from before per-client keys holds them: under the master key, no data key
    make_legacy(env["DATABASE_URL"], store, first_ring, LEGACY)
    assert {key_id_of(value) for _, _, value in stored_values(env["DATABASE_URL"])} - {"k1"} != set()
    assert any(key_id_of(value) == "k1" for _, _, value in stored_values(env["DATABASE_URL"]))
    yield RotationBase(env, key_file, store, before, expected)
    store.dispose()


def only_the_new_key_reads_everything(base: RotationBase) -> None:
    """Drop k1 from the key file: every value reads back with k2 alone, each card under a data key of its own."""
    kept = [line for line in base.key_file.read_text().splitlines() if not line.startswith("k1 ")]
    base.key_file.write_text("\n".join(kept) + "\n")
    new_ring = parse_keys(base.key_file.read_text())
    assert set(new_ring.keys) == {"k2"}
    base.store.ring = new_ring
    forget_unwrapped_keys()  # every data key is unwrapped again, with k2 alone

    after = stored_values(base.env["DATABASE_URL"])
    assert all(data_key_id_of(value) for table, _, value in after if table != "transaction"), \
        "every client value is under a client's data key"
    assert {key_id_of(value) for table, _, value in after if table == "transaction"} == {"k2"}, \
        "a value that is no client's is under the key file's new key"
    assert clear_values(after, new_ring, base.store) == base.expected, "nothing lost"
    engine = create_engine(base.env["DATABASE_URL"])
    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT id, data_key_id FROM client")).all())
        email = connection.execute(text("SELECT email FROM client WHERE id = 1")).scalar()
    engine.dispose()
    assert len(set(keys.values())) == DEMO_CLIENTS and None not in keys.values(), "each legacy card got a data key of its own"
    assert email is None or data_key_id_of(email) == keys[1]


def rotate_with(base: RotationBase, ring, **options) -> int:
    """``rotate`` as `crm keys rotate` runs it in the base's own app: its key store and key ring bound."""
    engine = create_engine(base.env["DATABASE_URL"])
    previous_store, previous_ring = key_store(), key_ring()
    bind_key_store(base.store)
    bind_key_ring(ring)
    try:
        return rotate(engine, encrypted_tables(Model.metadata), ring, **options)
    finally:
        bind_key_store(previous_store)
        bind_key_ring(previous_ring)
        engine.dispose()


def test_a_rotation_stopped_anywhere_leaves_every_value_readable_and_a_rerun_finishes_it(rotation_base):
    """The rotation and the re-wrap themselves, in this process (the quick test a slip in them fails first)."""
    base = rotation_base
    assert append_key(base.key_file, parse_keys(base.key_file.read_text())) == "k2"
    ring = parse_keys(base.key_file.read_text())
    base.store.ring = ring

    # a run stopped after its third batch leaves every value readable
    batches = []

    def stop_after_three(size):
        batches.append(size)
        if len(batches) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate_with(base, ring, batch_size=7, progress=stop_after_three)
    assert batches == [7, 7, 7]
    assert clear_values(stored_values(base.env["DATABASE_URL"]), ring, base.store) == base.expected

    # so is a re-wrap of the data keys stopped after its first batch
    def stop_after_one(size):
        raise Interrupted

    masters = wrapped_under(base.store)
    with pytest.raises(Interrupted):
        base.store.rewrap(ring, batch_size=7, progress=stop_after_one)
    forget_unwrapped_keys()
    masters_after = wrapped_under(base.store)
    moved = {key for key in masters if masters_after[key] != masters[key]}
    # the first batch of seven keys, those of them still under k1 (the interrupted rotation made some under k2)
    assert 0 < len(moved) <= 7 and {(masters[key], masters_after[key]) for key in moved} == {("k1", "k2")}
    assert "k1" in masters_after.values(), "the rest waits for the next run"
    assert clear_values(stored_values(base.env["DATABASE_URL"]), ring, base.store) == base.expected

    # a value of a column that just became encrypted is still in clear: the rotation encrypts it
    engine = create_engine(base.env["DATABASE_URL"])
    with engine.begin() as connection:
        first = connection.execute(text('SELECT MIN(id) FROM "transaction"')).scalar()
        in_clear = f"203.0.113.{first % 250}"
        connection.execute(text('UPDATE "transaction" SET remote_addr = :value WHERE id = :id'), {"value": in_clear, "id": first})
    engine.dispose()

    # run again, they finish: every data key under k2, only the legacy cards' values re-encrypted
    assert base.store.rewrap(ring, batch_size=7) + len(moved) == sum(m == "k1" for m in masters.values())
    assert set(wrapped_under(base.store).values()) == {"k2"}
    rewritten = rotate_with(base, ring, batch_size=7)
    assert 0 < rewritten < len(base.before) / 3, "only the ten cards from before per-client keys are re-encrypted"
    assert in_clear not in [value for _, _, value in stored_values(base.env["DATABASE_URL"])]
    assert (base.store.rewrap(ring), rotate_with(base, ring)) == (0, 0), "a third run finds nothing left to do"
    only_the_new_key_reads_everything(base)


def test_the_keys_commands_add_a_key_rotate_to_it_and_the_app_reads_with_it_alone(rotation_base):
    base = rotation_base
    added = run_flask(["crm", "keys", "add"], base.env)
    assert added.returncode == 0 and "Dodano klucz 'k2'" in added.stdout
    base.store.ring = parse_keys(base.key_file.read_text())

    rotated = run_flask(["crm", "keys", "rotate", "--batch-size", "7"], base.env)
    assert rotated.returncode == 0, rotated.stderr
    rewrapped = int(re.search(r"Klucze danych opakowane ponownie kluczem 'k2': (\d+)", rotated.stdout).group(1))
    rewritten = int(re.search(r"Zaszyfrowano ponownie (\d+) wartości", rotated.stdout).group(1))
    assert rewrapped == DEMO_CLIENTS, "the data keys are re-wrapped, not the values under them"
    assert 0 < rewritten < len(base.before) / 3, "only the ten cards from before per-client keys are re-encrypted"
    again = run_flask(["crm", "keys", "rotate"], base.env)
    assert "opakowane ponownie kluczem 'k2': 0." in again.stdout and "Zaszyfrowano ponownie 0 wartości" in again.stdout, \
        "a second run finds nothing left to do"

    only_the_new_key_reads_everything(base)
    base.store.dispose()
    # the app starts and reads with the new key alone
    assert run_flask(["crm", "has-clients"], base.env).returncode == 0
