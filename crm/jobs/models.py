"""A background job: what was asked, by whom, how far it got, and how it ended."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from crm.constraints import AUTOINCREMENT
from crm.timeutil import utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = (DONE, FAILED)


class Job(Model):
    """One job. Its parameters and report hold no personal data: positions, options, counts, row numbers.

    The data it works on stays where it lives (an import's upload, sealed under its own key).
    """

    __tablename__ = "job"
    __table_args__ = (AUTOINCREMENT,)

    id = Column(Integer, primary_key=True)
    kind = Column(String(40), nullable=False)
    status = Column(String(12), nullable=False, default=QUEUED, index=True)
    started_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    started_by = relationship(User)
    #: the starter's language: the report's messages are written in it
    language = Column(String(5), nullable=False)
    #: JSON
    params = Column(Text, nullable=False)
    total = Column(Integer, nullable=False, default=0)
    done = Column(Integer, nullable=False, default=0)
    failed = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    #: JSON: what the job's kind reports when it ends
    report = Column(Text)
    #: why it failed, in the starter's language
    error = Column(Text)
