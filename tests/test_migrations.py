"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model


def test_migrated_database_matches_the_models(app):
    from crm.extensions import db

    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Model.metadata)
        db.session.remove()
    assert differences == [], "run `flask db migrate` and commit the new migration"
