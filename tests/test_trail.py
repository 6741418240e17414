"""The tamper-evident trail: `flask crm audit verify` finds a record changed, removed or inserted behind the app's back."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from config import TEST_ENCRYPTION_KEYS
from crm.privacy.keys import new_key_line
from tests.test_cli import fresh_env, run_flask  # noqa: F401  (fresh_env is a fixture)

INTACT = "Łańcuch jest nienaruszony"


def sql(url, statement, **values):
    """Run one statement straight on the database, as someone with database access would; returns its rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def verify(env):
    return run_flask(["crm", "audit", "verify"], env)


def test_the_trail_names_each_record_changed_removed_or_inserted_behind_the_apps_back(fresh_env):
    url = fresh_env["DATABASE_URL"]
    assert run_flask(["crm", "init"], fresh_env).returncode == 0
    assert run_flask(["crm", "demo", "--clients", "12"], fresh_env).returncode == 0
    first = verify(fresh_env)
    assert first.returncode == 0 and INTACT in first.stdout, first.stdout + first.stderr

    # a version of a card, edited in the database
    [(card, transaction, status)] = sql(url, "SELECT id, transaction_id, status FROM client_version "
                                             "ORDER BY transaction_id, id LIMIT 1")
    other = "active" if status != "active" else "lead"
    sql(url, "UPDATE client_version SET status = :other WHERE id = :id AND transaction_id = :t",
        other=other, id=card, t=transaction)
    changed = verify(fresh_env)
    assert changed.returncode == 1
    assert f"Historia zmian: rekord zmieniono poza Kartoteką: client_version, rekord {card}/{transaction}." in changed.stderr
    sql(url, "UPDATE client_version SET status = :status WHERE id = :id AND transaction_id = :t",
        status=status, id=card, t=transaction)
    assert verify(fresh_env).returncode == 0, "put back as it was, the record matches its link again"

    # an erasure removes the person's versions and says so in the trail
    erased = run_flask(["crm", "erase", "3", "--yes", "--reason", "Porządki w bazie testowej"], fresh_env)
    assert erased.returncode == 0, erased.stderr
    after_erasure = verify(fresh_env)
    assert after_erasure.returncode == 0 and INTACT in after_erasure.stdout, after_erasure.stderr

    # a new master key, every value re-encrypted: the values did not change, nor does the trail
    rotated_env = {**fresh_env, "CRM_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEYS + ";" + new_key_line("k2")}
    assert run_flask(["crm", "keys", "rotate"], rotated_env).returncode == 0
    after_rotation = verify(rotated_env)
    assert after_rotation.returncode == 0 and INTACT in after_rotation.stdout, after_rotation.stderr

    # an erased person's version put back behind the app's back (say, from an old dump)
    [(key,)] = sql(url, "SELECT record_key FROM audit_link WHERE record_table = 'client_version' "
                        "AND action = 'removed' ORDER BY seq LIMIT 1")
    version, transaction = map(int, key.split("/"))
    sql(url, "INSERT INTO client_version (id, transaction_id, operation_type) VALUES (:id, :t, 0)", id=version, t=transaction)
    back = verify(rotated_env)
    assert f"Historia zmian: rekord dopisano poza Kartoteką: client_version, rekord {key}." in back.stderr
    sql(url, "DELETE FROM client_version WHERE id = :id AND transaction_id = :t", id=version, t=transaction)

    # the erasure's own record, deleted in the database
    [(event,)] = sql(url, "SELECT id FROM gdpr_event")
    sql(url, "DELETE FROM gdpr_event WHERE id = :id", id=event)
    removed = verify(rotated_env)
    assert removed.returncode == 1
    assert f"Eksporty i usunięcia: rekord usunięto poza Kartoteką: gdpr_event, rekord {event}." in removed.stderr

    # a permission change rewritten, and a login inserted, each in its own chain
    [(change, after)] = sql(url, "SELECT id, after FROM permission_change ORDER BY id LIMIT 1")
    sql(url, "UPDATE permission_change SET after = :value WHERE id = :id", value="no" if after == "yes" else "yes", id=change)
    sql(url, "INSERT INTO login_event (occurred_at, result, channel) VALUES (:at, 'success', 'form')", at="2026-01-01 10:00:00")
    both = verify(rotated_env)
    assert f"Zmiany uprawnień: rekord zmieniono poza Kartoteką: permission_change, rekord {change}." in both.stderr
    assert "Historia logowań: rekord dopisano poza Kartoteką: login_event" in both.stderr

    # a link rewritten to say its record was removed on purpose, and the record deleted
    [(seq, key)] = sql(url, "SELECT seq, record_key FROM audit_link WHERE chain = 'gdpr' ORDER BY seq LIMIT 1")
    sql(url, "UPDATE audit_link SET action = 'removed', digest = '' WHERE chain = 'gdpr' AND seq = :seq", seq=seq)
    forged = verify(rotated_env)
    assert "Eksporty i usunięcia: ogniwo łańcucha zostało zmienione lub usunięte: gdpr_event, rekord" in forged.stderr

    # a link of the chain itself removed
    sql(url, "DELETE FROM audit_link WHERE chain = 'changes' AND seq = 2")
    # and the newest link of another, as if the chain had been cut short
    sql(url, "DELETE FROM audit_link WHERE chain = 'permissions' AND seq = (SELECT max(seq) FROM audit_link WHERE chain = 'permissions')")
    broken = verify(rotated_env)
    assert "Historia zmian: ogniwo łańcucha zostało zmienione lub usunięte" in broken.stderr
    assert "Zmiany uprawnień: ogniwo łańcucha zostało zmienione lub usunięte: audit_link" in broken.stderr


def test_a_staff_account_named_by_accountability_records_is_deactivated_not_deleted(app, make_user, db_session):
    """Deleting it would rewrite the records (their staff link is set to nothing), breaking the trail."""
    from tests.test_gdpr import signed_in

    username = make_user("Back office")
    signed_in(app, username)  # a login: the login history names the account
    admin, auth = signed_in(app)
    user_id = db_session(lambda s: app.appbuilder.sm.find_user(username=username).id)
    response = admin.post(f"/users/delete/{user_id}", data={"csrf_token": auth.csrf}, follow_redirects=True)
    assert "zostało dezaktywowane zamiast usunięte" in response.text
    assert db_session(lambda s: app.appbuilder.sm.find_user(username=username).active) is False


def test_the_whole_suites_work_leaves_the_trail_intact_and_the_dashboard_says_so(app, make_user):
    """Whatever the other tests did through the app (saves, imports, erasures, restores, rotations,
    purges) linked every record it wrote, changed or removed: the shared database verifies."""
    import re

    from tests.test_gdpr import signed_in

    result = app.test_cli_runner().invoke(args=["crm", "audit", "verify"])
    assert result.exit_code == 0, result.output
    checked = re.search(r"Sprawdzono ogniw: (\d+), rekordów: (\d+)\.", result.output)
    officer, _ = signed_in(app, make_user("Data protection officer"))
    panel = officer.get("/gdpr/").text.split('id="trail-check"')[1].split("</div>")[0]
    assert "Ostatnia weryfikacja łańcucha rozliczalności" in panel
    assert f"nienaruszony (ogniw: {checked.group(1)}, rekordów: {checked.group(2)})" in panel


def test_an_opening_of_tens_of_thousands_of_cards_is_recorded_whole(app, db_session):
    """A mailing list's export can name more cards than SQLite binds in one statement."""
    from crm.accountability import reads
    from crm.accountability.models import ReadAccessCard
    from crm.extensions import db

    with app.test_request_context("/mailinglistmodelview/1/subscribers.csv"):
        reads.note("export", range(10_000_001, 10_012_001))
        record = reads.write_opened(db.session, None)
        db.session.remove()
    assert db_session(lambda s: s.query(ReadAccessCard).filter_by(read_id=record).count()) == 12_000


def test_the_dashboard_names_a_broken_record_in_words_not_table_names(app):
    from crm.accountability.trail import Problem, ROW_CHANGED, shown

    with app.test_request_context():
        assert shown(Problem("changes", ROW_CHANGED, "client_version", "5/12")) == (
            "Historia zmian: rekord zmieniono poza Kartoteką (Karty klientów: osoba albo firma i jej ludzie, "
            "wcześniejsza wersja, nr 5/12)."
        )
        assert "transaction" not in shown(Problem("changes", ROW_CHANGED, "transaction", "7"))
        # a chained record of no registered model is named by its chain
        from crm.security.models import LoginEvent

        assert shown(Problem("logins", ROW_CHANGED, LoginEvent.__tablename__, "9")).endswith(
            "(Historia logowań, nr 9).")


def test_an_anchor_kept_outside_shows_a_chain_cut_short_and_its_head_rewound(fresh_env, tmp_path):
    """Someone with database access deletes the newest record, its link, and rewinds the chain's head:
    the chain alone still verifies; an anchor taken before does not."""
    import json

    url = fresh_env["DATABASE_URL"]
    assert run_flask(["crm", "init"], fresh_env).returncode == 0
    anchor = tmp_path / "anchor.json"
    taken = run_flask(["crm", "audit", "anchor", "--output", str(anchor)], fresh_env)
    assert taken.returncode == 0, taken.stderr
    document = json.loads(anchor.read_text())
    assert document["heads"]["permissions"]["seq"] >= 1 and document["signature"]
    intact = run_flask(["crm", "audit", "verify", "--anchor", str(anchor)], fresh_env)
    assert intact.returncode == 0 and INTACT in intact.stdout, intact.stderr

    [(seq, key)] = sql(url, "SELECT seq, record_key FROM audit_link WHERE chain = 'permissions' ORDER BY seq DESC LIMIT 1")
    [(previous,)] = sql(url, "SELECT mac FROM audit_link WHERE chain = 'permissions' AND seq = :seq", seq=seq - 1)
    sql(url, "DELETE FROM permission_change WHERE id = :id", id=int(key))
    sql(url, "DELETE FROM audit_link WHERE chain = 'permissions' AND seq = :seq", seq=seq)
    sql(url, "UPDATE audit_head SET seq = :seq, mac = :mac WHERE chain = 'permissions'", seq=seq - 1, mac=previous)
    assert verify(fresh_env).returncode == 0, "without an anchor the cut cannot be seen"
    cut = run_flask(["crm", "audit", "verify", "--anchor", str(anchor)], fresh_env)
    assert cut.returncode == 1
    assert f"Zmiany uprawnień: ogniwo zapisane w kotwicy zniknęło" in cut.stderr and f"rekord {seq}" in cut.stderr

    # an anchor edited to match the cut chain is refused as altered
    document["heads"]["permissions"] = {"seq": seq - 1, "mac": previous}
    anchor.write_text(json.dumps(document))
    altered = run_flask(["crm", "audit", "verify", "--anchor", str(anchor)], fresh_env)
    assert altered.returncode == 1 and "Kotwica śladu: kotwica została zmieniona" in altered.stderr
    anchor.write_text("to nie jest kotwica")
    assert "Kotwica śladu: kotwica została zmieniona" in run_flask(
        ["crm", "audit", "verify", "--anchor", str(anchor)], fresh_env).stderr


def test_old_read_records_are_purged_with_their_cards_and_the_trail_still_verifies(app, db_session, make_user):
    from sqlalchemy import select, update

    from crm.accountability.models import ReadAccess, ReadAccessCard
    from crm.timeutil import utcnow
    from datetime import timedelta
    from tests.test_gdpr import signed_in
    from tests.test_read_access import new_card, openings_of

    card, _ = new_card(app)
    reader, _ = signed_in(app, make_user("Back office"))
    reader.get(f"/clientmodelview/show/{card}")
    kept_card, _ = new_card(app)
    reader.get(f"/clientmodelview/show/{kept_card}")
    old = [opening["id"] for opening in openings_of(db_session, card)]
    kept = [opening["id"] for opening in openings_of(db_session, kept_card) if opening["id"] not in old]
    assert old and kept

    def age(session):
        # as if these openings were made 400 days ago (a change behind the app's back, removed by the purge below)
        session.execute(update(ReadAccess).where(ReadAccess.id.in_(old)).values(occurred_at=utcnow() - timedelta(days=400)))
        session.commit()

    db_session(age)
    purged = app.test_cli_runner().invoke(args=["crm", "purge-reads"])
    assert purged.exit_code == 0 and "starszych niż 365 dni" in purged.output, purged.output
    assert db_session(lambda s: s.scalars(select(ReadAccess.id).where(ReadAccess.id.in_(old))).all()) == []
    assert db_session(lambda s: s.scalars(select(ReadAccessCard.read_id).where(ReadAccessCard.read_id.in_(old))).all()) == []
    assert len(db_session(lambda s: s.scalars(select(ReadAccess.id).where(ReadAccess.id.in_(kept))).all())) == len(kept)
    verified = app.test_cli_runner().invoke(args=["crm", "audit", "verify"])
    assert verified.exit_code == 0, verified.output
