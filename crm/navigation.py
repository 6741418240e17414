"""Where a person goes after an action: back to the page the action was started on.

FAB goes back through the session's page history, which every tab of the
person's browser writes, so an action started on one tab could land on a page
another tab opened. The request's own Referer names the page the form or
button was on; it is followed only when it points at this site.
"""

from __future__ import annotations

from flask import redirect, request
from flask_appbuilder.utils.base import is_safe_redirect_url


def started_on() -> str | None:
    """The page (of this site) the current request was sent from, if the browser said."""
    referrer = request.referrer
    return referrer if referrer and is_safe_redirect_url(referrer) else None


def back_to_start(fallback: str):
    """A redirect to the page the action started on, else to ``fallback``."""
    return redirect(started_on() or fallback)
