"""Key rotation through the real command: move to per-client keys, re-wrap, drop the old key, read everything back."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask_appbuilder import Model
from sqlalchemy import Text, create_engine, select, text, type_coerce, update

from crm.privacy import subjects
from crm.privacy.crypto import data_key_id_of, decrypt, encrypt, key_id_of
from crm.privacy.keys import parse_keys, write_new_key_file
from crm.privacy.keystore import KeyStore, bind_key_store, forget_unwrapped_keys, key_store, master_key_of
from crm.privacy.rotation import encrypted_tables, rotate
from tests.init_template import InitTemplate
from tests.test_cli import run_flask

DEMO_CLIENTS = 60


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


def test_rotation_moves_values_to_per_client_keys_re_wraps_them_and_the_old_key_can_go(app, databases, tmp_path):
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
    legacy = list(range(1, 11))
    make_legacy(env["DATABASE_URL"], store, first_ring, legacy)
    assert {key_id_of(value) for _, _, value in stored_values(env["DATABASE_URL"])} - {"k1"} != set()
    assert any(key_id_of(value) == "k1" for _, _, value in stored_values(env["DATABASE_URL"]))

    added = run_flask(["crm", "keys", "add"], env)
    assert added.returncode == 0 and "Dodano klucz 'k2'" in added.stdout
    ring = parse_keys(key_file.read_text())
    store.ring = ring

    # a run stopped after its third batch leaves every value readable
    batches = []

    def stop_after_three(size):
        batches.append(size)
        if len(batches) == 3:
            raise Interrupted

    engine = create_engine(env["DATABASE_URL"])
    previous = key_store()
    bind_key_store(store)
    try:
        with pytest.raises(Interrupted):
            rotate(engine, encrypted_tables(Model.metadata), ring, batch_size=7, progress=stop_after_three)
    finally:
        bind_key_store(previous)
    engine.dispose()
    assert clear_values(stored_values(env["DATABASE_URL"]), ring, store) == expected

    # so is a re-wrap of the data keys stopped after its first batch
    def stop_after_one(size):
        raise Interrupted

    masters = wrapped_under(store)
    with pytest.raises(Interrupted):
        store.rewrap(ring, batch_size=7, progress=stop_after_one)
    forget_unwrapped_keys()
    masters_after = wrapped_under(store)
    moved = {key for key in masters if masters_after[key] != masters[key]}
    # the first batch of seven keys, those of them still under k1 (the interrupted rotation made some under k2)
    assert 0 < len(moved) <= 7 and {(masters[key], masters_after[key]) for key in moved} == {("k1", "k2")}
    assert "k1" in masters_after.values(), "the rest waits for the next run"
    assert clear_values(stored_values(env["DATABASE_URL"]), ring, store) == expected

    rotated = run_flask(["crm", "keys", "rotate", "--batch-size", "7"], env)
    assert rotated.returncode == 0, rotated.stderr
    rewrapped = int(re.search(r"Klucze danych opakowane ponownie kluczem 'k2': (\d+)", rotated.stdout).group(1))
    rewritten = int(re.search(r"Zaszyfrowano ponownie (\d+) wartości", rotated.stdout).group(1))
    assert rewrapped >= 50, "the data keys still under k1 are re-wrapped, not the values under them"
    assert 0 < rewritten < len(before) / 3, "only the ten cards from before per-client keys are re-encrypted"
    again = run_flask(["crm", "keys", "rotate"], env)
    assert "opakowane ponownie kluczem 'k2': 0." in again.stdout and "Zaszyfrowano ponownie 0 wartości" in again.stdout, \
        "a second run finds nothing left to do"

    kept = [line for line in key_file.read_text().splitlines() if not line.startswith("k1 ")]
    key_file.write_text("\n".join(kept) + "\n")
    new_ring = parse_keys(key_file.read_text())
    assert set(new_ring.keys) == {"k2"}
    store.ring = new_ring
    forget_unwrapped_keys()  # every data key is unwrapped again, with k2 alone

    after = stored_values(env["DATABASE_URL"])
    assert all(data_key_id_of(value) for table, _, value in after if table != "transaction"), \
        "every client value is under a client's data key"
    assert {key_id_of(value) for table, _, value in after if table == "transaction"} == {"k2"}, \
        "a value that is no client's is under the key file's new key"
    assert clear_values(after, new_ring, store) == expected, "nothing lost"
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT id, data_key_id FROM client")).all())
        email = connection.execute(text("SELECT email FROM client WHERE id = 1")).scalar()
    engine.dispose()
    assert len(set(keys.values())) == DEMO_CLIENTS and None not in keys.values(), "each legacy card got a data key of its own"
    assert email is None or data_key_id_of(email) == keys[1]
    store.dispose()
    # the app starts and reads with the new key alone
    assert run_flask(["crm", "has-clients"], env).returncode == 0
