"""Kartoteka's security manager (FAB's, extended where FAB's defaults fall short)."""

from flask_appbuilder.security.sqla.manager import SecurityManager


class KartotekaSecurityManager(SecurityManager):
    """FAB's database-backed security manager.

    Later hardening (password policy, lockout, login history) hooks in here,
    through ``auth_user_db`` and the ``on_user_login*`` hooks.
    """
