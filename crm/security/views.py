"""FAB's security screens, with the file-download route they do not need closed."""

from flask_appbuilder.security import views as fab

from crm.modelviews import NoFileDownload


class UserDBModelView(NoFileDownload, fab.UserDBModelView):
    """Staff accounts."""


class RoleModelView(NoFileDownload, fab.RoleModelView):
    """Roles."""


class UserGroupModelView(NoFileDownload, fab.UserGroupModelView):
    """Groups of staff accounts."""


class PermissionModelView(NoFileDownload, fab.PermissionModelView):
    """Base permissions."""


class ViewMenuModelView(NoFileDownload, fab.ViewMenuModelView):
    """Views and menus."""


class PermissionViewModelView(NoFileDownload, fab.PermissionViewModelView):
    """Permissions on views and menus."""
