"""The client REST API with JWT tokens: writes are versioned with the API user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class, versioning_manager

from crm.clients.models import Client
from crm.security.roles import MANAGER
from tests.conftest import STAFF_PASSWORD, unique, unique_nip
from tests.test_clients_forms import find_client

configure_mappers()
ClientVersion = version_class(Client)


def token_for(client, username, password=STAFF_PASSWORD):
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db"},
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def new_company(**overrides):
    body = {
        "kind": "company",
        "company_name": unique("Spółdzielnia „Tęcza” "),
        "email": f"{unique('api')}@tecza.pl",
        "nip": "{0}{1}{2}-{3}{4}{5}-{6}{7}-{8}{9}".format(*unique_nip()),
        "postal_code": "00-950",
        "city": "Warszawa",
        "status": "active",
    }
    body.update(overrides)
    return body


def test_api_write_is_versioned_with_the_api_user(client, make_user, db_session):
    username = make_user("Back office")
    headers = token_for(client, username)
    body = new_company()
    response = client.post(
        "/api/v1/client/", json=body, headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.44"}
    )
    assert response.status_code == 201, response.json
    client_id = response.json["id"]

    def check(s):
        saved = s.get(Client, client_id)
        assert saved.nip == body["nip"].replace("-", "")
        user_id, remote_addr = s.execute(
            select(versioning_manager.transaction_cls.user_id, versioning_manager.transaction_cls.remote_addr)
            .join(ClientVersion, ClientVersion.transaction_id == versioning_manager.transaction_cls.id)
            .where(ClientVersion.id == client_id)
        ).one()
        from crm.extensions import appbuilder

        assert user_id == appbuilder.sm.find_user(username=username).id
        assert remote_addr == "192.0.2.44"
        assert saved.owner.username == username

    db_session(check)


def test_api_put_needs_current_lock_version(client, make_user, db_session):
    headers = token_for(client, make_user("Manager"))
    client_id = client.post("/api/v1/client/", json=new_company(), headers=headers).json["id"]
    shown = client.get(f"/api/v1/client/{client_id}", headers=headers).json["result"]
    assert shown["lock_version"] == 1

    missing = client.put(f"/api/v1/client/{client_id}", json={"city": "Radom"}, headers=headers)
    assert missing.status_code == 422 and "lock_version" in missing.json["message"]

    ok = client.put(f"/api/v1/client/{client_id}", json={"city": "Radom", "lock_version": 1}, headers=headers)
    assert ok.status_code == 200, ok.json
    stale = client.put(f"/api/v1/client/{client_id}", json={"city": "Kielce", "lock_version": 1}, headers=headers)
    assert stale.status_code == 409
    assert "Someone else saved this record" in stale.json["message"] or "Ktoś inny" in stale.json["message"]
    saved = db_session(lambda s: s.get(Client, client_id))
    assert saved.city == "Radom" and saved.lock_version == 2


def test_api_refuses_invalid_values_with_field_messages(client, make_user, db_session):
    headers = token_for(client, make_user("Manager"))
    body = new_company(nip="5260250275", email="not-an-email", postal_code="0095")
    response = client.post("/api/v1/client/", json=body, headers=headers, query_string={"_l_": "en"})
    assert response.status_code == 422
    messages = response.json["message"]
    assert set(messages) >= {"nip", "email", "postal_code"}
    assert "not a valid NIP" in messages["nip"][0]
    assert find_client(db_session, company_name=body["company_name"]) is None


def test_api_messages_follow_the_requested_language(client, make_user):
    headers = token_for(client, make_user("Manager"))
    response = client.post(
        "/api/v1/client/", json=new_company(nip="1"), headers=headers, query_string={"_l_": "pl"}
    )
    assert "To nie jest poprawny NIP" in response.json["message"]["nip"][0]


def test_api_refuses_non_json_and_unknown_ids(client, make_user):
    headers = token_for(client, make_user("Manager"))
    assert client.post("/api/v1/client/", data="kind=company", headers=headers).status_code == 400
    assert client.get("/api/v1/client/999999", headers=headers).status_code == 404
    assert client.put("/api/v1/client/999999", json={"lock_version": 1}, headers=headers).status_code == 404
    assert client.delete("/api/v1/client/999999", headers=headers).status_code == 404


def test_api_without_token_or_with_bad_token_is_refused(client):
    assert client.get("/api/v1/client/").status_code == 401
    bad = {"Authorization": "Bearer not.a.token"}
    assert client.get("/api/v1/client/", headers=bad).status_code in (401, 422)


def test_api_does_not_accept_the_browser_session(client, auth):
    auth.login()
    assert client.get("/api/v1/client/").status_code == 401


def test_read_only_role_cannot_write_through_the_api(client, make_user):
    headers = token_for(client, make_user("Auditor"))
    assert client.get("/api/v1/client/", headers=headers).status_code == 200
    assert client.post("/api/v1/client/", json=new_company(), headers=headers).status_code == 403


def test_openapi_document_describes_the_client_api(client, make_user):
    headers = token_for(client, make_user("Manager"))
    spec = client.get("/api/v1/_openapi", headers=headers)
    assert spec.status_code == 200
    paths = spec.json["paths"]
    assert {"/api/v1/client/", "/api/v1/client/{pk}", "/api/v1/security/login"} <= set(paths)
    put_schema = spec.json["components"]["schemas"]["ClientApi.put"]["properties"]
    assert "nip" in put_schema and "pesel" in put_schema


def test_owner_is_chosen_by_id_and_an_unknown_id_is_refused(client, make_user, db_session):
    from crm.extensions import appbuilder

    owner = make_user("Back office")
    owner_id = db_session(lambda s: appbuilder.sm.find_user(username=owner).id)
    headers = token_for(client, make_user("Manager"))
    created = client.post("/api/v1/client/", json=new_company(owner=owner_id), headers=headers)
    assert created.status_code == 201
    assert created.json["result"]["owner"] == owner_id
    refused = client.post("/api/v1/client/", json=new_company(owner=987654), headers=headers, query_string={"_l_": "en"})
    assert refused.status_code == 422
    assert refused.json["message"]["owner"] == ["There is no such record."]


def test_api_put_racing_another_save_answers_409(app, client, make_user, db_session, monkeypatch):
    from tests.test_clients_forms import save_concurrently_during

    headers = token_for(client, make_user("Manager"))
    client_id = client.post("/api/v1/client/", json=new_company(city="Opole"), headers=headers).json["id"]
    save_concurrently_during(monkeypatch, app, client_id)
    response = client.put(f"/api/v1/client/{client_id}", json={"city": "Radom", "lock_version": 1}, headers=headers)
    assert response.status_code == 409
    saved = db_session(lambda s: s.get(Client, client_id))
    assert saved.city == "Opole" and saved.lock_version == 2


def test_a_search_can_be_posted_so_that_no_personal_value_is_in_the_address(client, make_user):
    headers = token_for(client, make_user("Back office"))
    email = f"{unique('szukana')}@firma.pl"
    card = client.post("/api/v1/client/", json=new_company(email=email), headers=headers).json["id"]
    query = {"filters": [{"col": "email", "opr": "equals", "value": email.upper()}], "columns": ["id", "email"]}
    found = client.post("/api/v1/client/_search", json=query, headers=headers)
    assert found.status_code == 200 and [row["id"] for row in found.json["result"]] == [card]
    assert found.json["result"][0]["email"] == email and found.json["count"] == 1
    import prison

    assert client.get(f"/api/v1/client/?q={prison.dumps(query)}", headers=headers).json["ids"] == [card], "the same answer as GET"

    assert client.post("/api/v1/client/_search", json=["not", "an", "object"], headers=headers).status_code == 400
    assert client.post("/api/v1/client/_search", json={"filters": [{"col": "nope", "opr": "eq", "value": 1}]},
                       headers=headers).status_code == 400
    assert client.post("/api/v1/client/_search", json=query).status_code == 401
    auditor = token_for(client, make_user("Auditor"))
    refused = client.post("/api/v1/client/_search", json=query, headers=auditor)
    assert refused.status_code == 403, "a role that sees the email masked may not search by it, posted or not"


def test_api_reads_count_towards_a_limit_per_account(app, make_user):
    first, second = make_user(MANAGER), make_user(MANAGER)
    client = app.test_client()
    headers, other = token_for(client, first), token_for(client, second)
    previous = app.config["CRM_API_READ_RATE_LIMIT"]
    app.config["CRM_API_READ_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.get("/api/v1/client/", headers=headers).status_code for _ in range(2)]
        codes += [client.post("/api/v1/client/_search", json={}, headers=headers).status_code for _ in range(2)]
        assert codes == [200, 200, 200, 429], "a posted search is a read like a GET"
        assert client.get("/api/v1/client/", headers=other).status_code == 200, "another account has its own count"
        card = client.post("/api/v1/client/", json={"kind": "company", "company_name": "Limit Sp. z o.o.", "status": "lead"},
                           headers=headers)
        assert card.status_code == 201, "a write is not counted as a read, nor refused when the reads are spent"
    finally:
        app.config["CRM_API_READ_RATE_LIMIT"] = previous
