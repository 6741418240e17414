"""The key ring: encryption keys and the blind-index key, never from the database.

Keys come from ``CRM_ENCRYPTION_KEYS`` (the environment or config) or from the
key file ``CRM_KEY_FILE``. Both use one line per key::

    index <base64 of 32 bytes>       the blind-index key (one, never rotated)
    k1 <base64 of 32 bytes>          an AES-256-GCM key; the last one encrypts

(in the environment variable, lines may be separated by ``;``). Older keys stay
to decrypt what they wrote until ``flask crm keys rotate`` has re-encrypted it.

Changing the blind-index key makes every stored index unfindable: it has no
rotation of its own.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

INDEX_KEY_ID = "index"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class KeyRingError(RuntimeError):
    """The keys are missing or malformed; the message says what to set."""


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by id (the last one is current) and the blind-index key."""

    keys: dict[str, bytes]
    current_id: str
    index_key: bytes

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_id]


def parse_keys(text: str) -> KeyRing:
    """Read key lines (``<id> <base64>``); raise KeyRingError on anything malformed."""
    keys: dict[str, bytes] = {}
    index_key = None
    order: list[str] = []
    for number, raw in enumerate(re.split(r"[;\n]", text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not _KEY_ID.match(parts[0]):
            raise KeyRingError(f"Key line {number} must read '<id> <base64 key>'.")
        key_id, encoded = parts
        try:
            key = base64.urlsafe_b64decode(encoded.encode())
        except (ValueError, TypeError):
            raise KeyRingError(f"Key '{key_id}' is not valid base64.") from None
        if len(key) != 32:
            raise KeyRingError(f"Key '{key_id}' must be 32 bytes long.")
        if key_id == INDEX_KEY_ID:
            index_key = key
            continue
        if key_id in keys:
            raise KeyRingError(f"Key id '{key_id}' appears twice.")
        keys[key_id] = key
        order.append(key_id)
    if index_key is None or not keys:
        raise KeyRingError("The keys need one 'index' key and at least one encryption key.")
    return KeyRing(keys=keys, current_id=order[-1], index_key=index_key)


def new_key_line(key_id: str) -> str:
    """A fresh random key as a key-file line."""
    return f"{key_id} {base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"


def next_key_id(ring: KeyRing) -> str:
    """The id after the highest ``k<n>`` id of the ring."""
    numbers = [int(key_id[1:]) for key_id in ring.keys if re.fullmatch(r"k\d+", key_id)]
    return f"k{max(numbers, default=0) + 1}"


def write_new_key_file(path: str | os.PathLike) -> None:
    """Create a key file with an index key and one encryption key, mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = "\n".join(
        [
            "# Kartoteka keys. Keep a copy outside this machine: without it the data cannot be read.",
            new_key_line(INDEX_KEY_ID),
            new_key_line("k1"),
            "",
        ]
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)


def append_key(path: str | os.PathLike, ring: KeyRing) -> str:
    """Add a new encryption key to a key file; it becomes the current key. Returns its id."""
    key_id = next_key_id(ring)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(new_key_line(key_id) + "\n")
    return key_id


def load_key_ring(configured: str | None, key_file: str | None) -> KeyRing | None:  # pragma: no mutate block (runs at import or app creation)
    """Keys from the configured text, else from the key file; None when neither exists."""
    if configured:
        return parse_keys(configured)
    if key_file and os.path.exists(key_file):
        mode = os.stat(key_file).st_mode & 0o077
        if mode:
            raise KeyRingError(f"The key file {key_file} is readable by others; run: chmod 600 {key_file}")
        return parse_keys(Path(key_file).read_text(encoding="utf-8"))
    return None


def main(argv: list[str]) -> int:
    """``python -m crm.privacy.keys new-file PATH``: create a key file (used by ``make run``)."""
    if len(argv) != 2 or argv[0] != "new-file":
        print("usage: python -m crm.privacy.keys new-file PATH", file=sys.stderr)
        return 2
    write_new_key_file(argv[1])
    print(f"Created the key file {argv[1]} (mode 0600). Back it up: without it the data cannot be read.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
