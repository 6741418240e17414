"""Extension objects, created unbound and bound to the app in :func:`crm.create_app`.

The rate limiter is Flask-AppBuilder's own (``appbuilder.sm.limiter``), configured
through the ``RATELIMIT_*`` settings; a second Limiter would count twice. The
security manager class is named by the ``FAB_SECURITY_MANAGER_CLASS`` setting,
so this module imports nothing of Kartoteka's (the manager imports the views,
which import these extensions).
"""

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
migrate = Migrate()
#: FAB registers no CSRFProtect of its own; without it a GET on
#: ``/<view>/delete/<pk>`` deletes a row.
csrf = CSRFProtect()
#: every page extends templates/crm/base.html (Kartoteka's styles and scripts on top of FAB's layout)
appbuilder = AppBuilder(update_perms=False, base_template="crm/base.html")
