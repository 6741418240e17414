"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model


def test_migrated_database_matches_the_models(app):
    from crm.constraints import built_on
    from crm.extensions import db

    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": built_on(connection.dialect.name)})
            differences = compare_metadata(context, Model.metadata)
        db.session.remove()
    assert differences == [], "run `flask db migrate` and commit the new migration"


def test_the_id_of_a_deleted_newest_card_is_never_given_again(app, db_session):
    """Else the next card would inherit the deleted card's versions in its history."""
    from crm.clients.models import Client

    def add(s):
        client = Client(kind="company", company_name="Ostatnia karta")
        s.add(client)
        s.commit()
        return client.id

    deleted = db_session(add)

    def delete(s):
        s.delete(s.get(Client, deleted))
        s.commit()

    db_session(delete)
    assert db_session(add) > deleted


def test_upgrading_an_embedded_database_keeps_every_row(tmp_path):
    """0006 rebuilds SQLite tables for AUTOINCREMENT; rows and their children must survive."""
    import sqlite3

    from tests.test_cli import run_flask
    from config import TEST_ENCRYPTION_KEYS

    database = tmp_path / "old.db"
    env = {
        "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "migration-test-secret-0123456789abcdef",
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS, "INSTANCE_PATH": str(tmp_path),
    }
    assert run_flask(["db", "upgrade", "0005"], env).returncode == 0
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO client (id, kind, country, status, created_at, updated_at, lock_version) "
                           "VALUES (7, 'company', 'PL', 'lead', '2026-01-01', '2026-01-01', 1)")
        connection.execute("INSERT INTO note (id, client_id, kind, occurred_on, text, created_at, lock_version) "
                           "VALUES (3, 7, 'note', '2026-01-01', 'x', '2026-01-01', 1)")
    result = run_flask(["db", "upgrade"], env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT id FROM client").fetchall() == [(7,)]
        assert connection.execute("SELECT id, client_id FROM note").fetchall() == [(3, 7)]
        assert "AUTOINCREMENT" in connection.execute("SELECT sql FROM sqlite_master WHERE name = 'client'").fetchone()[0]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
