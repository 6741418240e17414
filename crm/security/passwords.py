"""The password policy: one pure function every way of setting a password goes through."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Callable, Iterable

from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn

#: zxcvbn scores 0 (guessable in seconds) to 4; 3 needs about 10^8 guesses or more.
DEFAULT_MIN_SCORE = 3


def password_problems(
    password: str,
    *,
    min_length: int = 12,
    min_score: int = DEFAULT_MIN_SCORE,
    personal_words: Iterable[str] = (),
    matches_recent: Callable[[str], bool] = lambda password: False,
    own: bool = True,
) -> list[str]:
    """Every rule the password breaks, as translated messages that say what to fix.

    ``personal_words`` are the user name, the email's name part and the person's
    names, refused as whole words of the password ("Ewa" is no reason to refuse
    "Drzewa"; zxcvbn still scores a name hidden inside a word as easy to guess);
    ``matches_recent`` tells whether it equals one of the last passwords; ``own``
    says whether the account's owner is typing (the message then says "your").
    """
    problems = []
    if len(password) < min_length:
        problems.append(_l("Use at least %(count)d characters.", count=min_length))
    words = [w.casefold() for w in personal_words if w and len(w) >= 3]
    if set(password_words(password)) & set(words):
        problems.append(
            _l("Do not use your user name, your email address or your name in the password.") if own
            else _l("Do not use the account's user name, email address or the person's name in the password.")
        )
    if password and zxcvbn(password[:100], user_inputs=words)["score"] < min_score:
        problems.append(
            _l("This password is too common or too easy to guess; use a longer phrase of unrelated words.")
        )
    if password and matches_recent(password):
        problems.append(
            _l("Do not reuse one of your recent passwords.") if own
            else _l("Do not reuse one of the account's recent passwords.")
        )
    return problems


def password_words(password: str) -> list[str]:
    """The words of a password: runs of letters (digits and signs separate them), case folded."""
    return re.findall(r"[^\W\d_]+", password.casefold())


def personal_words(username: str | None, email: str | None, *names: str | None) -> list[str]:
    """The words of an account a password must not contain: of the user name, the email's name part, the names."""
    texts = [username or "", (email or "").split("@")[0], *(name or "" for name in names)]
    return sorted({word for text in texts for word in password_words(text)})


def password_expires_at(state, max_age_days: int):
    """When the password stops being accepted without a change; None if it never expires."""
    if max_age_days <= 0 or state is None or state.password_changed_at is None:
        return None
    return state.password_changed_at + timedelta(days=max_age_days)


def must_change_password(state, now, max_age_days: int) -> bool:
    """True when the account may do nothing but change its password."""
    if state is None:
        return False
    expires = password_expires_at(state, max_age_days)
    return bool(state.must_change_password or (expires is not None and expires <= now))
