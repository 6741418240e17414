"""Fill the English catalog: our msgids are the English text.

Run by ``make translations``; the Polish catalog is translated by hand.
"""

from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).resolve().parent / "en" / "LC_MESSAGES" / "messages.po"

with CATALOG.open("rb") as source:
    catalog = read_po(source, locale="en")
for message in catalog:
    if not message.id:
        continue
    if isinstance(message.id, tuple):
        # singular and plural forms; English has exactly these two
        if not all(message.string):
            message.string = message.id
    elif not message.string:
        message.string = message.id
with CATALOG.open("wb") as target:
    write_po(target, catalog, width=100)
