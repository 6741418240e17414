"""The password policy: the pure rules, then every way a password is set."""

from __future__ import annotations

import pytest

from crm.security.passwords import password_problems, personal_words
from tests.conftest import STAFF_PASSWORD, Auth, csrf_token, unique


@pytest.mark.parametrize("password", ["abc", "password123", "Qwerty123!", "iloveyou1234", "1234567890ab"])
def test_short_or_common_passwords_are_refused(password):
    assert password_problems(password) != []


@pytest.mark.parametrize("password", ["Zielony-Kot-Pije-Mleko-2026", "wiosna nad Wartą o świcie", "Pl1k-z-Hasłem-Długim"])
def test_long_unusual_passwords_pass(password):
    assert password_problems(password) == []


def test_the_first_administrators_generated_password_is_random_url_safe_and_passes_the_policy():
    """`flask crm init` shows it once on the screen; it must be typeable and hold up on its own."""
    import re

    from crm.security.service import generate_password

    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20
    for password in passwords:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", password), password
        assert password_problems(password) == []


def test_password_may_not_contain_the_user_name_or_email_name():
    words = personal_words("jkowalski", "jan.kowalski@firma.pl", "Jan", "Kowalski")
    problems = [str(p) for p in password_problems("Kowalski-Lubi-Zielone-Jabłka", personal_words=words)]
    assert any("nazwy użytkownika" in p or "user name" in p for p in problems)


def test_a_name_counts_as_a_whole_word_not_as_letters_inside_another():
    words = personal_words("ewa", "ewa.nowak@firma.pl", "Ewa", "Nowak")
    assert password_problems("Drzewa-Liczą-Kasztany-Nocą-19", personal_words=words) == []
    assert len(password_problems("Ewa-Liczy-Kasztany-Nocą-19", personal_words=words)) == 1
    assert len(password_problems("Kasztany-Nowak-Liczą-Nocą-19", personal_words=words)) == 1


def test_the_message_speaks_to_whoever_sets_the_password(app):
    from flask_babel import force_locale

    words = personal_words("jkowalski", "jan.kowalski@firma.pl", "Jan", "Kowalski")
    with app.test_request_context(), force_locale("pl"):
        own = [str(p) for p in password_problems("Kowalski-Lubi-Zielone-Jabłka", personal_words=words)]
        other = [str(p) for p in password_problems("Kowalski-Lubi-Zielone-Jabłka", personal_words=words, own=False)]
    assert own == ["Nie używaj w haśle nazwy użytkownika, adresu e-mail ani swojego imienia lub nazwiska."]
    assert "tego konta" in other[0] and "swojej" not in other[0]


def test_twelve_characters_are_enough_and_eleven_are_not():
    assert password_problems("Kq7#vL2@xZ9!") == []
    assert [str(problem) for problem in password_problems("Kq7#vL2@xZ9")] == ["Use at least 12 characters."]


def test_a_name_of_one_or_two_letters_does_not_forbid_the_words_holding_it():
    """"Al" or "Ed" as a first name would otherwise refuse most phrases; names count from three letters."""
    assert password_problems("Al-Zuraw-Kret-9x#q", personal_words=["al", "ed"]) == []
    assert password_problems("Ala-Zuraw-Kret-9x#q", personal_words=["ala"]) != []


def test_a_name_hidden_inside_a_word_makes_the_password_easy_to_guess():
    """Not a whole word, so not refused as a name; but the guessing score knows the names."""
    assert password_problems("Wisniewskabarbara1") == []
    problems = [str(p) for p in password_problems("Wisniewskabarbara1", personal_words=["Barbara", "Wiśniewska", "wisniewska"])]
    assert problems == ["This password is too common or too easy to guess; use a longer phrase of unrelated words."]


def test_a_password_scoring_exactly_the_minimum_is_taken():
    from zxcvbn import zxcvbn

    from crm.security.passwords import DEFAULT_MIN_SCORE

    assert zxcvbn("mrozekmrozek12")["score"] == DEFAULT_MIN_SCORE
    assert password_problems("mrozekmrozek12") == []


def test_each_of_the_accounts_names_is_a_word_the_password_may_not_hold():
    """The user name, the email's name part and every name each count, on their own; nothing counts for what is missing."""
    assert personal_words("mrozek", "ala.nowak@firma.pl", "Barbara", "Wiśniewska") == [
        "ala", "barbara", "mrozek", "nowak", "wiśniewska"]
    assert personal_words("mrozek", None, None) == ["mrozek"]
    assert personal_words(None, "ala.nowak@firma.pl") == ["ala", "nowak"]
    assert personal_words(None, None, None, None) == []
    for password in ("Mrozek-Liczy-Kasztany-Nocą-19", "Kasztany-Nowak-Liczą-Nocą-19"):
        assert password_problems(password, personal_words=personal_words("mrozek", "ala.nowak@firma.pl")) != []


def test_none_of_the_last_five_passwords_may_come_back(app, make_user):
    """CRM_PASSWORD_HISTORY is 5: the current password and the four before it are refused, the one before them is taken."""
    from tests.test_sessions_and_forced_change import change_own_password

    assert app.config["CRM_PASSWORD_HISTORY"] == 5
    username = make_user("Back office")
    client = app.test_client()
    Auth(client).login(username, STAFF_PASSWORD)
    chain = [STAFF_PASSWORD, *(f"Spokojna-Rzeka-Płynie-Nocą-{n}" for n in range(1, 6))]
    for current, new in zip(chain, chain[1:]):
        assert "Twoje hasło zostało zmienione." in change_own_password(client, current, new).text
    current = chain[-1]
    for back, old in enumerate(reversed(chain[1:])):
        answer = change_own_password(client, current, old).text
        assert "Nie używaj ponownie żadnego z ostatnich haseł." in answer, f"{back} changes back"
    assert "Twoje hasło zostało zmienione." in change_own_password(client, current, chain[0]).text, "five changes back"


def test_every_message_says_what_to_fix(app):
    with app.test_request_context():
        messages = [str(p) for p in password_problems("abc")]
    assert "Użyj co najmniej 12 znaków." in messages


def test_admin_cannot_create_an_account_with_a_weak_password(client, auth, db_session):
    from crm.extensions import appbuilder

    auth.login()
    page = client.get("/users/add")
    username = unique("nowy_")
    response = client.post(
        "/users/add",
        data={
            "csrf_token": csrf_token(page.text), "first_name": "Nowy", "last_name": "Pracownik", "username": username,
            "email": f"{username}@kartoteka.invalid", "active": "y", "roles": str(db_session(lambda s: appbuilder.sm.find_role("Auditor").id)),
            "password": "haslo123", "conf_password": "haslo123",
        },
    )
    # every problem, each its own sentence
    assert response.status_code == 200 and "Użyj co najmniej 12 znaków. To hasło jest zbyt popularne" in response.text
    assert db_session(lambda s: appbuilder.sm.find_user(username=username)) is None


def test_a_new_accounts_password_may_hold_none_of_the_words_of_its_names(client, auth, db_session):
    """The add form checks the password against the values typed beside it: the user name, the email's
    name part, the first and the last name, each on its own; a password of other words is taken."""
    from crm.extensions import appbuilder

    auth.login()
    role = str(db_session(lambda s: appbuilder.sm.find_role("Auditor").id))
    username, mailbox, last_name = unique("wrzos_"), unique("jaskier."), unique("Storczyk")
    form = {"first_name": "Konwalia", "last_name": last_name, "username": username,
            "email": f"{mailbox}@kartoteka.invalid", "active": "y", "roles": role}
    for word in ("Wrzos", "Jaskier", "Konwalia", "Storczyk"):
        password = f"Zielony-{word}-Pije-Mleko-2026"
        page = client.get("/users/add")
        refused = client.post("/users/add", data={**form, "csrf_token": csrf_token(page.text),
                                                   "password": password, "conf_password": password})
        assert "Nie używaj w haśle nazwy użytkownika tego konta" in refused.text, word
        assert db_session(lambda s: appbuilder.sm.find_user(username=username)) is None, word
    page = client.get("/users/add")
    client.post("/users/add", data={**form, "csrf_token": csrf_token(page.text),
                                    "password": STAFF_PASSWORD, "conf_password": STAFF_PASSWORD})
    assert db_session(lambda s: appbuilder.sm.find_user(username=username)) is not None


def test_changing_your_own_password_needs_the_current_one_and_refuses_reuse(app, make_user):
    username = make_user("Back office")
    client = app.test_client()
    Auth(client).login(username, STAFF_PASSWORD)
    form = client.get("/resetmypassword/form")
    new = "Czerwony-Rower-Stoi-Pod-Dębem"
    wrong_current = client.post(
        "/resetmypassword/form",
        data={"csrf_token": csrf_token(form.text), "current_password": "not-my-password-at-all", "password": new, "conf_password": new},
    )
    assert "To nie jest Twoje obecne hasło." in wrong_current.text
    reused = client.post(
        "/resetmypassword/form",
        data={"csrf_token": csrf_token(form.text), "current_password": STAFF_PASSWORD, "password": STAFF_PASSWORD, "conf_password": STAFF_PASSWORD},
    )
    assert "Nie używaj ponownie żadnego z ostatnich haseł." in reused.text
    changed = client.post(
        "/resetmypassword/form",
        data={"csrf_token": csrf_token(form.text), "current_password": STAFF_PASSWORD, "password": new, "conf_password": new},
        follow_redirects=True,
    )
    assert "Twoje hasło zostało zmienione." in changed.text
    other = app.test_client()
    assert Auth(other).login(username, new).request.path == "/"


def test_admin_reset_follows_the_same_policy(app, client, auth, make_user, db_session):
    from crm.extensions import appbuilder

    username = make_user("Back office")
    user_id = db_session(lambda s: appbuilder.sm.find_user(username=username).id)
    auth.login()
    form = client.get(f"/resetpassword/form?pk={user_id}")
    response = client.post(
        f"/resetpassword/form?pk={user_id}",
        data={"csrf_token": csrf_token(form.text), "password": username + "-Abc-123", "conf_password": username + "-Abc-123"},
    )
    assert "Nie używaj w haśle nazwy użytkownika" in response.text
    assert "tego konta" in response.text and "swojego" not in response.text, "worded for the administrator typing"
    # the account's current password is one of its recent ones
    reused = client.post(
        f"/resetpassword/form?pk={user_id}",
        data={"csrf_token": csrf_token(form.text), "password": STAFF_PASSWORD, "conf_password": STAFF_PASSWORD},
    )
    assert "Nie używaj ponownie żadnego z ostatnich haseł tego konta." in reused.text

    # an address naming no account: none, not a number, too long a number, an unknown one
    for query in ("", "?pk=", "?pk=abc", "?pk=1e3", "?pk=123456789012345678901", "?pk=987654321"):
        for response in (client.get(f"/resetpassword/form{query}"),
                         client.post(f"/resetpassword/form{query}", data={"csrf_token": csrf_token(form.text)})):
            assert response.status_code == 404 and "Nie ma takiego konta." in response.text, query


def test_the_set_password_command_follows_the_policy_for_that_account_and_forces_a_change(app, make_user):
    """`flask crm set-password` (in the app's own process): the policy judges the password for that
    account (its names too); a password it sets is replaced at the next login."""
    username = make_user("Back office", first_name="Teodora")
    runner = app.test_cli_runner()

    def set_password(name, password):
        return runner.invoke(args=["crm", "set-password", name, "--password", password])

    refused = set_password(username, "abc")
    assert refused.exit_code == 1
    assert "Hasło zostało odrzucone: Użyj co najmniej 12 znaków. To hasło jest zbyt popularne" in refused.output
    named = set_password(username, "Teodora-Pije-Kawę-Nad-Wartą")
    assert named.exit_code == 1 and "Hasło zostało odrzucone" in named.output, "the account's own name is refused"
    unknown = set_password(unique("nikt_"), "Bursztynowy-Żuraw-Liczy-Chmury-77")
    assert unknown.exit_code == 1 and "Nie ma konta" in unknown.output
    assert Auth(app.test_client()).login(username, STAFF_PASSWORD).request.path == "/", "the old password still works"

    done = set_password(username, "Bursztynowy-Żuraw-Liczy-Chmury-77")
    assert done.exit_code == 0, done.output
    page = Auth(app.test_client()).login(username, "Bursztynowy-Żuraw-Liczy-Chmury-77")
    assert page.request.path == "/resetmypassword/form", "a password set by someone else is changed at login"


def test_api_users_and_cli_share_the_policy(app):
    from crm.extensions import appbuilder
    from crm.security.service import PasswordPolicyError

    with app.app_context():
        with pytest.raises(PasswordPolicyError):
            appbuilder.sm.add_user("cli_user", "Cli", "User", "cli@kartoteka.invalid", appbuilder.sm.find_role("Auditor"), password="abc")
    # a new account's own words, each alone in an otherwise strong password: its user name, its email's
    # name part, the person's names (FAB's `fab create-user` and `crm init` make accounts this way)
    username = unique("teodor")
    account = (username, "Jan", "Kowalczyk", f"brzozowska{username[-4:]}@kartoteka.invalid")
    for word in (username, f"brzozowska{username[-4:]}", "Kowalczyk", "Jan"):
        with app.app_context(), pytest.raises(PasswordPolicyError):
            appbuilder.sm.add_user(*account, appbuilder.sm.find_role("Auditor"), password=f"Wiosenny-{word}-Deszcz-Pada-88")
    with app.app_context():
        assert appbuilder.sm.find_user(username=username) is None
        assert appbuilder.sm.add_user(*account, appbuilder.sm.find_role("Auditor"), password="Wiosenny-Deszcz-Pada-Na-Dach-88")
        # the name is taken: FAB adds no account and says so with a false value, nothing is remembered
        assert not appbuilder.sm.add_user(*account, appbuilder.sm.find_role("Auditor"), password="Jesienny-Wiatr-Wieje-77")
    page = Auth(app.test_client()).login(username, "Wiosenny-Deszcz-Pada-Na-Dach-88")
    assert page.request.path == "/resetmypassword/form", "an account someone else made chooses its own password first"
    from tests.conftest import run_command, same_database_env
    from tests.test_cli import run_flask

    # FAB's own command group comes from its package's entry point: only the flask executable has it
    result = run_flask(["fab", "reset-password", "--username", "admin", "--password", "abc"], same_database_env(app))
    assert result.returncode != 0 and "PasswordPolicyError" in result.stderr
    ours = run_command(app, ["crm", "set-password", "admin", "--password", "abc"])
    assert ours.exit_code != 0 and "Hasło zostało odrzucone: Użyj co najmniej 12 znaków." in ours.stderr
    assert "Traceback" not in ours.stderr
    assert Auth(app.test_client()).login().request.path == "/", "the old password still works"


def test_operator_sets_a_password_from_the_command_line(app, make_user):
    from tests.conftest import run_command

    username = make_user("Back office")
    result = run_command(app, ["crm", "set-password", username, "--password", "Fioletowy-Parasol-Nad-Wisłą"])
    assert result.exit_code == 0, result.stderr
    page = Auth(app.test_client()).login(username, "Fioletowy-Parasol-Nad-Wisłą")
    assert page.request.path == "/resetmypassword/form", "a password set by someone else is changed at login"
    missing = run_command(app, ["crm", "set-password", "nobody-here", "--password", "Fioletowy-Parasol-Nad-Wisłą"])
    assert missing.exit_code != 0 and "Nie ma konta 'nobody-here'." in missing.stderr


def test_a_password_expires_on_the_day_its_age_is_reached_and_never_when_the_age_is_zero():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from crm.security.passwords import must_change_password, password_expires_at

    changed = datetime(2026, 1, 31, 9, 30)
    state = SimpleNamespace(password_changed_at=changed, must_change_password=False)
    assert password_expires_at(state, 90) == changed + timedelta(days=90)
    assert not must_change_password(state, changed + timedelta(days=90, seconds=-1), 90)
    assert must_change_password(state, changed + timedelta(days=90), 90), "due at the moment itself"
    assert password_expires_at(state, 0) is None and not must_change_password(state, changed + timedelta(days=3650), 0)
    assert must_change_password(SimpleNamespace(password_changed_at=changed, must_change_password=True), changed, 0)
    assert not must_change_password(None, changed, 90), "an account without a state row signs in"


def test_the_configured_length_and_strength_are_the_ones_asked(app, make_user, monkeypatch):
    """An operator who asks for longer or accepts weaker passwords gets what the settings say."""
    from tests.conftest import run_command

    username = make_user("Back office")
    monkeypatch.setitem(app.config, "CRM_PASSWORD_MIN_LENGTH", 30)
    refused = run_command(app, ["crm", "set-password", username, "--password", "Fioletowy-Parasol-Nad-Wisłą"])
    assert refused.exit_code != 0 and "Użyj co najmniej 30 znaków." in refused.stderr
    monkeypatch.setitem(app.config, "CRM_PASSWORD_MIN_LENGTH", 12)
    monkeypatch.setitem(app.config, "CRM_PASSWORD_MIN_SCORE", 0)
    accepted = run_command(app, ["crm", "set-password", username, "--password", "aaaaaaaaaaaaaa"])
    assert accepted.exit_code == 0, accepted.stderr
