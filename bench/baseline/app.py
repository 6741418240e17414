"""The baseline: a bare Flask-AppBuilder app over the same client data, unprotected.

What a FAB tutorial gives: the client table and its contact persons, notes and
subscriptions as plain columns, generated list/show/edit screens with the same
columns, filters and related tabs as Kartoteka's card, FAB's own login. No
encryption, no versioning, no personal-data registry, no masking, no lockout.
Indexes where any careful developer would put them (the list's sort column,
email, foreign keys), so the comparison is with a sensible app, not a naive one.

Never imports ``crm``'s models: both declare a ``client`` table.
"""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder, Model, ModelView
from flask_appbuilder.models.sqla.base import SQLA
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.manager import AUTH_DB
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

db = SQLA()
appbuilder = AppBuilder(update_perms=True)


class Client(Model):
    __tablename__ = "client"
    id = Column(Integer, primary_key=True)
    kind = Column(String(10), nullable=False, default="company")
    company_name = Column(String(200))
    first_name = Column(String(100))
    last_name = Column(String(100))
    email = Column(String(254), index=True)
    phone = Column(String(32))
    street = Column(String(200))
    postal_code = Column(String(12))
    city = Column(String(100))
    country = Column(String(2), nullable=False, default="PL")
    nip = Column(String(10))
    pesel = Column(String(11))
    status = Column(String(10), nullable=False, default="lead", index=True)
    owner_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    owner = relationship(User)
    remarks = Column(Text)
    created_at = Column(DateTime, nullable=False, index=True)
    updated_at = Column(DateTime, nullable=False, index=True)

    @property
    def display_name(self) -> str:
        if self.kind == "company" and self.company_name:
            return self.company_name
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __str__(self) -> str:
        return self.display_name


class ContactPerson(Model):
    __tablename__ = "contact_person"
    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id"), nullable=False, index=True)
    client = relationship(Client)
    first_name = Column(String(100), nullable=False)
    last_name = Column(String(100), nullable=False)
    position = Column(String(100))
    email = Column(String(254))
    phone = Column(String(32))


class Note(Model):
    __tablename__ = "note"
    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id"), nullable=False, index=True)
    client = relationship(Client)
    kind = Column(String(10), nullable=False)
    occurred_on = Column(Date, nullable=False)
    text = Column(Text, nullable=False)


class MailingList(Model):
    __tablename__ = "mailing_list"
    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False, unique=True)
    description = Column(Text)

    def __str__(self) -> str:
        return self.name


class Subscription(Model):
    __tablename__ = "subscription"
    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id"), nullable=False, index=True)
    client = relationship(Client)
    mailing_list_id = Column(Integer, ForeignKey("mailing_list.id"), nullable=False, index=True)
    mailing_list = relationship(MailingList)
    subscribed_at = Column(DateTime, nullable=False)


class ContactPersonView(ModelView):
    datamodel = SQLAInterface(ContactPerson)
    list_columns = ["first_name", "last_name", "position", "email", "phone"]


class NoteView(ModelView):
    datamodel = SQLAInterface(Note)
    list_columns = ["kind", "occurred_on", "text"]


class SubscriptionView(ModelView):
    datamodel = SQLAInterface(Subscription)
    list_columns = ["mailing_list", "subscribed_at"]


class ClientView(ModelView):
    route_base = "/clientmodelview"  # the same addresses as Kartoteka
    datamodel = SQLAInterface(Client)
    list_columns = ["display_name", "kind", "email", "phone", "city", "status", "owner"]
    show_fieldsets = [
        ("Client", {"fields": ["kind", "company_name", "first_name", "last_name", "status", "owner"]}),
        ("Contact", {"fields": ["email", "phone", "street", "postal_code", "city", "country"]}),
        ("Identifiers", {"fields": ["nip", "pesel"]}),
        ("Remarks", {"fields": ["remarks"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "expanded": False}),
    ]
    edit_columns = ["kind", "company_name", "first_name", "last_name", "email", "phone", "street",
                    "postal_code", "city", "country", "nip", "pesel", "status", "owner", "remarks"]
    add_columns = edit_columns
    search_columns = ["company_name", "first_name", "last_name", "email", "phone", "city", "status", "kind",
                      "owner", "nip", "pesel", "created_at"]
    order_columns = ["kind", "status", "created_at", "updated_at"]
    base_order = ("updated_at", "desc")
    related_views = [ContactPersonView, NoteView, SubscriptionView]

    def pre_update(self, item):
        from datetime import datetime

        item.updated_at = datetime.now()


def create_app(database_uri: str) -> Flask:
    """The baseline app on ``database_uri``; creates its tables."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="baseline-benchmark-only-not-a-secret-0123456789",
        SQLALCHEMY_DATABASE_URI=database_uri,
        AUTH_TYPE=AUTH_DB,
        WTF_CSRF_ENABLED=True,
        FAB_API_SWAGGER_UI=False,
    )
    with app.app_context():
        db.init_app(app)
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(ClientView, "Clients")
        appbuilder.add_view_no_menu(ContactPersonView)
        appbuilder.add_view_no_menu(NoteView)
        appbuilder.add_view_no_menu(SubscriptionView)
        Model.metadata.create_all(db.engine)
    return app
