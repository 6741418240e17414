"""Browser-facing protection: cookies, headers, caching, proxies, the local certificate."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crm.web_security import content_security_policy
from tests.conftest import csrf_token
from tests.test_cli import run_flask


def test_every_page_carries_the_security_headers(client, auth):
    auth.login()
    for path in ("/login/", "/clientmodelview/list/", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_inline_scripts_carry_the_responses_nonce(client, auth):
    auth.login()
    response = client.get("/clientmodelview/list/")
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text
    assert client.get("/clientmodelview/list/").headers["Content-Security-Policy"] != response.headers["Content-Security-Policy"]


def test_pages_and_api_answers_are_not_cached_but_static_files_are(client, auth, make_user):
    from tests.test_clients_api import token_for

    auth.login()
    assert client.get("/clientmodelview/list/").headers["Cache-Control"] == "no-store"
    headers = token_for(client, make_user("Manager"))
    assert client.get("/api/v1/client/", headers=headers).headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/appbuilder/css/ab.css").headers.get("Cache-Control", "")


def test_session_cookie_is_secure_httponly_and_samesite(client):
    cookie = client.get("/login/").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_csp_allows_no_inline_script_without_nonce():
    policy = content_security_policy("abc")
    assert "script-src 'self' 'nonce-abc'" in policy


@pytest.mark.parametrize(("hops", "expected"), [("1", "198.51.100.77"), ("0", "10.0.0.1")])
def test_forwarded_headers_count_only_behind_a_configured_proxy(databases, tmp_path, hops, expected):
    from config import TEST_ENCRYPTION_KEYS

    env = {
        "DATABASE_URL": databases.new(),
        "SECRET_KEY": "proxy-test-secret-0123456789abcdef0123456",
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_PROXY_FIX_HOPS": hops,
    }
    script = (
        "from flask import request\n"
        "from crm import create_app\n"
        "app = create_app()\n"
        "seen = {}\n"
        "@app.get('/probe')\n"
        "def probe():\n"
        "    seen.update(addr=request.remote_addr, scheme=request.scheme)\n"
        "    return 'ok'\n"
        "app.test_client().get('/probe', headers={'X-Forwarded-For': '198.51.100.77', 'X-Forwarded-Proto': 'https'},\n"
        "                      environ_base={'REMOTE_ADDR': '10.0.0.1'})\n"
        "print(seen['addr'])\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True, cwd=os.getcwd())
    assert result.stdout.strip() == expected, result.stderr


def test_tls_cert_command_writes_a_usable_self_signed_certificate(tmp_path):
    from config import TEST_ENCRYPTION_KEYS

    env = {
        "SECRET_KEY": "tls-test-secret-0123456789abcdef0123456789",
        "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
    }
    result = run_flask(["crm", "tls-cert", "--out", str(tmp_path / "tls"), "--name", "crm.example.pl", "--name", "10.1.2.3"], env)
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((tmp_path / "tls" / "key.pem").read_bytes(), password=None)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["crm.example.pl"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert stat.S_IMODE(os.stat(tmp_path / "tls" / "key.pem").st_mode) == 0o600


@pytest.mark.parametrize("path", ["/api/v1/_openapi", "/api/v1/client/", "/api/v1/client/_info"])
def test_no_api_endpoint_accepts_the_browsers_session_cookie(client, auth, path):
    auth.login()
    assert client.get("/clientmodelview/list/").status_code == 200
    response = client.get(path)
    assert response.status_code == 401, path
    assert "set-cookie" not in {name.lower() for name in response.headers.keys()}


def test_fabs_menu_api_is_not_offered(client, auth):
    auth.login()
    assert client.get("/api/v1/menu/").status_code == 404


def test_the_api_documentation_page_carries_its_document(client, auth):
    auth.login()
    page = client.get("/swagger/v1")
    assert page.status_code == 200
    assert 'id="openapi-document"' in page.text and "/api/v1/client/" in page.text
    assert client.get("/swagger/v9").status_code == 404


def decoded_session_cookie(client) -> str:
    """What anyone holding the cookie can read: Flask signs its session, it does not encrypt it."""
    import base64
    import zlib

    value = client.get_cookie("session").value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode("utf-8")


def test_a_posted_search_is_not_readable_in_the_session_cookie(client, auth):
    auth.login()
    page = client.get("/clientmodelview/list/")
    found = client.post(
        "/clientmodelview/search",
        data={"csrf_token": csrf_token(page.text), "_flt_0_pesel": "44051401359", "_flt_0_email": "tajny@adres.pl"},
    )
    assert found.status_code == 302
    listed = client.get(found.headers["Location"])
    assert listed.status_code == 200
    cookie = decoded_session_cookie(client)
    assert "crm_searches" in cookie
    for secret in ("44051401359", "tajny", "adres.pl", "_flt_0_pesel"):
        assert secret not in cookie


def test_a_search_term_too_long_for_the_session_is_refused(client, auth):
    auth.login()
    page = client.get("/clientmodelview/list/")
    response = client.post("/clientmodelview/search", data={"csrf_token": csrf_token(page.text), "_flt_0_city": "x" * 201})
    assert response.status_code == 400
    assert "najwyżej 200 znaków" in response.text


SECRET_SEARCH = "/api/v1/client/?q=(filters:!((col:email,opr:eq,value:'tajna.osoba@example.com')))"


@pytest.mark.parametrize("server", ["flask run", "gunicorn"])
def test_no_server_logs_the_query_string(app, server, tmp_path):
    """The development server and gunicorn both log the request, neither its query (a searched email)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from tests.conftest import same_database_env
    from tests.test_cli import PROJECT_ROOT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = {
        "flask run": [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
        "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "python:crm.gunicorn_config", "app:app"],
    }[server]
    env = same_database_env(app, KARTOTEKA_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", CRM_REQUIRE_HTTPS="false")
    log = tmp_path / "server.log"
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            answered = None
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{SECRET_SEARCH}", timeout=5)
                except urllib.error.HTTPError as error:
                    answered = error.code
                    break
                except OSError:
                    time.sleep(0.2)
            assert answered == 401
            time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(timeout=30)
    written = log.read_text()
    assert "/api/v1/client/" in written, written
    assert "tajna.osoba" not in written and "example.com" not in written and "q=" not in written
