"""The demo data generators produce values our own rules accept."""

import random

from crm.clients.validation import client_errors, is_valid_nip, is_valid_pesel
from crm.demo import client_values, nip, pesel
from datetime import date


def test_generated_identifiers_pass_their_checksums():
    rng = random.Random(7)
    assert all(is_valid_nip(nip(rng)) for _ in range(500))
    births = [date(1950 + i % 70, 1 + i % 12, 1 + i % 28) for i in range(500)]
    assert all(is_valid_pesel(pesel(rng, birth, female=i % 2 == 0)) for i, birth in enumerate(births))


def test_generated_clients_are_valid_and_polish():
    rng = random.Random(11)
    clients = [client_values(rng) for _ in range(300)]
    assert all(client_errors(values) == {} for values in clients)
    text = " ".join(str(v) for values in clients for v in values.values())
    assert set("ąęłńóśźż") <= set(text.lower())
    assert {c["kind"] for c in clients} == {"company", "person"}


def test_same_seed_gives_same_data():
    assert client_values(random.Random(3)) == client_values(random.Random(3))
