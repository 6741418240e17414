"""Authenticated encryption of personal values and keyed-hash blind indexes.

A stored value reads ``v2:<data key id>:<base64url(nonce || AES-256-GCM ciphertext)>``
when it is about a client (the data subject's own key, from the key store,
:mod:`crm.privacy.keystore`), and ``v1:<master key id>:...`` otherwise (staff
data, under the key file's current key). The column's context
(``table.column``) is the associated data, so a value copied into another
column does not decrypt. Changing a layout breaks every stored value: add
``v3`` beside them instead.

Blind indexes are HMAC-SHA256 of a normalised value under the index key, with a
context mixed in (the registry passes the normaliser's name, so one email is one
hash in every table), cut to 128 bits: equal values find each other, the index
reveals nothing else without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crm.privacy.keys import KeyRing
from crm.privacy.keystore import UnknownDataKey, key_store

PREFIX = "v1"
SUBJECT_PREFIX = "v2"
NONCE_BYTES = 12
_ring: KeyRing | None = None


class DecryptionError(RuntimeError):
    """A stored value cannot be decrypted: unknown key, tampering or not ciphertext."""


def bind_key_ring(ring: KeyRing) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Make ``ring`` the process's key ring (called by create_app)."""
    global _ring
    _ring = ring


def key_ring() -> KeyRing:
    """The bound key ring; raises when the app has not bound one."""
    if _ring is None:
        raise RuntimeError("No key ring is bound: create the app first.")
    return _ring


class Sealable(str):
    """A plaintext that knows the data key it is to be stored under (its data subject's).

    The registry binds every personal value of a client's row, and of its
    versions, before it is written (:mod:`crm.privacy.subjects`).
    """

    data_key_id: str | None

    def __new__(cls, value: str, data_key_id: str | None):
        text = super().__new__(cls, value)
        text.data_key_id = data_key_id
        return text


def _seal(key: bytes, plaintext: str, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), context.encode())).decode()


def encrypt(plaintext: str, context: str, ring: KeyRing | None = None) -> str:
    """Encrypt under the key file's current key; ``context`` names the column."""
    ring = ring or key_ring()
    return f"{PREFIX}:{ring.current_id}:{_seal(ring.current_key, plaintext, context)}"


def encrypt_for_subject(plaintext: str, context: str, data_key_id: str) -> str:
    """Encrypt under a data subject's own key (from the key store)."""
    return f"{SUBJECT_PREFIX}:{data_key_id}:{_seal(key_store().key(data_key_id), plaintext, context)}"


def key_id_of(token: str) -> str | None:
    """The key id a stored value was encrypted with (master or data key), or None if it is not ciphertext."""
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] in (PREFIX, SUBJECT_PREFIX) else None


def data_key_id_of(token: str) -> str | None:
    """The data key a client's value is sealed under, or None for a value under the master key."""
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == SUBJECT_PREFIX else None


def decrypt(token: str, context: str, ring: KeyRing | None = None, store=None) -> str:
    """Decrypt a stored value; raise DecryptionError when it does not authenticate or its key is gone.

    ``ring`` and ``store`` default to the app's key ring and key store.
    """
    key_id = key_id_of(token)
    if key_id is None:
        raise DecryptionError(f"A value in {context} is not ciphertext.")
    if token.startswith(SUBJECT_PREFIX + ":"):
        try:
            key = (store or key_store()).key(key_id)
        except (UnknownDataKey, InvalidTag) as error:
            raise DecryptionError(f"A value in {context} needs a data key that no longer exists.") from error
    else:
        key = (ring or key_ring()).keys.get(key_id)
        if key is None:
            raise DecryptionError(f"A value in {context} needs key '{key_id}', which is not configured.")
    try:
        # strict: the lenient decoder stops at the padding, and would read a value with anything put after it
        raw = base64.b64decode(token.split(":", 2)[2], altchars=b"-_", validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode("utf-8")
    except (InvalidTag, ValueError) as error:
        raise DecryptionError(f"A value in {context} failed authentication.") from error


def fold(text: str) -> str:
    """Lower-case, without diacritics (ł -> l), single spaces."""
    text = text.replace("ł", "l").replace("Ł", "L")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


def normalize_email(value: str) -> str:
    return value.strip().casefold()


def normalize_phone(value: str) -> str:
    """Digits only, without the Polish country code: +48 601 234 567 == 601234567.

    The code is taken off only before a whole national number (nine digits), so that a number
    of its own starting with 48 or 0048 stays as it is.
    """
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0048") and len(digits) == 13:
        digits = digits[4:]
    elif digits.startswith("48") and len(digits) == 11:
        digits = digits[2:]
    return digits


def normalize_identifier(value: str) -> str:
    """NIP or PESEL: digits only, without a ``PL`` prefix."""
    return re.sub(r"\D", "", value)


NORMALIZERS = {
    "email": normalize_email,
    "phone": normalize_phone,
    "identifier": normalize_identifier,
    "text": fold,
}


def blind_index(value: str | None, context: str, normalizer: str, ring: KeyRing | None = None) -> str | None:
    """The keyed hash that finds ``value`` by exact match, or None for an empty value."""
    if value is None:
        return None
    normalized = NORMALIZERS[normalizer](value)
    if not normalized:
        return None
    ring = ring or key_ring()
    digest = hmac.new(ring.index_key, f"{context}\x00{normalized}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


#: the shortest start of a word that finds it ("Węż" finds Wężyk)
MIN_PREFIX = 3


def word_tokens(values: dict[str, str | None], starts: str | None = None) -> str | None:
    """Space-separated keyed hashes of every word of the named values.

    ``values`` maps a context (``client.last_name``) to its text; a word is found
    by :func:`word_token` of the same context and word. With ``starts`` (the
    record's table), every word and every start of a word from ``MIN_PREFIX``
    letters is also hashed in one context for the whole record, the search box's
    (:func:`start_token`): one lookup a typed word, whichever name holds it.
    """
    tokens = []
    for context, text in values.items():
        for word in re.findall(r"\w+", fold(text or "")):
            tokens.append(word_token(word, context))
            if starts is not None:
                tokens.append(start_token(word, starts))
                tokens += [start_token(word[:length], starts) for length in range(MIN_PREFIX, len(word))]
    return " ".join(sorted(set(tokens))) or None


def start_token(start: str, table: str) -> str:
    """The keyed hash of a word, or of a word's start, of any name of a record in ``table``.

    What these reveal to someone holding the database without the key: how many
    records have a name word that starts alike (the same hash), as whole-word
    hashes already reveal how many share a word; not the letters.
    """
    return word_token(start, f"{table}:starts")


def word_token(word: str, context: str, ring: KeyRing | None = None) -> str:
    """The keyed hash of one word (folded) in one context, 16 hex characters."""
    ring = ring or key_ring()
    digest = hmac.new(ring.index_key, f"word\x00{context}\x00{fold(word)}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]
