"""The built-in roles, declared in code and converged by ``flask crm init``.

FAB's ``FAB_ROLES`` is not used: it matches with unanchored regular expressions
and stores the patterns themselves as permission rows. A role here names the
exact (permission, view) pairs it holds; ``Administrator`` holds every pair.
"""

from __future__ import annotations

ADMINISTRATOR = "Administrator"
MANAGER = "Manager"
BACK_OFFICE = "Back office"
DATA_PROTECTION_OFFICER = "Data protection officer"
AUDITOR = "Auditor"
#: The role of anonymous requests: it holds nothing.
PUBLIC = "Public"

READ = ("can_list", "can_show")
WRITE = READ + ("can_add", "can_edit")
FULL = WRITE + ("can_delete",)
API_READ = ("can_get", "can_info")
API_WRITE = API_READ + ("can_post", "can_put")
API_FULL = API_WRITE + ("can_delete",)

#: What every signed-in staff member may do with their own account.
OWN_ACCOUNT = {
    "UserInfoEditView": ("can_this_form_get", "can_this_form_post"),
    "ResetMyPasswordView": ("can_this_form_get", "can_this_form_post"),
    "UserDBModelView": ("can_userinfo",),
    "MyLoginsView": ("can_list",),
    "TwoFactorView": ("can_verify", "can_setup"),
}
#: Menu entries every signed-in staff member sees.
OWN_ACCOUNT_MENUS = ("My account", "My logins", "Change my password", "Two-factor login")

#: The OpenAPI document and its Swagger UI, for roles that use the REST API.
API_DOCS = {"OpenApi": ("can_get",), "SwaggerView": ("can_show",)}

#: Menu entries (category and item names as registered in crm.views).
CLIENT_MENUS = ("Clients", "Client cards", "Contact persons", "Notes and activities")
MAILING_MENUS = ("Mailing", "Mailing lists", "Subscriptions")
PRIVACY_MENUS = ("Data protection", "Personal data held")
#: The record of what personal data is held.
REGISTRY_PAGE = {"PersonalDataView": ("can_list",)}


def _grants(views: dict[str, tuple[str, ...]], menus: tuple[str, ...]) -> set[tuple[str, str]]:
    pairs = {(permission, view) for view, permissions in {**OWN_ACCOUNT, **views}.items() for permission in permissions}
    pairs |= {("menu_access", menu) for menu in (*menus, *OWN_ACCOUNT_MENUS)}
    return pairs


BUILTIN_ROLES: dict[str, set[tuple[str, str]]] = {
    MANAGER: _grants(
        {
            "ClientModelView": FULL,
            "ContactPersonModelView": FULL,
            "NoteModelView": FULL,
            "SubscriptionModelView": FULL,
            "MailingListModelView": FULL,
            "ClientApi": API_FULL,
            **API_DOCS,
        },
        CLIENT_MENUS + MAILING_MENUS,
    ),
    BACK_OFFICE: _grants(
        {
            "ClientModelView": WRITE,
            "ContactPersonModelView": FULL,
            "NoteModelView": FULL,
            "SubscriptionModelView": FULL,
            "MailingListModelView": READ,
            "ClientApi": API_WRITE,
            **API_DOCS,
        },
        CLIENT_MENUS + MAILING_MENUS,
    ),
    DATA_PROTECTION_OFFICER: _grants(
        {
            "ClientModelView": READ,
            "ContactPersonModelView": READ,
            "NoteModelView": READ,
            "SubscriptionModelView": READ,
            "MailingListModelView": READ,
            "ClientApi": API_READ,
            **API_DOCS,
            **REGISTRY_PAGE,
        },
        CLIENT_MENUS + MAILING_MENUS + PRIVACY_MENUS,
    ),
    AUDITOR: _grants(
        {
            "ClientModelView": READ,
            "ContactPersonModelView": READ,
            "NoteModelView": READ,
            "SubscriptionModelView": READ,
            "MailingListModelView": READ,
            "ClientApi": API_READ,
            **API_DOCS,
            **REGISTRY_PAGE,
        },
        CLIENT_MENUS + MAILING_MENUS + PRIVACY_MENUS,
    ),
    PUBLIC: set(),
}
