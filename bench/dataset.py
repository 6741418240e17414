"""A large realistic dataset for the benchmarks, written through a fast bulk path (used by bench/compare.py).

Each client (Polish demo values, valid NIP and PESEL) gets on average 3 versions
(created in a batch, then 0 to 4 changes, each its own transaction), 2 notes, a
contact person, 2 subscriptions with the email-marketing consent they need, and
3 attribute values (a choice, a number, a personal phone). What the ORM would
do per row (blind and word indexes, AES-GCM, Continuum's version rows and
transactions) is done once and written with one executemany per table and
batch, so 100,000 clients take minutes instead of hours. The rows are the
same as the app writes (crm/bulk.py, the path imports take): the app reads,
searches, exports and erases them.

The database must have been initialised (``flask crm init``).
:func:`generate_plain` writes the bare baseline's tables instead
(bench/baseline): the same values, no encryption, no indexes of ours, no versions.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 1000
STARTED = datetime(2024, 1, 1, 9, 0)
SECTORS = ["IT", "Handel", "Produkcja", "Usługi", "Budownictwo"]
ATTRIBUTES = [
    dict(key="branza", label_pl="Branża", label_en="Sector", kind="choice", choices="\n".join(SECTORS),
         in_list=True, filterable=True),
    dict(key="pracownicy", label_pl="Liczba pracowników", label_en="Employees", kind="integer"),
    dict(key="prywatny_telefon", label_pl="Prywatny telefon", label_en="Private phone", kind="phone", personal=True),
]
CHANGES = ["status", "phone", "remarks", "street"]
REMARKS = ["Prosi o fakturę elektroniczną.", "Płatność przelewem 14 dni.", "Kontakt tylko po południu.",
           "Zmiana osoby decyzyjnej w marcu.", "Zainteresowany rozszerzeniem umowy."]


def client_values(rng: random.Random) -> dict:
    """The card of one client as the baseline and Kartoteka both store it (current version)."""
    from crm.demo import client_values as demo_values

    values = demo_values(rng)
    values["remarks"] = rng.choice(REMARKS)
    return values


def generate(app, clients: int, seed: int = 2018, progress=print) -> None:
    """Write ``clients`` clients with their versions, notes, contacts, subscriptions and attributes."""
    from crm.attributes.models import AttributeDefinition, AttributeValue
    from crm.bulk import BulkWriter, columns_of
    from crm.clients.models import Client, ContactPerson, Note
    from crm.demo import NOTE_TEXTS, POSITIONS, email_for, ensure_mailing_lists, person_name, phone
    from crm.extensions import appbuilder, db
    from crm.gdpr.choices import MAILING_PURPOSE
    from crm.gdpr.models import Consent
    from crm.mailing.models import Subscription

    with app.app_context():
        lists = [mailing_list.id for mailing_list in ensure_mailing_lists()]
        definitions = {}
        for attribute in ATTRIBUTES:
            definition = db.session.scalar(sa.select(AttributeDefinition).filter_by(key=attribute["key"]))
            if definition is None:
                definition = AttributeDefinition(**attribute)
                db.session.add(definition)
                db.session.commit()
            definitions[attribute["key"]] = definition.id
        staff = [user.id for user in appbuilder.sm.get_all_users()]
        db.session.remove()

        values_rng, rng = random.Random(seed), random.Random(seed + 1)
        began = time.perf_counter()
        done = 0
        with db.engine.begin() as connection:
            writer = BulkWriter(connection)
            while done < clients:
                size = min(BATCH, clients - done)
                moment = STARTED + timedelta(minutes=done // 10)
                created = writer.transaction(rng.choice(staff), "10.0.0.5", moment)
                histories, children = [], []
                for client_id in writer.new_ids(Client.__table__, size):
                    values = client_values(values_rng)
                    card = columns_of(Client(**values, owner_id=rng.choice(staff)))
                    card.update(id=client_id, created_at=moment, updated_at=moment, lock_version=1)
                    histories.append(_history(card, rng, moment))
                    first, last_name, _female = person_name(rng)
                    domain = values["email"].split("@")[1]
                    children.append((ContactPerson, client_id, columns_of(ContactPerson(
                        first_name=first, last_name=last_name, position=rng.choice(POSITIONS),
                        email=email_for(first, last_name, rng, domain=domain), phone=phone(rng)))))
                    for _note in range(rng.choice([1, 2, 3])):
                        kind = rng.choice(list(NOTE_TEXTS))
                        children.append((Note, client_id, columns_of(Note(
                            kind=kind, text=NOTE_TEXTS[kind], author_id=card["owner_id"],
                            occurred_on=date(2025, 1, 1) + timedelta(days=rng.randint(0, 600)),
                            created_at=moment))))
                    children.append((Consent, client_id, columns_of(Consent(
                        purpose=MAILING_PURPOSE, lawful_basis="consent", source="web_form", given_on=moment.date(),
                        evidence="Formularz zapisu na stronie, zgoda marketingowa"))))
                    for mailing_list in rng.sample(lists, 2):
                        children.append((Subscription, client_id, columns_of(Subscription(
                            mailing_list_id=mailing_list, source="web_form", subscribed_at=moment))))
                    children.append((AttributeValue, client_id,
                                     {"definition_id": definitions["branza"], "value": rng.choice(SECTORS)}))
                    children.append((AttributeValue, client_id, {"definition_id": definitions["pracownicy"],
                                                                 "value": str(rng.randint(1, 500))}))
                    private = phone(rng)
                    children.append((AttributeValue, client_id, columns_of(AttributeValue(
                        definition_id=definitions["prywatny_telefon"], secret=private,
                        secret_bidx=_phone_index(private)))))
                # each later state of a card is its own transaction, by someone, some weeks later
                changes = writer.transactions([(rng.choice(staff), "10.0.0.7", state["updated_at"])
                                               for history in histories for state in history[1:]])
                for history in histories:
                    transactions = [created] + [changes.pop(0) for _ in history[1:]]
                    for number, state in enumerate(history):
                        last = number + 1 == len(history)
                        writer.add(Client, state, transactions[number], end=None if last else transactions[number + 1],
                                   operation=0 if number == 0 else 1, live=last)
                for model in (ContactPerson, Note, Consent, Subscription, AttributeValue):
                    rows = [(client_id, row) for kind, client_id, row in children if kind is model]
                    for row_id, (client_id, row) in zip(writer.new_ids(model.__table__, len(rows)), rows):
                        writer.add(model, {**row, "id": row_id, "client_id": client_id, "lock_version": 1}, created)
                writer.flush()
                done += size
                if done % 10_000 == 0 or done == clients:
                    progress(f"  {done} clients, {done / (time.perf_counter() - began):.0f}/s")
        _analyze(db.engine)


def _history(card: dict, rng: random.Random, moment: datetime) -> list[dict]:
    """The states a card went through, oldest first: created, then 0 to 4 changes a month apart."""
    from crm.bulk import columns_of
    from crm.clients.models import Client
    from crm.demo import phone

    history = [dict(card)]
    for step in range(rng.choice([0, 1, 2, 3, 4])):
        changed = dict(history[-1])
        field = rng.choice(CHANGES)
        if field == "status":
            changed["status"] = rng.choice(["lead", "active", "former"])
        elif field == "phone":
            changed["phone"] = phone(rng)
            changed["phone_bidx"] = columns_of(Client(phone=changed["phone"]))["phone_bidx"]
        elif field == "remarks":
            changed["remarks"] = rng.choice(REMARKS)
        else:
            changed["street"] = f"ul. Nowa {rng.randint(1, 200)}"
        changed["updated_at"] = moment + timedelta(days=30 * (step + 1))
        changed["lock_version"] = history[-1]["lock_version"] + 1
        history.append(changed)
    return history


def _phone_index(value: str) -> str:
    from crm.privacy.crypto import blind_index

    return blind_index(value, "phone", "phone")


def _analyze(engine) -> None:
    """Fresh planner statistics, as a database that grew slowly would have."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("ANALYZE"))


def generate_plain(engine, clients: int, seed: int = 2018, progress=print) -> None:
    """The baseline's tables (bench/baseline): the same clients, contacts, notes and subscriptions, in clear."""
    from bench.baseline.app import Client, ContactPerson, MailingList, Note, Subscription
    from crm.demo import MAILING_LISTS, NOTE_TEXTS, POSITIONS, email_for, person_name, phone

    values_rng, rng = random.Random(seed), random.Random(seed + 1)
    with engine.begin() as connection:
        connection.execute(sa.insert(MailingList.__table__), [
            {"id": number, "name": name, "description": text} for number, (name, text) in enumerate(MAILING_LISTS, 1)])
        ids = {"client": 0, "contact": 0, "note": 0, "subscription": 0}
        done = 0
        while done < clients:
            size = min(BATCH, clients - done)
            rows = {Client: [], ContactPerson: [], Note: [], Subscription: []}
            moment = STARTED + timedelta(minutes=done // 10)
            for _ in range(size):
                values = client_values(values_rng)
                ids["client"] += 1
                rows[Client].append({**{key: values.get(key) for key in Client.__table__.columns.keys()},
                                     "id": ids["client"], "owner_id": 1, "created_at": moment, "updated_at": moment})
                first, last, _female = person_name(rng)
                ids["contact"] += 1
                rows[ContactPerson].append({
                    "id": ids["contact"], "client_id": ids["client"], "first_name": first, "last_name": last,
                    "position": rng.choice(POSITIONS), "phone": phone(rng),
                    "email": email_for(first, last, rng, domain=values["email"].split("@")[1])})
                for _note in range(rng.choice([1, 2, 3])):
                    kind = rng.choice(list(NOTE_TEXTS))
                    ids["note"] += 1
                    rows[Note].append({"id": ids["note"], "client_id": ids["client"], "kind": kind, "text": NOTE_TEXTS[kind],
                                       "occurred_on": date(2025, 1, 1) + timedelta(days=rng.randint(0, 600))})
                for mailing_list in rng.sample([1, 2, 3], 2):
                    ids["subscription"] += 1
                    rows[Subscription].append({"id": ids["subscription"], "client_id": ids["client"],
                                               "mailing_list_id": mailing_list, "subscribed_at": moment})
            for model, batch in rows.items():
                connection.execute(sa.insert(model.__table__), batch)
            done += size
            if done % 20_000 == 0 or done == clients:
                progress(f"  {done} baseline clients")
        if connection.dialect.name == "postgresql":
            for table in ("client", "contact_person", "note", "subscription", "mailing_list"):
                connection.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    _analyze(engine)
