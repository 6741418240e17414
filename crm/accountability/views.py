"""The read-access log for the officer and auditors: who opened a person's data, what an account opened."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import request
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import lazy_gettext as _l

from crm.accountability import reads
from crm.accountability.kinds import READ_KIND_LABELS, place_label
from crm.accountability.models import ReadAccess
from crm.accountability.service import PAGE_SIZE, ReadQuery, cards_of, find_reads
from crm.arguments import choice_arg, date_arg, int_arg
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.extensions import appbuilder, db
from crm.history.service import staff_name
from crm.modelviews import yes_no
from crm.privacy.keystore import key_store
from crm.privacy.masking import hidden_mask, mask
from crm.security.roles import label_of_role
from crm.timeutil import office_day_start

#: cards named per record; the rest are counted
CARDS_NAMED = 10


class ReadLogView(BaseView):
    """Who opened whose data: by card, by staff account, by time and kind."""

    route_base = "/reads"
    default_view = "index"
    place_title = _l("Read-access log")

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        since, until = date_arg("since"), date_arg("until")
        query = ReadQuery(
            client_id=int_arg("card", minimum=1),
            user_id=int_arg("user"),
            since=office_day_start(since) if since else None,
            until=office_day_start(until + timedelta(days=1)) if until else None,
            kind=choice_arg("kind", READ_KIND_LABELS),
        )
        page = int_arg("page", 0)
        total, records = find_reads(db.session, query, page)
        shown = cards_of(db.session, [record.id for record in records])
        named = {client_id for cards in shown.values() for client_id in cards[:CARDS_NAMED]}
        if query.client_id is not None:
            named.add(query.client_id)
        # the keys of up to 500 cards in one round trip to the key store, not one a card
        key_store().prefetch(db.session.scalars(db.select(Client.data_key_id).where(Client.id.in_(named))))
        names = {client.id: card_name(client) for client in db.session.scalars(db.select(Client).where(Client.id.in_(named)))}
        # the log names the people whose cards were opened: reading it is an opening too
        reads.note("list", names, reads.masks_for_reader(Client))
        ip_mask = hidden_mask(ReadAccess, "ip_address")
        users = appbuilder.sm.user_model
        staff = db.session.scalars(db.select(users).order_by(users.username))
        return self.render_template(
            "accountability/reads.html",
            title=_l("Read-access log"),
            query=query,
            since=since,
            until=until,
            card_name=names.get(query.client_id) if query.client_id else None,
            rows=[
                {
                    "at": record.occurred_at,
                    "who": staff_name(record.user) if record.user is not None else "",
                    "roles": ", ".join(label_of_role(role) for role in json.loads(record.roles or "[]")),
                    "kind": READ_KIND_LABELS[record.kind],
                    "place": place_label(record.place),
                    "cards": [(client_id, names.get(client_id)) for client_id in shown[record.id][:CARDS_NAMED]],
                    "more": max(0, len(shown[record.id]) - CARDS_NAMED),
                    # an erasure takes its person's card out of the records, not their number from the count
                    "erased": record.card_count - len(shown[record.id]),
                    "masked": yes_no(record.masked),
                    "address": mask(ip_mask, record.ip_address) if ip_mask and record.ip_address else record.ip_address or "",
                }
                for record in records
            ],
            total=total,
            page=page,
            more=(page + 1) * PAGE_SIZE < total,
            staff=[(user.id, staff_name(user)) for user in staff],
            kinds=READ_KIND_LABELS,
            args={key: value for key, value in request.args.items() if key != "page"},
        )
