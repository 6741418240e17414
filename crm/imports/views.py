"""The import screens (upload, map columns, dry run, import) and the client list's export."""

from __future__ import annotations

import csv
import io

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from crm.accountability import reads
from crm.arguments import int_arg
from crm.errors import refusal
from crm.extensions import db
from crm.imports import jobs as import_job
from crm.imports import service, uploads
from crm.jobs import service as jobs
from crm.imports.reader import ImportFileError, read_table
from crm.spreadsheet import csv_cell, xlsx_row

SESSION_KEY = "crm_imports"
NO_FILE_MESSAGE = _l("Choose a CSV or XLSX file to import.")


def keep_upload(table) -> str:
    """Keep an uploaded table (sealed, it holds personal data) for this user's session; returns its token."""
    uploads.purge_expired(current_app.instance_path)
    token = uploads.keep(current_app.instance_path, table.headers, table.rows)
    session[SESSION_KEY] = [*session.get(SESSION_KEY, [])[-4:], token]
    return token


def recall_upload(token: str) -> dict:
    """The upload a token names, if this session made it (else 404 with a message)."""
    if token not in session.get(SESSION_KEY, []):
        raise refusal(404, uploads.GONE_MESSAGE)
    try:
        return uploads.recall(current_app.instance_path, token)
    except uploads.UploadGone:
        raise refusal(404, uploads.GONE_MESSAGE) from None


class ImportView(BaseView):
    """Import clients from CSV or XLSX: upload, map columns, check every row, import."""

    route_base = "/import"
    default_view = "upload_form"

    @expose("/", methods=["GET"])
    @has_access
    @permission_name("import")
    def upload_form(self):
        return self.render_template("imports/upload.html", title=_l("Import clients"))

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("import")
    def upload(self):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(str(NO_FILE_MESSAGE), "danger")
            return self.render_template("imports/upload.html", title=_l("Import clients")), 400
        try:
            table = read_table(upload.filename, upload.read(), current_app.config["CRM_IMPORT_MAX_BYTES"])
        except ImportFileError as error:
            flash(str(error), "danger")
            return self.render_template("imports/upload.html", title=_l("Import clients")), 422
        return redirect(url_for(f"{self.endpoint}.mapping", token=keep_upload(table)))

    def _mapping_page(self, token, upload, mapping, status=200, options=None):
        return self.render_template(
            "imports/mapping.html", title=_l("Import clients: columns and check"), token=token,
            headers=upload["headers"], rows=len(upload["rows"]), mapping=mapping,
            targets=service.targets(db.session), options=options or {},
        ), status

    @expose("/<token>/", methods=["GET"])
    @has_access
    @permission_name("import")
    def mapping(self, token):
        upload = recall_upload(token)
        mapping, options = service.guess_mapping(upload["headers"], db.session), {}
        earlier = _earlier_job(token)
        if earlier is not None:
            asked = jobs.params(earlier)
            mapping, options = import_job.mapping_of(asked, upload["headers"]), asked["options"]
        return self._mapping_page(token, upload, mapping, options=options)

    @expose("/<token>/", methods=["POST"])
    @has_access
    @permission_name("import")
    def run(self, token):
        """Check the mapping here; check (and import) the rows in a background job."""
        upload = recall_upload(token)
        mapping = {header: request.form.get(f"map-{index}", "") for index, header in enumerate(upload["headers"])}
        options = {
            "skip_bad": bool(request.form.get("skip_bad")),
            "confirm": bool(request.form.get("confirm_new_basis")),
            "confirm_duplicates": bool(request.form.get("confirm_duplicates")),
        }
        try:
            service.check_mapping(mapping, db.session)
        except service.ImportRefused as error:
            flash(str(error), "danger")
            return self._mapping_page(token, upload, mapping, 422, options=options)
        by_position = {position: mapping[header] for position, header in enumerate(upload["headers"])}
        dry_run = request.form.get("action") != "import"
        job = jobs.start(
            import_job.KIND, import_job.job_params(token, by_position, options, dry_run), g.user,
            get_locale().language, total=len(upload["rows"]),
        )
        return redirect(url_for("JobView.show", pk=job.id))


def _earlier_job(token: str):
    """The signed-in person's job on this upload named by ``?job=`` (its columns and options fill the form again)."""
    job = jobs.owned(int_arg("job"), g.user)
    if job is None or job.kind != import_job.KIND or jobs.params(job)["upload"] != token:
        return None
    return job


def export_rows(fmt: str, clients, columns, labels, card_of=lambda row: row.id):
    """The client list as CSV or XLSX bytes: one row a client; a column is a name or a function of the client.

    Values are as stored (keys, ISO dates, attribute text), so the file imports back unchanged; a
    value a spreadsheet would run as a formula is written as text (crm.spreadsheet). The cards
    written (``card_of`` a row) are recorded as exported.
    """
    header = [str(label) for label in labels]
    exported: list[int] = []

    def row_values(client):
        exported.append(card_of(client))
        return [_plain(column(client) if callable(column) else getattr(client, column)) for column in columns]

    values = (row_values(client) for client in clients)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow([csv_cell(label) for label in header])
        writer.writerows([csv_cell(value) for value in row] for row in values)
        reads.note("export", exported)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8"), "text/csv"
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(xlsx_row(sheet, header))
    for row in values:
        sheet.append(xlsx_row(sheet, row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    reads.note("export", exported)
    return buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _plain(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value) if not isinstance(value, (int, float)) else value
