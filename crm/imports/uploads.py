"""Uploaded import files waiting to be mapped and imported: each under a key of its own.

An upload is kept in the instance folder (``imports/<token>.enc``) sealed under
a fresh data key from the key store; forgetting the upload destroys that key
first, so a copy of the file left anywhere cannot be read. Uploads expire
after a day: hourly by the job queue's workers (crm/jobs/schedule.py), by
``flask crm purge-uploads`` and at every upload. An erasure drops the uploads
that hold the erased person.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Iterable

from flask_babel import lazy_gettext as _l

from crm.privacy.crypto import NORMALIZERS, DecryptionError, data_key_id_of, decrypt, encrypt_for_subject
from crm.privacy.keystore import key_store

CONTEXT = "import.upload"
#: uploads not imported within a day are deleted
KEEP_SECONDS = 24 * 3600
GONE_MESSAGE = _l("That import is no longer available; upload the file again.")


class UploadGone(LookupError):
    """The upload expired, was imported, or was dropped by an erasure."""


def folder(instance_path: str) -> Path:
    path = Path(instance_path) / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def keep(instance_path: str, headers: list[str], rows: list[dict[str, str]]) -> str:
    """Seal an uploaded table under a key of its own; returns the upload's token."""
    token = secrets.token_urlsafe(16)
    store = key_store()
    key_id = store.new_key()
    store.save_pending()
    payload = json.dumps({"headers": headers, "rows": rows}, ensure_ascii=False)
    path = folder(instance_path) / f"{token}.enc"
    path.write_text(encrypt_for_subject(payload, CONTEXT, key_id))
    os.chmod(path, 0o600)
    return token


def recall(instance_path: str, token: str) -> dict:
    """The upload's headers and rows; raises UploadGone."""
    path = folder(instance_path) / f"{token}.enc"
    try:
        return json.loads(decrypt(path.read_text(), CONTEXT))
    except (OSError, DecryptionError):
        raise UploadGone(token) from None


def forget(path: Path) -> None:
    """Destroy an upload's key, then its file (a copy of the file is unreadable from the first step)."""
    try:
        key_id = data_key_id_of(path.read_text())
    except OSError:
        return
    if key_id:
        key_store().destroy([key_id])
    path.unlink(missing_ok=True)


def forget_token(instance_path: str, token: str) -> None:
    forget(folder(instance_path) / f"{token}.enc")


def purge_expired(instance_path: str, now: float | None = None) -> int:
    """Forget every upload older than a day; returns how many."""
    limit = (now or time.time()) - KEEP_SECONDS
    expired = [path for path in folder(instance_path).glob("*.enc") if path.stat().st_mtime < limit]
    for path in expired:
        forget(path)
    return len(expired)


def drop_holding(instance_path: str, values: Iterable[str]) -> int:
    """Forget every upload with a cell equal to one of these values (an erased person's), compared normalised."""
    wanted = {(kind, normalized) for value in values if value for kind, normalise in NORMALIZERS.items()
              if (normalized := normalise(value))}
    dropped = 0
    for path in folder(instance_path).glob("*.enc"):
        try:
            upload = json.loads(decrypt(path.read_text(), CONTEXT))
        except (OSError, DecryptionError):
            continue
        cells = (cell for row in upload["rows"] for cell in row.values() if cell)
        if any((kind, normalise(cell)) in wanted for cell in cells for kind, normalise in NORMALIZERS.items()):
            forget(path)
            dropped += 1
    return dropped
