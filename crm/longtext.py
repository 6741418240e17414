"""Long free text (a note, a request's description) where many records share a page.

Lists, a card's tabs and the history show the start of a long text; the rest
opens in place. The record's own page and the comparison of two versions show
all of it.
"""

from __future__ import annotations

from flask_babel import format_number, gettext
from markupsafe import Markup, escape
from sqlalchemy import Text

#: characters of a long text shown before "show all"
SHOWN_CHARS = 200


def shortened(value, limit: int = SHOWN_CHARS):
    """``value`` as HTML: all of it when short, else its start and a native "show all" that opens the rest."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value  # already HTML a formatter built; cutting it could break its tags
    text = str(value)
    if len(text) <= limit:
        return text
    # cut at a word boundary near the limit, so the start does not end mid-word
    start = text[:limit]
    if " " in start[limit // 2:]:
        start = start[: start.rindex(" ")]
    more = gettext("show all (%(count)s characters)", count=format_number(len(text)))
    return Markup(
        '<details class="long-text"><summary><span class="long-text-start">{start}…</span> '
        '<span class="long-text-more">{more}</span></summary><div class="long-text-full">{full}</div></details>'
    ).format(start=escape(start), more=escape(more), full=escape(text))


def is_long_text(column_type) -> bool:
    """A column type whose values may be longer than a list cell should print."""
    if column_type is None:
        return False
    base = getattr(column_type, "impl_instance", column_type)
    length = getattr(base, "length", None)
    return isinstance(base, Text) or bool(length and length > SHOWN_CHARS)
