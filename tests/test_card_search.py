"""One search box: a card by any word (or the start of a word) of its name, its email, phone, NIP or PESEL."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique, unique_nip, unique_pesel
from tests.test_permission_matrix import admin_client, new_role, post_form, read_form, role_id

BOX = "_flt_0_word_index"


@pytest.fixture(scope="module")
def cards(app):
    """A person and a company, with every value the box finds them by."""
    from crm.clients.models import Client
    from crm.extensions import db

    surname = unique("Wężyk")
    person = {"kind": "person", "first_name": "Grzegorz", "last_name": f"{surname}-Źdźbło", "pesel": unique_pesel(),
              "email": f"{unique('g.wezyk')}@poczta.pl", "phone": f"+48 6{secrets.randbelow(10**8):08d}"}
    company = {"kind": "company", "company_name": f"Tartak {unique('Jodła')}", "nip": unique_nip(),
               "email": f"{unique('biuro')}@tartak.pl"}
    with app.app_context():
        rows = [Client(**person), Client(**company)]
        db.session.add_all(rows)
        db.session.commit()
        ids = {"person": rows[0].id, "company": rows[1].id}
        db.session.remove()
    return ids, person, company, surname


def found(client, term) -> tuple[set[int], str]:
    """The card ids the box finds for ``term``, and the result page."""
    page = client.get("/clientmodelview/list/")
    response = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), BOX: term})
    assert response.status_code == 302 and term.strip() not in response.headers["Location"]
    listing = client.get(response.headers["Location"])
    assert listing.status_code == 200
    return {int(pk) for pk in re.findall(r'/clientmodelview/show/(\d+)', listing.text)}, listing.text


def signed_in(app, username=None, password=STAFF_PASSWORD):
    client = app.test_client()
    Auth(client).login(*((username, password) if username else ()))
    return client


def test_the_box_finds_a_card_by_a_word_its_start_or_any_identifying_value(app, cards):
    ids, person, company, surname = cards
    client = signed_in(app)
    by = {
        "a whole word of the name": surname,
        "the start of a word, three letters": surname[:3],
        "the start without Polish letters and in lower case": "wez",
        "the second part of a double surname": "Źdźbło",
        "two words, both required": f"grzegorz {surname[:4]}",
        "the email, whatever its case": person["email"].upper(),
        "the phone, however written": person["phone"].replace(" ", ""),
        "the PESEL": person["pesel"],
    }
    for how, term in by.items():
        assert ids["person"] in found(client, term)[0], how
    assert found(client, f"{company['nip'][:3]}-{company['nip'][3:6]}-{company['nip'][6:8]}-{company['nip'][8:]}")[0] \
        == {ids["company"]}
    assert found(client, company["company_name"].split()[1][:-3])[0] == {ids["company"]}, "a start of the name"
    assert ids["person"] not in found(client, "Grzegorz Nieistniejący")[0], "every word must match"
    assert ids["person"] not in found(client, "We")[0], "two letters find whole words only"
    assert found(client, person["pesel"][:6])[0] == set(), "an identifier is found whole, not by its start"


def test_the_active_search_is_shown_above_the_list_and_cleared_with_one_click(app, cards):
    ids, person, _company, surname = cards
    client = signed_in(app)
    _found, page = found(client, surname[:4])
    line = re.search(r'<div class="alert alert-info" id="active-search">.*?</div>', page, re.S).group(0)
    assert "Nazwa lub nazwisko, e-mail, telefon, NIP lub PESEL" in line
    assert f"„{surname[:4]}”" in line, line
    clear = re.search(r'id="clear-search" href="([^"]+)"', line).group(1)
    assert clear == "/clientmodelview/list/"
    assert 'id="active-search"' not in client.get(clear).text
    page = client.get("/clientmodelview/list/")
    nothing = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), BOX: "  "})
    assert nothing.headers["Location"].endswith("/clientmodelview/list/"), "an empty box shows the whole list"


def test_the_box_is_in_the_navigation_bar_of_every_page_for_roles_that_list_clients(app, make_user, cards):
    ids, _person, _company, surname = cards
    client = signed_in(app)
    page = client.get("/my-logins/")
    form = re.search(r'<form[^>]*id="navbar-search".*?</form>', page.text, re.S).group(0)
    assert 'action="/clientmodelview/search"' in form and f'name="{BOX}"' in form
    response = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), BOX: surname})
    assert ids["person"] in {int(pk) for pk in re.findall(r"/clientmodelview/show/(\d+)", client.get(response.headers["Location"]).text)}
    # a role that does not list clients has no box
    admin, admin_auth = admin_client(app)
    role = new_role(admin, admin_auth, name=unique("Kadry "))
    assert post_form(admin, read_form(admin), add=[f"{role_id(app, role)}:registry.view"]).status_code == 302
    other = signed_in(app, make_user(role))
    assert 'id="navbar-search"' not in other.get("/my-logins/").text


def test_the_box_searches_only_what_the_role_sees_in_clear(app, make_user, cards):
    ids, person, _company, surname = cards
    admin, admin_auth = admin_client(app)
    role = new_role(admin, admin_auth, name=unique("Handel "))
    rid = role_id(app, role)
    capabilities = ("clients.view", "personal_data.see.identity")
    assert post_form(admin, read_form(admin), add=[f"{rid}:{key}" for key in capabilities]).status_code == 302
    client = signed_in(app, make_user(role))
    assert ids["person"] in found(client, surname[:3])[0]
    assert found(client, person["pesel"])[0] == set(), "a masked PESEL cannot be tried"
    assert found(client, person["email"])[0] == set(), "a masked email cannot be tried"
    auditor = signed_in(app, make_user("Auditor"))
    assert found(auditor, surname)[0] == set(), "masked names cannot be tried either"


def test_rebuilding_word_indexes_gives_stored_cards_their_word_starts(app, cards, db_session):
    from sqlalchemy import update

    from crm.clients.models import Client
    from crm.extensions import db
    from crm.privacy.crypto import word_token
    from crm.privacy.reindex import rebuild_word_indexes

    ids, person, _company, surname = cards
    with app.app_context():
        # as a card saved before word starts were indexed holds it
        whole_words = " ".join(sorted(word_token(word, "client.last_name") for word in re.findall(r"\w+", person["last_name"])))
        db.session.execute(update(Client).where(Client.id == ids["person"]).values(word_index=whole_words))
        db.session.commit()
        db.session.remove()
    client = signed_in(app)
    assert ids["person"] not in found(client, surname[:4])[0]
    with app.app_context():
        from sqlalchemy import func, select

        from crm.privacy.registry import declared

        with db.engine.begin() as connection:
            indexed = [model.__table__ for model, declaration in declared().items() if declaration.word_index]
            rows = sum(connection.scalar(select(func.count()).select_from(table)) for table in indexed)
            batches = []

            def progress(count):
                batches.append(count)
                assert sum(batches) <= rows, "a batch was read twice"

            # one row a batch (the cards of this test make two at least): every row once, no batch over its size
            assert rebuild_word_indexes(connection, batch_size=1, progress=progress) == rows
            assert sum(batches) == rows and max(batches) == 1
        db.session.remove()
    assert ids["person"] in found(client, surname[:4])[0]
    assert ids["person"] in found(client, "Grzegorz")[0], "the first name is indexed again too"


def test_a_list_page_counts_its_matches_only_up_to_the_limit_and_the_api_counts_all(app, db_session, make_user,
                                                                                   monkeypatch):
    """FAB counts every match for each page; past CRM_LIST_COUNT_LIMIT the pages end there."""
    from crm.clients.models import Client
    from tests.test_clients_api import token_for

    word = unique("Licznik")
    db_session(lambda s: (s.add_all(Client(kind="company", company_name=f"{word} {n}") for n in range(7)), s.commit()))
    monkeypatch.setitem(app.config, "CRM_LIST_COUNT_LIMIT", 3)
    client = signed_in(app)
    page = client.get("/clientmodelview/list/")
    moved = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), BOX: word})
    first = client.get(moved.headers["Location"] + "&psize_ClientModelView=2")
    shown = set(re.findall(r"/clientmodelview/show/(\d+)", first.text))
    assert first.status_code == 200 and len(shown) == 2
    # 7 matches, 2 a page: counted as 4 (the limit and one more), so two pages, not four
    assert "page_ClientModelView=1" in first.text and "page_ClientModelView=2" not in first.text
    assert "Ponad 3 wyników: strony kończą się na tej liczbie." in first.text
    later = client.get(moved.headers["Location"] + "&psize_ClientModelView=2&page_ClientModelView=3")
    assert later.status_code == 200 and len(set(re.findall(r"/clientmodelview/show/(\d+)", later.text))) == 1
    # exactly as many matches as the limit: all of them are counted, and nothing is said
    monkeypatch.setitem(app.config, "CRM_LIST_COUNT_LIMIT", 7)
    whole = client.get(moved.headers["Location"] + "&psize_ClientModelView=2&page_ClientModelView=3")
    assert len(set(re.findall(r"/clientmodelview/show/(\d+)", whole.text))) == 1 and "Ponad 7" not in whole.text

    headers = token_for(app.test_client(), make_user("Back office"))
    query = {"filters": [{"col": "company_name", "opr": "has_word", "value": word}], "columns": ["id"]}
    answer = app.test_client().post("/api/v1/client/_search", json=query, headers=headers)
    assert answer.status_code == 200 and answer.json["count"] == 7
    # a value with no word in it finds no card, not every card
    query["filters"][0]["value"] = "-- ?!"
    answer = app.test_client().post("/api/v1/client/_search", json=query, headers=headers)
    assert answer.status_code == 200 and answer.json["count"] == 0
    query["filters"] = [{"col": "phone", "opr": "equals", "value": "-- ?!"}]
    answer = app.test_client().post("/api/v1/client/_search", json=query, headers=headers)
    assert answer.status_code == 200 and answer.json["count"] == 0, "no digit in it: no card has that number"


def test_every_list_and_api_keeps_its_filters_per_request(app):
    """FAB keeps a view's active filters on the view; under a threaded server requests share it."""
    from flask_appbuilder.baseviews import BaseCRUDView
    from flask_appbuilder.api import ModelRestApi

    from crm.extensions import appbuilder

    views = [view for view in appbuilder.baseviews if isinstance(view, (BaseCRUDView, ModelRestApi))]
    assert len(views) > 10
    for view in views:
        column = next(iter(view._filters.get_search_filters()), None)
        if column is None:
            continue
        with app.test_request_context():
            mine = view._filters
            mine.add_filter_index(column, 0, "kept by this request")
            assert view._filters is mine
        with app.test_request_context():
            assert view._filters.get_filters_values() == [], type(view).__name__


def test_two_people_searching_at_once_each_see_only_their_own_search(app, db_session, make_user):
    """One person searches for a card while another opens the whole list, in two threads of one server."""
    import threading

    from crm.clients.models import Client
    from crm.security.roles import BACK_OFFICE

    word = unique("Równoległa")
    card = db_session(lambda s: (s.add(row := Client(kind="company", company_name=f"{word} sp. z o.o.")),
                                 s.add(Client(kind="company", company_name=unique("Inna "))), s.commit(), row.id)[-1])
    searcher, lister = signed_in(app, make_user(BACK_OFFICE)), signed_in(app, make_user(BACK_OFFICE))
    token = csrf_token(searcher.get("/clientmodelview/list/").text)
    wrong: list[str] = []

    def search():
        for _ in range(60):
            moved = searcher.post("/clientmodelview/search", data={"csrf_token": token, BOX: word})
            listing = searcher.get(moved.headers["Location"])
            if set(re.findall(r"/clientmodelview/show/(\d+)", listing.text)) != {str(card)}:
                wrong.append("the search lost its filter")

    def browse():
        for _ in range(60):
            listing = lister.get("/clientmodelview/list/")
            shown = set(re.findall(r"/clientmodelview/show/(\d+)", listing.text))
            if 'id="active-search"' in listing.text or shown == {str(card)}:
                wrong.append("another person's search on the list")

    people = [threading.Thread(target=search), threading.Thread(target=browse)]
    for person in people:
        person.start()
    for person in people:
        person.join()
    assert wrong == []


def test_a_filter_on_a_column_the_user_sees_masked_refuses_itself_however_it_was_built(app, make_user):
    """The list and the API refuse such a search before building it (tested with them); the filter
    refuses too, for a way of building it they do not check (a related tab, a view yet to come)."""
    from flask import g
    from flask_babel import force_locale
    from flask_login import login_user
    from werkzeug.exceptions import Forbidden

    from crm.clients.models import Client
    from crm.extensions import appbuilder, db
    from crm.privacy.filters import FilterBlindIndexEqual, FilterHasWord, PrivacyAwareInterface

    filters = ((FilterBlindIndexEqual, "email", "szukana@firma.pl"), (FilterHasWord, "last_name", "Nowak"))
    for role, refused in (("Auditor", True), ("Back office", False)):
        with app.test_request_context(), force_locale("pl"):
            g.user = appbuilder.sm.find_user(username=make_user(role))
            login_user(g.user)
            datamodel = PrivacyAwareInterface(Client)
            for filter_class, column, value in filters:
                query = db.session.query(Client.id)
                if not refused:
                    assert filter_class(column, datamodel).apply(query, value).all() == []
                    continue
                with pytest.raises(Forbidden) as refusal:
                    filter_class(column, datamodel).apply(query, value)
                assert refusal.value.kartoteka_message.startswith(
                    "Twoja rola widzi ten rodzaj danych osobowych zamaskowany"), column
            db.session.remove()


def test_ciphertext_is_searched_only_through_its_index(app):
    """An encrypted column is found by its blind or word index; one without an index is offered no
    filter at all, whichever screen or API would name it: FAB's own text filters would compare the
    random ciphertext with LIKE, finding nothing, or anything."""
    from crm.privacy.filters import PrivacyAwareInterface
    from crm.privacy.registry import declared

    searched, unsearched = set(), set()
    with app.app_context():
        for model, declaration in declared().items():
            encrypted = [column for column, personal in declaration.columns.items() if personal.encrypted]
            offered = PrivacyAwareInterface(model).get_filters(encrypted).get_search_filters()
            for column, filters in offered.items():
                assert {type(found).__module__ for found in filters} == {"crm.privacy.filters"}, (model, column)
            searched |= {f"{model.__name__}.{column}" for column in offered}
            unsearched |= {f"{model.__name__}.{column}" for column in encrypted if column not in offered}
    assert {"Client.email", "Client.company_name"} <= searched and {"Client.street", "Note.text"} <= unsearched
