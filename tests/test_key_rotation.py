"""Key rotation through the real command: rotate, drop the old key, read everything back."""

from __future__ import annotations

import re

import pytest
from flask_appbuilder import Model
from sqlalchemy import create_engine, text

from crm.privacy.crypto import decrypt, key_id_of
from crm.privacy.keys import parse_keys, write_new_key_file
from crm.privacy.rotation import encrypted_tables, rotate
from tests.test_cli import run_flask


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


def clear_values(values, ring):
    return sorted((table, column, decrypt(value, f"{table}.{column}", ring)) for table, column, value in values)


class Interrupted(Exception):
    pass


def test_rotation_re_encrypts_everything_and_the_old_key_can_go(app, databases, tmp_path):
    key_file = tmp_path / "keys"
    write_new_key_file(key_file)
    first_ring = parse_keys(key_file.read_text())
    env = {
        "DATABASE_URL": databases.new(),
        "SECRET_KEY": "rotation-test-secret-0123456789abcdef012345",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_KEY_FILE": str(key_file),
    }
    assert run_flask(["crm", "init"], env).returncode == 0
    assert run_flask(["crm", "demo", "--clients", "60"], env).returncode == 0
    before = stored_values(env["DATABASE_URL"])
    assert len(before) > 500 and {key_id_of(value) for _, _, value in before} == {"k1"}

    added = run_flask(["crm", "keys", "add"], env)
    assert added.returncode == 0 and "Dodano klucz 'k2'" in added.stdout

    # a run stopped after its third batch leaves every value readable
    batches = []

    def stop_after_three(size):
        batches.append(size)
        if len(batches) == 3:
            raise Interrupted

    engine = create_engine(env["DATABASE_URL"])
    with pytest.raises(Interrupted):
        rotate(engine, encrypted_tables(Model.metadata), parse_keys(key_file.read_text()), batch_size=7, progress=stop_after_three)
    engine.dispose()
    halfway = stored_values(env["DATABASE_URL"])
    assert {key_id_of(value) for _, _, value in halfway} == {"k1", "k2"}

    rotated = run_flask(["crm", "keys", "rotate", "--batch-size", "7"], env)
    assert rotated.returncode == 0, rotated.stderr
    rewritten = int(re.search(r"Zaszyfrowano ponownie (\d+) wartości kluczem 'k2'", rotated.stdout).group(1))
    assert 0 < rewritten < len(before)
    again = run_flask(["crm", "keys", "rotate"], env)
    assert "Zaszyfrowano ponownie 0 wartości" in again.stdout, "a second run finds nothing left to do"

    kept = [line for line in key_file.read_text().splitlines() if not line.startswith("k1 ")]
    key_file.write_text("\n".join(kept) + "\n")
    new_ring = parse_keys(key_file.read_text())
    assert set(new_ring.keys) == {"k2"}

    after = stored_values(env["DATABASE_URL"])
    assert {key_id_of(value) for _, _, value in after} == {"k2"}
    assert clear_values(after, new_ring) == clear_values(before, first_ring), "nothing lost"
    # the app starts and reads with the new key alone
    assert run_flask(["crm", "has-clients"], env).returncode == 0
