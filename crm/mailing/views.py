"""Generated screens of mailing lists and subscriptions."""

from __future__ import annotations

from flask import Response, abort, url_for
from flask_appbuilder import expose, has_access, permission_name
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired

from crm.mailing import service
from crm.mailing.choices import SUBSCRIPTION_LABELS, SUBSCRIPTION_SOURCE_LABELS
from crm.clients.choices import label_of
from crm.clients.labels import CLIENT_LABELS
from crm.extensions import db
from crm.mailing.models import MailingList, Subscription
from crm.modelviews import CardRowView, VersionedModelView
from crm.privacy.filters import PrivacyAwareInterface


def _source_field():
    return SelectField(
        _l("Source"),
        choices=list(SUBSCRIPTION_SOURCE_LABELS.items()),
        validators=[DataRequired()],
        widget=Select2Widget(),
    )


class SubscriptionModelView(CardRowView):
    """Subscriptions of clients to lists, also a tab of the client card."""

    datamodel = PrivacyAwareInterface(Subscription)
    list_title = _l("Subscriptions")
    show_title = _l("Subscription")
    add_title = _l("Add subscription")
    edit_title = _l("Edit subscription")
    label_columns = SUBSCRIPTION_LABELS
    list_columns = ["mailing_list", "client", "subscribed_at", "source"]
    show_columns = list_columns
    add_columns = ["client", "mailing_list", "source"]
    # a record stays on the card it was added to (and a select of every client would not scale)
    edit_columns = [column for column in add_columns if column != "client"]
    search_columns = ["mailing_list", "source", "subscribed_at"]
    order_columns = ["subscribed_at", "source"]
    base_order = ("subscribed_at", "desc")
    formatters_columns = {"source": lambda key: label_of(SUBSCRIPTION_SOURCE_LABELS, key)}
    add_form_extra_fields = {"source": _source_field()}
    edit_form_extra_fields = {"source": _source_field()}
    add_from_parent = "client"

    def pre_add(self, item):
        service.refuse_duplicate(item)
        service.require_basis(item)

    def pre_update(self, item):
        super().pre_update(item)
        service.refuse_duplicate(item)


UNSUBSCRIBE_HEADER_LABEL = _l("List-Unsubscribe header")
UNSUBSCRIBE_POST_HEADER_LABEL = _l("List-Unsubscribe-Post header")


class MailingListModelView(VersionedModelView):
    """Mailing lists, with their subscribers as a tab."""

    datamodel = PrivacyAwareInterface(MailingList)
    list_title = _l("Mailing lists")
    show_title = _l("Mailing list")
    add_title = _l("Add mailing list")
    edit_title = _l("Edit mailing list")
    label_columns = {
        "name": _l("Name"),
        "description": _l("Description"),
        "created_at": _l("Created at"),
    }
    list_columns = ["name", "description", "created_at"]
    show_columns = list_columns
    add_columns = ["name", "description"]
    edit_columns = add_columns
    search_columns = ["name"]
    order_columns = ["name", "created_at"]
    related_views = [SubscriptionModelView]

    def show_extra(self, pk, item) -> dict:
        if not self.appbuilder.sm.has_access("can_export_subscribers", self.class_permission_name):
            return {}
        return {"page_actions": [(
            url_for(f"{self.endpoint}.export_subscribers", pk=pk), _l("Subscribers for a mailing tool (CSV)"),
            "fa-download", "export-subscribers",
        )]}

    @expose("/<int:pk>/subscribers.csv")
    @has_access
    @permission_name("export_subscribers")
    def export_subscribers(self, pk):
        """The list's subscribers one may write to today (an email, a basis, no restriction), for a mailing tool.

        Names and emails are in clear: the capability requires seeing both (crm.security.capabilities).
        """
        from crm.imports.views import export_rows

        if self.datamodel.get(pk) is None:
            abort(404)
        from crm.public.views import unsubscribe_link

        columns = [
            lambda row: row[0].email, lambda row: row[0].first_name, lambda row: row[0].last_name,
            lambda row: row[0].company_name, lambda row: row[1],
            # RFC 8058 one-click unsubscribe: the mailing tool sends these two headers with each message
            lambda row: f"<{unsubscribe_link(row[2], row[0].id, pk)}>", lambda row: "List-Unsubscribe=One-Click",
        ]
        labels = [CLIENT_LABELS["email"], CLIENT_LABELS["first_name"], CLIENT_LABELS["last_name"],
                  CLIENT_LABELS["company_name"], SUBSCRIPTION_LABELS["subscribed_at"],
                  UNSUBSCRIBE_HEADER_LABEL, UNSUBSCRIBE_POST_HEADER_LABEL]
        body, mimetype = export_rows(
            "csv", service.writable_subscribers(db.session, pk), columns, labels, card_of=lambda row: row[0].id
        )
        return Response(body, mimetype=mimetype, headers={
            "Content-Disposition": f"attachment; filename=kartoteka-lista-{pk}.csv",
        })
