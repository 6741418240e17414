"""Every string of ours is translated to Polish and English, and compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2), "N_": None}


def source_msgids() -> set[str]:
    """Every msgid pybabel extracts from crm/ and templates/ (see babel.cfg)."""
    found = set()
    for folder, method in (("crm", "python"), ("templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[(pattern, method)], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def is_translated(message) -> bool:
    """A translation that is not fuzzy, with every plural form filled."""
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(forms) and not message.fuzzy


@pytest.mark.parametrize("language", ["pl", "en"])
def test_catalog_translates_every_string_of_ours(language):
    with open(ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale=language)
    wanted = source_msgids()
    assert len(wanted) > 100
    untranslated = sorted(
        msgid for msgid in wanted if msgid not in catalog or not is_translated(catalog[msgid])
    )
    assert untranslated == []


def as_key(value):
    """Plural ids and strings come as lists from one reader and tuples from the other."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("language", ["pl", "en"])
def test_compiled_catalog_matches_its_source(language):
    folder = ROOT / "translations" / language / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po:
        source = {as_key(m.id): as_key(m.string) for m in read_po(po, locale=language) if m.id and m.string}
    with open(folder / "messages.mo", "rb") as mo:
        compiled = {as_key(m.id): as_key(m.string) for m in read_mo(mo) if m.id and m.string}
    assert compiled == source, "run `make translations` to recompile the catalogs"


def test_polish_catalog_corrects_fab_sign_in():
    with open(ROOT / "translations" / "pl" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale="pl")
    assert catalog["Sign In"].string == "Zaloguj się"
    assert catalog["Logout"].string == "Wyloguj"
