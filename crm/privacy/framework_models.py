"""Personal data in tables Kartoteka does not define: FAB's accounts, Continuum's transactions.

Called by create_app once mappers are configured (Continuum creates its
Transaction class then).
"""

from __future__ import annotations

from flask_appbuilder.security.sqla.models import RegisterUser, User
from flask_babel import lazy_gettext as _l
from sqlalchemy_continuum import versioning_manager

from crm.privacy.categories import ACCOUNT, CONTACT, IDENTITY, ONLINE
from crm.privacy.registry import Erasure, Personal, PersonalData, declaration_of, declare
from crm.privacy.types import EncryptedString

#: Continuum's remote_addr column is String(50); stored as ciphertext it has no length.
REMOTE_ADDR = EncryptedString("transaction.remote_addr", 50)


def declare_framework_models() -> None:  # pragma: no mutate block (runs at import or app creation)
    """Encrypt the transaction's remote address and declare staff account columns."""
    transaction = versioning_manager.transaction_cls
    if declaration_of(transaction) is not None:
        return
    transaction.__table__.c.remote_addr.type = REMOTE_ADDR
    declare(
        transaction,
        PersonalData(
            description=_l("Change history: the address each change came from"),
            subject=None,
            erasure=Erasure.ANONYMISE,
            columns={"remote_addr": Personal(ONLINE)},
        ),
    )
    # Staff accounts are looked up by username and email at login, so they stay
    # searchable in clear; they are personal data of the staff, not of clients.
    staff_columns = {
        "first_name": Personal(IDENTITY, encrypted=False),
        "last_name": Personal(IDENTITY, encrypted=False),
        "username": Personal(ACCOUNT, encrypted=False),
        "email": Personal(CONTACT, encrypted=False),
    }
    declare(
        User,
        PersonalData(
            description=_l("Staff accounts"),
            subject=None,
            erasure=Erasure.ANONYMISE,
            columns={**staff_columns, "last_login": Personal(ACCOUNT, encrypted=False)},
        ),
    )
    declare(
        RegisterUser,
        PersonalData(
            description=_l("Pending self-registrations of staff (registration is switched off)"),
            subject=None,
            erasure=Erasure.DELETE,
            columns=staff_columns,
        ),
    )
