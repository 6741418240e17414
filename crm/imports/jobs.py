"""The web import as a background job: check every row (a dry run stops there), then write them all.

Its parameters name the sealed upload and map column positions (not names: a file
without a header row has a person's data in its first row); its report keeps row
numbers and what to correct, never a cell's value.
"""

from __future__ import annotations

from flask import current_app

from crm.imports import service, uploads
from crm.jobs.service import JobRefused, handler, params

KIND = "import"
#: rows with errors listed in the report (the counts cover all)
REPORTED_ROWS = 500
CHECK, WRITE = "check", "write"


def job_params(token: str, mapping_by_position: dict[int, str], options: dict, dry_run: bool) -> dict:
    return {"upload": token, "mapping": {str(k): v for k, v in mapping_by_position.items()}, "options": options,
            "dry_run": dry_run}


def mapping_of(asked: dict, headers: list[str]) -> dict[str, str]:
    """The job's mapping by column name, for the upload's headers."""
    return {header: asked["mapping"].get(str(position), "") for position, header in enumerate(headers)}


def _forget_upload(job) -> None:
    if not params(job)["dry_run"]:
        uploads.forget_token(current_app.instance_path, params(job)["upload"])


@handler(KIND, then=_forget_upload)
def import_rows(session, job, progress) -> dict:
    """Check, and unless it is a dry run write, the upload's rows; returns the report."""
    asked = params(job)
    try:
        upload = uploads.recall(current_app.instance_path, asked["upload"])
    except uploads.UploadGone:
        raise JobRefused(str(uploads.GONE_MESSAGE)) from None
    headers, rows, options = upload["headers"], upload["rows"], asked["options"]
    mapping = mapping_of(asked, headers)
    try:
        # the fields may have changed since the job was asked for
        service.check_mapping(mapping, session)
    except service.ImportRefused as error:
        raise JobRefused(str(error)) from None
    progress.begin(CHECK, len(rows))
    checks = service.check_rows(
        session, rows, mapping, confirmed_new_basis=options["confirm"],
        confirmed_duplicates=options["confirm_duplicates"], progress=lambda n: progress.advance(n),
    )
    bad = [check for check in checks if check.errors]
    report = {
        "dry_run": asked["dry_run"], "good": len(checks) - len(bad), "bad": len(bad), "written": 0,
        "rows": [[check.number, "; ".join(check.errors)] for check in bad[:REPORTED_ROWS]],
    }
    if asked["dry_run"]:
        progress.begin(CHECK, len(rows))
        progress.advance(len(checks) - len(bad), len(bad))
        return report
    progress.begin(WRITE, len(checks) - len(bad) if options["skip_bad"] else len(checks))
    try:
        written, skipped = service.write(
            session, checks, options["skip_bad"], owner_id=job.started_by_id, progress=lambda n: progress.advance(n)
        )
    except service.ImportRefused as error:
        raise JobRefused(str(error), report) from None
    progress.failed = skipped
    return {**report, "written": written}
