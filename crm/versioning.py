"""SQLAlchemy-Continuum set-up; imported before any versioned model is defined.

Each transaction records the acting staff user and the remote address. FAB sets
``g.user`` for cookie, JWT and API-key requests alike, so writes through the
REST API are attributed too; CLI writes carry no user ("system").
"""

from flask import g, has_request_context, request
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import event, update
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.orm import Session
from sqlalchemy_continuum import make_versioned, versioning_manager
from sqlalchemy_continuum.operation import Operation
from sqlalchemy_continuum.plugins import FlaskPlugin
from sqlalchemy_continuum.unit_of_work import UnitOfWork


def current_staff_user_id() -> int | None:
    """The id of the authenticated staff user of this request, if any."""
    if not has_request_context():
        return None
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.id


def current_remote_addr() -> str | None:
    """The client address of this request (ProxyFix applied where configured)."""
    return request.remote_addr if has_request_context() else None


make_versioned(
    user_cls=User,
    plugins=[
        FlaskPlugin(
            current_user_id_factory=current_staff_user_id,
            remote_addr_factory=current_remote_addr,
        )
    ],
)


class NewRowsUnitOfWork(UnitOfWork):
    """Continuum's unit of work, without looking for an earlier version of a row the database just numbered.

    With the validity strategy Continuum queries, for every version it writes,
    the version it ends. A row whose id the database has just generated has
    none: ids are never reused (sequences; AUTOINCREMENT on SQLite). Skipping
    that query makes bulk inserts (imports, demo data) several times faster.
    A row inserted with a chosen id (a restored row) is looked up as before.
    An earlier version is closed by one UPDATE instead of being loaded first.
    """

    def update_version_validity(self, parent, version_obj):
        if version_obj.operation_type == Operation.INSERT and getattr(parent, "_kartoteka_new_id", False):
            return
        mapper = sqlalchemy_inspect(version_obj).mapper
        if mapper.inherits is not None:
            super().update_version_validity(parent, version_obj)
            return
        # Continuum loads the previous version (decrypting it) to set its end; one
        # UPDATE does the same: the open version is the only one without an end.
        table = mapper.local_table
        transaction_id = self.current_transaction.id
        keys = [column for column in table.primary_key.columns if column.name != "transaction_id"]
        sqlalchemy_inspect(version_obj).session.execute(
            update(table)
            .where(*[column == getattr(version_obj, column.key) for column in keys])
            .where(table.c.end_transaction_id.is_(None), table.c.transaction_id < transaction_id)
            .values(end_transaction_id=transaction_id)
        )


@event.listens_for(Session, "before_flush")
def _mark_rows_the_database_numbers(session, flush_context, instances):
    for row in session.new:
        mapper = sqlalchemy_inspect(row).mapper
        if hasattr(mapper.class_, "__versioned__") and all(
            getattr(row, column.key, None) is None for column in mapper.primary_key
        ):
            row._kartoteka_new_id = True


versioning_manager.uow_class = NewRowsUnitOfWork
