"""A large realistic dataset for the benchmarks, written through a fast bulk path (used by bench/compare.py).

Each client (Polish demo values, valid NIP and PESEL) gets on average 3 versions
(created in a batch, then 0 to 4 changes, each its own transaction), 2 notes, a
contact person, 2 subscriptions with the email-marketing consent they need, and
3 attribute values (a choice, a number, a personal phone). What the ORM would
do per row (blind and word indexes, AES-GCM, Continuum's version rows and
transactions) is done here by hand and written with one executemany per table
and batch, so 100,000 clients take minutes instead of hours. The rows are the
same as the app writes: the app reads, searches, exports and erases them.

The database must have been initialised (``flask crm init``).
:func:`generate_plain` writes the bare baseline's tables instead
(bench/baseline): the same values, no encryption, no indexes of ours, no versions.
"""

from __future__ import annotations

import argparse
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


def _typed_table(table: sa.Table) -> sa.TableClause:
    """``table`` with encrypted columns as plain strings: values go in already sealed."""
    from crm.privacy.types import EncryptedString

    columns = [sa.column(c.name, sa.String() if isinstance(c.type, EncryptedString) else c.type) for c in table.columns]
    return sa.table(table.name, *columns)


class Writer:
    """Seals rows as the ORM would and writes them a table at a time."""

    def __init__(self, connection):
        from crm.privacy.crypto import encrypt
        from crm.privacy.types import EncryptedString

        self.connection = connection
        self.encrypt = encrypt
        self.encrypted_type = EncryptedString
        self.pending: dict[sa.Table, list[dict]] = {}
        self.next_ids: dict[sa.Table, int] = {}

    def new_id(self, table: sa.Table) -> int:
        if table not in self.next_ids:
            highest = self.connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
            self.next_ids[table] = highest + 1
        self.next_ids[table] += 1
        return self.next_ids[table] - 1

    def add(self, table: sa.Table, row: dict) -> None:
        sealed = {}
        for column in table.columns:
            value = row.get(column.name)
            if value is not None and isinstance(column.type, self.encrypted_type):
                value = self.encrypt(str(value), column.type.context)
            sealed[column.name] = value
        self.pending.setdefault(table, []).append(sealed)

    def flush(self) -> None:
        for table, rows in self.pending.items():
            if rows:
                self.connection.execute(_typed_table(table).insert(), rows)
        self.pending = {}

    def advance_sequences(self) -> None:
        """Rows got their ids here: move PostgreSQL's sequences past them."""
        if self.connection.dialect.name != "postgresql":
            return
        for table, next_id in self.next_ids.items():
            # the sequence the model draws from: Continuum's transaction names its own
            default = table.c.id.default
            if isinstance(default, sa.Sequence):
                sequence = default.name
            else:
                sequence = self.connection.execute(
                    sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar()
            self.connection.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": next_id - 1})


def _columns(row_object) -> dict:
    """Column values of an unsaved ORM object, with the indexes its set events computed."""
    mapper = sa.inspect(row_object).mapper
    return {attr.columns[0].name: getattr(row_object, attr.key) for attr in mapper.column_attrs}


def generate(app, clients: int, seed: int = 2018, progress=print) -> None:
    """Write ``clients`` clients with their versions, notes, contacts, subscriptions and attributes."""
    from sqlalchemy_continuum import version_class, versioning_manager

    from crm.attributes.models import AttributeDefinition, AttributeValue
    from crm.clients.models import Client, ContactPerson, Note
    from crm.demo import NOTE_TEXTS, POSITIONS, ensure_mailing_lists, email_for, person_name, phone
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

        transactions = versioning_manager.transaction_cls.__table__
        tables = {model: model.__table__ for model in (Client, ContactPerson, Note, Subscription, Consent, AttributeValue)}
        versions = {model: version_class(model).__table__ for model in tables}
        values_rng, rng = random.Random(seed), random.Random(seed + 1)
        began = time.perf_counter()
        done = 0
        with db.engine.begin() as connection:
            writer = Writer(connection)
            while done < clients:
                size = min(BATCH, clients - done)
                moment = STARTED + timedelta(minutes=done // 10)
                created = writer.new_id(transactions)
                writer.add(transactions, {"id": created, "issued_at": moment, "user_id": rng.choice(staff),
                                          "remote_addr": "10.0.0.5"})

                def versioned(model, row, transaction, end=None, operation=0):
                    writer.add(versions[model], {**row, "transaction_id": transaction,
                                                 "end_transaction_id": end, "operation_type": operation})

                for _ in range(size):
                    values = client_values(values_rng)
                    card = _columns(Client(**values, owner_id=rng.choice(staff)))
                    card.update(id=writer.new_id(tables[Client]), created_at=moment, updated_at=moment, lock_version=1)
                    client_id = card["id"]
                    # earlier states first: the current row is the last version
                    history = [dict(card)]
                    for step in range(rng.choice([0, 1, 2, 3, 4])):
                        changed = dict(history[-1])
                        field = rng.choice(CHANGES)
                        if field == "status":
                            changed["status"] = rng.choice(["lead", "active", "former"])
                        elif field == "phone":
                            changed["phone"] = phone(rng)
                            changed["phone_bidx"] = _columns(Client(phone=changed["phone"]))["phone_bidx"]
                        elif field == "remarks":
                            changed["remarks"] = rng.choice(REMARKS)
                        else:
                            changed["street"] = f"ul. Nowa {rng.randint(1, 200)}"
                        changed["updated_at"] = moment + timedelta(days=30 * (step + 1))
                        changed["lock_version"] = history[-1]["lock_version"] + 1
                        history.append(changed)
                    transaction_ids = [created]
                    for state in history[1:]:
                        transaction_ids.append(writer.new_id(transactions))
                        writer.add(transactions, {"id": transaction_ids[-1], "issued_at": state["updated_at"],
                                                  "user_id": rng.choice(staff), "remote_addr": "10.0.0.7"})
                    for number, state in enumerate(history):
                        end = transaction_ids[number + 1] if number + 1 < len(history) else None
                        versioned(Client, state, transaction_ids[number], end, 0 if number == 0 else 1)
                    writer.add(tables[Client], history[-1])

                    first, last, _female = person_name(rng)
                    domain = values["email"].split("@")[1]
                    children = [(ContactPerson, _columns(ContactPerson(
                        first_name=first, last_name=last, position=rng.choice(POSITIONS),
                        email=email_for(first, last, rng, domain=domain), phone=phone(rng))))]
                    for _note in range(rng.choice([1, 2, 3])):
                        kind = rng.choice(list(NOTE_TEXTS))
                        children.append((Note, _columns(Note(
                            kind=kind, text=NOTE_TEXTS[kind], author_id=card["owner_id"],
                            occurred_on=date(2025, 1, 1) + timedelta(days=rng.randint(0, 600)),
                            created_at=moment))))
                    children.append((Consent, _columns(Consent(
                        purpose=MAILING_PURPOSE, lawful_basis="consent", source="web_form", given_on=moment.date(),
                        evidence="Formularz zapisu na stronie, zgoda marketingowa"))))
                    for mailing_list in rng.sample(lists, 2):
                        children.append((Subscription, _columns(Subscription(
                            mailing_list_id=mailing_list, source="web_form", subscribed_at=moment))))
                    children.append((AttributeValue, {"definition_id": definitions["branza"], "value": rng.choice(SECTORS)}))
                    children.append((AttributeValue, {"definition_id": definitions["pracownicy"],
                                                      "value": str(rng.randint(1, 500))}))
                    private = phone(rng)
                    children.append((AttributeValue, _columns(AttributeValue(
                        definition_id=definitions["prywatny_telefon"], secret=private,
                        secret_bidx=_phone_index(private)))))
                    for model, row in children:
                        row.update(id=writer.new_id(tables[model]), client_id=client_id, lock_version=1)
                        writer.add(tables[model], row)
                        versioned(model, row, created)
                writer.flush()
                done += size
                if done % 10_000 == 0 or done == clients:
                    progress(f"  {done} clients, {done / (time.perf_counter() - began):.0f}/s")
            writer.advance_sequences()
        _analyze(db.engine)


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
