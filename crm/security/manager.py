"""Kartoteka's security manager (FAB's, extended where FAB's defaults fall short)."""

from flask_appbuilder.security.sqla.manager import SecurityManager

from crm.security import views


class KartotekaSecurityManager(SecurityManager):
    """FAB's database-backed security manager with Kartoteka's security screens.

    Later hardening (password policy, lockout, login history) hooks in here,
    through ``auth_user_db`` and the ``on_user_login*`` hooks.
    """

    userdbmodelview = views.UserDBModelView
    rolemodelview = views.RoleModelView
    groupmodelview = views.UserGroupModelView
    permissionmodelview = views.PermissionModelView
    viewmenumodelview = views.ViewMenuModelView
    permissionviewmodelview = views.PermissionViewModelView
    #: FAB's login-count chart answers 500 to a malformed group index; the
    #: login history replaces it.
    userstatschartview = None
