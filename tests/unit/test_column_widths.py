"""Every fixed vocabulary stored in a short text column fits it. SQLite does not enforce VARCHAR lengths,
PostgreSQL does: a value one character too long works in every SQLite test and fails in production
("value too long for type character varying(16)") — as "settled_by_parties" once did."""

from __future__ import annotations

from models import CloseHow, Issue, IssueStatus


def _width(column: object) -> int:
    length = getattr(getattr(column, "type", None), "length", None)
    assert isinstance(length, int), column
    return length


def test_close_out_ways_fit_their_column() -> None:
    width = _width(Issue.__table__.c.close_how)
    too_long = [v for v in CloseHow.ALL if len(v) > width]
    assert too_long == [], f"close_how is VARCHAR({width})"


def test_statuses_fit_their_column() -> None:
    width = _width(Issue.__table__.c.status)
    values = [v for k, v in vars(IssueStatus).items() if k.isupper() and isinstance(v, str)]
    assert values and [v for v in values if len(v) > width] == []
