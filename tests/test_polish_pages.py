"""Every page a role reaches reads as Polish: no English word of FAB's or our catalog, no raw code.

Each built-in role signs in, opens every page its menu offers and the add,
edit and show page of a record of each kind, in Polish. What a person reads
(text, and the titles, placeholders and button values of the page) is checked
against the English of both catalogs: a word that appears in an English message
and in no Polish translation is English on a Polish page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.pofile import read_po

from crm.security.roles import ADMINISTRATOR, AUDITOR, BACK_OFFICE, DATA_PROTECTION_OFFICER, MANAGER
from tests.conftest import STAFF_PASSWORD, Auth, unique

ROOT = Path(__file__).resolve().parents[1]
FAB_CATALOG = Path(flask_appbuilder.__file__).parent / "translations" / "pl" / "LC_MESSAGES" / "messages.po"
#: raw code a person must never read
RAW_CODE = {"True", "False", "None", "form", "null", "undefined", "nan"}
#: what our pages legitimately print that no catalog translates: names of things, not words
NAMES = {"Kartoteka", "OpenAPI", "JSON", "CSV", "XLSX", "ZIP", "REST", "API", "JWT", "TOTP", "URL", "IP", "HTTPS", "TLS",
         "RODO", "GDPR", "Swagger", "UTC", "Europe", "Warsaw", "OK", "ID", "UI",
         # Polish quoted in English messages (the authority's title), and a position on a card
         "Prezes"}
WORD = re.compile(r"[A-Za-zÀ-žąćęłńóśźżĄĆĘŁŃÓŚŹŻ][\wąćęłńóśźżĄĆĘŁŃÓŚŹŻ'-]*")
EMAIL = re.compile(r"\S+@\S+")
#: a name of code: lowercase words joined by underscores (a column), or a table and a column ("sp. z o.o." is Polish)
CODE_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]{3,}\.[a-z_]{3,}\b")
#: pages that are files or actions, not screens
NOT_SCREENS = re.compile(r"/(export|download|logout|lang)/?|/api/|\.(csv|xlsx|zip|json)$")


def _catalog(path: Path):
    with path.open("rb") as source:
        return read_po(source, locale="pl")


def english_words() -> set[str]:
    """Words of English messages (FAB's and ours) that no Polish translation uses."""
    catalogs = [_catalog(FAB_CATALOG), _catalog(ROOT / "translations" / "pl" / "LC_MESSAGES" / "messages.po")]
    english, polish = set(), set()
    for catalog in catalogs:
        for message in catalog:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in ids:
                english |= set(WORD.findall(re.sub(r"%\(\w+\)\w|\{\w+\}", " ", text or "")))
            for text in strings:
                polish |= set(WORD.findall(text or ""))
    return {word for word in english - polish - NAMES if len(word) > 1} | RAW_CODE


class ReadText(HTMLParser):
    """The text a person reads on a page, with the attributes a browser shows."""

    SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-original-title")

    #: elements without an end tag: they open no element to skip
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # scripts, and what the page itself marks as another language (an English label, the language menu)
        if tag in ("script", "style", "template") or (attrs.get("lang") or "pl")[:2] != "pl":
            if tag not in self.VOID:
                self._hidden.append(tag)
            return
        if self._hidden:
            if tag not in self.VOID:
                self._hidden.append(tag)
            return
        for name in self.SHOWN_ATTRIBUTES:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if self._hidden and tag == self._hidden[-1]:
            self._hidden.pop()

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def foreign_words(html: str, english: set[str]) -> set[str]:
    reader = ReadText()
    reader.feed(html)
    found = set()
    for part in reader.parts:
        text = EMAIL.sub(" ", part)
        found.update(CODE_NAME.findall(text))
        found.update(word for word in WORD.findall(text) if word in english)
    return found


def menu_links(html: str) -> list[str]:
    """The pages the navigation bar offers (its links, menus and user menu)."""
    start = html.index('class="navbar-collapse')
    nav = html[start:html.index('id="navbar-logout"', start)]
    links = re.findall(r'href="(/[^"#]*)"', nav)
    return sorted({link for link in links if not NOT_SCREENS.search(link)})


def record_links(html: str) -> list[str]:
    """A list page's first show and edit links, and its add link."""
    found = []
    for action in ("show", "edit"):
        match = re.search(rf'href="(/\w+/{action}/\d+)[^"]*"', html)
        if match:
            found.append(match.group(1))
    add = re.search(r'href="(/\w+/add)[^"]*"', html)
    if add:
        found.append(add.group(1))
    return found


@pytest.fixture(scope="module")
def demo_records(app):
    """A few demo cards with every kind of row, a request and a restriction, as a working office has."""
    from datetime import date

    from crm.clients.models import Client
    from crm.demo import load_demo
    from crm.extensions import db
    from crm.gdpr import erasure
    from crm.gdpr.models import DataSubjectRequest, Restriction

    with app.app_context():
        load_demo(6, seed=15)
        card = db.session.scalars(db.select(Client).order_by(Client.id.desc())).first()
        card.restrictions.append(Restriction(since=date(2026, 11, 2), reason="Osoba kwestionuje dane"))
        db.session.add(DataSubjectRequest(client=card, kind="access", received_on=date(2026, 11, 20), due_on=date(2026, 12, 20)))
        db.session.commit()
        # an erasure, recorded with what it removed place by place
        demo = db.session.scalars(db.select(Client.id).order_by(Client.id.desc()).limit(6)).all()
        erasure.erase(db.session, demo[1], kind="retention", reason="Upłynął okres przechowywania")
        db.session.remove()


@pytest.mark.parametrize("role", [ADMINISTRATOR, MANAGER, BACK_OFFICE, DATA_PROTECTION_OFFICER, AUDITOR])
def test_every_page_a_role_reaches_reads_as_polish(app, make_user, demo_records, role):
    english = english_words()
    client = app.test_client()
    Auth(client).login(make_user(role, first_name="Halina", last_name=unique("Polska")), STAFF_PASSWORD)
    home = client.get("/", follow_redirects=True)
    pages = menu_links(home.text)
    assert len(pages) > 3, "the menu offers pages"
    seen, problems = set(), {}
    queue = list(pages)
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url, follow_redirects=True)
        if response.status_code != 200 or not response.mimetype == "text/html":
            continue
        words = foreign_words(response.text, english)
        if words:
            problems[url] = sorted(words)
        if url in pages:
            queue += [link for link in record_links(response.text) if link not in seen]
    assert not problems, "\n".join(f"{url}: {words}" for url, words in sorted(problems.items()))
