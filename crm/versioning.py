"""SQLAlchemy-Continuum set-up; imported before any versioned model is defined.

Each transaction records the acting staff user and the remote address. FAB sets
``g.user`` for cookie, JWT and API-key requests alike, so writes through the
REST API are attributed too; CLI writes carry no user ("system").
"""

from flask import g, has_request_context, request
from flask_appbuilder.security.sqla.models import User
from sqlalchemy_continuum import make_versioned
from sqlalchemy_continuum.plugins import FlaskPlugin


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
