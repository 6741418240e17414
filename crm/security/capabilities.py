"""What a role may do, in plain language: the rows of the role x permission matrix.

A capability ("Edit clients") stands for the FAB (permission, view) pairs that
make it work on the screens, the REST API and the menu. The matrix ticks
capabilities; the database keeps FAB's pairs, so FAB's own checks
(``has_access``, ``protect``, the menu) read what the matrix saved.
Every pair the app registers belongs to a capability or to OWN_ACCOUNT (a test
fails otherwise), so nothing can be granted that the matrix does not show.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from crm.privacy import categories

#: The permission to see personal data of every category in clear.
SEE_PERSONAL_DATA = ("can_see", "PersonalData")


def category_pair(category) -> tuple[str, str]:
    """The permission to see one category of personal data in clear; without it (or SEE_PERSONAL_DATA) it is masked."""
    return ("can_see", f"PersonalData.{category.key}")

READ = ("can_list", "can_show")
API_READ = ("can_get", "can_info")


@dataclass(frozen=True)
class Area:
    key: str
    label: object


@dataclass(frozen=True)
class Capability:
    """One row of the matrix."""

    key: str
    area: Area
    label: object
    pairs: frozenset[tuple[str, str]]
    #: capabilities a role must also hold (editing a card shows its personal data)
    requires: tuple[str, ...] = ()

    @property
    def views(self) -> frozenset[tuple[str, str]]:
        """The pairs that are not menu entries (menus are shared between capabilities)."""
        return frozenset(pair for pair in self.pairs if pair[0] != "menu_access")


def _pairs(views: dict[str, tuple[str, ...]] | None = None, menus: tuple[str, ...] = ()) -> frozenset:  # pragma: no mutate block (runs at import or app creation)
    pairs = {(permission, view) for view, permissions in (views or {}).items() for permission in permissions}
    pairs |= {("menu_access", menu) for menu in menus}
    return frozenset(pairs)


CLIENTS = Area("clients", _l("Clients"))
ATTRIBUTES = Area("attributes", _l("Attributes"))
CONTACTS = Area("contacts", _l("Contact persons"))
NOTES = Area("notes", _l("Notes and activities"))
MAILING = Area("mailing", _l("Mailing"))
HISTORY = Area("history", _l("History"))
GDPR = Area("gdpr", _l("Personal data (GDPR)"))
SECURITY = Area("security", _l("Users and security"))
ADMINISTRATION = Area("administration", _l("Administration"))
AREAS = (CLIENTS, CONTACTS, NOTES, MAILING, ATTRIBUTES, HISTORY, GDPR, SECURITY, ADMINISTRATION)

SEE_PERSONAL = "personal_data.see"
ADMINISTER_ROLES = "roles.administer"
MANAGE_STAFF = "users.manage"


def see_category(category) -> str:
    """The key of the capability "see this category in clear"."""
    return f"{SEE_PERSONAL}.{category.key}"


SEE_IDENTITY = see_category(categories.IDENTITY)
SEE_FREE_TEXT = see_category(categories.FREE_TEXT)
#: the row label of each category's capability
_CATEGORY_LABELS = {
    categories.IDENTITY: _l("See in clear: names of clients and their people"),
    categories.CONTACT: _l("See in clear: emails and phone numbers"),
    categories.ADDRESS: _l("See in clear: postal addresses"),
    categories.IDENTIFIERS: _l("See in clear: NIP and PESEL"),
    categories.EMPLOYMENT: _l("See in clear: positions of contact persons"),
    categories.FREE_TEXT: _l("See in clear: notes, remarks and personal attributes"),
    categories.ONLINE: _l("See in clear: IP addresses and browsers"),
    categories.ACCOUNT: _l("See in clear: staff user names"),
}


def _record_capabilities(area, prefix, view, menus, labels, api=None, edit_requires=(SEE_IDENTITY,)):  # pragma: no mutate block (runs at import or app creation)
    """See, add, edit and delete capabilities of one kind of record.

    Adding and editing need the categories ``edit_requires`` names seen in clear: the forms show those values.
    """
    see, add, edit, delete = labels
    api_views = lambda permissions: {api: permissions} if api else {}  # noqa: E731
    return (
        Capability(f"{prefix}.view", area, see, _pairs({view: READ, **api_views(API_READ)}, menus)),
        Capability(f"{prefix}.add", area, add, _pairs({view: ("can_add",), **api_views(("can_post",))}), requires=edit_requires),
        Capability(
            f"{prefix}.edit", area, edit, _pairs({view: ("can_edit",), **api_views(("can_put",))}),
            requires=edit_requires,
        ),
        Capability(f"{prefix}.delete", area, delete, _pairs({view: ("can_delete",), **api_views(("can_delete",))})),
    )


CAPABILITIES: tuple[Capability, ...] = (
    *_record_capabilities(
        CLIENTS, "clients", "ClientModelView", ("Clients", "Client cards"),
        (_l("See client cards"), _l("Add clients"), _l("Edit clients"), _l("Delete clients")),
        api="ClientApi",
    ),
    Capability(
        "clients.import", CLIENTS, _l("Import clients from CSV and XLSX"),
        _pairs({"ImportView": ("can_import",), "JobView": ("can_show",)}, ("Clients", "Import clients")), requires=("clients.add",),
    ),
    Capability(
        "clients.export", CLIENTS, _l("Export the client list to CSV and XLSX (the columns the role sees in clear)"),
        _pairs({"ClientModelView": ("can_export_list",)}), requires=(SEE_IDENTITY,),
    ),
    *_record_capabilities(
        CONTACTS, "contacts", "ContactPersonModelView", ("Clients", "Contact persons"),
        (_l("See contact persons"), _l("Add contact persons"), _l("Edit contact persons"),
         _l("Delete contact persons")),
    ),
    *_record_capabilities(
        NOTES, "notes", "NoteModelView", ("Clients", "Notes and activities"),
        (_l("See notes and activities"), _l("Add notes and activities"), _l("Edit notes and activities"),
         _l("Delete notes and activities")),
        edit_requires=(SEE_FREE_TEXT,),
    ),
    Capability(
        "attributes.manage", ATTRIBUTES,
        _l("Define the attributes of the client card and choose the built-in fields collected"),
        _pairs(
            {
                "AttributeDefinitionModelView": ("can_list", "can_show", "can_add", "can_edit", "can_delete"),
                "BuiltInFieldsView": ("can_show", "can_edit"),
            },
            ("Clients", "Attributes of the card", "Built-in fields"),
        ),
    ),
    Capability(
        "mailing_lists.view", MAILING, _l("See mailing lists"),
        _pairs({"MailingListModelView": READ}, ("Mailing", "Mailing lists")),
    ),
    Capability(
        "mailing_lists.manage", MAILING, _l("Create, rename and delete mailing lists"),
        _pairs({"MailingListModelView": ("can_add", "can_edit", "can_delete")}),
    ),
    Capability(
        "mailing_lists.export", MAILING, _l("Export a list's subscribers for a mailing tool (CSV)"),
        _pairs({"MailingListModelView": ("can_export_subscribers",)}),
        requires=("mailing_lists.view", SEE_IDENTITY, see_category(categories.CONTACT)),
    ),
    *_record_capabilities(
        MAILING, "subscriptions", "SubscriptionModelView", ("Mailing", "Subscriptions"),
        (_l("See subscriptions"), _l("Subscribe clients to lists"), _l("Edit subscriptions"),
         _l("Unsubscribe clients")),
        edit_requires=(),
    ),
    Capability(
        "history.view", HISTORY, _l("See the history of client cards and recent changes"),
        _pairs({"ClientHistoryView": ("can_show",), "RecentChangesView": ("can_list",)}, ("Clients", "Recent changes")),
    ),
    Capability(
        "history.restore", HISTORY, _l("Restore a client card to an earlier version"),
        _pairs({"ClientHistoryView": ("can_restore",)}), requires=("history.view",),
    ),
    Capability(
        SEE_PERSONAL, GDPR, _l("See personal data of every category in clear (otherwise per category below)"),
        _pairs({"PersonalData": ("can_see",)}),
    ),
    *(
        Capability(see_category(category), GDPR, _CATEGORY_LABELS[category], frozenset({category_pair(category)}))
        for category in categories.CATEGORIES
    ),
    Capability(
        "gdpr.requests", GDPR, _l("Register and handle data-subject requests; see their deadlines"),
        _pairs(
            {"DataSubjectRequestModelView": ("can_list", "can_show", "can_add", "can_edit"), "GdprView": ("can_dashboard",)},
            ("Data protection", "Data-subject requests", "GDPR deadlines"),
        ),
    ),
    Capability(
        "gdpr.events", GDPR, _l("See the record of exports and erasures"),
        _pairs({"GdprEventModelView": READ}, ("Data protection", "Exports and erasures")),
    ),
    Capability(
        "reads.view", GDPR, _l("See who opened whose data (read-access log)"),
        _pairs({"ReadLogView": ("can_list",)}, ("Data protection", "Read-access log")),
    ),
    Capability(
        "gdpr.export", GDPR, _l("Export everything held about a person, and send it to the person"),
        _pairs({"GdprView": ("can_export",), "GdprApi": ("can_export",), "DataSubjectRequestModelView": ("can_handover",)}),
        requires=("gdpr.requests", SEE_PERSONAL),
    ),
    Capability(
        "gdpr.erase", GDPR, _l("Erase a person from every place"),
        _pairs({"GdprView": ("can_erase",), "GdprApi": ("can_erase",)}), requires=("gdpr.requests", SEE_PERSONAL),
    ),
    Capability(
        "consents.view", GDPR, _l("See consents and lawful bases"),
        _pairs({"ConsentModelView": READ}, ("Data protection", "Consents and lawful bases")),
    ),
    Capability(
        "consents.manage", GDPR, _l("Record and withdraw consents and lawful bases"),
        _pairs({"ConsentModelView": ("can_add", "can_edit")}), requires=(SEE_FREE_TEXT,),
    ),
    Capability(
        "restrictions.manage", GDPR, _l("Restrict processing of a client and lift restrictions"),
        _pairs(
            {"RestrictionModelView": ("can_list", "can_show", "can_add", "can_edit")},
            ("Data protection", "Restrictions of processing"),
        ),
        requires=(SEE_FREE_TEXT,),
    ),
    Capability(
        "gdpr.retention", GDPR, _l("See the clients due for erasure by the retention rule"),
        _pairs({"GdprView": ("can_retention",)}, ("Data protection", "Retention")),
    ),
    Capability(
        "registry.view", GDPR, _l("See the record of personal data held"),
        _pairs({"PersonalDataView": ("can_list",)}, ("Data protection", "Personal data held")),
    ),
    Capability(
        "register.view", GDPR, _l("See the record of processing activities and download it for the authority"),
        _pairs(
            {"ProcessingActivityModelView": (*READ, "can_document")},
            ("Data protection", "Record of processing activities"),
        ),
    ),
    Capability(
        "register.manage", GDPR, _l("Keep the record of processing activities (add, edit, delete)"),
        _pairs({"ProcessingActivityModelView": ("can_add", "can_edit", "can_delete")}), requires=("register.view",),
    ),
    Capability(
        "breaches.view", GDPR, _l("See the breach register and download a breach's notification for the authority"),
        _pairs({"BreachModelView": (*READ, "can_report")}, ("Data protection", "Data breaches")),
    ),
    Capability(
        "breaches.manage", GDPR,
        _l("Record data breaches, find the persons they affected and tell them"),
        _pairs({"BreachModelView": ("can_add", "can_edit", "can_affected", "can_notify")}),
        requires=("breaches.view", SEE_PERSONAL),
    ),
    Capability(
        "users.view", SECURITY, _l("See staff accounts"),
        _pairs({"UserDBModelView": READ}, ("Security", "List Users")),
    ),
    Capability(
        MANAGE_STAFF, SECURITY,
        _l("Manage staff accounts and groups (add, edit, lock, delete, set passwords), only of accounts holding no "
           "more than oneself, granting only roles within one's own permissions"),
        _pairs(
            {
                "UserDBModelView": ("can_add", "can_edit", "can_delete", "lock", "unlock", "reset_two_factor",
                                    "resetpasswords"),
                "ResetPasswordView": ("can_this_form_get", "can_this_form_post"),
                "UserGroupModelView": ("can_list", "can_show", "can_add", "can_edit", "can_delete"),
            },
            ("Security", "List Groups"),
        ),
        requires=("users.view", see_category(categories.IDENTITY), see_category(categories.CONTACT),
                  see_category(categories.ACCOUNT)),
    ),
    Capability(
        "logins.view", SECURITY, _l("See the login history"),
        _pairs({"LoginEventModelView": READ}, ("Security", "Login history")),
    ),
    Capability(
        "passwords.request_change", SECURITY, _l("Ask staff to change their password"),
        _pairs(
            {"RequestPasswordChangeView": ("can_this_form_get", "can_this_form_post")},
            ("Security", "Ask for a password change"),
        ),
    ),
    Capability(
        "two_factor.policy", SECURITY, _l("Require two-factor login per role"),
        _pairs(
            {"RoleSecurityPolicyView": ("can_list", "can_show", "can_add", "can_edit", "can_delete")},
            ("Security", "Two-factor login per role"),
        ),
    ),
    Capability(
        ADMINISTER_ROLES, ADMINISTRATION, _l("Administer roles and permissions"),
        _pairs(
            {"RoleMatrixView": ("can_show", "can_edit"), "PermissionChangeModelView": READ, "RoleModelView": READ},
            ("Security", "Roles and permissions", "Permission changes"),
        ),
    ),
    Capability(
        "api.docs", ADMINISTRATION, _l("Read the REST API documentation"),
        _pairs({"OpenApi": ("can_get",), "SwaggerView": ("can_show",)}),
    ),
)

BY_KEY: dict[str, Capability] = {capability.key: capability for capability in CAPABILITIES}

#: What every signed-in staff member may do with their own account: not in the
#: matrix, because a role without it could not even change an expired password.
OWN_ACCOUNT = _pairs(
    {
        "UserInfoEditView": ("can_this_form_get", "can_this_form_post"),
        "ResetMyPasswordView": ("can_this_form_get", "can_this_form_post"),
        "UserDBModelView": ("can_userinfo", "userinfoedit", "resetmypassword"),
        "MyLoginsView": ("can_list",),
        "TwoFactorView": ("can_verify", "can_setup"),
    },
    ("My account", "My logins", "Change my password", "Two-factor login"),
)


def pairs_for(keys) -> frozenset[tuple[str, str]]:
    """The FAB pairs a role holding these capabilities (and its own account) needs."""
    pairs = set(OWN_ACCOUNT)
    for key in keys:
        pairs |= BY_KEY[key].pairs
    return frozenset(pairs)


def held(pairs) -> frozenset[str]:
    """The capabilities whose every (non-menu) pair is among ``pairs``."""
    pairs = set(pairs)
    return frozenset(capability.key for capability in CAPABILITIES if capability.views <= pairs)


def implied(keys) -> frozenset[str]:
    """The capabilities ``keys`` amount to: seeing every category includes seeing each one."""
    keys = set(keys)
    if SEE_PERSONAL in keys:
        keys |= {see_category(category) for category in categories.CATEGORIES}
    return frozenset(keys)


def missing_requirements(keys) -> list[tuple[str, str]]:
    """(capability, required capability) for each requirement not met by ``keys``."""
    having = implied(keys)
    return [
        (key, required)
        for key in sorted(set(keys), key=list(BY_KEY).index)
        for required in BY_KEY[key].requires
        if required not in having
    ]


def catalogue_pairs() -> frozenset[tuple[str, str]]:
    """Every pair the matrix governs."""
    return pairs_for(BY_KEY)
