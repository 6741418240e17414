"""The pure validation rules of the client card."""

import pytest

from crm.clients.validation import (
    client_errors,
    is_valid_nip,
    is_valid_pesel,
    is_valid_postal_code,
    normalized_client_values,
    pesel_birth_date,
)


@pytest.mark.parametrize("nip", ["5260250274", "526-025-02-74", "PL 526 025 02 74", "7740001454"])
def test_valid_nip_is_accepted_with_or_without_separators(nip):
    assert is_valid_nip(nip)


@pytest.mark.parametrize("nip", ["5260250275", "526025027", "52602502744", "abcdefghij", "", None, "0000000000" + "1"])
def test_invalid_nip_is_refused(nip):
    assert not is_valid_nip(nip)


def test_nip_whose_checksum_is_ten_is_refused():
    # 123456789 weighs to 6+10+21+8+15+24+35+48+63 = 230, 230 % 11 == 10: no check digit exists.
    assert all(not is_valid_nip("123456789" + str(digit)) for digit in range(10))


@pytest.mark.parametrize("pesel", ["44051401359", "02070803628"])
def test_valid_pesel_is_accepted(pesel):
    assert is_valid_pesel(pesel)


@pytest.mark.parametrize("pesel", ["44051401358", "4405140135", "44131401359", "44023101352", "abcdefghijk"])
def test_invalid_pesel_is_refused(pesel):
    assert not is_valid_pesel(pesel)


def test_pesel_encodes_the_century_in_the_month():
    assert pesel_birth_date("02270803628").year == 2002
    assert pesel_birth_date("02070803628").year == 1902
    assert pesel_birth_date("44051401359").isoformat() == "1944-05-14"


@pytest.mark.parametrize(("code", "country", "ok"), [("00-950", "PL", True), ("00950", "PL", False), ("0-950", None, False), ("10115", "DE", True)])
def test_postal_code_format_depends_on_country(code, country, ok):
    assert is_valid_postal_code(code, country) is ok


def test_company_needs_a_name_and_person_needs_both_names():
    assert set(client_errors({"kind": "company"})) == {"company_name"}
    assert set(client_errors({"kind": "person", "first_name": "Łucja"})) == {"last_name"}
    assert client_errors({"kind": "person", "first_name": "Łucja", "last_name": "Żak"}) == {}


def test_only_a_person_has_a_pesel():
    errors = client_errors({"kind": "company", "company_name": "Żuraw sp. z o.o.", "pesel": "44051401359"})
    assert set(errors) == {"pesel"}


def test_every_broken_field_is_reported_at_once():
    errors = client_errors(
        {
            "kind": "person",
            "first_name": "Jan",
            "last_name": "Nowak",
            "email": "jan@",
            "phone": "call me",
            "nip": "1234567890",
            "pesel": "44051401358",
            "postal_code": "00950",
            "country": "PL",
        }
    )
    assert set(errors) == {"email", "phone", "nip", "pesel", "postal_code"}


def test_country_is_a_two_letter_code():
    assert set(client_errors({"kind": "person", "first_name": "Jan", "last_name": "Nowak", "country": "POL"})) == {"country"}


def test_normalized_values_store_identifiers_as_digits():
    values = normalized_client_values({"nip": "PL 526-025-02-74", "pesel": " 440514 01359 ", "country": "pl", "remarks": "  "})
    assert values == {"nip": "5260250274", "pesel": "44051401359", "country": "PL", "remarks": None}
