"""Background jobs on a real queue, run by real worker processes (`flask crm worker`).

The queue is a SQLite file on the embedded default and Redis in the scale-out
run (``TEST_RATELIMIT_STORAGE_URI=redis://...``), each test under a queue name
of its own. The rest of the suite runs jobs inside the request (immediate://).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy_continuum import version_class

from crm.jobs.queue import EXTENSION, init_jobs
from crm.security.roles import BACK_OFFICE, DATA_PROTECTION_OFFICER, MANAGER
from tests.conftest import named_like, same_database_env, unique
from tests.test_cli import FLASK, PROJECT_ROOT
from tests.test_imports import clients_named, csv_bytes, failed, job_result, mapping_form, signed_in, upload
from tests.test_public_pages import mailbox  # noqa: F401  (fixture: an SMTP server keeping what it gets)
from tests.test_staff_management import group_made_by_administrator


@pytest.fixture()
def queue_url(app, monkeypatch, tmp_path):
    """Point the test app at a real queue (Redis in the scale-out run, else a SQLite file)."""
    redis = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "")
    url = redis if redis.startswith("redis://") else f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    monkeypatch.setitem(app.config, "CRM_QUEUE_URL", url)
    monkeypatch.setitem(app.config, "CRM_QUEUE_NAME", unique("kartoteka-test-"))
    immediate = app.extensions[EXTENSION]
    init_jobs(app)
    yield url
    app.extensions[EXTENSION] = immediate


@pytest.fixture()
def workers(app, queue_url, tmp_path, monkeypatch):
    """Start worker processes on the test app's database and queue; stops (or has killed) them at the end.

    ``stale_seconds`` is how long a job's heartbeat may stop before the workers and the pages say it failed.
    """
    started: list[subprocess.Popen] = []

    def start(stale_seconds: int = 60, smtp_port: int | None = None) -> subprocess.Popen:
        monkeypatch.setitem(app.config, "CRM_JOB_STALE_SECONDS", stale_seconds)
        log = open(tmp_path / f"worker-{len(started)}.log", "w")
        env = same_database_env(app, CRM_QUEUE_URL=queue_url, CRM_QUEUE_NAME=app.config["CRM_QUEUE_NAME"],
                                CRM_JOB_STALE_SECONDS=str(stale_seconds),
                                **({"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(smtp_port)} if smtp_port else {}))
        process = subprocess.Popen([*FLASK, "crm", "worker", "--workers", "1"], cwd=PROJECT_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def company_rows(prefix: str, count: int) -> bytes:
    return csv_bytes([["Nazwa firmy", "Miejscowość"], *([f"{prefix}{n:05d}", "Łódź"] for n in range(count))])


def wait_for(client, job_page: str, condition, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while not condition(progress := client.get(f"{job_page}/progress").get_json()):
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
    return progress


def transactions_of(db_session, prefix):
    from crm.clients.models import Client

    def read(s):
        ids = [c.id for c in s.scalars(named_like(Client, prefix)) if (c.company_name or "").startswith(prefix)]
        version = version_class(Client)
        return len(ids), set(s.scalars(select(version.transaction_id).where(version.id.in_(ids))))

    return db_session(read)


def test_a_web_import_runs_in_a_worker_and_only_its_starter_follows_it(app, db_session, workers, make_user):
    workers()
    prefix = unique("Kolejka ")
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, company_rows(prefix, 300)))
    started = client.post(f"/import/{token}/", data={**fields, "action": "import"})
    job_page = started.headers["Location"]
    first = client.get(job_page)
    assert first.status_code == 200 and 'id="job-progress"' in first.text, "the page shows a progress bar at once"

    someone_else, _ = signed_in(app, make_user(BACK_OFFICE))
    assert someone_else.get(job_page).status_code == 404
    assert someone_else.get(f"{job_page}/progress").status_code == 404

    done = job_result(client, started)
    assert "Zaimportowano klientów: 300" in done.text and not failed(done)
    assert transactions_of(db_session, prefix)[0] == 300
    listed = client.get("/jobs/")
    assert job_page in listed.text and "zakończone" in listed.text
    assert job_page not in someone_else.get("/jobs/").text


def test_two_workers_run_a_job_delivered_twice_once(app, db_session, workers):
    from crm.jobs.queue import send

    workers(), workers()
    prefix = unique("Dwa razy ")
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, company_rows(prefix, 100)))
    started = client.post(f"/import/{token}/", data={**fields, "action": "import"})
    job_id = int(started.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        send(job_id)  # the same job on the queue again: both workers may take one message each
    assert not failed(job_result(client, started))
    time.sleep(1)  # the second message has been taken by now
    written, transactions = transactions_of(db_session, prefix)
    assert written == 100 and len(transactions) == 1


def test_a_killed_worker_leaves_nothing_written_and_its_job_failed(app, db_session, workers):
    from crm.imports.jobs import WRITE
    from crm.jobs.service import recorded

    worker = workers(stale_seconds=3)
    prefix = unique("Przerwany ")
    client, _ = signed_in(app)
    token, fields = mapping_form(client, upload(client, company_rows(prefix, 2500)))
    started = client.post(f"/import/{token}/", data={**fields, "action": "import"})
    job_page = started.headers["Location"]
    job_id = int(job_page.rsplit("/", 1)[1])
    # read from the queue's store: on SQLite the page itself waits while the worker holds the write lock
    deadline = time.monotonic() + 120
    with app.app_context():
        while not ((state := recorded(job_id) or {}).get("step") == WRITE and state["done"] >= 500):
            assert time.monotonic() < deadline, state
            time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert transactions_of(db_session, prefix)[0] == 0, "the batches written before the kill are rolled back"

    state = wait_for(client, job_page, lambda state: state["finished"], timeout=30)
    assert state["status"] == "failed"
    page = client.get(job_page)
    assert failed(page) and "przestał działać" in page.text and "nic nie zostało zapisane" in page.text

    # the upload is still there: the same import, started again on a new worker, writes every row once
    workers()
    again = client.post(f"/import/{token}/", data={**fields, "action": "import"})
    assert "Zaimportowano klientów: 2500" in job_result(client, again).text
    assert transactions_of(db_session, prefix)[0] == 2500


def test_a_worker_starting_marks_jobs_of_a_dead_worker_failed(app, db_session, workers):
    """No one opens the page of a job whose worker died: the next worker to start says it failed."""
    from crm.jobs.models import Job

    def orphan(s):
        from flask_appbuilder.security.sqla.models import User

        from crm.timeutil import utcnow

        admin = s.scalars(select(User).where(User.username == "admin")).one()
        job = Job(kind="import", status="running", started_by_id=admin.id, language="pl", params="{}",
                  started_at=utcnow().replace(year=2020))
        s.add(job)
        s.commit()
        return job.id

    job_id = db_session(orphan)
    worker = workers(stale_seconds=3)
    deadline = time.monotonic() + 60
    while db_session(lambda s: s.get(Job, job_id).status) == "running":
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.2)
    assert db_session(lambda s: (s.get(Job, job_id).status, "przestał działać" in s.get(Job, job_id).error)) == ("failed", True)


def test_a_job_taken_for_dead_while_it_ran_keeps_nothing_it_wrote(app, db_session, monkeypatch):
    """Its page marked it failed (no heartbeat for too long) while the worker was still writing: the worker's
    work is rolled back when it ends, so the job is failed and has written nothing, not failed and half-kept."""
    from crm.clients.models import Client
    from crm.extensions import db
    from crm.jobs import service
    from crm.jobs.models import Job

    name = unique("Zombie ")

    def slow(session, job, progress):
        with db.engine.connect() as page:  # another request, marking it failed meanwhile
            page.execute(service.update(Job).where(Job.id == job.id).values(status="failed", error="stopped"))
            page.commit()
        session.add(Client(kind="company", company_name=name))
        session.flush()
        return {}

    monkeypatch.setitem(service.HANDLERS, "probe", service.Handler(slow))

    def start(s):
        from flask_appbuilder.security.sqla.models import User

        admin = s.scalars(select(User).where(User.username == "admin")).one()
        with app.test_request_context():
            return service.start("probe", {}, admin, "pl").id

    job_id = db_session(start)
    assert db_session(lambda s: s.get(Job, job_id).status) == "failed"
    assert clients_named(db_session, name) == []


def read_mail(raw: str):
    return email.message_from_string(raw, policy=email.policy.default)


def mails_about(mailbox, request_id: int) -> list:
    found = [read_mail(raw) for raw in mailbox.messages]
    return [mail for mail in found if f"nr {request_id}," in mail["Subject"]]


@pytest.fixture()
def open_requests(app, db_session, make_user):
    """An open request due in 7 days with a handler, one due in 2 days with none, one due in 20, a closed one."""
    from flask_appbuilder.security.sqla.models import User

    from crm.gdpr.models import DataSubjectRequest
    from crm.timeutil import office_today

    handler = make_user(MANAGER)
    officer = make_user(DATA_PROTECTION_OFFICER)
    today = office_today()

    def add(s):
        handler_id = s.scalars(select(User.id).where(User.username == handler)).one()
        later = DataSubjectRequest(kind="access", received_on=today, due_on=today + timedelta(days=20), handler_id=handler_id)
        # written first: a request not due yet must not stop the run before the ones that are
        s.add(later)
        s.flush()
        made = [
            DataSubjectRequest(kind="access", received_on=today, due_on=today + timedelta(days=7), handler_id=handler_id),
            DataSubjectRequest(kind="erasure", received_on=today, due_on=today + timedelta(days=2)),
            later,
            DataSubjectRequest(kind="access", received_on=today, due_on=today + timedelta(days=1), status="completed",
                               handler_id=handler_id),
        ]
        s.add_all(made)
        s.commit()
        return [request.id for request in made]

    return db_session(add), f"{handler}@kartoteka.invalid", f"{officer}@kartoteka.invalid"


def test_the_handler_is_reminded_7_and_2_days_before_the_deadline_once_each(app, mailbox, open_requests, make_user,
                                                                             db_session):
    from crm.extensions import appbuilder, db
    from crm.gdpr.reminders import send_due_reminders
    from crm.jobs.queue import jobs
    from crm.timeutil import office_today

    (week, two_days, later, closed), handler, officer = open_requests
    former = make_user(DATA_PROTECTION_OFFICER)
    db_session(lambda s: (setattr(appbuilder.sm.find_user(username=former), "active", False), s.commit()))
    through_group = make_user(BACK_OFFICE)
    group_made_by_administrator(app, db_session, [db_session(lambda s: appbuilder.sm.find_role(DATA_PROTECTION_OFFICER).id)],
                                [db_session(lambda s: appbuilder.sm.find_user(username=through_group).id)])
    with app.app_context():
        jobs().scheduled["deadline-reminders"]()  # the scheduled task, run now (immediate queue)
    [reminder] = mails_about(mailbox, week)
    assert reminder["To"] == handler and "dni do terminu: 7" in reminder["Subject"]
    assert reminder["From"] == app.config["CRM_MAIL_FROM"]
    body = reminder.get_content()
    assert f"Wniosek nr {week} (Dostęp (art. 15))" in body and "(zostało dni: 7)" in body
    told = [mail["To"] for mail in mails_about(mailbox, two_days)]
    assert officer in told, "no handler: the officers are told"
    assert f"{through_group}@kartoteka.invalid" in told, "an officer through a group is an officer"
    assert handler not in told and f"{former}@kartoteka.invalid" not in told, "active officers only"
    assert mails_about(mailbox, later) == [] and mails_about(mailbox, closed) == []

    with app.app_context():
        jobs().scheduled["deadline-reminders"]()
        assert len(mails_about(mailbox, week)) == 1, "each reminder once"
        send_due_reminders(db.session, today=office_today() + timedelta(days=5))
        db.session.remove()
    second = mails_about(mailbox, week)[-1]
    assert len(mails_about(mailbox, week)) == 2 and "dni do terminu: 2" in second["Subject"]


def test_a_reminder_links_its_request_or_says_where_it_is_and_a_late_one_reads_0_days(app, db_session, mailbox,
                                                                                     monkeypatch, make_user):
    """A request not yet due, found first, holds up none after it; past its deadline, 0 days are left."""
    make_user(DATA_PROTECTION_OFFICER)  # requests with no handler remind the officers
    from crm.extensions import db
    from crm.gdpr.models import DataSubjectRequest
    from crm.gdpr.reminders import send_due_reminders
    from crm.timeutil import office_today

    def add(s):
        made = [DataSubjectRequest(kind="access", received_on=office_today(), due_on=office_today() + timedelta(days=d))
                for d in (20, 5, -3)]
        s.add_all(made)
        s.commit()
        return [request.id for request in made]

    later, due, late = db_session(add)
    with app.app_context():
        send_due_reminders(db.session)
        monkeypatch.setitem(app.config, "CRM_PUBLIC_URL", "https://crm.firma.example")
        send_due_reminders(db.session, today=office_today() + timedelta(days=3))  # the 2-day reminder
        db.session.remove()
    assert mails_about(mailbox, later) == []
    first, linked = mails_about(mailbox, due)[0], mails_about(mailbox, due)[-1]
    assert f"W Kartotece: Ochrona danych, Żądania osób, których dane dotyczą, nr {due}." in first.get_content()
    assert f"https://crm.firma.example/datasubjectrequestmodelview/show/{due}" in linked.get_content()
    overdue = mails_about(mailbox, late)[0]
    assert overdue["Subject"].endswith("dni do terminu: 0") and "(zostało dni: 0)" in overdue.get_content()


def test_two_reminder_runs_at_once_send_each_reminder_once(app, mailbox, open_requests):
    """Each worker process's scheduler starts the daily run: two at the same moment, on a slow mail server."""
    import threading

    from crm.extensions import db
    from crm.gdpr.reminders import send_due_reminders

    (week, two_days, *_), _handler, _officer = open_requests
    mailbox.delay = 0.2
    errors = []

    def run():
        with app.app_context():
            try:
                send_due_reminders(db.session)
            except Exception as error:  # noqa: BLE001  (the assertion below shows it)
                errors.append(error)
            finally:
                db.session.remove()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert errors == []
    assert len(mails_about(mailbox, week)) == 1 and len({mail["To"] for mail in mails_about(mailbox, two_days)}) == len(
        mails_about(mailbox, two_days))


def test_a_reminder_another_run_claimed_first_is_left_to_it_and_the_rest_still_go(app, mailbox, monkeypatch,
                                                                                 open_requests):
    """Two runs at once, made deterministic: the other run records the first reminder in the moment
    between this run's reading and its claim; this run leaves that one and sends the others."""
    import crm.gdpr.reminders as reminders
    from crm.extensions import db
    from crm.gdpr.models import DeadlineReminder

    (week, two_days, *_), _handler, officer = open_requests
    claim, taken = reminders._claim, []

    def rival_first(session, request_id, due):
        if not taken:
            taken.append(request_id)
            session.add_all(DeadlineReminder(request_id=request_id, days=days) for days in due)
            session.commit()
        return claim(session, request_id, due)

    monkeypatch.setattr(reminders, "_claim", rival_first)
    with app.app_context():
        sent = reminders.send_due_reminders(db.session)
        db.session.remove()
    # the first in this run's list (another test's request, in a shared database, may come first)
    [first] = taken
    assert mails_about(mailbox, first) == [], "the other run sends it"
    assert all(mails_about(mailbox, request) for request in {week, two_days} - {first}), "the rest still go"
    assert sent == len(mailbox.messages)


def test_a_reminder_the_mail_server_refused_goes_at_the_next_run(app, db_session, mailbox, monkeypatch, open_requests):
    from crm.extensions import db
    from crm.gdpr.reminders import send_due_reminders

    (week, *_), handler, _officer = open_requests
    with app.app_context(), monkeypatch.context() as down:
        down.setitem(app.config, "CRM_SMTP_PORT", 1)  # nothing listens there
        send_due_reminders(db.session)
        down.setitem(app.config, "CRM_SMTP_HOST", "")  # no mail server set up: nothing counts as sent either
        assert send_due_reminders(db.session) == 0
        db.session.remove()
    assert mails_about(mailbox, week) == []
    with app.app_context():
        sent = send_due_reminders(db.session)
        db.session.remove()
    assert sent == len(mailbox.messages) >= 2, "each email counted: the week's handler and the officers"
    [reminder] = mails_about(mailbox, week)
    assert reminder["To"] == handler

    # a refusal forgets that request's reminder only: the others sent stay sent
    from crm.gdpr.models import DataSubjectRequest
    from crm.timeutil import office_today

    def add(s):
        request = DataSubjectRequest(kind="access", received_on=office_today(), due_on=office_today() + timedelta(days=7))
        s.add(request)
        s.commit()
        return request.id

    newer = db_session(add)
    with app.app_context(), monkeypatch.context() as down:
        down.setitem(app.config, "CRM_SMTP_PORT", 1)
        assert send_due_reminders(db.session) == 0
        db.session.remove()
    with app.app_context():
        send_due_reminders(db.session)
        db.session.remove()
    assert len(mails_about(mailbox, newer)) >= 1 and len(mails_about(mailbox, week)) == 1


def test_scheduled_work_runs_on_a_real_worker(app, db_session, workers, mailbox, open_requests):
    """The reminders and the expiry of uploads, enqueued as the scheduler does, done by a worker process."""
    from crm.jobs.queue import jobs
    from tests.test_imports import upload_file

    (week, *_), handler, _officer = open_requests
    client, _ = signed_in(app)
    _token, path = upload_file(app, upload(client, company_rows(unique("Stary "), 2)))
    day_ago = time.time() - 25 * 3600
    os.utime(path, (day_ago, day_ago))
    workers(smtp_port=mailbox.port)
    with app.app_context():
        jobs().scheduled["deadline-reminders"]()
        jobs().scheduled["purge-uploads"]()
    deadline = time.monotonic() + 60
    while not (mails_about(mailbox, week) and not path.exists()):
        assert time.monotonic() < deadline, (len(mailbox.messages), path.exists())
        time.sleep(0.2)
    assert mails_about(mailbox, week)[0]["To"] == handler


def test_a_job_the_queue_cannot_take_fails_with_a_message_and_writes_nothing(app, db_session, monkeypatch):
    """Redis (or the queue's file) unreachable: the person sees why on the job's page, not an error page."""
    prefix = unique("Bez kolejki ")
    monkeypatch.setitem(app.config, "CRM_QUEUE_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    immediate = app.extensions[EXTENSION]
    init_jobs(app)
    try:
        client, _ = signed_in(app)
        token, fields = mapping_form(client, upload(client, company_rows(prefix, 3)))
        page = job_result(client, client.post(f"/import/{token}/", data={**fields, "action": "import"}))
    finally:
        app.extensions[EXTENSION] = immediate
    assert page.status_code == 200 and failed(page) and "kolejka zadań nie odpowiada" in page.text
    assert clients_named(db_session, prefix) == []


def test_finished_jobs_are_purged_after_their_keeping_time_and_running_ones_never(app, db_session):
    from flask_appbuilder.security.sqla.models import User

    from crm.jobs.models import Job
    from crm.jobs.service import purge_finished
    from crm.timeutil import utcnow

    def add(s):
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        made = [Job(kind="import", status=status, started_by_id=admin.id, language="pl", params="{}",
                    finished_at=utcnow() - timedelta(days=days) if status != "running" else None,
                    started_at=utcnow() - timedelta(days=days))
                for status, days in (("done", 31), ("failed", 31), ("done", 29), ("running", 40))]
        s.add_all(made)
        s.commit()
        return [job.id for job in made]

    old_done, old_failed, recent, running = db_session(add)
    with app.app_context():
        from crm.extensions import db

        assert purge_finished(db.session) >= 2
        db.session.remove()
    kept = db_session(lambda s: set(s.scalars(select(Job.id).where(Job.id.in_([old_done, old_failed, recent, running])))))
    assert kept == {recent, running}


def test_the_officers_get_the_weekly_count_of_clients_past_the_retention_period(app, db_session, mailbox, make_user,
                                                                               monkeypatch):
    from crm.clients.models import Client
    from crm.jobs.queue import jobs

    officer = make_user(DATA_PROTECTION_OFFICER)

    def card(s):
        s.add(Client(kind="company", company_name=unique("Stara firma ")))
        s.commit()

    db_session(card)
    # a period of 0 years: every card with any activity before now is past it (no history rewritten)
    monkeypatch.setitem(app.config, "CRM_RETENTION_INACTIVE_YEARS", 0)
    with app.app_context():
        jobs().scheduled["retention-list"]()
        jobs().scheduled["retention-list"]()  # a second worker process's scheduler, the same week
    [mail] = [read_mail(raw) for raw in mailbox.messages if f"{officer}@kartoteka.invalid" in raw]
    assert mail["Subject"].startswith("Kartoteka: klienci po okresie przechowywania: ")
    assert int(mail["Subject"].rsplit(" ", 1)[1]) >= 1 and "od 0 lat" in mail.get_content()
    assert "W Kartotece: Ochrona danych, Retencja." in mail.get_content(), "a worker knows no address: where to look"

    from crm.gdpr.reminders import send_retention_list

    # written with its closing slash, as an address often is
    monkeypatch.setitem(app.config, "CRM_PUBLIC_URL", "https://crm.firma.example/")
    with app.app_context():
        from crm.extensions import db

        assert send_retention_list(db.session) >= 1
        monkeypatch.setitem(app.config, "CRM_RETENTION_INACTIVE_YEARS", 1000)
        before = len(mailbox.messages)
        assert send_retention_list(db.session) == 0 and len(mailbox.messages) == before, "nobody past it: no email"
        db.session.remove()
    linked = [read_mail(raw) for raw in mailbox.messages if f"{officer}@kartoteka.invalid" in raw][-1]
    assert "https://crm.firma.example/gdpr/retention" in linked.get_content()
