"""The ``flask crm`` command group.

Messages are translated (the default locale is Polish, ``BABEL_DEFAULT_LOCALE``);
command help stays in English, as click renders it before any app exists.
"""

from __future__ import annotations

import os
import time

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_migrate import upgrade

from crm.extensions import appbuilder, db

crm_cli = AppGroup("crm", help="Kartoteka administration.")


@crm_cli.command("init")
@click.option(
    "--admin-password-file",
    type=click.File("r", encoding="utf-8"),
    help="Read the first administrator's password from this file instead of generating one.",
)
def init_command(admin_password_file):
    """Apply migrations, converge built-in roles, create the first administrator.

    Safe to run again: it only adds what is missing; built-in roles get their
    default permissions except where an administrator has changed them. The password comes from --admin-password-file,
    else CRM_ADMIN_PASSWORD, else it is generated and printed once.
    """
    from crm.accountability.trail import start_trail
    from crm.security.service import (
        FIRST_ADMIN_USERNAME,
        FirstAdminNameTaken,
        PasswordPolicyError,
        converge_builtin_roles,
        create_first_admin,
        ensure_builtin_roles,
    )

    upgrade(directory=current_app.extensions["migrate"].directory)
    started = start_trail(db.session)
    if started:
        click.echo(_("The accountability trail starts here: %(count)d existing records linked.", count=started))
    ensure_builtin_roles()
    appbuilder.add_permissions(update_perms=True)
    counts = converge_builtin_roles()
    click.echo(_("Roles: %(roles)s", roles=", ".join(f"{name} ({count})" for name, count in counts.items())))

    password = None
    if admin_password_file is not None:
        password = admin_password_file.read().strip()
    elif os.environ.get("CRM_ADMIN_PASSWORD"):
        password = os.environ["CRM_ADMIN_PASSWORD"]
    try:
        user, created, generated = create_first_admin(password)
    except PasswordPolicyError as error:
        raise click.ClickException(_("The administrator password is refused: %(problems)s", problems=str(error))) from None
    except FirstAdminNameTaken:
        raise click.ClickException(_(
            "No account holds the Administrator role, and an account without it has the user name '%(user)s' "
            "or the address %(email)s: rename it or change its address, and run crm init again.",
            user=FIRST_ADMIN_USERNAME, email=current_app.config["CRM_ADMIN_EMAIL"])) from None
    if generated:
        click.echo(_("Created administrator '%(user)s' with password: %(password)s", user=FIRST_ADMIN_USERNAME, password=generated))
        click.echo(_("This password is shown once; store it now."))
    elif not created and password is not None and user.username == FIRST_ADMIN_USERNAME:
        click.echo(_("Administrator '%(user)s' already exists; its password was not changed.", user=user.username))
    else:
        click.echo(_("Administrator '%(user)s' is ready.", user=user.username))


@crm_cli.command("demo")
@click.option("--clients", "count", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--seed", type=int, default=2018, show_default=True, help="Same seed, same data.")
def demo_command(count, seed):
    """Load realistic Polish demo clients, versioned like any other write."""
    from crm.demo import load_demo

    owners = list(db.session.scalars(db.select(appbuilder.sm.user_model)))
    started = time.perf_counter()
    with click.progressbar(length=count, label="Demo clients") as bar:
        written = load_demo(
            count,
            seed=seed,
            batch_size=current_app.config["CRM_DEMO_BATCH_SIZE"],
            owners=owners,
            progress=bar.update,
        )
    click.echo(_("Wrote %(count)d demo clients in %(seconds).1f s.", count=written, seconds=time.perf_counter() - started))


@crm_cli.command("has-clients", hidden=True)
def has_clients_command():
    """Exit 0 when the database holds at least one client (used by ``make run``)."""
    from crm.clients.models import Client

    raise SystemExit(0 if db.session.scalar(db.select(Client.id).limit(1)) else 1)


@crm_cli.group("keys")
def keys_group():
    """Encryption keys of personal data."""


@keys_group.command("add")
def keys_add_command():
    """Add a new encryption key to the key file; it encrypts from now on.

    Run `flask crm keys rotate` afterwards to re-encrypt what older keys wrote.
    """
    from crm.privacy.crypto import key_ring
    from crm.privacy.keys import append_key

    if current_app.config.get("CRM_ENCRYPTION_KEYS"):
        raise click.ClickException(
            _("The keys come from CRM_ENCRYPTION_KEYS: append a new line '<id> <base64 key>' there (%(hint)s).",
              hint="python -c \"from crm.privacy.keys import new_key_line; print(new_key_line('k2'))\"")
        )
    key_id = append_key(current_app.config["CRM_KEY_FILE"], key_ring())
    click.echo(_("Added key '%(key)s' to %(file)s. Now run: flask crm keys rotate", key=key_id, file=current_app.config["CRM_KEY_FILE"]))


@keys_group.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
def keys_rotate_command(batch_size):
    """Re-wrap the clients' data keys under the newest master key, and re-encrypt every value under its key.

    A client's values go under the client's own data key (a database from before
    per-client keys is moved to them here), other values under the newest key.
    Safe to interrupt and run again; what is already under its key is skipped.
    """
    from flask_appbuilder import Model

    from crm.privacy.crypto import key_ring
    from crm.privacy.keystore import key_store
    from crm.privacy.rotation import count_rows, encrypted_tables, rotate

    ring = key_ring()
    store = key_store()
    with click.progressbar(length=store.count(), label=f"Re-wrapping data keys under '{ring.current_id}'") as bar:
        rewrapped = store.rewrap(ring, progress=bar.update)
    specs = encrypted_tables(Model.metadata)
    with click.progressbar(length=count_rows(db.engine, specs), label="Re-encrypting values") as bar:
        rewritten = rotate(db.engine, specs, ring, batch_size=batch_size, progress=bar.update)
    click.echo(_("Re-wrapped %(keys)d data keys under key '%(key)s'.", keys=rewrapped, key=ring.current_id))
    click.echo(_("Re-encrypted %(count)d values under key '%(key)s' in %(tables)d tables.", count=rewritten, key=ring.current_id, tables=len(specs)))


@crm_cli.group("audit")
def audit_group():
    """The tamper-evident trail of accountability records."""


@audit_group.command("verify")
@click.option("--anchor", "anchors", multiple=True, type=click.File("r"),
              help="An anchor taken earlier by 'flask crm audit anchor': the chains must still hold its links. Repeatable.")
def audit_verify_command(anchors):
    """Walk every chain and every chained record; name the first one changed, removed or inserted outside the app.

    The result is recorded for the officer's screen. Exit status 1 when anything does not match.
    """
    import json

    from crm.accountability.trail import check_anchor, described, record_verification, verify

    result = verify(db.session.connection())
    for anchor in anchors:
        try:
            document = json.load(anchor)
        except ValueError:
            document = {}
        result.problems.extend(check_anchor(db.session.connection(), document))
    record_verification(db.session, result)
    click.echo(_("Checked %(links)d links and %(rows)d records.", links=result.links, rows=result.rows))
    if result.intact:
        click.echo(_("The trail is intact: no record was changed, removed or inserted outside Kartoteka."))
        return
    for problem in result.problems:
        click.echo(described(problem), err=True)
    raise SystemExit(1)


@audit_group.command("anchor")
@click.option("--output", type=click.File("w"), default="-",
              help="Where to write the anchor (standard output by default); keep it outside the database's server.")
def audit_anchor_command(output):
    """Write each chain's head, signed, for keeping outside (a mailbox, paper, another machine).

    'flask crm audit verify --anchor FILE' later shows whether a chain lost its end since, which the
    database alone cannot show. Take one daily, after the verification.
    """
    import json

    from crm.accountability.trail import take_anchor

    document = take_anchor(db.session.connection())
    db.session.rollback()
    output.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


@crm_cli.command("tls-cert")
@click.option("--out", "folder", type=click.Path(file_okay=False), help="Folder for cert.pem and key.pem [instance/tls].")
@click.option("--name", "names", multiple=True, help="Host name or IP the certificate is for; repeatable.")
@click.option("--days", type=click.IntRange(1, 825), default=365, show_default=True)
def tls_cert_command(folder, names, days):
    """Create a self-signed certificate for local HTTPS (browsers will ask you to accept it)."""
    from crm.tls import DEFAULT_NAMES, write_self_signed_certificate

    folder = folder or os.path.join(current_app.instance_path, "tls")
    cert, key = write_self_signed_certificate(folder, names or DEFAULT_NAMES, days)
    click.echo(_("Certificate: %(cert)s", cert=cert))
    click.echo(_("Private key: %(key)s (mode 0600)", key=key))
    click.echo(_("Serve with: %(command)s", command=f"gunicorn --certfile {cert} --keyfile {key} --bind 127.0.0.1:8443 app:app"))


@crm_cli.command("purge-logins")
def purge_logins_command():
    """Delete login history older than CRM_LOGIN_HISTORY_DAYS, and the records of ended sessions."""
    from crm.security.lockout import purge_login_events
    from crm.security.sessions import purge_sessions

    removed = purge_login_events(db.session)
    click.echo(_("Deleted %(count)d login history entries older than %(days)d days.", count=removed, days=int(current_app.config["CRM_LOGIN_HISTORY_DAYS"])))
    click.echo(_("Deleted %(count)d records of ended sessions.", count=purge_sessions(db.session)))


@crm_cli.command("purge-reads")
def purge_reads_command():
    """Delete read-access records older than CRM_READ_LOG_DAYS (run daily); the trail records the deletion."""
    from crm.accountability.service import purge_read_log

    removed = purge_read_log(db.session)
    click.echo(_("Deleted %(count)d read-access records older than %(days)d days.", count=removed,
                 days=int(current_app.config["CRM_READ_LOG_DAYS"])))


@crm_cli.command("set-password")
@click.argument("username")
@click.password_option(help="The new password (asked twice when not given).")
def set_password_command(username, password):
    """Set an account's password (under the policy); it is changed again at the next login."""
    from crm.security.service import PasswordPolicyError

    user = appbuilder.sm.find_user(username=username)
    if user is None:
        raise click.ClickException(_("There is no account '%(user)s'.", user=username))
    try:
        appbuilder.sm.reset_password(user.id, password)
    except PasswordPolicyError as error:
        raise click.ClickException(_("The password is refused: %(problems)s", problems=str(error))) from None
    click.echo(_("The password of '%(user)s' is set; it must be changed at the next login.", user=username))


@crm_cli.command("export")
@click.argument("client_id", type=int)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the whole download (ZIP: JSON, CSV, summary) to this file instead of JSON to standard output.")
@click.option("--request", "request_id", type=int, help="The data-subject request this export answers.")
@click.option("--reason", help="Why, when no request is named (10 to 500 characters, no personal data).")
@click.option("--language", type=click.Choice(["pl", "en"]), default="pl", show_default=True,
              help="The language of the document for the person (summary.html).")
def export_command(client_id, output, request_id, reason, language):
    """Export everything held about a client (Art. 15, 20); the export is recorded with its request or reason."""
    import json

    from crm.gdpr import export
    from crm.gdpr.service import check_grounds

    try:
        data = export.collect(db.session, client_id)
        check_grounds(db.session, client_id, request_id, reason)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if output:
        with open(output, "wb") as target:
            target.write(export.package(db.session, data, language))
    else:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    export.record(db.session, client_id, data, request_id=request_id, reason=reason)
    if output:
        click.echo(_("Exported client %(id)d to %(file)s.", id=client_id, file=output))


@crm_cli.command("export-schema")
def export_schema_command():
    """Print the JSON Schema of export.json as the registry declares it (kept as crm/gdpr/export.schema.json)."""
    import json

    from crm.gdpr.export_schema import schema

    click.echo(json.dumps(schema(), ensure_ascii=False, indent=2))


@crm_cli.command("erase")
@click.argument("client_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--request", "request_id", type=int, help="The data-subject request this erasure answers.")
@click.option("--reason", help="Why, when no request is named (10 to 500 characters, no personal data).")
@click.option("--also", "also", type=int, multiple=True,
              help="Another card sharing the person's email, phone, NIP or PESEL, to erase with them; repeatable.")
def erase_command(client_id, yes, request_id, reason, also):
    """Erase a client from every place, history included (Art. 17); the erasure is recorded with its request or reason."""
    from crm.gdpr import erasure
    from crm.gdpr.service import check_grounds

    try:
        preview = erasure.preview(db.session, client_id)
        check_grounds(db.session, client_id, request_id, reason)
    except (erasure.ErasureError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for table, label, live, versions in preview.places:
        if live or versions:
            click.echo(_("%(place)s: %(rows)d records, %(versions)d earlier versions", place=label, rows=live, versions=versions))
    click.echo(_("Change records left empty: %(count)d", count=preview.transactions))
    for card in preview.sharing:
        click.echo(_("Card #%(id)d holds the same %(shared)s%(marker)s", id=card.client_id, shared=", ".join(card.shared),
                     marker=_(" (erased with it)") if card.client_id in also else ""))
    if not yes and not click.confirm(_("Erase client %(id)d for good?", id=client_id)):
        raise click.ClickException(_("Nothing was erased."))
    try:
        event = erasure.erase(db.session, client_id, request_id=request_id, reason=reason, also=also)
    except erasure.ErasureError as error:
        raise click.ClickException(str(error)) from None
    click.echo(_("Client %(id)d was erased; erasure record no. %(event)d.", id=client_id, event=event.id))


@crm_cli.command("backup")
@click.option("--out", "folder", type=click.Path(file_okay=False), help="Folder for the database backup [instance/backups].")
@click.option("--key-store-out", "key_folder", type=click.Path(file_okay=False),
              help="Folder for the key store's backup, kept apart from the database's [instance/backups/key-store].")
def backup_command(folder, key_folder):
    """Back up the database (consistent: SQLite online backup, pg_dump) and, separately, the key store."""
    from pathlib import Path

    from crm.backup import BackupError, copy_database

    instance = current_app.instance_path
    folder = Path(folder or os.path.join(instance, "backups"))
    key_folder = Path(key_folder or os.path.join(instance, "backups", "key-store"))
    try:
        database = copy_database(current_app.config["SQLALCHEMY_DATABASE_URI"], folder, instance)
        keys = copy_database(current_app.config["CRM_KEY_STORE_URL"], key_folder, instance)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(_("Database backup: %(file)s", file=database))
    click.echo(_("Key store backup: %(file)s", file=keys))
    click.echo(_("Keep the key store's backups no longer than %(days)d days: after that, no copy of an erased person can be read.",
                 days=current_app.config["CRM_ERASURE_DEADLINE_DAYS"]))


@crm_cli.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def restore_command(backup, yes):
    """Put a database backup back (stop the app first), then erase again everyone erased since it was taken."""
    from pathlib import Path

    from crm.backup import BackupError, put_back

    if not yes and not click.confirm(_("Replace everything in the database with %(file)s?", file=backup)):
        raise click.ClickException(_("Nothing was restored."))
    db.session.remove()
    db.engine.dispose()
    try:
        put_back(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(backup), current_app.instance_path)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(_("The database was restored from %(file)s.", file=backup))
    _reapply_erasures()


@crm_cli.command("reapply-erasures")
def reapply_erasures_command():
    """Erase again everyone the key store's ledger names that this database still holds (after a restore)."""
    _reapply_erasures()


def _reapply_erasures() -> None:
    from crm.gdpr.erasure import reapply_ledger

    done = reapply_ledger(db.session)
    click.echo(_("Erased again, as the erasure ledger records: %(count)d clients; suppression list entries put back: %(entries)d.",
                 count=len(done.clients), entries=done.suppressed))


@crm_cli.command("worker")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Jobs run at once (threads).")
def worker_command(workers):
    """Run background jobs (imports) from the queue until stopped (Ctrl+C or SIGTERM)."""
    from crm.jobs.queue import queue
    from crm.jobs.service import fail_abandoned

    abandoned = fail_abandoned()
    if abandoned:
        click.echo(_("Jobs whose worker had stopped, marked failed: %(count)d.", count=abandoned))
    queue().create_consumer(workers=workers, worker_type="thread").run()


@crm_cli.command("purge-uploads")
def purge_uploads_command():
    """Forget import uploads older than a day (their keys first); the app also does it hourly."""
    from crm.imports.uploads import purge_expired

    click.echo(_("Expired uploads forgotten: %(count)d.", count=purge_expired(current_app.instance_path)))


@crm_cli.command("retention")
@click.option("--apply", "apply_rule", is_flag=True, help="Erase the candidates (otherwise they are only listed).")
@click.option("--years", type=click.IntRange(1, 100), help="Years without activity [CRM_RETENTION_INACTIVE_YEARS].")
def retention_command(apply_rule, years):
    """List, or erase with --apply, the clients with no activity for the retention period."""
    from crm.gdpr import erasure
    from crm.gdpr.service import retention_candidates

    years = years or current_app.config["CRM_RETENTION_INACTIVE_YEARS"]
    candidates = [(client.id, last) for client, last in retention_candidates(db.session, years)]
    for client_id, last in candidates:
        click.echo(_("Client %(id)d: last activity %(date)s", id=client_id, date=last.strftime("%Y-%m-%d")))
    if not apply_rule:
        click.echo(_("%(count)d clients have had no activity for %(years)d years; run with --apply to erase them.", count=len(candidates), years=years))
        return
    for client_id, _last in candidates:
        erasure.erase(db.session, client_id, kind="retention",
                      reason=_("Retention period ended: no activity for %(years)d years.", years=years))
    click.echo(_("Erased %(count)d clients under the retention rule; each erasure is recorded.", count=len(candidates)))


@crm_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "pairs", multiple=True, metavar="COLUMN=FIELD",
              help="Map a column to a field (or attr:<key>); repeatable. Unmapped columns are guessed from their names.")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and skip those with errors (else one bad row stops all).")
@click.option("--dry-run", is_flag=True, help="Check every row and write nothing.")
@click.option("--confirm-new-basis", is_flag=True, help="A new legal basis exists for persons erased earlier.")
@click.option("--confirm-duplicates", is_flag=True,
              help="Rows whose NIP, PESEL or email another card (or row) has are other clients: import them.")
def import_command(path, pairs, skip_bad, dry_run, confirm_new_basis, confirm_duplicates):
    """Import clients from a CSV or XLSX file, checked row by row like the card's form."""
    from crm.imports import service
    from crm.imports.reader import ImportFileError, read_table

    with open(path, "rb") as source:
        data = source.read(current_app.config["CRM_IMPORT_MAX_BYTES"] + 1)
    try:
        table = read_table(os.path.basename(path), data, current_app.config["CRM_IMPORT_MAX_BYTES"])
    except ImportFileError as error:
        raise click.ClickException(str(error)) from None
    mapping = service.guess_mapping(table.headers, db.session)
    for pair in pairs:
        column, _sep, target = pair.partition("=")
        if column not in mapping:
            raise click.ClickException(_("The file has no column “%(column)s”.", column=column))
        mapping[column] = target
    try:
        service.check_mapping(mapping, db.session)
    except service.ImportRefused as error:
        raise click.ClickException(str(error)) from None
    for column, target in mapping.items():
        click.echo(f"{column} -> {target or '-'}")
    checks = service.check_rows(
        db.session, table.rows, mapping, confirmed_new_basis=confirm_new_basis, confirmed_duplicates=confirm_duplicates
    )
    bad = [check for check in checks if check.errors]
    for check in bad[:200]:
        click.echo(_("Row %(row)d: %(errors)s", row=check.number, errors="; ".join(check.errors)), err=True)
    click.echo(_("Rows without errors: %(good)d; rows with errors: %(bad)d.", good=len(checks) - len(bad), bad=len(bad)))
    if dry_run:
        return
    started = time.perf_counter()
    try:
        with click.progressbar(length=len(checks) - len(bad), label="Import") as bar:
            written, skipped = service.write(db.session, checks, skip_bad, progress=bar.update)
        db.session.commit()
    except service.ImportRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(_("Imported %(written)d clients in %(seconds).1f s; %(skipped)d rows with errors were skipped.",
                 written=written, seconds=time.perf_counter() - started, skipped=skipped))
