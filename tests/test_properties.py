"""Properties of the pure rules, over many generated inputs (hypothesis): identifiers, the
normalisers behind the blind indexes, the comparison of versions, the GDPR deadlines, attribute kinds."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.attributes.kinds import Spec, parse
from crm.clients.validation import (
    NIP_WEIGHTS, PESEL_WEIGHTS, is_valid_nip, is_valid_pesel, normalize_nip, pesel_birth_date,
)
from crm.gdpr.service import due_date, request_problems
from crm.history.diff import ADDED, REMOVED, SAME, compare_rows, diff_cards, word_diff
from crm.privacy.crypto import blind_index, fold
from crm.privacy.keys import KeyRing

settings.register_profile("kartoteka", max_examples=200, deadline=None)
settings.load_profile("kartoteka")

RING = KeyRing(keys={"k1": secrets.token_bytes(32)}, current_id="k1", index_key=secrets.token_bytes(32))
digits = st.lists(st.integers(0, 9), min_size=9, max_size=9)


# -- NIP and PESEL ---------------------------------------------------------------------------

def nip_of(first_nine: list[int]) -> str | None:
    checksum = sum(d * w for d, w in zip(first_nine, NIP_WEIGHTS)) % 11
    return None if checksum == 10 else "".join(map(str, first_nine)) + str(checksum)


NIP_LAYOUTS = (
    lambda nip: nip,
    lambda nip: f"{nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}",
    lambda nip: f"PL{nip}",
    lambda nip: f" {nip[:3]} {nip[3:6]} {nip[6:]} ",
)


@given(digits, st.sampled_from(NIP_LAYOUTS))
def test_a_nip_with_its_check_digit_is_valid_however_it_is_written(first_nine, layout):
    nip = nip_of(first_nine)
    if nip is None:
        assert not any(is_valid_nip("".join(map(str, first_nine)) + str(d)) for d in range(10))
        return
    written = layout(nip)
    assert is_valid_nip(written) and normalize_nip(written) == nip


@given(digits, st.integers(0, 9), st.integers(1, 9))
def test_a_nip_with_one_digit_mistyped_is_refused(first_nine, position, delta):
    nip = nip_of(first_nine)
    if nip is None:
        return
    mistyped = nip[:position] + str((int(nip[position]) + delta) % 10) + nip[position + 1:]
    assert not is_valid_nip(mistyped)


def pesel_of(born: date, serial: int) -> str:
    offset = {1800: 80, 1900: 0, 2000: 20, 2100: 40, 2200: 60}[born.year // 100 * 100]
    first_ten = f"{born.year % 100:02d}{born.month + offset:02d}{born.day:02d}{serial:04d}"
    checksum = (10 - sum(int(d) * w for d, w in zip(first_ten, PESEL_WEIGHTS)) % 10) % 10
    return first_ten + str(checksum)


@given(st.dates(date(1800, 1, 1), date(2299, 12, 31)), st.integers(0, 9999))
@example(date(2000, 2, 29), 1234)
def test_a_pesel_encodes_its_birth_date_and_its_check_digit(born, serial):
    pesel = pesel_of(born, serial)
    assert is_valid_pesel(pesel) and pesel_birth_date(pesel) == born


@given(st.dates(date(1800, 1, 1), date(2299, 12, 31)), st.integers(0, 9999), st.integers(0, 10), st.integers(1, 9))
def test_a_pesel_with_one_digit_mistyped_is_refused(born, serial, position, delta):
    pesel = pesel_of(born, serial)
    mistyped = pesel[:position] + str((int(pesel[position]) + delta) % 10) + pesel[position + 1:]
    assert not is_valid_pesel(mistyped)


# -- blind indexes: one person, however the value is typed ----------------------------------------

local = st.text("abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=20)
domain = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


def random_case(text: str, flips: list[bool]) -> str:
    return "".join(ch.upper() if flip else ch for ch, flip in zip(text, flips + [False] * len(text)))


@given(local, domain, st.lists(st.booleans(), max_size=40), st.sampled_from(["", " ", "  \t"]))
def test_an_email_finds_the_same_card_in_any_case(name, host, flips, space):
    email = f"{name}@{host}.pl"
    typed = space + random_case(email, flips) + space
    assert blind_index(typed, "client.email", "email", RING) == blind_index(email, "client.email", "email", RING)


@given(local, local, domain)
def test_two_different_emails_have_different_indexes(first, second, host):
    if first == second:
        return
    one, two = (blind_index(f"{n}@{host}.pl", "client.email", "email", RING) for n in (first, second))
    assert one != two


@given(st.lists(st.integers(0, 9), min_size=9, max_size=9),
       st.sampled_from(["", "+48", "+48 ", "0048", "48"]), st.lists(st.sampled_from(["", " ", "-"]), min_size=9, max_size=9))
@example([0, 0, 4, 8, 0, 0, 1, 2, 3], "+48", [""] * 9)  # a number of its own starting 0048 (found by hypothesis in CI)
def test_a_phone_finds_the_same_card_in_any_spacing_and_with_the_country_code(number, prefix, separators):
    plain = "".join(map(str, number))
    typed = prefix + "".join(str(d) + sep for d, sep in zip(number, separators))
    assert blind_index(typed, "client.phone", "phone", RING) == blind_index(plain, "client.phone", "phone", RING)


@given(st.lists(st.integers(0, 9), min_size=9, max_size=9), st.integers(10, 99).filter(lambda code: code != 48))
def test_a_foreign_number_is_not_the_polish_number_its_last_nine_digits_make(number, code):
    """+44 601 234 567 is someone else than 601 234 567: only the Polish code is taken off."""
    plain = "".join(map(str, number))
    assert blind_index(f"+{code} {plain}", "client.phone", "phone", RING) != blind_index(plain, "client.phone", "phone", RING)


@given(st.text(min_size=1, max_size=30))
def test_the_same_value_in_two_columns_has_two_indexes(value):
    if not fold(value):
        assert blind_index(value, "client.email", "text", RING) is None, "nothing to find: no index"
        return
    assert blind_index(value, "client.email", "text", RING) != blind_index(value, "contact_person.email", "text", RING)


# -- comparing versions ----------------------------------------------------------------------------

words = st.lists(st.sampled_from(["Ala", "ma", "kota,", "psa", "i", "rybki.", "Żółw", "śpi"]), max_size=25)


@given(words, words)
def test_a_word_diff_rebuilds_both_texts(old_words, new_words):
    old, new = " ".join(old_words), " ".join(new_words)
    pieces = word_diff(old, new)
    assert "".join(text for kind, text in pieces if kind != "added") == old
    assert "".join(text for kind, text in pieces if kind != "removed") == new
    assert all(text for _kind, text in pieces), "no empty piece (an empty <ins> on the page)"
    if old == new:
        assert all(kind == SAME for kind, _text in pieces)


@given(st.lists(st.sampled_from(["Ala", "ma", "kota", "i", "psa"]), min_size=250, max_size=400), st.data())
def test_one_word_changed_in_a_long_note_is_one_word_marked(old_words, data):
    """A long note repeats its words: each is still matched (no "popular word" shortcut), so only the change shows."""
    position = data.draw(st.integers(0, len(old_words) - 1))
    new_words = [*old_words[:position], "Żółw", *old_words[position + 1:]]
    changed = [(kind, text) for kind, text in word_diff(" ".join(old_words), " ".join(new_words)) if kind != SAME]
    assert changed == [("removed", old_words[position]), ("added", "Żółw")]


rows = st.fixed_dictionaries({"city": st.sampled_from(["Łódź", "Kutno", None]), "status": st.sampled_from(["lead", "active"])})


@given(st.dictionaries(st.integers(1, 5), rows, max_size=3), st.dictionaries(st.integers(1, 5), rows, max_size=3))
def test_a_section_missing_from_one_version_is_all_added_or_all_removed(old_rows, new_rows):
    fields = {"notes": ["city", "status"]}
    added = diff_cards({}, {"notes": new_rows}, fields)
    removed = diff_cards({"notes": old_rows}, {}, fields)
    assert [(r.row_id, r.status) for r in added] == [(row_id, ADDED) for row_id in sorted(new_rows)]
    assert [(r.row_id, r.status) for r in removed] == [(row_id, REMOVED) for row_id in sorted(old_rows)]


@given(rows, rows)
def test_rows_compare_by_their_fields(old, new):
    fields = ["city", "status"]
    assert compare_rows(None, new, fields)[0] == ADDED and compare_rows(old, None, fields)[0] == REMOVED
    status, changes = compare_rows(old, new, fields)
    assert (status == SAME) == (old == new)
    assert {change.field for change in changes if change.changed} == {f for f in fields if old[f] != new[f]}


# -- deadlines of requests (Art. 12(3)) ------------------------------------------------------------

@given(st.dates(date(2018, 5, 25), date(2100, 12, 31)))
@example(date(2026, 1, 31))
@example(date(2028, 1, 31))
@example(date(2026, 3, 31))
def test_an_answer_is_due_a_calendar_month_later_or_on_the_months_last_day(received):
    due = due_date(received)
    assert 28 <= (due - received).days <= 31
    next_month = (received.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert (due.year, due.month) == (next_month.year, next_month.month)
    assert due.day == received.day or (due.day < received.day and (due + timedelta(days=1)).day == 1)


@given(st.dates(date(2018, 5, 25), date(2100, 12, 31)), st.integers(-5, 120))
def test_an_extension_reaches_at_most_two_more_months(received, extra_days):
    longest = due_date(received) + relativedelta(months=2)
    extended = longest + timedelta(days=extra_days - 60)
    problems = request_problems(received, extended, "Wiele żądań naraz")
    assert (problems != []) == (extended > longest)
    assert request_problems(received, extended, "  ") != [], "an extension needs its reason"


# -- attribute kinds -------------------------------------------------------------------------------

@given(st.integers(-10**17, 10**17))
def test_a_whole_number_is_stored_as_it_reads_and_parses_back(number):
    spec = Spec("x", "integer")
    stored, error = parse(spec, f" {number} ")
    assert error is None and int(stored) == number and parse(spec, stored) == (stored, None)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**9, max_value=10**9))
def test_a_decimal_with_a_polish_comma_is_the_same_number(number):
    spec = Spec("x", "decimal")
    stored, error = parse(spec, format(number, "f").replace(".", ","))
    assert error is None and Decimal(stored) == number and parse(spec, stored) == (stored, None)


@given(st.dates(date(1900, 1, 1), date(2199, 12, 31)))
def test_a_date_reads_the_same_typed_the_polish_way_or_iso(day):
    spec = Spec("x", "date")
    assert parse(spec, day.strftime("%d.%m.%Y")) == parse(spec, day.isoformat()) == (day.isoformat(), None)


@given(st.text(max_size=20))
def test_a_value_that_is_not_a_number_is_refused_with_a_message(text):
    spec = Spec("x", "integer", required=True)
    stored, error = parse(spec, text)
    assert (stored is None) == (error is not None)
    if stored is not None:
        assert int(stored) == int(text.strip().replace(" ", "").replace("\u00a0", ""))
