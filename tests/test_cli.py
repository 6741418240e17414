"""The ``flask crm`` commands, run as a user runs them: a real ``flask`` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from config import TEST_ENCRYPTION_KEYS
from crm.clients.validation import is_valid_nip, is_valid_pesel
from crm.privacy.crypto import decrypt
from crm.privacy.keystore import KeyStore
from crm.privacy.keys import parse_keys

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "app"]


def run_flask(args, env_overrides, input_text=None):
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "SECRET_KEY", "FLASK_DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [*FLASK, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=300,
    )


@pytest.fixture()
def fresh_env(databases, tmp_path):
    """Settings of a production-like process on an empty database."""
    return {
        "DATABASE_URL": databases.new(),
        "SECRET_KEY": "cli-test-secret-0123456789abcdef0123456789",
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }


def first_admin(env) -> list[tuple]:
    """Each account with its role: user name, names, email, role, whether it must change its password."""
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [(*row[:5], bool(row[5])) for row in connection.execute(text(
                "SELECT u.username, u.first_name, u.last_name, u.email, r.name, s.must_change_password FROM ab_user u "
                "JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id "
                "JOIN account_state s ON s.user_id = u.id"))]
    finally:
        engine.dispose()


def execute(url, *statements):
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for sql in statements:
                connection.execute(text(sql))
    finally:
        engine.dispose()


def count(url, sql):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_init_creates_schema_roles_and_prints_generated_admin_password_once(fresh_env):
    first = run_flask(["crm", "init"], fresh_env)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "ERROR" not in first.stderr, first.stderr
    match = re.search(r"Utworzono administratora 'admin' z hasłem: (\S+)", first.stdout)
    assert match and len(match.group(1)) >= 20
    assert "Administrator (" in first.stdout and "Back office (" in first.stdout
    assert first_admin(fresh_env) == [("admin", "Administrator", "Kartoteka", "admin@kartoteka.invalid", "Administrator", True)], \
        "one account, an administrator, who replaces the password shown on the screen"

    # run again by a deployment script that passes a password: the administrator's stays
    second = run_flask(["crm", "init"], {**fresh_env, "CRM_ADMIN_PASSWORD": "Zielony-Kot-Pije-Mleko-2026"})
    assert second.returncode == 0, second.stderr
    assert match.group(1) not in second.stdout
    assert "Administrator 'admin' już istnieje; jego hasło nie zostało zmienione." in second.stdout, second.stdout
    roles = count(fresh_env["DATABASE_URL"], "SELECT count(*) FROM ab_role")
    assert roles == 6  # five built-in roles and Public
    assert count(fresh_env["DATABASE_URL"], "SELECT count(*) FROM ab_user") == 1

    # the office renamed its administrator and added a colleague: init names the administrator, adds none
    execute(fresh_env["DATABASE_URL"],
            "UPDATE ab_user SET username = 'szef' WHERE username = 'admin'",
            # FAB's models number accounts from a sequence of their own, not a column default
            "INSERT INTO ab_user (id, first_name, last_name, username, active, email) "
            "SELECT max(id) + 1, 'Jan', 'Kowalski', 'jan', true, 'jan@firma.pl' FROM ab_user")
    third = run_flask(["crm", "init"], fresh_env)
    assert third.returncode == 0 and "Administrator 'szef' jest gotowy." in third.stdout, third.stdout + third.stderr
    assert count(fresh_env["DATABASE_URL"], "SELECT count(*) FROM ab_user") == 2

    # nobody holds the role and the colleague took the name 'admin': init says what to do, adds nobody
    execute(fresh_env["DATABASE_URL"],
            "DELETE FROM ab_user_role WHERE user_id = (SELECT id FROM ab_user WHERE username = 'szef')",
            "UPDATE ab_user SET username = 'admin' WHERE username = 'jan'")
    fourth = run_flask(["crm", "init"], fresh_env)
    assert fourth.returncode == 1 and "Traceback" not in fourth.stderr, fourth.stderr
    assert "Żadne konto nie ma roli Administrator, a konto bez tej roli ma nazwę użytkownika 'admin'" in fourth.stderr
    assert count(fresh_env["DATABASE_URL"], "SELECT count(*) FROM ab_user") == 2


def test_init_takes_admin_password_from_environment_or_file(fresh_env, tmp_path):
    password_file = tmp_path / "admin-password"
    password_file.write_text("Pl1k-z-Hasłem-Długim\n", encoding="utf-8")  # passes the policy
    result = run_flask(["crm", "init", "--admin-password-file", str(password_file)],
                       {**fresh_env, "CRM_ADMIN_EMAIL": "it@firma.pl"})
    assert result.returncode == 0, result.stderr
    assert "Pl1k-z-Hasłem-Długim" not in result.stdout
    assert "z hasłem" not in result.stdout and "Administrator 'admin' jest gotowy." in result.stdout, result.stdout
    assert [row[3:] for row in first_admin(fresh_env)] == [("it@firma.pl", "Administrator", False)], \
        "the office's address, and a password chosen by the administrator stays"


def test_init_refuses_a_short_admin_password(fresh_env):
    result = run_flask(["crm", "init"], {**fresh_env, "CRM_ADMIN_PASSWORD": "abc"})
    assert result.returncode != 0
    assert "Użyj co najmniej 12 znaków." in result.stderr
    assert count(fresh_env["DATABASE_URL"], "SELECT count(*) FROM ab_user") == 0


def test_app_refuses_to_start_outside_debug_without_a_secret(fresh_env):
    env = {key: value for key, value in fresh_env.items() if key != "SECRET_KEY"}
    result = run_flask(["crm", "init"], env)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr or "ConfigurationError" in result.stderr


def test_app_refuses_to_start_outside_debug_without_encryption_keys(fresh_env):
    env = {key: value for key, value in fresh_env.items() if key != "CRM_ENCRYPTION_KEYS"}
    result = run_flask(["crm", "init"], env)
    assert result.returncode != 0
    assert "without encryption keys" in result.stderr and "CRM_ENCRYPTION_KEYS" in result.stderr


def test_demo_writes_valid_polish_clients_with_versions(fresh_env):
    assert run_flask(["crm", "init"], fresh_env).returncode == 0
    result = run_flask(["crm", "demo", "--clients", "120"], fresh_env)
    assert result.returncode == 0, result.stderr
    assert "Zapisano 120 klientów demonstracyjnych" in result.stdout
    url = fresh_env["DATABASE_URL"]
    assert count(url, "SELECT count(*) FROM client") == 120
    assert count(url, "SELECT count(*) FROM client_version WHERE operation_type = 0") == 120
    # CLI writes are the system's: no staff user, no remote address.
    assert count(url, 'SELECT count(*) FROM "transaction" WHERE user_id IS NOT NULL OR remote_addr IS NOT NULL') == 0
    engine = create_engine(url)
    columns = ("nip", "pesel", "first_name", "last_name", "company_name", "city")
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {', '.join(columns)} FROM client")).all()
    engine.dispose()
    ring = parse_keys(TEST_ENCRYPTION_KEYS)
    store = KeyStore(f"sqlite:///{fresh_env['INSTANCE_PATH']}/keystore.db", ring)
    clear = [
        {name: decrypt(value, f"client.{name}", ring, store) if value else None for name, value in zip(columns, row)}
        for row in rows
    ]
    store.dispose()
    assert all(is_valid_nip(row["nip"]) for row in clear if row["nip"])
    assert all(is_valid_pesel(row["pesel"]) for row in clear if row["pesel"])
    text_values = " ".join(str(value) for row in clear for value in row.values() if value)
    assert set("ąęłóśż") & set(text_values.lower())
