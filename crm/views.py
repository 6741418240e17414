"""Every screen, API and menu entry of Kartoteka, registered in one place."""

from __future__ import annotations

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_babel import refresh
from flask_appbuilder import IndexView, expose
from flask_babel import lazy_gettext as _l

from crm.accountability import reads
from crm.accountability.views import ProcessingActivityModelView, ReadLogView
from crm.breaches.views import BreachModelView
from crm.public.views import PublicView
from crm.apidocs import OpenApi, SwaggerView
from crm.clients.choices import label_of
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.extensions import db
from crm.gdpr.choices import REQUEST_KIND_LABELS
from crm.home import home_of
from crm.navigation import back_to_start
from crm.attributes.views import AttributeDefinitionModelView, BuiltInFieldsView
from crm.clients.api import ClientApi
from crm.clients.views import ClientModelView, ContactPersonModelView, NoteModelView
from crm.gdpr.views import (
    ConsentModelView,
    DataSubjectRequestModelView,
    GdprApi,
    GdprEventModelView,
    GdprView,
    RestrictionModelView,
)
from crm.history.views import ClientHistoryView, RecentChangesView
from crm.imports.views import ImportView
from crm.jobs.views import JobView
from crm.mailing.views import MailingListModelView, SubscriptionModelView
from crm.privacy.views import PersonalDataView
from crm.security.matrix_views import PermissionChangeModelView, RoleMatrixView
from crm.security.views import (
    LoginEventModelView,
    MyLoginsView,
    RequestPasswordChangeView,
    RoleSecurityPolicyView,
    TwoFactorView,
)


class HomeView(IndexView):
    """The start page: my cards, requests assigned to me, recent changes, as far as the role opens them."""

    index_template = "crm/home.html"
    place_title = _l("Start page")

    @expose("/")
    def index(self):
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated:
            return redirect(url_for(f"{self.appbuilder.sm.auth_view.endpoint}.login"))
        home = home_of(db.session, user, self.appbuilder.sm.has_access)
        reads.note("list", home.cards_shown(), reads.masks_for_reader(Client))
        return self.render_template(
            self.index_template, appbuilder=self.appbuilder,
            home=home,
            card_name=card_name, request_kind=lambda key: label_of(REQUEST_KIND_LABELS, key),
        )


def switch_language(locale):
    """FAB's language switch, staying on the page it was chosen on (FAB goes to its page history's previous page)."""
    if locale not in current_app.appbuilder.bm.languages:
        abort(404)
    session["locale"] = locale
    refresh()
    return back_to_start(url_for("HomeView.index"))


def register_views(appbuilder) -> None:
    """Add every view, API and menu entry; the names are permission keys."""
    clients = {"category": "Clients", "category_label": _l("Clients"), "category_icon": "fa-address-card"}
    appbuilder.add_view(
        ClientModelView, "Client cards", label=_l("Client cards"), icon="fa-address-card", **clients
    )
    appbuilder.add_view(
        ContactPersonModelView, "Contact persons", label=_l("Contact persons"), icon="fa-user", **clients
    )
    appbuilder.add_view(
        NoteModelView, "Notes and activities", label=_l("Notes and activities"), icon="fa-sticky-note", **clients
    )
    appbuilder.add_view(ImportView, "Import clients", label=_l("Import clients"), icon="fa-upload", **clients)
    appbuilder.add_view_no_menu(JobView)
    appbuilder.add_view(
        AttributeDefinitionModelView, "Attributes of the card", label=_l("Attributes of the card"), icon="fa-tags",
        **clients,
    )
    appbuilder.add_view(
        BuiltInFieldsView, "Built-in fields", label=_l("Built-in fields"), icon="fa-eye-slash", **clients
    )
    appbuilder.add_view(
        RecentChangesView, "Recent changes", label=_l("Recent changes"), icon="fa-history", **clients
    )
    appbuilder.add_view_no_menu(ClientHistoryView)
    mailing = {"category": "Mailing", "category_label": _l("Mailing"), "category_icon": "fa-envelope"}
    appbuilder.add_view(
        MailingListModelView, "Mailing lists", label=_l("Mailing lists"), icon="fa-list", **mailing
    )
    appbuilder.add_view(
        SubscriptionModelView, "Subscriptions", label=_l("Subscriptions"), icon="fa-check-square", **mailing
    )
    gdpr = {"category": "Data protection", "category_label": _l("Data protection"), "category_icon": "fa-shield"}
    appbuilder.add_view(GdprView, "GDPR deadlines", label=_l("GDPR deadlines"), icon="fa-calendar", **gdpr)
    appbuilder.add_view(
        DataSubjectRequestModelView, "Data-subject requests", label=_l("Data-subject requests"), icon="fa-inbox", **gdpr
    )
    appbuilder.add_view(
        ConsentModelView, "Consents and lawful bases", label=_l("Consents and lawful bases"), icon="fa-check", **gdpr
    )
    appbuilder.add_view(
        RestrictionModelView, "Restrictions of processing", label=_l("Restrictions of processing"), icon="fa-ban", **gdpr
    )
    appbuilder.add_view(
        GdprEventModelView, "Exports and erasures", label=_l("Exports and erasures"), icon="fa-list-alt", **gdpr
    )
    appbuilder.add_view(
        ReadLogView, "Read-access log", label=_l("Read-access log"), icon="fa-eye", **gdpr
    )
    appbuilder.add_view(
        ProcessingActivityModelView, "Record of processing activities", label=_l("Record of processing activities"),
        icon="fa-book", **gdpr
    )
    appbuilder.add_view(
        BreachModelView, "Data breaches", label=_l("Data breaches"), icon="fa-exclamation-triangle", **gdpr
    )
    appbuilder.add_link(
        "Retention", href="/gdpr/retention", label=_l("Retention"), icon="fa-hourglass-end", category="Data protection",
    )
    appbuilder.add_api(GdprApi)
    appbuilder.add_view(
        PersonalDataView,
        "Personal data held",
        label=_l("Personal data held"),
        icon="fa-user-secret",
        category="Data protection",
        category_label=_l("Data protection"),
        category_icon="fa-shield",
    )
    appbuilder.add_view(
        LoginEventModelView, "Login history", label=_l("Login history"), icon="fa-history",
        category="Security", category_label=_l("Security"),
    )
    appbuilder.add_view(
        RequestPasswordChangeView, "Ask for a password change", label=_l("Ask for a password change"),
        icon="fa-key", category="Security", category_label=_l("Security"),
    )
    appbuilder.add_view(
        RoleSecurityPolicyView, "Two-factor login per role", label=_l("Two-factor login per role"),
        icon="fa-mobile", category="Security", category_label=_l("Security"),
    )
    appbuilder.add_view(
        RoleMatrixView, "Roles and permissions", label=_l("Roles and permissions"), icon="fa-th",
        category="Security", category_label=_l("Security"),
    )
    appbuilder.add_view(
        PermissionChangeModelView, "Permission changes", label=_l("Permission changes"), icon="fa-list-alt",
        category="Security", category_label=_l("Security"),
    )
    appbuilder.add_view_no_menu(TwoFactorView)
    appbuilder.add_view(
        MyLoginsView, "My logins", label=_l("My logins"), icon="fa-sign-in",
        category="My account", category_label=_l("My account"), category_icon="fa-user",
    )
    appbuilder.add_link(
        "Change my password", href="/resetmypassword/form", label=_l("Change my password"),
        icon="fa-key", category="My account",
    )
    appbuilder.add_link(
        "Two-factor login", href="/two-factor/setup", label=_l("Two-factor login"),
        icon="fa-mobile", category="My account",
    )
    appbuilder.add_api(ClientApi)
    appbuilder.add_api(OpenApi)
    appbuilder.add_view_no_menu(SwaggerView)
    appbuilder.add_view_no_menu(PublicView)
    current_app.view_functions["LocaleView.index"] = switch_language
