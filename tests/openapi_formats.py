"""Schemathesis hooks: generators for the custom string formats of Kartoteka's OpenAPI document.

JSON Schema cannot state a checksum, so the document marks NIP and PESEL with
the formats ``nip`` and ``pesel`` (crm.clients.api_schema); without a
generator schemathesis would call a random pattern-matching string "valid" and
count its refusal against the API. Loaded through ``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

from datetime import date

import schemathesis
from hypothesis import strategies as st

from crm.clients.validation import NIP_WEIGHTS, PESEL_WEIGHTS

_MONTH_OFFSET = {1800: 80, 1900: 0, 2000: 20, 2100: 40, 2200: 60}


def _nip(digits: list[int]) -> str | None:
    check = sum(d * w for d, w in zip(digits, NIP_WEIGHTS)) % 11
    return None if check == 10 else "".join(map(str, digits)) + str(check)


def _pesel(born: date, serial: list[int]) -> str:
    month = born.month + _MONTH_OFFSET[born.year // 100 * 100]
    digits = [int(c) for c in f"{born.year % 100:02d}{month:02d}{born.day:02d}"] + serial
    check = (10 - sum(d * w for d, w in zip(digits, PESEL_WEIGHTS)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


NIPS = st.lists(st.integers(0, 9), min_size=9, max_size=9).map(_nip).filter(bool)
PESELS = st.builds(_pesel, st.dates(date(1900, 1, 1), date(2099, 12, 31)), st.lists(st.integers(0, 9), min_size=4, max_size=4))

schemathesis.openapi.format("nip", NIPS)
schemathesis.openapi.format("pesel", PESELS)
