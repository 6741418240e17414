"""Generated screens of mailing lists and subscriptions."""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from crm.privacy.filters import PrivacyAwareInterface
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired

from crm.mailing import service
from crm.mailing.choices import SUBSCRIPTION_LABELS, SUBSCRIPTION_SOURCE_LABELS
from crm.clients.choices import label_of
from crm.mailing.models import MailingList, Subscription
from crm.modelviews import CardRowView, VersionedModelView


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
