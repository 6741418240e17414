"""Operations on roles and accounts: converging built-in roles, the first admin."""

from __future__ import annotations

import logging
import secrets

from flask import current_app

from crm.extensions import appbuilder, db
from crm.security.roles import ADMINISTRATOR, BUILTIN_ROLES

log = logging.getLogger(__name__)

FIRST_ADMIN_USERNAME = "admin"


def ensure_builtin_roles() -> None:
    """Create any missing built-in role (before FAB grants new permissions to its admin)."""
    sm = appbuilder.sm
    for name in (ADMINISTRATOR, *BUILTIN_ROLES):
        if sm.find_role(name) is None:
            sm.add_role(name)


def converge_builtin_roles() -> dict[str, int]:
    """Give each built-in role exactly its declared permissions; Administrator gets all.

    Returns the number of permissions each role holds afterwards.
    """
    sm = appbuilder.sm
    ensure_builtin_roles()
    counts: dict[str, int] = {}
    for name, pairs in BUILTIN_ROLES.items():
        role = sm.find_role(name)
        role.permissions = [sm.add_permission_view_menu(permission, view) for permission, view in sorted(pairs)]
    admin = sm.find_role(ADMINISTRATOR)
    admin.permissions = list(db.session.scalars(db.select(sm.permissionview_model)))
    db.session.commit()
    for name in (ADMINISTRATOR, *BUILTIN_ROLES):
        counts[name] = len(sm.find_role(name).permissions)
    log.info("built-in roles converged: %s", counts)
    return counts


def generate_password() -> str:
    """A random password of 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


def create_first_admin(password: str | None = None) -> tuple[object, str | None]:
    """Create the first administrator unless one exists.

    Returns the user and the password when it was generated here (to be shown
    once), or ``(existing_admin, None)`` when an administrator already exists.
    """
    sm = appbuilder.sm
    admin_role = sm.find_role(ADMINISTRATOR)
    existing = sm.find_user(username=FIRST_ADMIN_USERNAME)
    if existing is not None:
        return existing, None
    for user in db.session.scalars(db.select(sm.user_model)):
        if admin_role in user.roles:
            return user, None
    generated = password is None
    password = password or generate_password()
    user = sm.add_user(
        username=FIRST_ADMIN_USERNAME,
        first_name="Administrator",
        last_name="Kartoteka",
        email=current_app.config.get("CRM_ADMIN_EMAIL", "admin@kartoteka.invalid"),
        role=admin_role,
        password=password,
    )
    if not user:
        raise RuntimeError("The first administrator could not be created.")
    return user, password if generated else None
