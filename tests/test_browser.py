"""A person's path through the screens, in Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from crm.tls import write_self_signed_certificate
from tests.conftest import ADMIN_PASSWORD, unique, unique_pesel
from tests.test_jobs import company_rows, queue_url, workers  # noqa: F401  (fixtures: a real queue and worker)

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium must not reach for Google's services: this machine has no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def live_server(app, tmp_path_factory):
    """The app over HTTPS, with a certificate from our own tls-cert code."""
    cert, key = write_self_signed_certificate(tmp_path_factory.mktemp("tls"))
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    # The certificate is self-signed; the page's own policy violations are collected.
    context = browser.new_context(locale="pl-PL", ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert violations == [], "the pages must run under their Content-Security-Policy"


def log_in(page, base_url, username="admin", password=ADMIN_PASSWORD):
    page.goto(f"{base_url}/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Zaloguj się").or_(page.locator("input[type=submit]")).first.click()
    page.wait_for_url(f"{base_url}/")


def search_list(page, base_url, column_label, value):
    """Filter the client list through its search panel, as a person does."""
    page.goto(f"{base_url}/clientmodelview/list/")
    page.wait_for_load_state("networkidle")  # FAB binds the filter menu's handlers once its scripts have run
    page.locator("a.accordion-toggle", has_text="Szukaj").click()
    page.locator("#filter_form button.dropdown-toggle", has_text="Dodaj filtr").click()
    exact = re.compile(rf"^\s*{re.escape(column_label)}\s*$")
    page.locator("#filter_form .dropdown-menu a.filter", has_text=exact).first.click()
    field = page.locator("#filter_form table.filters input[name^='_flt_']").last
    field.wait_for(state="visible")
    field.fill(value)
    with page.expect_navigation(url=re.compile(r".*/clientmodelview/list/\?_s=.*")):
        page.locator("#filter_form button[type=submit]").click()


def test_add_edit_and_find_a_client_with_polish_characters(page, live_server):
    log_in(page, live_server)
    last_name = unique("Źdźbło-Wężyk")

    page.goto(f"{live_server}/clientmodelview/add")
    page.select_option("#kind", "person")
    page.fill("#first_name", "Grażyna")
    page.fill("#last_name", last_name)
    page.fill("#email", "grazyna.wezyk@poczta.pl")
    page.fill("#phone", "+48 512 345 678")
    page.fill("#street", "ul. Śląska 7/3")
    page.fill("#postal_code", "40-001")
    page.fill("#city", "Żory")
    page.fill("#pesel", unique_pesel())
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Dodano rekord" in page.content()

    search_list(page, live_server, "Nazwisko", last_name)
    assert "Wężyk" not in page.url, "search terms stay out of the address"
    row = page.locator("table tr", has_text=last_name)
    assert row.count() == 1
    assert "Żory" in row.inner_text()

    row.locator("a[href*='/clientmodelview/edit/']").click()
    page.fill("#city", "Łęczyca")
    page.fill("#postal_code", "99-100")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Zapisano zmiany" in page.content()

    search_list(page, live_server, "Miejscowość", "Łęczyca")
    row = page.locator("table tr", has_text=last_name)
    assert row.count() == 1
    assert "Grażyna" in row.inner_text() and "Łęczyca" in row.inner_text()


def test_invalid_nip_is_explained_on_the_form(page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server}/clientmodelview/add")
    page.fill("#company_name", unique("Hurtownia „Bałtyk” "))
    page.fill("#nip", "526-025-02-75")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "To nie jest poprawny NIP" in page.content()


def test_repeated_failures_lock_the_account_in_the_browser(page, live_server, make_user):
    from tests.conftest import STAFF_PASSWORD

    username = make_user("Back office")
    for _ in range(5):
        page.goto(f"{live_server}/login/")
        page.fill("#username", username)
        page.fill("#password", "zle-haslo-zle-haslo")
        page.locator("input[type=submit], button[type=submit]").first.click()
        page.wait_for_load_state()
        assert "Nieprawidłowa nazwa użytkownika lub hasło" in page.content()
    page.goto(f"{live_server}/login/")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/login/" in page.url and "Nieprawidłowa nazwa użytkownika lub hasło" in page.content()


def test_expired_password_leads_to_the_change_form_and_then_into_the_app(page, live_server, make_user, db_session):
    from datetime import timedelta

    from crm.extensions import appbuilder
    from crm.security.models import AccountState
    from crm.timeutil import utcnow
    from tests.conftest import STAFF_PASSWORD

    username = make_user("Back office")

    def expire(s):
        state = s.get(AccountState, appbuilder.sm.find_user(username=username).id)
        state.password_changed_at = utcnow() - timedelta(days=120)
        s.commit()

    db_session(expire)
    page.goto(f"{live_server}/login/")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/resetmypassword/form$"))
    assert "Wybierz nowe hasło" in page.content()
    page.fill("#current_password", STAFF_PASSWORD)
    page.fill("#password", "Niebieski-Tramwaj-Jedzie-Przez-Most")
    page.fill("#conf_password", "Niebieski-Tramwaj-Jedzie-Przez-Most")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Twoje hasło zostało zmienione." in page.content()
    page.goto(f"{live_server}/clientmodelview/list/")
    assert "/clientmodelview/list/" in page.url and "Karty klientów" in page.content()
    page.goto(f"{live_server}/my-logins/")
    assert "Hasło wygasło" in page.content()


def test_a_user_turns_on_two_factor_login_in_the_browser(page, live_server, make_user):
    import pyotp

    from tests.conftest import STAFF_PASSWORD

    username = make_user("Back office")
    log_in(page, live_server, username, STAFF_PASSWORD)
    page.goto(f"{live_server}/two-factor/setup")
    secret = page.locator("#totp-secret").inner_text()
    assert page.locator("img[src^='data:image/svg+xml']").count() == 1
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Potwierdź").click()
    page.wait_for_load_state()
    assert "Logowanie dwuskładnikowe jest włączone" in page.content()


def test_administrator_screens_of_security_and_data_protection_open(page, live_server):
    log_in(page, live_server)
    for path, text in [
        ("/personal-data/", "client.pesel"),
        ("/logineventmodelview/list/", "Historia logowań"),
        ("/password-change-requests/form", "Poproś o zmianę hasła"),
        ("/rolesecuritypolicyview/list/", "Logowanie dwuskładnikowe według ról"),
        ("/my-logins/", "Moje logowania"),
    ]:
        page.goto(f"{live_server}{path}")
        assert text in page.content(), path


def test_an_administrator_ticks_a_permission_and_the_role_sees_the_new_menu_item(page, browser, live_server, make_user):
    from tests.conftest import STAFF_PASSWORD

    role = unique("Recepcja ")
    log_in(page, live_server)
    page.goto(f"{live_server}/permissions/")
    page.fill("#new-role-name", role)
    page.get_by_role("button", name="Dodaj rolę").click()
    page.wait_for_load_state()
    assert f"Dodano rolę „{role}”" in page.content()
    username = make_user(role)

    colleague = browser.new_context(locale="pl-PL", ignore_https_errors=True).new_page()
    colleague.goto(f"{live_server}/login/")
    colleague.fill("#username", username)
    colleague.fill("#password", STAFF_PASSWORD)
    colleague.locator("input[type=submit], button[type=submit]").first.click()
    colleague.wait_for_load_state()
    assert colleague.locator("a[href='/clientmodelview/list/']").count() == 0

    page.get_by_label(f"{role}: Przeglądanie kart klientów").check()
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Zapisano. Zmienione uprawnienia: 1." in page.content()
    assert page.get_by_label(f"{role}: Przeglądanie kart klientów").is_checked()

    colleague.reload()
    colleague.locator("a.dropdown-toggle", has_text="Klienci").click()
    colleague.locator(".navbar a[href='/clientmodelview/list/']").click()
    colleague.wait_for_url(f"{live_server}/clientmodelview/list/")
    assert "Karty klientów" in colleague.content()
    colleague.context.close()


def test_the_matrix_ticks_a_whole_row_and_column_with_its_buttons(page, live_server):
    log_in(page, live_server)
    role = unique("Praktykanci ")
    page.goto(f"{live_server}/permissions/")
    page.fill("#new-role-name", role)
    page.get_by_role("button", name="Dodaj rolę").click()
    page.wait_for_load_state()
    column = page.locator("th", has_text=role)
    column.get_by_role("button", name="wszystko").click()
    boxes = page.locator(f"#role-matrix input[aria-label^='{role}: ']")
    assert boxes.count() > 10 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    column.get_by_role("button", name="nic").click()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.locator("tr[data-capability='notes.view']").get_by_role("button", name="wszystko").click()
    assert page.get_by_label(f"{role}: Przeglądanie notatek i aktywności").is_checked()


def test_a_manager_compares_two_versions_of_a_card_and_sees_the_change_highlighted(page, live_server, make_user):
    from tests.conftest import STAFF_PASSWORD

    log_in(page, live_server, make_user("Manager"), STAFF_PASSWORD)
    name = unique("Piekarnia „Pod Kłosem” ")
    page.goto(f"{live_server}/clientmodelview/add")
    page.fill("#company_name", name)
    page.fill("#city", "Zamość")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    search_list(page, live_server, "Nazwa firmy", name.split()[0])
    page.locator("table tr", has_text=name).locator("a[href*='/clientmodelview/edit/']").first.click()
    page.fill("#city", "Hrubieszów")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+$"))  # a save returns to the card

    page.locator("#card-history").click()
    page.wait_for_url(re.compile(r".*/history/client/\d+/$"))
    rows = page.locator("tr.history-change")
    assert rows.count() == 2
    rows.nth(1).locator("input[name=older]").check()
    rows.nth(0).locator("input[name=newer]").check()
    page.get_by_role("button", name="Porównaj").click()
    page.wait_for_url(re.compile(r".*/compare\?(older|newer)=\d+&(older|newer)=\d+$"))
    changed = page.locator("tr.field-changed")
    assert changed.count() == 1
    assert "Miejscowość" in changed.inner_text()
    assert "Zamość" in changed.inner_text() and "Hrubieszów" in changed.inner_text()
    assert "warning" in changed.get_attribute("class")


def test_the_data_protection_officer_exports_and_erases_a_person_from_a_request(page, app, live_server, make_user, db_session):
    import io
    import json
    import zipfile

    from tests.conftest import STAFF_PASSWORD
    from tests.test_gdpr import full_card, register_request, rows_about, signed_in

    card, data = full_card(app, db_session)
    officer = make_user("Data protection officer")
    request_id = register_request(signed_in(app, officer)[0], card, kind="erasure")

    log_in(page, live_server, officer, STAFF_PASSWORD)
    page.goto(f"{live_server}/datasubjectrequestmodelview/show/{request_id}")
    page.locator("#request-export").click()
    page.wait_for_url(re.compile(rf".*/gdpr/client/{card}/export\?request={request_id}$"))
    with page.expect_download() as download:
        page.locator("#export").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert json.loads(archive.read("export.json"))["places"]["client"]["rows"][0]["email"] == data["email"]

    # a second card of the same person (her PESEL, typed again by someone who confirmed the duplicate)
    from tests.conftest import person_form
    from tests.test_clients_forms import add_client, find_client

    twin = person_form(pesel=data["pesel"], confirm_duplicate="y")
    add_client(signed_in(app)[0], twin)
    twin_id = find_client(db_session, last_name=twin["last_name"]).id

    page.goto(f"{live_server}/datasubjectrequestmodelview/show/{request_id}")
    page.locator("#request-erase").click()
    page.wait_for_url(re.compile(rf".*/gdpr/client/{card}/erase\?request={request_id}$"))
    assert page.locator("#erasure-preview tr[data-table='note'] td").nth(1).inner_text() == "1"
    assert page.locator("#request option:checked").get_attribute("value") == str(request_id)
    sharing = page.locator("#sharing-cards")
    assert "PESEL" in sharing.inner_text() and f"#{twin_id}" in sharing.inner_text()
    sharing.locator(f"input[name='also'][value='{twin_id}']").check()
    page.fill("#confirm", str(card))
    page.get_by_role("button", name="Usuń na zawsze").click()
    page.wait_for_url(re.compile(rf".*/datasubjectrequestmodelview/show/{request_id}$"))
    assert "usunięta ze wszystkich miejsc" in page.content() and f"#{twin_id}" in page.content()
    assert rows_about(db_session, card) == {} and rows_about(db_session, twin_id) == {}


def test_an_administrator_defines_an_attribute_and_fills_it_on_a_card(page, app, live_server):
    from tests.test_attributes import archive

    key = unique("segment_").lower()
    log_in(page, live_server)
    page.goto(f"{live_server}/attributedefinitionmodelview/add")
    page.fill("#key", key)
    page.fill("#label_pl", "Segment klienta")
    page.fill("#label_en", "Client segment")
    page.select_option("#kind", "choice")
    page.fill("#choices", "Mały\nŚredni\nDuży")
    page.check("#in_list")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Dodano rekord" in page.content()
    try:
        name = unique("Tartak „Dąb” ")
        page.goto(f"{live_server}/clientmodelview/add")
        page.fill("#company_name", name)
        page.select_option(f"#attr_{key}", "Średni")
        page.get_by_role("button", name="Zapisz").click()
        page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+$"))  # the new card
        assert "Dodano rekord" in page.content()
        assert "Segment klienta" in page.content() and "Średni" in page.content()
        page.goto(f"{live_server}/clientmodelview/list/")
        row = page.locator("table tr", has_text=name)
        assert "Średni" in row.inner_text(), "the attribute shown in the list"
    finally:
        archive(app, key)


def add_company(page, base_url, company_name) -> str:
    """Add a company through its form; returns the address of its card."""
    page.goto(f"{base_url}/clientmodelview/add")
    page.fill("#company_name", company_name)
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+"))
    return page.url.split("?")[0]


def open_new_note_form(page, base_url, company_name):
    """Add a company through its form and open the form of a new note on its card."""
    card_id = add_company(page, base_url, company_name).rsplit("/", 1)[1]
    page.goto(f"{base_url}/notemodelview/add?_flt_0_client={card_id}")


def test_a_long_paste_is_kept_whole_and_counted_against_the_limit(page, live_server):
    log_in(page, live_server)
    open_new_note_form(page, live_server, unique("Tartak „Sosna” "))
    text = page.locator("#text")
    text.fill("ż" * 25_000)
    counter = page.locator("#text + .text-limit-counter")
    assert counter.inner_text() == "Za dużo o 5000 znaków: skróć tekst przed zapisaniem."
    assert text.evaluate("field => Array.from(field.value).length") == 25_000, "nothing is cut"
    text.fill("Krótka notatka")
    assert counter.inner_text() == "14 z 20\u00a0000 znaków"
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Dodano rekord" in page.content()


def test_a_date_is_picked_in_polish_from_monday_and_a_pasted_date_is_kept(page, live_server):
    log_in(page, live_server)
    open_new_note_form(page, live_server, unique("Piekarnia „Kłos” "))
    field = page.locator("#occurred_on")
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", field.input_value())
    field.click()
    picker = page.locator(".datepicker-days")
    assert picker.locator("th.dow").first.inner_text() == "pon", "weeks start on Monday"
    assert picker.locator("th.dow").nth(6).inner_text() == "nie"
    months = ["styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień",
              "październik", "listopad", "grudzień"]
    assert picker.locator(".datepicker-switch").inner_text().split()[0] in months
    picker.locator("td.day:not(.old):not(.new)", has_text=re.compile(r"^15$")).click()
    assert field.input_value().startswith("15."), "a picked day is written as Polish writes it"
    field.fill("")
    field.press_sequentially("05.03.2026")
    page.locator("#text").click()
    assert field.input_value() == "05.03.2026", "a typed or pasted date is kept"
    page.fill("#text", "Rozmowa o dostawach")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert "Dodano rekord" in page.content() and "05.03.2026" in page.content()


def test_the_card_form_follows_the_kind_of_client(page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server}/clientmodelview/add")
    page.select_option("#kind", "company")
    assert page.locator("#company_name").is_visible() and page.locator("#nip").is_visible()
    assert not page.locator("#first_name").is_visible() and not page.locator("#pesel").is_visible()
    page.select_option("#kind", "person")
    assert page.locator("#first_name").is_visible() and page.locator("#last_name").is_visible()
    assert page.locator("#pesel").is_visible() and not page.locator("#company_name").is_visible()
    # a person saved without a last name: the refused field stays in sight with its message
    page.fill("#first_name", "Bożena")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_load_state()
    assert page.locator("#last_name").is_visible()
    assert "Osoba musi mieć imię i nazwisko" in page.content()


def test_a_client_is_found_from_any_page_by_the_start_of_a_name(page, live_server):
    log_in(page, live_server)
    surname = unique("Wężykowska")
    page.goto(f"{live_server}/clientmodelview/add")
    page.select_option("#kind", "person")
    page.fill("#first_name", "Jadwiga")
    page.fill("#last_name", surname)
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+"))
    page.goto(f"{live_server}/my-logins/")
    box = page.locator("#navbar-search input[type=search]")
    box.fill(surname[:4].lower())
    box.press("Enter")
    page.wait_for_url(re.compile(r".*/clientmodelview/list/\?_s=.*"))
    assert surname[:4].lower() not in page.url, "the term stays out of the address"
    assert page.locator("table tr", has_text=surname).count() == 1
    assert f"„{surname[:4].lower()}”" in page.locator("#active-search").inner_text()
    page.locator("a.accordion-toggle", has_text="Szukaj").click()
    clear_filter = page.locator("#filter_form .select2-selection__clear").first
    assert clear_filter.get_attribute("title") == "Usuń wszystko", "the select boxes speak Polish"
    page.locator("#clear-search").click()
    page.wait_for_load_state()
    assert page.locator("#active-search").count() == 0


def test_a_manager_ticks_two_cards_and_changes_their_status_at_once(page, live_server):
    log_in(page, live_server)
    prefix = unique("Kaszuby ")
    for number in range(2):
        add_company(page, live_server, f"{prefix}{number}")
    box = page.locator("#navbar-search input[type=search]")
    box.fill(prefix)
    box.press("Enter")
    page.wait_for_url(re.compile(r".*/clientmodelview/list/\?_s=.*"))
    for number in range(2):
        page.locator("table tr", has_text=f"{prefix}{number}").locator("input[type=checkbox]").check()
    page.locator("button.dropdown-toggle", has_text="Akcje").click()
    page.locator("a", has_text="Zmień lub wyeksportuj zaznaczone karty").click()
    page.wait_for_url(f"{live_server}/clientmodelview/bulk")
    assert "Zaznaczone karty: 2." in page.locator("#bulk-count").inner_text()
    page.select_option("#status", "active")
    page.locator("#bulk-save").click()
    page.wait_for_load_state()
    assert "Zmieniono karty: 2, jednym krokiem w historii." in page.content()
    for number in range(2):
        assert "Aktywny" in page.locator("table tr", has_text=f"{prefix}{number}").inner_text()


def test_show_and_edit_open_on_the_record_whatever_tab_another_card_was_left_on(page, live_server):
    log_in(page, live_server)
    shown = [add_company(page, live_server, unique(f"Tartak „{name}” ")) for name in ("Sosna", "Jodła")]
    page.goto(shown[0])
    page.locator('a[data-toggle="tab"][href="#NoteModelView"]').click()
    assert page.locator("#NoteModelView").is_visible()
    page.goto(shown[1])
    assert page.locator("#Home").is_visible(), "another card opens on its own fields"
    page.goto(shown[0].replace("/show/", "/edit/"))
    assert page.locator("#company_name").is_visible(), "the edit form is never hidden behind a tab"
    page.goto(shown[0])
    assert page.locator("#NoteModelView").is_visible(), "the same card remembers its tab"


def test_a_back_office_day_in_polish(page, live_server, make_user):
    """Sign in, start from the own cards, add a person, find her by the start of her name from
    another page, note a call on her card, and find the card again on the start page."""
    from tests.conftest import STAFF_PASSWORD

    clerk = make_user("Back office", first_name="Bożena", last_name=unique("Biurowa"))
    log_in(page, live_server, clerk, STAFF_PASSWORD)
    assert "Dzień dobry, Bożena" in page.locator("#home-greeting").inner_text()
    assert "Nie masz jeszcze swoich kart" in page.locator("#home-my-cards").inner_text()
    page.get_by_role("link", name="Dodaj klienta").click()
    surname = unique("Żółkiewska")
    page.select_option("#kind", "person")
    page.fill("#first_name", "Teodora")
    page.fill("#last_name", surname)
    page.fill("#email", f"{unique('teodora')}@poczta.pl")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+"))
    assert "Dodano rekord" in page.content()

    page.goto(f"{live_server}/my-logins/")
    box = page.locator("#navbar-search input[type=search]")
    box.fill("zolk")
    box.press("Enter")
    page.wait_for_url(re.compile(r".*/clientmodelview/list/\?_s=.*"))
    page.locator("table tr", has_text=surname).locator("a[href*='/clientmodelview/show/']").first.click()
    page.wait_for_url(re.compile(r".*/clientmodelview/show/\d+"))
    card = page.url.split("?")[0]
    assert surname in page.locator("#card-crumbs").inner_text()
    page.locator('a[data-toggle="tab"][href="#NoteModelView"]').click()
    page.locator("#NoteModelView a[href*='/notemodelview/add']").first.click()
    page.wait_for_url(re.compile(r".*/notemodelview/add.*"))
    assert surname in page.locator("#card-crumbs").inner_text(), "the form says whose card it is for"
    page.select_option("#kind", "call")
    page.locator("#occurred_on").fill("02.12.2026")
    page.fill("#text", "Prosi o ofertę na przyszły kwartał")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(f"{card}*")
    assert "Dodano rekord" in page.content()
    page.locator('a[data-toggle="tab"][href="#NoteModelView"]').click()
    assert "02.12.2026" in page.locator("#NoteModelView").inner_text()

    page.goto(f"{live_server}/")
    assert surname in page.locator("#home-my-cards").inner_text(), "the card is hers, first on her start page"


def test_a_managers_day_in_polish(page, live_server, make_user):
    """From the start page's recent changes to a card's history, a change of every card of a search,
    and a list's subscribers for the mailing tool."""
    from tests.conftest import STAFF_PASSWORD

    prefix = unique("Mazowsze ")
    log_in(page, live_server)
    for number in range(2):
        add_company(page, live_server, f"{prefix}{number}")
    page.goto(f"{live_server}/mailinglistmodelview/add")
    list_name = unique("Oferty kwartalne ")
    page.fill("#name", list_name)
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/mailinglistmodelview/show/\d+"))
    list_page = page.url.split("?")[0]
    page.context.clear_cookies()

    log_in(page, live_server, make_user("Manager", first_name="Marek"), STAFF_PASSWORD)
    recent = page.locator("#home-recent-changes")
    recent.locator("a", has_text=f"{prefix}1").first.click()
    page.wait_for_url(re.compile(r".*/history/client/\d+/$"))
    assert page.locator("tr.history-change").count() >= 1
    box = page.locator("#navbar-search input[type=search]")
    box.fill(prefix)
    box.press("Enter")
    page.wait_for_url(re.compile(r".*/clientmodelview/list/\?_s=.*"))
    page.locator("#bulk-search").click()
    page.wait_for_url(re.compile(r".*/clientmodelview/bulk\?_s=.*"))
    assert "Zaznaczone karty: 2." in page.locator("#bulk-count").inner_text()
    page.select_option("#status", "active")
    page.locator("#bulk-save").click()
    page.wait_for_load_state()
    assert "Zmieniono karty: 2" in page.content()
    page.goto(list_page)
    with page.expect_download() as download:
        page.locator("#export-subscribers").click()
    assert download.value.suggested_filename.endswith(".csv")


def test_an_administrators_day_in_polish(page, live_server, make_user):
    """A colleague locks herself out; the start page counts it, the users list shows it, one action unlocks her."""
    from tests.conftest import STAFF_PASSWORD

    colleague = make_user("Back office", first_name="Celina")
    for _ in range(5):
        page.goto(f"{live_server}/login/")
        page.fill("#username", colleague)
        page.fill("#password", "zle-haslo-zle-haslo")
        page.locator("input[type=submit], button[type=submit]").first.click()
        page.wait_for_load_state()
    log_in(page, live_server)
    locked = int(re.search(r"Zablokowane konta: (\d+)\.", page.locator("#home-locked").inner_text()).group(1))
    assert locked >= 1
    page.locator("#home-locked + a").click()
    page.wait_for_url(re.compile(r".*/users/list/.*"))
    listed = page.locator("table tr:has(input[type=checkbox][name=rowid])")
    locked_cells = listed.locator("td:last-child").all_inner_texts()
    assert locked_cells and {cell.strip() for cell in locked_cells} == {"Tak"}, "only locked accounts"
    row = page.locator("table tr", has_text=colleague)
    assert "Tak" in row.inner_text(), "the list says the account is locked"
    row.locator("input[type=checkbox]").check()
    page.locator("button.dropdown-toggle", has_text="Akcje").click()
    page.locator("a", has_text="Odblokuj").click()
    dialog = page.locator("#modal-confirm")
    dialog.locator("button", has_text="Anuluj").wait_for(state="visible")  # the dialog speaks Polish
    dialog.locator("#modal-confirm-ok").click()
    page.locator(".alert", has_text="Konta zostały odblokowane.").wait_for()
    assert page.locator("table tr", has_text=colleague).count() == 0, "back on the locked accounts, she is not among them"
    page.goto(f"{live_server}/permissions/")
    assert "Audytor" in page.content() and "Auditor" not in page.content()
    page.context.clear_cookies()
    log_in(page, live_server, colleague, STAFF_PASSWORD)
    assert "Dzień dobry, Celina" in page.locator("#home-greeting").inner_text()


def test_a_data_protection_officers_day_in_polish(page, app, live_server, make_user, db_session):
    """A request assigned to her on the start page, the person's data exported and erased from it,
    nothing left open, and the erasure on record in her words."""
    from crm.gdpr.models import DataSubjectRequest
    from tests.conftest import STAFF_PASSWORD
    from tests.test_gdpr import full_card, register_request, signed_in

    card, data = full_card(app, db_session)
    officer = make_user("Data protection officer", first_name="Iwona")
    request_id = register_request(signed_in(app, officer)[0], card, kind="erasure")
    officer_id = db_session(lambda s: app.appbuilder.sm.find_user(username=officer).id)

    def assign(s):
        s.get(DataSubjectRequest, request_id).handler_id = officer_id
        s.commit()

    db_session(assign)
    log_in(page, live_server, officer, STAFF_PASSWORD)
    page.locator(f"#home-my-requests a[href='/datasubjectrequestmodelview/show/{request_id}']").click()
    page.wait_for_url(re.compile(rf".*/datasubjectrequestmodelview/show/{request_id}$"))
    assert data["last_name"] in page.locator("#card-crumbs").inner_text(), "the request names its person's card"
    with page.expect_download():
        page.locator("#request-export").click()
        page.locator("#export").click()
    page.goto(f"{live_server}/datasubjectrequestmodelview/show/{request_id}")
    page.locator("#request-erase").click()
    page.fill("#confirm", str(card))
    page.get_by_role("button", name="Usuń na zawsze").click()
    page.wait_for_url(re.compile(rf".*/datasubjectrequestmodelview/show/{request_id}$"))
    assert "usunięta ze wszystkich miejsc" in page.content()
    page.goto(f"{live_server}/")
    assert "Nie masz otwartych wniosków." in page.locator("#home-my-requests").inner_text()
    page.goto(f"{live_server}/gdpreventmodelview/list/")
    page.locator("table tr", has_text="Usunięcie").first.locator("a[href*='/gdpreventmodelview/show/']").first.click()
    page.wait_for_url(re.compile(r".*/gdpreventmodelview/show/\d+$"))
    page.wait_for_load_state()
    assert re.search(r"Notatki[^:]*: 1 \(wersji: \d+\)", page.content()), "what was erased, by place, in Polish"


def test_the_officer_finds_who_opened_a_persons_card(page, app, live_server, make_user, db_session):
    """A back-office colleague opens a card and its history; the officer, from the card, sees who, what and when."""
    from tests.conftest import STAFF_PASSWORD
    from tests.test_read_access import new_card

    card, body = new_card(app)
    colleague = make_user("Back office", first_name="Bożena", last_name=unique("Przeglądająca"))
    log_in(page, live_server, colleague, STAFF_PASSWORD)
    page.goto(f"{live_server}/clientmodelview/show/{card}")
    page.locator("#card-history").click()
    page.wait_for_url(re.compile(rf".*/history/client/{card}/$"))
    page.context.clear_cookies()

    log_in(page, live_server, make_user("Data protection officer", first_name="Iwona"), STAFF_PASSWORD)
    page.goto(f"{live_server}/clientmodelview/show/{card}")
    page.locator("#card-reads").click()
    page.wait_for_url(re.compile(rf".*/reads/\?card={card}$"))
    assert body["company_name"] in page.locator("#reads-of-card").inner_text()
    colleagues = page.locator("#reads tbody tr", has_text="Bożena")
    kinds = " ".join(colleagues.all_inner_texts())
    assert "Karta lub strona rekordu" in kinds and "Historia i porównanie wersji" in kinds and "Biuro obsługi" in kinds
    # narrowed to one kind through the form
    page.select_option("#kind", label="Historia i porównanie wersji")
    page.locator("#read-filters button[type=submit]").click()
    page.wait_for_url(re.compile(r".*kind=history.*"))
    assert page.locator("#reads tbody tr", has_text="Bożena").count() == 1
    assert "Karta lub strona rekordu" not in page.locator("#reads tbody").inner_text()


def test_the_officer_records_a_breach_and_finds_the_persons_it_affected(page, app, live_server, make_user, db_session):
    """A clerk's account was taken over: the officer records the breach and finds whose cards the account opened."""
    from tests.conftest import STAFF_PASSWORD
    from tests.test_breaches import office_time
    from tests.test_read_access import new_card

    card, body = new_card(app)
    clerk = make_user("Back office", first_name="Celina", last_name=unique("Przejęta"))
    log_in(page, live_server, clerk, STAFF_PASSWORD)
    page.goto(f"{live_server}/clientmodelview/show/{card}")
    page.context.clear_cookies()

    log_in(page, live_server, make_user("Data protection officer", first_name="Irena"), STAFF_PASSWORD)
    page.goto(f"{live_server}/breachmodelview/add")
    title = unique("Przejęte konto handlowca ")
    page.fill("#title", title)
    page.fill("#discovered_at", office_time(2.5))
    page.fill("#description", "Logowanie na konto handlowca z nieznanego adresu")
    page.check("input[name=data_categories][value=identity]")
    page.check("input[name=data_categories][value=contact]")
    page.check("input[name=subject_categories][value=clients]")
    page.fill("#consequences", "Możliwe wykorzystanie danych kontaktowych")
    page.fill("#measures", "Zablokowano konto i wymuszono zmianę hasła")
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/breachmodelview/show/\d+$"))
    assert "69 godz. na zgłoszenie" in page.content()

    page.fill("#since", office_time(1))
    page.fill("#until", office_time(-0.1))
    page.select_option("#user", label=clerk)
    page.locator("#find-affected-button").click()
    page.wait_for_load_state()
    assert "Osoby, których dotyczy naruszenie:" in page.content()
    affected = page.locator("#affected-list").inner_text()
    assert body["company_name"] in affected
    page.goto(f"{live_server}/gdpr/")
    assert title in page.locator("#breaches-due").inner_text()


def test_the_officer_adds_a_processing_activity_to_the_record(page, live_server, make_user):
    from tests.conftest import STAFF_PASSWORD

    log_in(page, live_server, make_user("Data protection officer"), STAFF_PASSWORD)
    page.goto(f"{live_server}/processingactivitymodelview/add")
    name = unique("Rekrutacja przedstawicieli ")
    page.fill("#name", name)
    page.fill("#purpose", "Wybór przedstawicieli handlowych")
    page.select_option("#lawful_basis", label="Umowa (art. 6 ust. 1 lit. b)")
    page.check("input[name=subject_categories][value=contacts]")
    page.check("input[name=data_categories][value=identity]")
    page.fill("#retention", "Do końca rekrutacji")
    assert "AES-256-GCM" in page.input_value("#security_measures"), "Kartoteka's own measures are offered"
    page.get_by_role("button", name="Zapisz").click()
    page.wait_for_url(re.compile(r".*/processingactivitymodelview/show/\d+$"))
    assert "Osoby kontaktowe klientów" in page.content()
    page.goto(f"{live_server}/processingactivitymodelview/list/")
    assert name in page.content()
    with page.expect_download() as download:
        page.locator("#register-csv-pl").click()
    assert download.value.suggested_filename == "rejestr-czynnosci-pl.csv"


def test_a_person_asks_for_their_data_and_follows_the_emailed_link(page, app, live_server, monkeypatch):
    """No account: the form, the message, the confirmation, the status page, in Polish."""
    from tests.test_public_pages import LINK
    from tests.test_read_access import new_card
    from tests.test_sessions_and_forced_change import SmtpSink

    email = f"{unique('klientka')}@public.pl"
    new_card(app, email=email)
    sink = SmtpSink()
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CRM_SMTP_PORT", sink.port)
    try:
        page.goto(f"{live_server}/privacy/request")
        page.select_option("#kind", label="Dostęp (art. 15)")
        page.fill("#email", email)
        page.fill("#text", "Proszę o kopię moich danych")
        page.locator("#send-request").click()
        page.wait_for_selector("#request-sent")
    finally:
        sink.close()
    [message] = [message for message in sink.messages if email in message]
    link = LINK.search(message.replace("=\n", "")).group(0)
    page.goto(live_server + "/privacy" + link.split("/privacy", 1)[1])
    page.locator("#confirm-request").click()
    page.wait_for_selector("#request-registered")
    page.locator("#status-link").click()
    page.wait_for_selector("#request-status")
    status = page.locator("#request-status").inner_text()
    assert "Dostęp (art. 15)" in status and "Otrzymane" in status
    assert email not in page.content()


def test_the_officer_sends_a_person_their_data_and_the_person_downloads_it_with_the_code(page, app, live_server, make_user, monkeypatch):
    from tests.conftest import STAFF_PASSWORD
    from tests.test_gdpr import register_request, signed_in
    from tests.test_public_pages import DOWNLOAD_LINK
    from tests.test_read_access import new_card
    from tests.test_sessions_and_forced_change import SmtpSink

    email = f"{unique('pobierajaca')}@public.pl"
    card, _ = new_card(app, email=email)
    officer = make_user("Data protection officer")
    request_id = register_request(signed_in(app, officer)[0], card, kind="access")
    sink = SmtpSink()
    monkeypatch.setitem(app.config, "CRM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "CRM_SMTP_PORT", sink.port)
    try:
        log_in(page, live_server, officer, STAFF_PASSWORD)
        page.goto(f"{live_server}/datasubjectrequestmodelview/show/{request_id}")
        assert page.input_value("#handover-email") == email, "the card's address is offered"
        page.locator("#handover-send").click()
        code = page.locator("#handover-code").inner_text().strip()
        page.wait_for_load_state()
    finally:
        sink.close()
    page.context.clear_cookies()
    [message] = [message for message in sink.messages if email in message]
    link = DOWNLOAD_LINK.search(message.replace("=\n", "")).group(0)
    page.goto(live_server + "/privacy" + link.split("/privacy", 1)[1])
    page.fill("#code", code)
    with page.expect_download() as download:
        page.locator("#download-data").click()
    assert download.value.suggested_filename == "moje-dane.zip"


def test_a_large_import_runs_in_the_background_with_its_progress_shown(page, app, live_server, workers, db_session):
    """Upload, dry run, back to the same columns, import: the job's page follows a real worker by itself,
    and the result stays under "Moje zadania"."""
    from tests.test_imports import clients_named

    workers()
    prefix = unique("Przeglądarka ")
    log_in(page, live_server)
    page.goto(f"{live_server}/import/")
    page.set_input_files("#file", files=[{"name": "klienci.csv", "mimeType": "text/csv",
                                          "buffer": company_rows(prefix, 1000)}])
    page.locator("#upload").click()
    page.wait_for_url(re.compile(r".*/import/[\w-]+/$"))
    assert "1000 wierszy do zaimportowania" in page.content()
    page.locator("#dry-run").click()
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    page.locator("#job-result").wait_for(timeout=60_000)  # the page reloads by itself when the job ends
    assert "Próba: niczego nie zapisano." in page.locator("#job-result").inner_text()
    assert "Wiersze bez błędów: 1000; wiersze z błędami: 0." in page.content()

    page.locator("#back-to-mapping").click()
    assert page.locator("#map-0").input_value() == "company_name", "the columns chosen before are kept"
    page.locator("#import").click()
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    job_page = page.url
    page.locator("#job-result").wait_for(timeout=60_000)
    assert "Zaimportowano klientów: 1000" in page.locator("#job-result").inner_text()
    assert len(clients_named(db_session, prefix)) == 1000

    page.goto(f"{live_server}/import/")
    page.locator("#my-jobs").click()
    page.locator(f"#jobs a[href$='/jobs/{job_page.rsplit('/', 1)[1]}']").click()
    assert "Zaimportowano klientów: 1000" in page.locator("#job-result").inner_text(), "the result waits for its starter"
