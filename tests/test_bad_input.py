"""Malformed addresses, arguments and bodies get a 4xx with a message, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token
from tests.test_clients_api import new_company, token_for

MALFORMED_SCREEN_URLS = {
    "/clientmodelview/list/?page_ClientModelView=abc": 400,
    "/clientmodelview/list/?page_ClientModelView=-5": 400,
    "/clientmodelview/list/?page_ClientModelView=99999999999999999999": 400,
    "/clientmodelview/list/?psize_ClientModelView=abc": 400,
    "/clientmodelview/list/?psize_ClientModelView=1000000": 400,
    "/clientmodelview/list/?_oc_ClientModelView=nonexistent&_od_ClientModelView=asc": 400,
    "/clientmodelview/list/?_oc_ClientModelView=status&_od_ClientModelView=sideways": 200,
    "/clientmodelview/list/?_oc_ClientModelView=email&_od_ClientModelView=asc": 400,  # encrypted: not sortable
    "/clientmodelview/list/?_flt_0_created_at=notadate": 200,
    # SQLite compares text with an id and finds nothing; PostgreSQL refuses: both are not a 500
    "/clientmodelview/list/?_flt_0_owner=abc": (200, 400),
    "/clientmodelview/list/?_flt_0_mailing_lists=abc": (200, 400),
    "/clientmodelview/list/?_flt_0_nonexistent=1": 200,
    "/clientmodelview/show/abc": 404,
    "/clientmodelview/edit/abc": 404,
    "/clientmodelview/show/99999999999999999999999": 404,
    "/notemodelview/list/?_flt_0_occurred_on=2026-99-99": 200,
    "/no-such-page": 404,
}


@pytest.mark.parametrize(("url", "status"), MALFORMED_SCREEN_URLS.items())
def test_malformed_screen_address_answers_4xx_or_ignores_the_argument(client, auth, url, status):
    auth.login()
    response = client.get(url)
    assert response.status_code in (status if isinstance(status, tuple) else (status,))


def test_error_page_is_translated_and_carries_no_traceback(client, auth):
    auth.login()
    response = client.get("/clientmodelview/list/?page_ClientModelView=abc")
    assert "Numer strony, rozmiar strony lub kolejność sortowania w adresie są nieprawidłowe." in response.text
    assert "Traceback" not in response.text
    client.get("/lang/en")
    response = client.get("/no-such-page")
    assert "There is no such page or record." in response.text
    client.get("/lang/pl")


def test_expired_or_missing_csrf_token_is_explained(client, auth):
    auth.login()
    response = client.post("/clientmodelview/add", data={"kind": "company", "company_name": "X"})
    assert response.status_code == 400
    assert "Formularz wygasł" in response.text


def test_every_form_post_without_its_csrf_token_is_refused_before_it_changes_anything(app, client, auth, db_session):
    """Each screen's POST (an erasure, an unlock, a save...) needs the session's token: no route is exempt."""
    from tests.test_gdpr import full_card, rows_about
    from tests.test_route_access import url_for_rule

    card, _ = full_card(app, db_session)
    ids = {view: card for view in ("ClientModelView", "GdprView", "ClientHistoryView")}
    auth.login()
    # RFC 8058: a mail program posts the one-click unsubscribe without a form; the signed link is the credential
    exempt = {"/privacy/unsubscribe/<token>"}
    posted = [
        rule for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/") and rule.rule not in exempt
    ]
    assert len(posted) > 60
    accepted = []
    for rule in posted:
        response = client.post(url_for_rule(rule, ids, existing=True), data={"confirm": str(card), "reason": "x" * 40})
        if response.status_code != 400 or "Formularz wygasł" not in response.text:
            accepted.append((rule.rule, response.status_code))
    assert accepted == []
    assert rows_about(db_session, card) != {}


def test_oversized_form_field_is_refused_with_413(client, auth):
    auth.login()
    response = client.post(
        "/clientmodelview/add", data={"csrf_token": auth.csrf, "kind": "company", "company_name": "x" * (17 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert "zbyt duże" in response.text


def test_unknown_choices_in_a_form_are_refused(client, auth):
    auth.login()
    page = client.get("/clientmodelview/add")
    response = client.post(
        "/clientmodelview/add",
        data={"csrf_token": csrf_token(page.text), "kind": "weird", "status": "zz", "owner": "999999", "company_name": "Q"},
    )
    assert response.status_code == 422
    assert "Nieprawidłowy wybór" in response.text or "Not a valid choice" in response.text


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/api/v1/client/?q=garbage", None, 400),
        ("GET", "/api/v1/client/?q=(page:abc)", None, 400),
        ("GET", "/api/v1/client/99999999999999999999999", None, 404),
        ("POST", "/api/v1/client/", ["not", "an", "object"], 400),
        ("POST", "/api/v1/client/", {"kind": "alien", "company_name": "X"}, 422),
        ("POST", "/api/v1/client/", {"kind": "company", "company_name": "X" * 5000}, 422),
        ("POST", "/api/v1/client/", {"kind": "company", "company_name": "X", "owner": 999999}, 422),
    ],
)
def test_malformed_api_request_answers_4xx(client, make_user, method, url, body, status):
    headers = token_for(client, make_user("Manager"))
    response = client.open(url, method=method, json=body, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert "message" in response.json


def test_api_put_with_malformed_body_or_lock_version_is_refused(client, make_user):
    headers = token_for(client, make_user("Manager"))
    client_id = client.post("/api/v1/client/", json=new_company(), headers=headers).json["id"]
    response = client.put(f"/api/v1/client/{client_id}", json={"lock_version": "abc"}, headers=headers)
    assert response.status_code == 422
    response = client.put(f"/api/v1/client/{client_id}", json=["not", "an", "object"], headers=headers)
    assert response.status_code == 400


def test_api_cannot_create_a_related_record_through_a_relation(client, make_user, db_session):
    from crm.extensions import appbuilder

    headers = token_for(client, make_user("Manager"))
    body = new_company(owner={"id": 777777, "username": "intruder", "first_name": "I", "last_name": "N", "email": "i@n.pl"})
    response = client.post("/api/v1/client/", json=body, headers=headers)
    assert response.status_code in (400, 422)
    assert db_session(lambda s: appbuilder.sm.find_user(username="intruder")) is None


def _action_rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint.endswith((".action", ".action_post"))),
        key=lambda rule: rule.rule,
    )


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "administrator"])
def test_unknown_or_removed_action_names_answer_404_on_every_screen(app, client, auth, signed_in):
    rules = _action_rules(app)
    assert len(rules) >= 30, "every record screen mounts FAB's two action routes"
    if signed_in:
        auth.login()
    else:
        auth.csrf = csrf_token(client.get("/login/").text)
    for name in ("no_such_action", "copyrole"):  # copyrole: FAB's action the role screen removed
        for rule in rules:
            if rule.endpoint.endswith(".action_post"):
                response = client.post(rule.rule, data={"csrf_token": auth.csrf, "action": name, "rowid": "1"})
            else:
                url = rule.rule.replace("<string:name>", name).replace("<pk>", "1")
                response = client.post(url, data={"csrf_token": auth.csrf})
            assert response.status_code == 404, (rule.rule, name, response.status_code)
            assert "Tu nie ma takiej czynności." in response.text


def test_a_known_action_on_a_record_that_does_not_exist_answers_404(client, auth):
    auth.login()
    response = client.post("/users/action_post", data={"csrf_token": auth.csrf, "action": "lock", "rowid": "987654"})
    assert response.status_code == 404
    response = client.post("/users/action/lock/987654", data={"csrf_token": auth.csrf})
    assert response.status_code == 404


def test_api_record_asked_without_its_id_column_answers(client, make_user):
    headers = token_for(client, make_user("Manager"))
    client_id = client.post("/api/v1/client/", json=new_company(), headers=headers).json["id"]
    response = client.get(f"/api/v1/client/{client_id}?q=(columns:!(email,pesel,remarks))", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.json["result"]) >= {"email", "pesel", "remarks"}
    response = client.get("/api/v1/client/?q=(columns:!(email,city))", headers=headers)
    assert response.status_code == 200
    assert all("id" not in row for row in response.json["result"])


def _nested_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


JSON_ENDPOINTS = [
    ("POST", "/api/v1/security/login"),
    ("POST", "/api/v1/security/refresh"),
    ("POST", "/api/v1/client/"),
    ("PUT", "/api/v1/client/1"),
    ("POST", "/api/v1/gdpr/client/1/erasure"),
]


@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_json_nested_a_thousand_deep_is_refused_with_400(client, make_user, method, url):
    headers = {} if "security" in url else token_for(client, make_user("Administrator"))
    response = client.open(url, method=method, data=_nested_json(1000), content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json["message"] == "Żądanie ma zbyt głęboko zagnieżdżone wartości."


@pytest.mark.parametrize(
    "query",
    ["(" * 5000 + ")" * 5000, "(a:" * 3000 + "1" + ")" * 3000, "%5B" * 2000 + "%5D" * 2000],
    ids=["rison", "rison-objects", "json"],
)
def test_deeply_nested_query_argument_is_refused_with_400(client, make_user, query):
    headers = token_for(client, make_user("Manager"))
    for url in ("/api/v1/client/", "/api/v1/client/_info", "/api/v1/client/1"):
        response = client.get(f"{url}?q={query}", headers=headers)
        assert response.status_code == 400, url


@pytest.mark.parametrize("query", ["(page:100000000000000000000)", "(page:-1)", "(page_size:0)", "(page_size:100000)"])
def test_page_out_of_range_is_refused_with_400(client, make_user, query):
    headers = token_for(client, make_user("Manager"))
    response = client.get(f"/api/v1/client/?q={query}", headers=headers)
    assert response.status_code == 400
    assert "message" in response.json


def test_filter_value_out_of_the_databases_range_answers_400(client, make_user):
    headers = token_for(client, make_user("Manager"))
    response = client.get(
        "/api/v1/client/?q=(filters:!((col:status,opr:eq,value:lead)),page:0,order_column:id,order_direction:asc)",
        headers=headers,
    )
    assert response.status_code == 200
    # a number no key can be: refused by the documented range before the database sees it
    response = client.get("/api/v1/client/?q=(filters:!((col:owner,opr:rel_o_m,value:99999999999999999999)))", headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["message"] == "Argument q nie zgadza się z dokumentacją API w miejscu: filters/0"


@pytest.mark.parametrize(
    "query",
    ["(filters:!((col:nope,opr:eq,value:x)))", "(filters:!((col:status,opr:has_word,value:x)))", "(columns:!(password))",
     "(order_column:email)", "(unknown:1)", "(filters:!((col:status,opr:eq,value:x,extra:1)))"],
)
def test_a_query_argument_off_the_document_answers_400(client, make_user, query):
    headers = token_for(client, make_user("Manager"))
    response = client.get(f"/api/v1/client/?q={query}", headers=headers)
    assert response.status_code == 400 and response.json["message"].startswith("Argument q nie zgadza się")


def test_a_body_over_the_limit_answers_413_on_the_api(app, client, make_user):
    headers = token_for(client, make_user("Manager"))
    body = b'{"company_name": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b'"}'
    response = client.post("/api/v1/client/", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 413
    assert response.json["message"] == "Przesłane dane są zbyt duże."


def test_405_names_the_methods_the_address_accepts(client, auth, make_user):
    response = client.delete("/login/")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    headers = token_for(client, make_user("Manager"))
    response = client.patch("/api/v1/client/", headers=headers)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
    assert "message" in response.json


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer a.b.c", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer " + "e" * 5000],
)
def test_a_malformed_token_answers_401(client, authorization):
    response = client.get("/api/v1/client/", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json["message"].startswith("Brak tokenu dostępu")


def test_info_describes_no_field_with_the_catalogs_header(client, make_user):
    headers = token_for(client, make_user("Manager"))
    info = client.get("/api/v1/client/_info", headers=headers).json
    for field in info["add_columns"] + info["edit_columns"]:
        assert "Project-Id-Version" not in field["description"] + field["label"], field["name"]
        assert field["label"], field["name"]


def test_a_json_query_argument_reaches_fab_intact(client, make_user):
    """FAB decodes a JSON q twice; Kartoteka hands it over as rison, so "&", "+" and "%" survive."""
    import json
    from urllib.parse import quote

    headers = token_for(client, make_user("Manager"))
    created = client.post("/api/v1/client/", json=new_company(status="lead"), headers=headers).json["id"]
    query = {"filters": [{"col": "status", "opr": "not_in", "value": ["a & b", "c + d", "100%"]}],
             "order_column": "id", "order_direction": "desc"}
    response = client.get(f"/api/v1/client/?q={quote(json.dumps(query))}", headers=headers)
    assert response.status_code == 200, response.json
    assert created in response.json["ids"]


def test_rison_written_for_fab_reads_back_as_the_same_value():
    import prison
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from crm.guards import to_rison

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    values = st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=10,
    )

    @settings(max_examples=500, deadline=None)
    @given(values)
    def round_trip(value):
        assert prison.loads(to_rison(value)) == value

    round_trip()


@pytest.mark.parametrize("where", ["body", "query", "query-nul"])
def test_characters_that_are_not_text_are_refused_with_400(client, make_user, where):
    headers = token_for(client, make_user("Manager"))
    if where == "body":
        response = client.post("/api/v1/client/", data='{"kind": "company", "company_name": "A\\ud800B"}',
                               content_type="application/json", headers=headers)
    elif where == "query":
        response = client.get('/api/v1/client/?q={"filters":[{"col":"status","opr":"eq","value":"\\ud800"}]}', headers=headers)
    else:
        response = client.get("/api/v1/client/?q=(filters:!((col:status,opr:eq,value:'a%00b')))", headers=headers)
    assert response.status_code == 400
    assert "nie są tekstem" in response.json["message"]


def test_the_apis_field_messages_are_in_the_users_language(client, make_user):
    headers = token_for(client, make_user("Manager"))
    response = client.post("/api/v1/client/", json={**new_company(), "street": {}, "nope": 1}, headers=headers)
    assert response.status_code == 422
    assert response.json["message"] == {"street": ["To nie jest tekst."], "nope": ["Nieznane pole."]}
    response = client.post("/api/v1/client/", json={**new_company(), "city": "x" * 101}, headers=headers)
    assert response.json["message"] == {"city": ["Dłuższe niż dopuszczalne 100 znaków."]}


@pytest.mark.parametrize(("field", "limit"), [("company_name", 200), ("street", 200), ("city", 100), ("email", 254)])
def test_a_value_over_its_fields_limit_is_refused_on_the_form_and_the_api(app, client, auth, make_user, db_session, field, limit):
    """Encrypted columns keep their plaintext limit: one character over is refused, with the limit, and nothing is saved."""
    from tests.conftest import company_form
    from tests.test_clients_api import new_company, token_for
    from tests.test_clients_forms import add_client, find_client

    value = ("a" * (limit - 9) + "@firma.pl") if field == "email" else "Ż" * limit
    over = ("a" * (limit - 8) + "@firma.pl") if field == "email" else "Ż" * (limit + 1)
    auth.login()
    data = company_form()
    refused = add_client(client, {**data, field: over})
    assert refused.status_code == 422 and f"nie może mieć więcej niż {limit} znak" in refused.text, field
    assert find_client(db_session, company_name=data["company_name"] if field != "company_name" else over) is None
    saved = add_client(client, {**data, field: value})
    assert "Dodano rekord" in saved.text, field

    api = app.test_client()
    headers = token_for(api, make_user("Manager"))
    response = api.post("/api/v1/client/", json=new_company(**{field: over}), headers=headers)
    assert response.status_code in (400, 422) and field in response.json.get("message", {}), response.json
