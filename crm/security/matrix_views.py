"""The role x permission matrix screen and the record of its changes."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access, permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from crm.extensions import db
from crm.modelviews import NoFileDownload, PostedSearch, RequestFilters, ShownColumns, blank_if_none
from crm.privacy.filters import PrivacyAwareInterface
from crm.security import matrix
from crm.security.capabilities import AREAS, BY_KEY, CAPABILITIES
from crm.security.models import PermissionChange
from crm.security.roles import label_of_role

CHANGE_KIND_LABELS = {
    "cell": _l("Permission"),
    "role_created": _l("Role added"),
    "role_cloned": _l("Role cloned"),
    "role_renamed": _l("Role renamed"),
}
CELL_LABELS = {"yes": _l("granted"), "no": _l("not granted")}


def parse_cells(form) -> dict[int, set[str]]:
    """The ticked capabilities of every role the form showed; raises MatrixError for a forged form."""
    try:
        ticked = {int(role_id): set() for role_id in form.getlist("role")}
        for cell in form.getlist("cell"):
            role_id, key = cell.split(":", 1)
            ticked[int(role_id)].add(key)
    except (ValueError, KeyError):
        raise matrix.MatrixError(matrix.UNKNOWN_CELL_MESSAGE) from None
    return ticked


def _optional_id(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise matrix.MatrixError(matrix.UNKNOWN_ROLE_MESSAGE, status=404) from None


class RoleMatrixView(BaseView):
    """Roles as columns, capabilities as rows grouped by area; one save for all cells."""

    route_base = "/permissions"
    default_view = "show"
    template = "security/role_matrix.html"

    def _render(self, status: int = 200):
        columns = matrix.read_matrix(db.session)
        areas = [(area, [c for c in CAPABILITIES if c.area == area]) for area in AREAS]
        return (
            self.render_template(
                self.template,
                title=_l("Roles and permissions"),
                columns=columns,
                areas=areas,
                stamp=matrix.stamp(columns),
            ),
            status,
        )

    def _refused(self, error: matrix.MatrixError):
        db.session.rollback()
        flash(str(error), "danger")
        return self._render(error.status)

    @expose("/", methods=["GET"])
    @has_access
    @permission_name("show")
    def show(self):
        return self._render()

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("edit")
    def save(self):
        try:
            changed = matrix.save_matrix(db.session, parse_cells(request.form), request.form.get("stamp", ""), g.user)
        except matrix.MatrixError as error:
            return self._refused(error)
        flash(gettext("Saved: %(count)d permissions changed.", count=changed), "success")
        return redirect(url_for(f"{self.endpoint}.show"))

    @expose("/add", methods=["POST"])
    @has_access
    @permission_name("edit")
    def add(self):
        try:
            role = matrix.add_role(
                db.session, request.form.get("name", ""), g.user, clone_of=_optional_id(request.form.get("clone_of"))
            )
        except matrix.MatrixError as error:
            return self._refused(error)
        flash(gettext("Role \u201c%(name)s\u201d added.", name=role.name), "success")
        return redirect(url_for(f"{self.endpoint}.show"))

    @expose("/<int:pk>/rename", methods=["POST"])
    @has_access
    @permission_name("edit")
    def rename(self, pk):
        try:
            role = matrix.rename_role(db.session, pk, request.form.get("name", ""), g.user)
        except matrix.MatrixError as error:
            return self._refused(error)
        flash(gettext("Role renamed to \u201c%(name)s\u201d.", name=role.name), "success")
        return redirect(url_for(f"{self.endpoint}.show"))


def _capability_label(key):
    capability = BY_KEY.get(key)
    # an empty value never reaches a formatter (blank_if_none); the record keeps a retired capability's
    # key, which is code, not words, on a page in the user's language
    return str(capability.label) if capability else gettext("A permission no longer offered")


class PermissionChangeModelView(RequestFilters, NoFileDownload, ShownColumns, PostedSearch, ModelView):
    """Who changed which cell of the matrix from what to what, when; read only."""

    datamodel = PrivacyAwareInterface(PermissionChange)
    base_permissions = ["can_list", "can_show"]
    list_title = _l("Permission changes")
    show_title = _l("Permission change")
    label_columns = {
        "changed_at": _l("Time"),
        "changed_by": _l("Changed by"),
        "role_name": _l("Role"),
        "kind": _l("Change"),
        "capability": _l("Permission"),
        "before": _l("Before"),
        "after": _l("After"),
        "automatic": _l("Default applied by the system"),
    }
    list_columns = ["changed_at", "changed_by", "role_name", "kind", "capability", "before", "after", "automatic"]
    show_columns = list_columns
    search_columns = ["role_name", "changed_by", "kind", "capability", "changed_at", "automatic"]
    order_columns = ["changed_at", "role_name"]
    base_order = ("changed_at", "desc")
    page_size = 50
    formatters_columns = {
        "kind": lambda key: str(CHANGE_KIND_LABELS.get(key, key)),
        "capability": _capability_label,
        "role_name": label_of_role,
        # a cell's yes/no, or the role a clone came from
        "before": blank_if_none(lambda value: str(CELL_LABELS.get(value) or label_of_role(value))),
        "after": blank_if_none(lambda value: str(CELL_LABELS.get(value) or label_of_role(value))),
        "changed_by": lambda user: str(user) if user else gettext("system"),
    }
