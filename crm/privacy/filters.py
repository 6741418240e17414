"""List and API filters over encrypted columns, through their blind and word indexes."""

from __future__ import annotations

import re

from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask import g, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, or_

from crm.privacy.crypto import blind_index, fold, start_token, word_token
from crm.privacy.registry import declaration_of


SEARCH_NOT_ALLOWED_MESSAGE = _l(
    "Your role sees this kind of personal data masked, so it cannot search by it either. Nothing was searched."
)


def require_searchable(model, column: str) -> None:
    """Refuse (403) a filter on a column the current user sees masked, wherever the filter came from."""
    from crm.errors import refusal
    from crm.privacy.masking import can_search

    if not can_search(model, column):
        raise refusal(403, SEARCH_NOT_ALLOWED_MESSAGE)


class FilterBlindIndexEqual(BaseFilter):
    """Exact match (after normalising) through the column's blind index."""

    name = _l("Equal to")
    # FAB maps an API operator name to the filter class last created with it,
    # process-wide: "eq" would hijack (or be hijacked by) FAB's plain equality.
    arg_name = "equals"

    def apply(self, query, value):
        require_searchable(self.model, self.column_name)
        personal = declaration_of(self.model).columns[self.column_name]
        digest = blind_index(str(value), personal.blind_index, personal.blind_index)
        if digest is None:
            return query.filter(false())
        return query.filter(getattr(self.model, f"{self.column_name}_bidx") == digest)


class FilterHasWord(BaseFilter):
    """Rows whose column holds every word of the value (case and diacritics ignored)."""

    name = _l("Contains the word")
    arg_name = "has_word"

    def apply(self, query, value):
        require_searchable(self.model, self.column_name)
        words = re.findall(r"\w+", fold(str(value)))
        if not words:
            return query.filter(false())
        context = f"{self.model.__table__.name}.{self.column_name}"
        index = self.model.word_index
        return query.filter(and_(*(index.like(f"%{word_token(word, context)}%") for word in words)))


#: the index kinds one search box matches by the whole typed value (not a city: that is not whom one looks for)
WHOLE_VALUE_INDEXES = ("email", "phone", "identifier")


class FilterFindsAnywhere(BaseFilter):
    """One search box: every typed word is (or starts) a word of the record's names, or the whole value is an
    email, phone, NIP or PESEL. Only what the current user may search takes part."""

    name = _l("Finds")
    arg_name = "finds"

    def apply(self, query, value):
        from crm.privacy.masking import can_search

        declaration = declaration_of(self.model)
        text = str(value).strip()
        conditions = []
        words = re.findall(r"\w+", fold(text))
        # the names share one category (crm.privacy.registry), so one set of start hashes serves them all
        if words and all(can_search(self.model, column) for column in declaration.word_index):
            table = self.model.__table__.name
            conditions.append(and_(*(self.model.word_index.like(f"%{start_token(word, table)}%") for word in words)))
        for column, personal in declaration.columns.items():
            if personal.blind_index in WHOLE_VALUE_INDEXES and can_search(self.model, column):
                digest = blind_index(text, personal.blind_index, personal.blind_index)
                if digest is not None:
                    conditions.append(getattr(self.model, f"{column}_bidx") == digest)
        return query.filter(or_(*conditions) if conditions else false())


class PrivacyFilterConverter(SQLAFilterConverter):
    """Blind-indexed columns get exact match, word-indexed ones a word filter,
    other encrypted columns no filter at all (their ciphertext cannot be searched);
    the word index itself is the one search box of the whole record."""

    conversion_table = (
        ("is_search_box", [FilterFindsAnywhere]),
        ("is_blind_indexed", [FilterBlindIndexEqual]),
        ("is_word_indexed", [FilterHasWord]),
        ("is_encrypted", []),
        *SQLAFilterConverter.conversion_table,
    )

    def convert(self, col_name):
        """FAB's conversion, worked out once per column of a model: FAB converts every column for each
        set of filters it builds (several a request), and the answer depends on the model and the
        registry only."""
        known = self.datamodel.__dict__.setdefault("_filter_classes", {})
        if col_name not in known:
            known[col_name] = next(
                (classes for test, classes in self.conversion_table if getattr(self.datamodel, test)(col_name)), None)
        classes = known[col_name]
        if classes is None:
            return None
        return [filter_class(col_name, self.datamodel) for filter_class in classes]


class PrivacyAwareInterface(SQLAInterface):
    """FAB's data interface, aware of the personal-data registry."""

    filter_converter_class = PrivacyFilterConverter

    def query_count(self, query, filters=None, select_columns=None) -> int:
        """FAB's count of the matches; on a list page (``g.list_count_limit``) counted up to that limit plus one.

        FAB counts every match for each page it draws, which reads every row of a list of all
        clients and grows with the base; the pages then end at the limit, and ``g.count_beyond_limit``
        says so to the list's template (the API still counts all).
        """
        matches = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        limit = g.get("list_count_limit") if has_request_context() else None
        if not limit:
            return matches.count()
        count = matches.limit(limit + 1).count()
        if count > limit:
            g.count_beyond_limit = limit  # said above the list: its pages end there
        return count

    def _personal(self, col_name):
        declaration = declaration_of(self.obj)
        return declaration.columns.get(col_name) if declaration else None

    def is_blind_indexed(self, col_name: str) -> bool:
        personal = self._personal(col_name)
        return bool(personal and personal.blind_index)

    def is_word_indexed(self, col_name: str) -> bool:
        declaration = declaration_of(self.obj)
        return bool(declaration and col_name in declaration.word_index)

    def is_search_box(self, col_name: str) -> bool:
        declaration = declaration_of(self.obj)
        return bool(declaration and declaration.word_index and col_name == "word_index")

    def is_encrypted(self, col_name: str) -> bool:
        personal = self._personal(col_name)
        return bool(personal and personal.encrypted)
