"""Realistic Polish demo data: names with diacritics, valid NIP and PESEL, addresses.

The value generators are pure functions of a ``random.Random``; :func:`load_demo`
writes through the ORM so that every row is versioned like any other write.
The models are imported where they are written, so the bare baseline of
bench/ can draw the same values without declaring Kartoteka's tables.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Callable, Iterator

from crm.clients.validation import NIP_WEIGHTS, PESEL_WEIGHTS
from crm.gdpr.choices import MAILING_PURPOSE

MALE_FIRST = ["Łukasz", "Paweł", "Michał", "Tomasz", "Krzysztof", "Piotr", "Jędrzej", "Mikołaj", "Wojciech", "Bartłomiej", "Grzegorz", "Zbigniew", "Maciej", "Jarosław", "Przemysław"]
FEMALE_FIRST = ["Małgorzata", "Agnieszka", "Katarzyna", "Żaneta", "Jolanta", "Urszula", "Bożena", "Grażyna", "Łucja", "Ewa", "Anna", "Jadwiga", "Elżbieta", "Dorota", "Halina"]
SURNAME_STEMS = ["Kowalsk", "Wiśniewsk", "Wójcik", "Kamińsk", "Lewandowsk", "Zielińsk", "Szymańsk", "Woźniak", "Dąbrowsk", "Kozłowsk", "Jankowsk", "Mazur", "Krawczyk", "Piotrowsk", "Grabowsk", "Nowakowsk", "Pawłowsk", "Michalsk", "Król", "Wieczorek", "Jabłońsk", "Nowak", "Majewsk", "Olszewsk", "Stępień", "Jaworsk", "Malinowsk", "Górsk", "Sikorsk", "Walczak", "Baran", "Rucińsk", "Żak", "Śliwińsk", "Źrebiec"]
CITIES = [("Warszawa", "00"), ("Kraków", "30"), ("Łódź", "90"), ("Wrocław", "50"), ("Poznań", "60"), ("Gdańsk", "80"), ("Szczecin", "70"), ("Bydgoszcz", "85"), ("Lublin", "20"), ("Białystok", "15"), ("Katowice", "40"), ("Gdynia", "81"), ("Częstochowa", "42"), ("Radom", "26"), ("Toruń", "87"), ("Rzeszów", "35"), ("Kielce", "25"), ("Zielona Góra", "65"), ("Olsztyn", "10"), ("Opole", "45")]
STREETS = ["ul. Marszałkowska", "ul. Piękna", "ul. Świętokrzyska", "al. Jerozolimskie", "ul. Żelazna", "ul. Łąkowa", "ul. Ogrodowa", "ul. Źródlana", "ul. Słoneczna", "ul. Kościuszki", "ul. Mickiewicza", "ul. Śląska", "ul. Wrzosowa", "pl. Grunwaldzki", "ul. Długa"]
COMPANY_WORDS = ["Przędzalnia", "Hurtownia", "Zakład", "Spółdzielnia", "Pracownia", "Wytwórnia", "Piekarnia", "Drukarnia", "Stolarnia", "Biuro Rachunkowe"]
COMPANY_NAMES = ["Złoty Kłos", "Gęś i Syn", "Żuraw", "Łączność", "Śnieżka", "Źródło", "Pod Dębem", "Mazowsze", "Kaszuby", "Bałtyk", "Tęcza", "Wisła"]
COMPANY_FORMS = ["sp. z o.o.", "S.A.", "s.c.", "sp.j.", "sp. k."]
POSITIONS = ["Prezes zarządu", "Główna księgowa", "Kierownik zakupów", "Specjalista ds. sprzedaży", "Dyrektor handlowy", "Asystentka zarządu"]
NOTE_TEXTS = {
    "call": "Rozmowa telefoniczna o warunkach współpracy; klient prosi o ofertę do piątku.",
    "meeting": "Spotkanie w siedzibie klienta, omówiono zamówienie na przyszły kwartał.",
    "email": "Wysłano cennik i wzór umowy; czekamy na odpowiedź.",
    "note": "Klient woli kontakt mailowy przed południem. Zażółć gęślą jaźń.",
}
MAILING_LISTS = [
    ("Newsletter miesięczny", "Nowości i promocje raz w miesiącu."),
    ("Zaproszenia na targi", "Informacje o targach i wydarzeniach branżowych."),
    ("Komunikaty serwisowe", "Zmiany cenników, przerwy w dostawach."),
]
TRANSLITERATION = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def nip(rng: random.Random) -> str:
    """A random NIP with a valid check digit."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, NIP_WEIGHTS)) % 11
        if check != 10:
            return "".join(map(str, digits + [check]))


def pesel(rng: random.Random, birth: date, female: bool) -> str:
    """A PESEL for ``birth`` (1900-2099) and sex, with a valid check digit."""
    month = birth.month + (20 if birth.year >= 2000 else 0)
    serial = [rng.randint(0, 9) for _ in range(3)]
    sex = rng.choice([0, 2, 4, 6, 8] if female else [1, 3, 5, 7, 9])
    digits = [int(c) for c in f"{birth.year % 100:02d}{month:02d}{birth.day:02d}"] + serial + [sex]
    check = (10 - sum(d * w for d, w in zip(digits, PESEL_WEIGHTS)) % 10) % 10
    return "".join(map(str, digits + [check]))


def person_name(rng: random.Random) -> tuple[str, str, bool]:
    """First name, surname in the matching gender, and whether female."""
    female = rng.random() < 0.5
    first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
    stem = rng.choice(SURNAME_STEMS)
    if stem.endswith("sk") or stem.endswith("ck"):
        last = stem + ("a" if female else "i")
    else:
        last = stem
    return first, last, female


def email_for(first: str, last: str, rng: random.Random, domain: str | None = None) -> str:
    """An address derived from a name, transliterated to ASCII."""
    local = f"{first}.{last}".lower().translate(TRANSLITERATION)
    domain = domain or rng.choice(["wp.pl", "onet.pl", "interia.pl", "gmail.com", "o2.pl"])
    return f"{local}{rng.randint(1, 999)}@{domain}"


def phone(rng: random.Random) -> str:
    """A Polish mobile number."""
    return f"+48 {rng.choice([5, 6, 7, 8])}{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"


def address(rng: random.Random) -> dict[str, str]:
    """Street, postal code and city that belong together."""
    city, prefix = rng.choice(CITIES)
    return {
        "street": f"{rng.choice(STREETS)} {rng.randint(1, 180)}" + (f"/{rng.randint(1, 60)}" if rng.random() < 0.5 else ""),
        "postal_code": f"{prefix}-{rng.randint(0, 999):03d}",
        "city": city,
        "country": "PL",
    }


def client_values(rng: random.Random) -> dict:
    """Column values of one demo client, a company or a person."""
    values = address(rng)
    values["status"] = rng.choices(["lead", "active", "former"], weights=[3, 6, 1])[0]
    values["phone"] = phone(rng)
    if rng.random() < 0.6:
        name = f"{rng.choice(COMPANY_WORDS)} „{rng.choice(COMPANY_NAMES)}” {rng.choice(COMPANY_FORMS)}"
        values.update(kind="company", company_name=name, nip=nip(rng))
        slug = name.split("„")[1].split("”")[0].lower().translate(TRANSLITERATION).replace(" ", "")
        values["email"] = f"biuro{rng.randint(1, 9999)}@{slug}.pl"
    else:
        first, last, female = person_name(rng)
        birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
        values.update(
            kind="person",
            first_name=first,
            last_name=last,
            email=email_for(first, last, rng),
            pesel=pesel(rng, birth, female),
        )
    return values


def _batches(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def load_demo(
    clients: int,
    *,
    seed: int = 2018,
    batch_size: int = 500,
    owners: list | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write ``clients`` demo clients with contacts, notes and subscriptions.

    Each batch is one versioned transaction. Returns the number of clients written.
    """
    from crm.clients.models import Client, ContactPerson, Note
    from crm.extensions import db
    from crm.gdpr.models import Consent
    from crm.mailing.models import Subscription

    rng = random.Random(seed)
    lists = ensure_mailing_lists()
    ensure_processing_activities()
    owners = owners or [None]
    written = 0
    for size in _batches(clients, batch_size):
        for _ in range(size):
            client = Client(**client_values(rng), owner=rng.choice(owners))
            if client.kind == "company":
                first, last, _female = person_name(rng)
                client.contacts.append(
                    ContactPerson(
                        first_name=first,
                        last_name=last,
                        position=rng.choice(POSITIONS),
                        email=email_for(first, last, rng, domain=client.email.split("@")[1]),
                        phone=phone(rng),
                    )
                )
            kind = rng.choice(list(NOTE_TEXTS))
            client.notes.append(
                Note(
                    kind=kind,
                    occurred_on=date(2026, 1, 1) + timedelta(days=rng.randint(0, 300)),
                    text=NOTE_TEXTS[kind],
                    author=client.owner,
                )
            )
            chosen = rng.sample(lists, rng.randint(0, 2))
            if chosen:
                # a subscription needs a lawful basis for email marketing
                client.consents.append(Consent(
                    purpose=MAILING_PURPOSE, lawful_basis="consent", source="web_form",
                    given_on=date(2025, 1, 1) + timedelta(days=rng.randint(0, 600)),
                    evidence="Formularz zapisu na stronie, zgoda marketingowa",
                ))
            for mailing_list in chosen:
                client.subscriptions.append(
                    Subscription(mailing_list=mailing_list, source=rng.choice(["manual", "web_form", "event"]))
                )
            db.session.add(client)
        db.session.commit()
        written += size
        progress(size)
    return written


def ensure_mailing_lists() -> list:
    """The demo mailing lists, created where missing."""
    from crm.extensions import db
    from crm.mailing.models import MailingList

    existing = {ml.name: ml for ml in db.session.scalars(db.select(MailingList))}
    for name, description in MAILING_LISTS:
        if name not in existing:
            existing[name] = MailingList(name=name, description=description)
            db.session.add(existing[name])
    db.session.commit()
    return [existing[name] for name, _ in MAILING_LISTS]


#: the demo company's record of processing (Art. 30): name, purpose, basis, subjects, categories, recipients, retention
PROCESSING_ACTIVITIES = (
    ("Obsługa klientów i realizacja umów", "Zawieranie i wykonywanie umów sprzedaży, obsługa zamówień i reklamacji",
     "contract", "clients,contacts", "identity,contact,address,identifiers,employment,free_text",
     "Biuro rachunkowe (podmiot przetwarzający), firmy kurierskie",
     "Do końca współpracy, potem 6 lat (przedawnienie roszczeń i obowiązki podatkowe)", ""),
    ("Newsletter i oferty wysyłane e-mailem", "Wysyłka informacji handlowych do subskrybentów list mailingowych",
     "consent", "subscribers", "identity,contact", "Dostawca narzędzia do wysyłki (podmiot przetwarzający)",
     "Do wycofania zgody lub sprzeciwu", ""),
    ("Konta pracowników i bezpieczeństwo systemu", "Logowanie do systemu, rozliczalność dostępu do danych klientów",
     "legitimate_interest", "staff", "identity,contact,online,account", "",
     "Dziennik logowań i odczytów: 12 miesięcy; konto: do końca zatrudnienia", ""),
)


def ensure_processing_activities() -> None:
    """The demo record of processing activities, where the record is empty."""
    from crm.accountability.models import ProcessingActivity
    from crm.accountability.register import BUILT_IN_MEASURES
    from crm.extensions import db

    if db.session.scalar(db.select(ProcessingActivity.id).limit(1)) is not None:
        return
    for name, purpose, basis, subjects, categories, recipients, retention, source in PROCESSING_ACTIVITIES:
        db.session.add(ProcessingActivity(
            name=name, purpose=purpose, lawful_basis=basis, subject_categories=subjects, data_categories=categories,
            recipients=recipients or None, retention=retention, security_measures=str(BUILT_IN_MEASURES),
            source=source or None,
        ))
    db.session.commit()
