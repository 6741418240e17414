"""Bounded granting: nobody gives a permission they lack, nobody manages an account that holds more.

Staff management would otherwise be administration by another name: an
account allowed to edit accounts could give itself (or a new account, or a
group it belongs to) the Administrator role, or set an administrator's
password and sign in as them. The rules, for every screen that changes
accounts, groups, roles or their policies:

* the roles given to an account or a group hold only capabilities the acting
  account holds itself;
* an account (or role) that holds a capability the acting account lacks is not
  edited, locked, unlocked, deleted, re-enrolled or given a password by it;
* nobody changes their own roles, groups or activity, nor locks, deletes or
  sets the password of their own account through the staff screens.

Capabilities are compared as the matrix shows them (crm.security.capabilities),
seeing every category of personal data including each one.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_appbuilder.security.sqla.models import assoc_group_role, assoc_user_group, assoc_user_role
from sqlalchemy import inspect, select, union

from crm.security.capabilities import BY_KEY, held, implied

GRANT_MESSAGE = _l(
    "You may give only roles within your own permissions, and “%(capability)s” is not one of yours. Nothing was saved."
)
MANAGE_MESSAGE = _l(
    "This account holds permissions you do not hold (“%(capability)s”), so you may not change, lock, unlock or "
    "delete it or set its password. Nothing was changed."
)
ROLE_MESSAGE = _l(
    "The role “%(role)s” holds permissions you do not hold (“%(capability)s”), so you may not change it. "
    "Nothing was changed."
)
SELF_MESSAGE = _l(
    "You may not change your own roles, groups or activity here, nor lock, delete or set the password of your own "
    "account: ask another administrator, or use My account. Nothing was changed."
)


class GrantError(ValueError):
    """A grant or account change beyond the acting account's own permissions; the message says which."""

    status = 403


def role_capabilities(roles) -> frozenset[str]:
    """The capabilities these roles hold together."""
    pairs = {(pv.permission.name, pv.view_menu.name) for role in roles for pv in role.permissions}
    return implied(held(pairs))


def account_roles(user) -> list:
    """An account's roles, its groups' roles included, as the objects hold them (a change being saved included)."""
    return [*user.roles, *(role for group in getattr(user, "groups", None) or () for role in group.roles)]


def account_capabilities(user) -> frozenset[str]:
    """What an account may do now, through its roles and groups, as saved.

    Read from the database, not from the objects: a form being saved may
    already have put the acting account into a group with more roles, and that
    unsaved change must not count as what it holds.
    """
    from crm.extensions import appbuilder, db

    if user.id is None:
        return frozenset()
    direct = select(assoc_user_role.c.role_id).where(assoc_user_role.c.user_id == user.id)
    through_groups = (
        select(assoc_group_role.c.role_id)
        .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
        .where(assoc_user_group.c.user_id == user.id)
    )
    with db.session.no_autoflush:
        role_ids = tuple(sorted(set(db.session.scalars(union(direct, through_groups)))))
        pairs = {(permission, view) for view, permission in appbuilder.sm.granted_pairs(role_ids)}
    return implied(held(pairs))


def _first_lacking(wanted: frozenset[str], having: frozenset[str]) -> str | None:
    missing = sorted(wanted - having, key=list(BY_KEY).index)
    return str(BY_KEY[missing[0]].label) if missing else None


def require_grant(actor, roles) -> None:
    """Refuse (GrantError) giving ``roles`` to an account or group: they hold more than ``actor``."""
    lacking = _first_lacking(role_capabilities(roles), account_capabilities(actor))
    if lacking:
        raise GrantError(str(GRANT_MESSAGE % {"capability": lacking}))


def can_manage(actor, account) -> bool:
    """Whether ``actor`` may change, lock, delete or set the password of ``account`` (not its own)."""
    return actor.id != account.id and _first_lacking(account_capabilities(account), account_capabilities(actor)) is None


def require_manage(actor, account, allow_self: bool = False) -> None:
    """Refuse (GrantError) managing an account that holds more than ``actor``, or ``actor``'s own (unless allowed)."""
    if actor.id == account.id:
        if allow_self:
            return
        raise GrantError(str(SELF_MESSAGE))
    lacking = _first_lacking(account_capabilities(account), account_capabilities(actor))
    if lacking:
        raise GrantError(str(MANAGE_MESSAGE % {"capability": lacking}))


def require_role_within(actor, role) -> None:
    """Refuse (GrantError) changing a role (its cells, name, clone, policy) that holds more than ``actor``."""
    lacking = _first_lacking(role_capabilities([role]), account_capabilities(actor))
    if lacking:
        raise GrantError(str(ROLE_MESSAGE % {"role": role.name, "capability": lacking}))


def require_capabilities_within(actor, keys) -> None:
    """Refuse (GrantError) ticking capabilities ``actor`` does not hold."""
    lacking = _first_lacking(implied(keys), account_capabilities(actor))
    if lacking:
        raise GrantError(str(GRANT_MESSAGE % {"capability": lacking}))


def _before_and_after(item, name) -> tuple[list, list]:
    """A relation's members before the unsaved change, and now."""
    history = inspect(item).attrs[name].history
    now = list(getattr(item, name) or ())
    before = [member for member in now if member not in history.added] + list(history.deleted)
    return before, now


def require_group_change(actor, group) -> None:
    """Refuse (GrantError) a group change beyond ``actor``: its roles, before and after, within its own
    permissions; every account whose permissions change (members added or removed, or all members when the
    roles change) one it may manage, and never ``actor`` itself.

    A group is deleted only when it has no members (FAB refuses it before), so a deletion is
    bounded by its roles alone.
    """
    roles_before, roles_after = _before_and_after(group, "roles")
    members_before, members_after = _before_and_after(group, "users")
    require_grant(actor, roles_before)
    require_grant(actor, roles_after)
    if set(roles_before) != set(roles_after):
        affected = set(members_before) | set(members_after)
    else:
        affected = set(members_before) ^ set(members_after)
    for account in affected:
        require_manage(actor, account)


def require_own_grants_unchanged(actor, account) -> None:
    """Refuse (GrantError) an account changing its own roles, groups or activity (read from the unsaved changes)."""
    if actor.id != account.id:
        return
    state = inspect(account)
    for name in ("roles", "groups", "active"):
        history = state.attrs[name].history
        if set(history.added) != set(history.deleted):
            raise GrantError(str(SELF_MESSAGE))
