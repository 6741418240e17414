"""Two-factor login with time-based one-time codes (RFC 6238, pyotp).

A member of a role that requires it, or anyone who turned it on, enters a code
from an authenticator app after the password. A code is accepted once, within
one 30-second step either side; a wrong code counts as a failed login.
"""

from __future__ import annotations

import pyotp
import segno
from sqlalchemy import select

from crm.security.grants import account_roles
from crm.security.lockout import update_state
from crm.security.models import AccountState, RoleSecurityPolicy

ISSUER = "Kartoteka"


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def enrolment_qr(secret: str, account_name: str) -> str:
    """The otpauth QR code as an SVG data URI, for the authenticator app to scan."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)
    return segno.make(uri, error="m").svg_data_uri(scale=4)


def accepted_step(secret: str, code: str, last_step: int | None, now_step: int) -> int | None:
    """The time step a code belongs to if it is valid and not used before, else None."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    for step in (now_step, now_step - 1, now_step + 1):
        if (last_step is None or step > last_step) and totp.at(step * totp.interval) == code:
            return step
    return None


def current_step(now_timestamp: float) -> int:
    return int(now_timestamp // 30)


def is_required(session, user) -> bool:
    """True when one of the user's roles, its own or its groups', requires a second factor."""
    role_ids = {role.id for role in account_roles(user)}
    found = session.scalar(
        select(RoleSecurityPolicy.role_id).where(
            RoleSecurityPolicy.role_id.in_(role_ids), RoleSecurityPolicy.requires_totp.is_(True)
        ).limit(1)
    )
    return found is not None


def needs_second_factor(session, user, state: AccountState | None) -> bool:
    """The user must give a code (set up or required) to finish signing in."""
    return bool((state is not None and state.totp_secret) or is_required(session, user))


def enrol(session, user_id: int, secret: str, step: int) -> None:
    """Turn two-factor login on with ``secret``; ``step`` (the confirming code) is used up."""
    update_state(session, user_id, totp_secret=secret, totp_last_step=step)


def forget_authenticator(session, user_id: int) -> None:
    """Remove the account's authenticator: it enrols again if it signs in with two factors."""
    update_state(session, user_id, totp_secret=None, totp_last_step=None)
