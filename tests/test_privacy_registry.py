"""Every personal-looking column of every mapped table is declared in the registry."""

from __future__ import annotations

import re

import pytest
from flask_appbuilder import Model
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class

from crm.privacy.registry import Erasure, Personal, PersonalData, RegistryError, declaration_of, declare, declared
from crm.privacy.types import EncryptedString

#: Column names that usually hold data about a person.
LOOKS_PERSONAL = re.compile(
    r"name|mail|phone|street|address|addr|postal|zip|city|nip|pesel|remark|note|text|comment|"
    r"position|birth|login|ip_|_ip$|iban|account_number",
    re.IGNORECASE,
)
#: Personal-looking names that are not about a person, and why.
NOT_PERSONAL = {
    "mailing_list.name": "the list's own name",
    "mailing_list.description": "the list's own description",
    "processing_activity.name": "a processing activity of the record (Art. 30), not a person",
    "ab_role.name": "a role",
    "permission_change.role_name": "a role, as named when its permissions changed",
    "attribute_definition.position": "the order of an attribute on the card (not a job position)",
    "attribute_definition.label_pl": "an attribute's name",
    "attribute_definition.label_en": "an attribute's name",
    "ab_permission.name": "a permission",
    "ab_view_menu.name": "a screen or menu",
    "ab_group.name": "a staff group",
    "ab_group.label": "a staff group",
    "ab_api_key.name": "an API key's label",
    "ab_user.login_count": "a counter",
    "ab_user.fail_login_count": "a counter",
}
CONTINUUM_COLUMNS = {"transaction_id", "end_transaction_id", "operation_type"}


def declared_columns() -> dict[str, Personal]:
    columns = {}
    for model, declaration in declared().items():
        for name, personal in declaration.columns.items():
            columns[f"{model.__table__.name}.{name}"] = personal
        for name in declaration.derived:
            columns[f"{model.__table__.name}.{name}"] = None
    return columns


def live_name(table_name: str) -> str:
    return table_name.removesuffix("_version")


def test_every_personal_looking_column_is_declared(app):
    configure_mappers()
    known = declared_columns()
    undeclared = []
    for table in Model.metadata.sorted_tables:
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            parent = f"{live_name(table.name)}.{column.name}"
            if column.name in CONTINUUM_COLUMNS or name in NOT_PERSONAL or parent in NOT_PERSONAL:
                continue
            if column.name.endswith("_id"):
                continue  # a reference to another row, not a value about a person
            if LOOKS_PERSONAL.search(column.name) and name not in known and parent not in known:
                undeclared.append(name)
    assert undeclared == []


def test_every_table_referring_to_a_client_is_a_place_of_the_persons_data(app):
    """A row pointing at a card tells something about the person: erasure, export and the audit must know of it.

    A database cascade would delete it with the card, but nothing would count it, check it, or find it in a copy.
    """
    configure_mappers()
    places = {(model.__table__.name, declaration.subject) for model, declaration in declared().items()}
    referring = {
        (table.name, key.parent.name)
        for table in Model.metadata.sorted_tables if not table.name.endswith("_version")
        for key in table.foreign_keys if key.column.table.name == "client"
    }
    assert referring - places == set()


def test_version_tables_store_the_same_ciphertext_types_as_their_tables(app):
    configure_mappers()
    for model, declaration in declared().items():
        try:
            version_table = version_class(model).__table__
        except Exception:
            continue  # not versioned (staff accounts, transactions)
        for name, personal in declaration.columns.items():
            if personal.encrypted:
                assert isinstance(version_table.c[name].type, EncryptedString), f"{version_table.name}.{name}"


def test_registry_holds_the_client_card_and_its_places():
    tables = {model.__table__.name: declaration for model, declaration in declared().items()}
    assert {"client", "contact_person", "note", "subscription", "ab_user", "transaction"} <= set(tables)
    assert tables["client"].subject == "id" and tables["note"].subject == "client_id"
    assert tables["client"].columns["pesel"].blind_index == "identifier"
    assert tables["ab_user"].erasure is Erasure.ANONYMISE


def test_a_declaration_that_does_not_match_its_columns_is_refused():
    from crm.clients.models import Client

    with pytest.raises(RegistryError):
        declare(Client, PersonalData(description="x", columns={"shoe_size": Personal("x")}, erasure=Erasure.DELETE, subject="id"))
    with pytest.raises(RegistryError):
        declare(Client, PersonalData(description="x", columns={"country": Personal("x")}, erasure=Erasure.DELETE, subject="id"))


def test_personal_data_page_lists_the_registry_for_the_dpo(client, auth, make_user):
    from tests.conftest import STAFF_PASSWORD

    auth.login(make_user("Data protection officer"), STAFF_PASSWORD)
    page = client.get("/personal-data/")
    assert page.status_code == 200
    assert "client.pesel" in page.text and "Identyfikatory urzędowe (NIP, PESEL)" in page.text
    assert "transaction.remote_addr" in page.text
    assert "subscription.*" in page.text
    assert page.text.count("<tr>") - 1 == sum(len(d.columns) or 1 for d in declared().values())


def test_each_row_of_the_personal_data_page_says_where_what_whose_how_kept_found_and_erased(client, auth, make_user):
    """Place, field, category, whose, encrypted, search, erasure: a row of each kind, read as the officer does."""
    import re

    from tests.conftest import STAFF_PASSWORD

    auth.login(make_user("Data protection officer"), STAFF_PASSWORD)
    body = client.get("/personal-data/").text.split("<tbody>")[1].split("</tbody>")[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows[re.search(r'data-column="([^"]+)"', row).group(1)] = [" ".join(cell.split()) for cell in cells]
    cards, gone = "Karty klientów: osoba albo firma i jej ludzie", "wiersz jest usuwany wraz z historią"
    assert rows["client.pesel"] == [cards, "PESEL", "Identyfikatory urzędowe (NIP, PESEL)", "klienta", "tak",
                                    "dokładny identyfikator", gone]
    assert rows["client.last_name"] == [cards, "Nazwisko", "Tożsamość (imiona, nazwiska, nazwy)", "klienta", "tak",
                                        "jedno słowo", gone]
    assert rows["client.remarks"] == [cards, "Uwagi", "Dowolny tekst o osobie", "klienta", "tak", "", gone]
    assert rows["subscription.*"] == ["Zapisy klientów na listy mailingowe", "(cały wiersz)", "Samo powiązanie z klientem",
                                      "klienta", "nie", "", gone]
    # a column no screen shows is named in words; the change history keeps its rows, emptied
    assert rows["transaction.remote_addr"] == [
        "Historia zmian: adres, z którego przyszła każda zmiana", "Adres IP, z którego przyszła zmiana",
        "Identyfikatory internetowe (adres IP)", "pracownika", "tak", "", "kolumny są czyszczone, wiersz zostaje"]


def test_personal_data_page_is_closed_to_back_office(client, auth, make_user):
    from tests.conftest import STAFF_PASSWORD

    auth.login(make_user("Back office"), STAFF_PASSWORD)
    assert client.get("/personal-data/").status_code == 403


def test_word_indexed_columns_of_different_categories_are_refused():
    """The search box hashes the words of all of a record's names together: they must be searchable together."""
    from crm.clients.models import Client
    from crm.privacy.categories import ADDRESS, IDENTITY

    declaration = declaration_of(Client)
    with pytest.raises(RegistryError, match="share one category"):
        declare(Client, PersonalData(
            description="x", erasure=Erasure.DELETE, subject="id", word_index=("last_name", "city"),
            columns={**declaration.columns, "last_name": Personal(IDENTITY, encrypted=True),
                     "city": Personal(ADDRESS, encrypted=True, blind_index="text")},
        ))
