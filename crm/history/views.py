"""Screens of a card's history (timeline, comparison, restore) and of recent changes."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from crm.accountability import reads
from crm.arguments import BAD_ARGUMENT_MESSAGE, choice_arg, date_arg, int_arg
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.errors import refusal
from crm.extensions import appbuilder, db
from crm.history import service

PER_PAGE = 20


def _card_title(client_id: int) -> str:
    client = db.session.get(Client, client_id)
    if client is None:
        return gettext("card #%(id)s (deleted)", id=client_id)
    return card_name(client)


class ClientHistoryView(BaseView):
    """A card's timeline, the comparison of two of its versions, and restoring one."""

    route_base = "/history/client"
    default_view = "timeline"
    place_title = _l("History of the card")

    def _refuse(self, error: service.HistoryError, client_id: int):
        flash(str(error), "danger")
        if error.status == 404:
            abort(404)
        return redirect(url_for(f"{self.endpoint}.timeline", pk=client_id))

    @expose("/<int:pk>/")
    @has_access
    @permission_name("show")
    def timeline(self, pk):
        page = int_arg("page", 0)
        changes, total = service.timeline(db.session, pk, page=page, per_page=PER_PAGE)
        if total == 0:
            abort(404)
        reads.note("history", [pk], reads.masks_for_reader(Client))
        return self.render_template(
            "history/timeline.html",
            title=_l("History of the card"),
            card=_card_title(pk),
            client_id=pk,
            changes=changes,
            page=page,
            pages=(total + PER_PAGE - 1) // PER_PAGE,
            total=total,
            can_restore=appbuilder.sm.has_access("can_restore", self.class_permission_name),
            exists=db.session.get(Client, pk) is not None,
        )

    @expose("/<int:pk>/compare")
    @has_access
    @permission_name("show")
    def compare(self, pk):
        older, newer = int_arg("older"), int_arg("newer")
        if older is None or newer is None:
            flash(gettext("Choose two versions to compare."), "info")
            return redirect(url_for(f"{self.endpoint}.timeline", pk=pk))
        try:
            old, new, rows = service.compare(db.session, pk, older, newer)
        except service.HistoryError as error:
            return self._refuse(error, pk)
        reads.note("history", [pk], reads.masks_for_reader(Client))
        return self.render_template(
            "history/compare.html",
            title=_l("Two versions of the card"),
            card=_card_title(pk),
            client_id=pk,
            old=old,
            new=new,
            rows=rows,
        )

    @expose("/<int:pk>/restore", methods=["POST"])
    @has_access
    @permission_name("restore")
    def restore(self, pk):
        """First the comparison of the chosen version with the card as it is, then (confirmed) the restore."""
        version = request.form.get("version", "")
        if not version.isdigit() or int(version) > 2**62:
            raise refusal(400, BAD_ARGUMENT_MESSAGE)
        if request.form.get("confirm") != "yes":
            try:
                old, new, rows = service.restore_preview(db.session, pk, int(version))
            except service.HistoryError as error:
                return self._refuse(error, pk)
            reads.note("history", [pk], reads.masks_for_reader(Client))
            return self.render_template(
                "history/compare.html", title=_l("Restore an earlier version"), card=_card_title(pk), client_id=pk,
                old=old, new=new, rows=rows, restore_version=int(version),
            )
        try:
            changed = service.restore(db.session, pk, int(version), g.user)
        except service.HistoryError as error:
            return self._refuse(error, pk)
        flash(gettext("The card was restored to the chosen version (%(count)d records changed).", count=changed), "success")
        return redirect(url_for(f"{self.endpoint}.timeline", pk=pk))


class RecentChangesView(BaseView):
    """Changes to client cards across the base, filterable by who, when and what."""

    route_base = "/history/recent"
    default_view = "index"
    place_title = _l("Recent changes")

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        record_kind = choice_arg("record", service.RECORD_KIND_LABELS)
        change_kind = choice_arg("change", service.CHANGE_KIND_LABELS)
        wanted = service.RecentFilter(
            user_id=int_arg("user"),
            since=date_arg("since"),
            until=date_arg("until"),
            record_kind=record_kind,
            change_kind=change_kind,
        )
        page = int_arg("page", 0)
        changes, more = service.recent_changes(db.session, wanted, page=page)
        reads.note("history", [change.client_id for change in changes], reads.masks_for_reader(Client))
        staff = db.session.scalars(db.select(appbuilder.sm.user_model).order_by(appbuilder.sm.user_model.username))
        return self.render_template(
            "history/recent.html",
            title=_l("Recent changes"),
            changes=changes,
            more=more,
            page=page,
            wanted=wanted,
            staff=[(user.id, service.staff_name(user)) for user in staff],
            record_kinds=service.RECORD_KIND_LABELS,
            change_kinds=service.CHANGE_KIND_LABELS,
            args={key: value for key, value in request.args.items() if key != "page"},
        )
