"""Extension objects, created unbound and bound to the app in :func:`crm.create_app`.

The rate limiter is Flask-AppBuilder's own (``appbuilder.sm.limiter``), configured
through the ``RATELIMIT_*`` settings; a second Limiter would count twice.
"""

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from crm.security.manager import KartotekaSecurityManager

db = SQLA()
migrate = Migrate()
#: FAB registers no CSRFProtect of its own; without it a GET on
#: ``/<view>/delete/<pk>`` deletes a row.
csrf = CSRFProtect()
appbuilder = AppBuilder(security_manager_class=KartotekaSecurityManager, update_perms=False)
