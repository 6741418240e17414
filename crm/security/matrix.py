"""The role x permission matrix: reading it, saving it, and the roles it has.

Each save is one transaction: the new FAB pairs of every changed role, one
PermissionChange row per changed cell, and the check that somebody can still
administer roles. A stale form (the matrix changed since it was shown) or a
broken rule changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm.extensions import appbuilder
from crm.security import capabilities, grants
from crm.security.capabilities import ADMINISTER_ROLES, BY_KEY, CAPABILITIES, catalogue_pairs, held, pairs_for
from crm.security.models import PermissionChange
from crm.security.roles import BUILTIN_ROLES, PUBLIC, label_of_role

MAX_ROLE_NAME = 64

STALE_MESSAGE = _l(
    "Someone changed the roles while you were editing. Nothing was saved; the matrix below is the current one."
)
LAST_ADMINISTRATOR_MESSAGE = _l(
    "Nobody would be left to administer roles and permissions. Nothing was saved: keep that permission "
    "for a role that has at least one active account."
)
REQUIRES_MESSAGE = _l("%(role)s: \u201c%(capability)s\u201d needs \u201c%(required)s\u201d too. Nothing was saved.")
NAME_EMPTY_MESSAGE = _l("Give the role a name.")
NAME_TOO_LONG_MESSAGE = _l("A role name has at most %(max)d characters.")
NAME_TAKEN_MESSAGE = _l("A role with that name already exists.")
LAST_ADMINISTRATOR_ACCOUNT_MESSAGE = _l(
    "Nobody would be left to administer roles and permissions. Nothing was saved: keep at least one active "
    "account with that permission."
)
BUILTIN_RENAME_MESSAGE = _l("Built-in roles keep their names; clone the role to have one under a name of your own.")
UNKNOWN_ROLE_MESSAGE = _l("There is no such role.")
UNKNOWN_CELL_MESSAGE = _l("The form names a role or permission that does not exist. Nothing was saved.")


class MatrixError(ValueError):
    """A change the matrix refuses; the message says why, in the user's language."""

    def __init__(self, message, status: int = 400):
        super().__init__(str(message))
        self.status = status


@dataclass(frozen=True)
class RoleColumn:
    """A role as the matrix shows it."""

    id: int
    name: str
    label: str
    is_builtin: bool
    capabilities: frozenset[str]
    active_users: int


def _role_pairs(role) -> set[tuple[str, str]]:
    return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def _editable_roles(session) -> list:
    role_model = appbuilder.sm.role_model
    return list(session.scalars(select(role_model).where(role_model.name != PUBLIC).order_by(role_model.id)))


def _lock_roles(session) -> None:
    """Hold the roles until the transaction ends, before reading them: of two saves at once, the second
    waits for the first and then sees its stamp change.

    A write that changes nothing: PostgreSQL locks the rows (as FOR UPDATE would), SQLite takes its one
    writer's lock, which a read does not take (read first, both saves wrote the same cells).
    """
    role_model = appbuilder.sm.role_model
    session.execute(update(role_model).values(name=role_model.name).execution_options(synchronize_session=False))


def _active_users(role) -> int:
    return sum(1 for user in role.user if user.active)


def read_matrix(session) -> list[RoleColumn]:
    """Every role but Public (which must stay empty), with the capabilities it holds."""
    return [
        RoleColumn(
            id=role.id,
            name=role.name,
            label=label_of_role(role.name),
            is_builtin=role.name in BUILTIN_ROLES,
            capabilities=held(_role_pairs(role)),
            active_users=_active_users(role),
        )
        for role in _editable_roles(session)
    ]


def stamp(columns: list[RoleColumn]) -> str:
    """A fingerprint of the matrix as shown; a save from an older one is stale."""
    text = "|".join(f"{c.id}:{c.name}:{','.join(sorted(c.capabilities))}" for c in columns)
    return hashlib.sha256(text.encode()).hexdigest()


def _pair_rows(session) -> dict[tuple[str, str], object]:
    sm = appbuilder.sm
    rows = session.scalars(select(sm.permissionview_model))
    return {(pv.permission.name, pv.view_menu.name): pv for pv in rows}


def _set_capabilities(role, keys, pair_rows) -> None:
    """Give the role exactly the pairs of these capabilities (Public: none)."""
    wanted = pairs_for(keys) if role.name != PUBLIC else frozenset()
    if not wanted <= pair_rows.keys():
        # pairs are created by `flask crm init`; a form cannot invent one
        raise MatrixError(UNKNOWN_CELL_MESSAGE)
    role.permissions = [pair_rows[pair] for pair in sorted(wanted)]


def _record_cells(session, role, before, after, actor, automatic=False) -> int:
    changed = 0
    for capability in CAPABILITIES:
        was, now = capability.key in before, capability.key in after
        if was != now:
            session.add(PermissionChange(
                changed_by=actor, role_id=role.id, role_name=role.name, kind="cell",
                capability=capability.key, before="yes" if was else "no", after="yes" if now else "no",
                automatic=automatic,
            ))
            changed += 1
    return changed


def someone_administers_roles(session, excluding_user_id: int | None = None) -> bool:
    """Whether an active account (other than the excluded one) may administer roles, directly or through a group."""
    user_model = appbuilder.sm.user_model
    accounts = select(user_model).where(user_model.active.is_(True))
    if excluding_user_id is not None:
        accounts = accounts.where(user_model.id != excluding_user_id)
    # the roles as the session holds them: the change being saved counts (grants.account_capabilities reads the saved ones)
    return any(
        ADMINISTER_ROLES in held({pair for role in grants.account_roles(user) for pair in _role_pairs(role)})
        for user in session.scalars(accounts)
    )


def _check_requirements(role_label: str, keys) -> None:
    problems = capabilities.missing_requirements(keys)
    if problems:
        key, required = problems[0]
        raise MatrixError(REQUIRES_MESSAGE % {
            "role": role_label, "capability": BY_KEY[key].label, "required": BY_KEY[required].label,
        })


def save_matrix(session, ticked: dict[int, set[str]], shown_stamp: str, actor) -> int:
    """Save the ticked cells of every role; returns the number of changed cells.

    ``ticked`` maps every role id of the form to the capability keys ticked for
    it. Raises MatrixError (and changes nothing) for a stale form, an unknown
    role or capability, a missing requirement, or a matrix nobody could administer.
    """
    changed = 0
    try:
        _lock_roles(session)
        columns = read_matrix(session)
        if shown_stamp != stamp(columns):
            raise MatrixError(STALE_MESSAGE, status=409)
        by_id = {column.id: column for column in columns}
        if set(ticked) != set(by_id) or any(not keys <= BY_KEY.keys() for keys in ticked.values()):
            raise MatrixError(UNKNOWN_CELL_MESSAGE)
        pair_rows = _pair_rows(session)
        for role in _editable_roles(session):
            before, after = by_id[role.id].capabilities, frozenset(ticked[role.id])
            if before == after:
                continue
            _check_within(actor, role, after - before)
            _check_requirements(by_id[role.id].label, after)
            _set_capabilities(role, after, pair_rows)
            changed += _record_cells(session, role, before, after, actor)
        session.flush()
        if not someone_administers_roles(session):
            raise MatrixError(LAST_ADMINISTRATOR_MESSAGE, status=409)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return changed


def _check_within(actor, role, granted=frozenset()) -> None:
    """Nobody changes a role holding more than they do, or grants what they lack (crm.security.grants)."""
    try:
        grants.require_role_within(actor, role)
        grants.require_capabilities_within(actor, granted)
    except grants.GrantError as error:
        raise MatrixError(error, status=403) from None


def keep_an_administrator(session, deleting_user_id: int | None = None) -> None:
    """Refuse (rolling back) an account change that leaves nobody able to administer roles."""
    if not someone_administers_roles(session, excluding_user_id=deleting_user_id):
        session.rollback()
        raise MatrixError(LAST_ADMINISTRATOR_ACCOUNT_MESSAGE, status=409)


def _valid_name(session, name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise MatrixError(NAME_EMPTY_MESSAGE)
    if len(name) > MAX_ROLE_NAME:
        raise MatrixError(NAME_TOO_LONG_MESSAGE % {"max": MAX_ROLE_NAME})
    role_model = appbuilder.sm.role_model
    taken = {existing.lower() for existing in session.scalars(select(role_model.name))}
    if name.lower() in taken | {str(label).lower() for label in map(label_of_role, BUILTIN_ROLES)}:
        raise MatrixError(NAME_TAKEN_MESSAGE)
    return name


def _find_editable(session, role_id):
    role = session.get(appbuilder.sm.role_model, role_id)
    if role is None or role.name == PUBLIC:
        raise MatrixError(UNKNOWN_ROLE_MESSAGE, status=404)
    return role


def add_role(session, name: str, actor, clone_of: int | None = None):
    """A new role, empty (own account only) or with the capabilities of ``clone_of``."""
    try:
        name = _valid_name(session, name)
        source = _find_editable(session, clone_of) if clone_of is not None else None
        if source is not None:
            _check_within(actor, source)
        keys = held(_role_pairs(source)) if source is not None else frozenset()
        role = appbuilder.sm.role_model(name=name)
        session.add(role)
        session.flush()
        _set_capabilities(role, keys, _pair_rows(session))
        if source is not None:
            session.add(PermissionChange(
                changed_by=actor, role_id=role.id, role_name=name, kind="role_cloned", before=source.name, after=name,
            ))
        else:
            session.add(PermissionChange(changed_by=actor, role_id=role.id, role_name=name, kind="role_created", after=name))
        _record_cells(session, role, frozenset(), keys, actor)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise MatrixError(NAME_TAKEN_MESSAGE) from None
    except Exception:
        session.rollback()
        raise
    return role


def rename_role(session, role_id: int, name: str, actor):
    """Rename a role of the company's own; built-in roles keep their names."""
    try:
        role = _find_editable(session, role_id)
        if role.name in BUILTIN_ROLES:
            raise MatrixError(BUILTIN_RENAME_MESSAGE)
        _check_within(actor, role)
        old = role.name
        if " ".join(name.split()) == old:
            return role
        role.name = _valid_name(session, name)
        session.add(PermissionChange(
            changed_by=actor, role_id=role.id, role_name=role.name, kind="role_renamed", before=old, after=role.name,
        ))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise MatrixError(NAME_TAKEN_MESSAGE) from None
    except Exception:
        session.rollback()
        raise
    return role


def decided_cells(session) -> set[tuple[int, str]]:
    """(role id, capability) of every cell an administrator has set."""
    rows = session.execute(
        select(PermissionChange.role_id, PermissionChange.capability).where(
            PermissionChange.kind == "cell", PermissionChange.automatic.is_(False)
        )
    )
    return {(role_id, capability) for role_id, capability in rows}


def converge_builtin_roles(session) -> dict[str, int]:
    """Create the built-in roles and give every undecided cell its default.

    A cell an administrator has ticked or unticked keeps that decision; new
    capabilities (after an upgrade) get their defaults. Every change is recorded
    as automatic. Returns the number of capabilities each built-in role holds.
    """
    sm = appbuilder.sm
    for permission, view in sorted(catalogue_pairs()):
        sm.add_permission_view_menu(permission, view)
    pair_rows = _pair_rows(session)
    decided = decided_cells(session)
    counts = {}
    for name, defaults in BUILTIN_ROLES.items():
        role = sm.find_role(name) or sm.add_role(name)
        before = held(_role_pairs(role)) if role.name != PUBLIC else frozenset()
        after = {
            key for key in BY_KEY
            if (key in before if (role.id, key) in decided else key in defaults)
        }
        _set_capabilities(role, after, pair_rows)
        if role.name != PUBLIC:
            _record_cells(session, role, before, after, actor=None, automatic=True)
        counts[name] = len(after)
    session.commit()
    return counts
