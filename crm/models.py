"""Every mapped model of the application, imported in one place.

Alembic's autogenerate and ``configure_mappers`` (which makes Continuum build
the version classes) need all models imported.
"""

from crm.clients.models import Client, ContactPerson, Note  # noqa: F401
from crm.mailing.models import MailingList, Subscription  # noqa: F401
from crm.attributes.models import AttributeDefinition, AttributeValue, FieldSetting  # noqa: F401
from crm.gdpr.models import Consent, DataSubjectRequest, DeadlineReminder, GdprEvent, Restriction, Suppression  # noqa: F401
from crm.history.models import CardRestore  # noqa: F401
from crm.security.models import AccountState, LoginEvent, PasswordHistory, PermissionChange, RoleSecurityPolicy  # noqa: F401
import crm.accountability.trail  # noqa: F401  (links accountability records as they are written)
from crm.accountability.models import (  # noqa: F401
    AuditHead, AuditLink, AuditVerification, ProcessingActivity, ReadAccess, ReadAccessCard,
)
from crm.breaches.models import Breach, BreachPerson  # noqa: F401
from crm.public.models import Handover, PublicRequest  # noqa: F401
from crm.jobs.models import Job  # noqa: F401
