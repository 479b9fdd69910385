"""The ledger export: XLSX and CSV with the right figures, inclusive local date ranges, the reporter
column for staff only, photos zipped in parts, and the CLI."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.db import read_session_factory
from bot.notices.ledger import COLUMNS, export_ledger
from bot.services.ledger import LedgerError, parse_range, period, utc_bounds
from models import Community
from tests.unit.test_triage_support import (
    CAPTAIN_B1,
    NORTH_HEAD,
    STAFF,
    actor,
    make_issue,
    resident,
    services,
)

HEADERS = [str(h) for _k, h in COLUMNS]


async def seed(session, community, clock, settings):  # type: ignore[no-untyped-def]
    """Three issues in November (local time) and one just outside, with a known history."""
    triage = services(session, clock, settings).triage
    # Issue 14: closed on the reporter's word, without the office's check (tested in test_closeout.py).
    c = await session.get(Community, community.id)
    c.settings = {**(c.settings or {}), "verification": "none"}
    ann = await resident(session, community, name="Ann")
    captain = await actor(session, clock, settings, CAPTAIN_B1)
    # 2026-11-01 00:30 Shanghai = 2026-10-31 16:30 UTC: inside November locally, October in UTC.
    first = await make_issue(session, community, datetime(2026, 10, 31, 16, 30, tzinfo=UTC), reporter=ann,
                             description="=HYPERLINK(\"x\") fire lane")
    clock.set(datetime(2026, 10, 31, 18, 30, tzinfo=UTC))  # accepted 2 h later
    await triage.accept(captain, first.id)
    clock.set(datetime(2026, 11, 1, 16, 30, tzinfo=UTC))  # resolved 24 h after the report
    await triage.resolve(captain, first.id, ["after-1"], None)
    await triage.confirm(ann, first.id)
    await triage.rate(ann, first.id, 4)
    await triage.add_note(captain, first.id, "Checked again on Monday", public=False)
    second = await make_issue(session, community, datetime(2026, 11, 15, 2, 0, tzinfo=UTC), key="b3",
                              category="lighting", urgent=False, reporter=ann, photos=1)
    second.overdue, second.escalations, second.reopen_count, second.triage = True, 2, 1, "office"
    # 2026-11-30 23:59 local: the last minute of the range.
    await make_issue(session, community, datetime(2026, 11, 30, 15, 59, tzinfo=UTC), reporter=ann, photos=0)
    # 2026-12-01 00:00 local: outside.
    await make_issue(session, community, datetime(2026, 11, 30, 16, 0, tzinfo=UTC), reporter=ann)
    await session.commit()
    return first, second


async def test_xlsx_has_the_right_figures(session, sessions, engine, community, clock, settings,
                                          tmp_path: Path) -> None:
    first, _second = await seed(session, community, clock, settings)
    c = await session.get(Community, community.id)
    result = await export_ledger(read_session_factory(engine), c, None, date(2026, 11, 1), date(2026, 11, 30),
                                 tmp_path / "ledger.xlsx", reporter=True, chunk=2)
    assert result.rows == 3 and result.files == [tmp_path / "ledger.xlsx"]
    ws = load_workbook(tmp_path / "ledger.xlsx").active
    rows = [[cell.value for cell in row] for row in ws.iter_rows()]
    assert rows[0] == HEADERS
    row = dict(zip(HEADERS, rows[1], strict=True))
    assert row["Reference"] == first.hashtag and row["Building"] == "Building 1" and row["Area"] == "North area"
    assert row["Category"] == "Blocked fire lane or exit" and row["Urgent"] == "yes"
    from bot.notices.cards import status_label

    assert row["Status"] == status_label("closed") and row["Reporter"] == "Ann"
    assert row["Reported at"] == datetime(2026, 11, 1, 0, 30)  # local wall-clock time
    assert row["Hours to accept"] == 2.0 and row["Hours to resolve"] == 24.0
    assert row["Satisfaction (1-5)"] == 4 and row["Times reopened"] == 0
    assert row["Last note"] == "Checked again on Monday"
    assert row["Photo file ids"].split() == [f"before-{first.id}-0", f"before-{first.id}-1", "after-1"]
    assert row["Description"].startswith("'=HYPERLINK")  # never run as a formula
    row2 = dict(zip(HEADERS, rows[2], strict=True))
    assert row2["Overdue"] == "yes" and row2["Escalations"] == 2 and row2["Times reopened"] == 1
    assert row2["Area"] == "South area" and row2["Triage"].startswith("office")
    assert row2["Hours to accept"] is None
    assert len(rows) == 4  # the 1 December report is not in November


async def test_escalated_issue_shows_its_first_and_missed_deadline(session, engine, community, clock, settings,
                                                                   tmp_path: Path) -> None:
    """Escalation gives an overdue issue a new deadline; the ledger keeps the first one and the missed one
    beside it, so the office can judge the work against what was promised."""
    triage = services(session, clock, settings).triage
    ann = await resident(session, community, name="Ann")
    issue = await make_issue(session, community, clock(), reporter=ann, category="litter", urgent=False)
    await triage.accept(await actor(session, clock, settings, CAPTAIN_B1), issue.id)
    first = issue.deadline_at
    assert first is not None
    clock.set(first)
    assert await triage.escalate_due() == 1
    await session.commit()
    c = await session.get(Community, community.id)
    day = clock().astimezone(ZoneInfo(c.timezone)).date()
    await export_ledger(read_session_factory(engine), c, None, day - timedelta(days=7), day,
                        tmp_path / "ledger.xlsx", reporter=False)
    ws = load_workbook(tmp_path / "ledger.xlsx").active
    rows = [[cell.value for cell in row] for row in ws.iter_rows()]
    headers = [h for h in HEADERS if h != "Reporter"]
    row = dict(zip(headers, rows[1], strict=True))
    local_first = first.astimezone(ZoneInfo(c.timezone)).replace(tzinfo=None)
    assert row["First deadline"] == local_first and row["Missed deadline"] == local_first
    assert row["Deadline"] > local_first and row["Overdue"] == "yes" and row["Escalations"] == 1


async def test_csv_in_chinese_without_reporter(session, engine, community, clock, settings, tmp_path: Path) -> None:
    await seed(session, community, clock, settings)
    c = await session.get(Community, community.id)
    result = await export_ledger(read_session_factory(engine), c, None, date(2026, 11, 1), date(2026, 11, 1),
                                 tmp_path / "l.csv", fmt="csv", locale="zh_Hans", reporter=False)
    with (tmp_path / "l.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert result.rows == 1
    assert rows[0][0] == "编号" and "上报人" not in rows[0] and len(rows[0]) == len(COLUMNS) - 1
    assert rows[1][0] == "#NC0001" and "2026-11-01 00:30" in rows[1]


async def test_area_scope_and_ranges(session, engine, community, clock, settings, tmp_path: Path) -> None:
    await seed(session, community, clock, settings)
    c = await session.get(Community, community.id)
    area_id = (await services(session, clock, settings).members.areas(c.id))[0].id  # North
    result = await export_ledger(read_session_factory(engine), c, area_id, date(2026, 11, 1), date(2026, 12, 31),
                                 tmp_path / "north.xlsx")
    assert result.rows == 3  # Building 3 (South) is left out
    assert utc_bounds(date(2026, 11, 1), date(2026, 11, 30), "Asia/Shanghai") == (
        datetime(2026, 10, 31, 16, 0, tzinfo=UTC), datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert parse_range("2026-11-01..2026-11-30") == (date(2026, 11, 1), date(2026, 11, 30))
    assert parse_range("2026-11-05") == (date(2026, 11, 5), date(2026, 11, 5))
    for bad in ("soon", "2026-11-30 2026-11-01", "2026-13-01 2026-12-01"):
        with pytest.raises(LedgerError):
            parse_range(bad)
    with pytest.raises(LedgerError) as too_long:
        parse_range("2026-01-01 2027-06-30", max_days=366)
    assert (too_long.value.reason, too_long.value.days, too_long.value.limit) == ("range", 546, 366)
    assert parse_range("2026-01-01 2027-06-30", max_days=None) == (date(2026, 1, 1), date(2027, 6, 30))
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert period("lm", now, "Asia/Shanghai") == (date(2026, 10, 1), date(2026, 10, 31))
    assert period("tm", now, "Asia/Shanghai") == (date(2026, 11, 1), date(2026, 11, 20))
    assert period("30", now, "Asia/Shanghai") == (date(2026, 10, 22), date(2026, 11, 20))


async def test_photos_zip_split_in_parts(session, engine, community, clock, settings, tmp_path: Path) -> None:
    await seed(session, community, clock, settings)
    c = await session.get(Community, community.id)
    fetched: list[str] = []

    async def download(file_id: str) -> bytes:
        fetched.append(file_id)
        if file_id.endswith("-1") and file_id.startswith("before-1"):
            raise RuntimeError("file is too big")
        return b"x" * 4000

    result = await export_ledger(read_session_factory(engine), c, None, date(2026, 11, 1), date(2026, 11, 30),
                                 tmp_path / "ledger.xlsx", download=download, part_limit=10_000)
    assert len(result.files) >= 2 and all(f.suffix == ".zip" for f in result.files)
    assert all(f.stat().st_size < 10_000 + 5_000 for f in result.files)
    names = [n for f in result.files for n in zipfile.ZipFile(f).namelist()]
    assert "ledger.xlsx" in names and "NC0001_before_1.jpg" in names and "NC0001_after_1.jpg" in names
    assert "NC0002_before_1.jpg" in names and result.missing_photos == ["NC0001_before_2.jpg"]
    assert "missing_photos.txt" in names
    assert result.photos == len(fetched) - 1


async def test_who_may_export(session, community, riverside, clock, settings) -> None:
    ledger = services(session, clock, settings).ledger
    staff = await ledger.scopes(await actor(session, clock, settings, STAFF))
    assert [s.name for s in staff] == ["Nanchi Community"]
    head = await ledger.scopes(await actor(session, clock, settings, NORTH_HEAD))
    assert [s.name for s in head] == ["Nanchi Community · North area"]
    assert ledger.may_see_reporter(await actor(session, clock, settings, STAFF), staff[0])
    assert not ledger.may_see_reporter(await actor(session, clock, settings, NORTH_HEAD), head[0])
    assert await ledger.scopes(await actor(session, clock, settings, CAPTAIN_B1)) == []


def test_cli_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """python main.py export against a migrated SQLite file with the sample community and one issue."""
    import asyncio

    import main
    from bot.clock import FrozenClock
    from bot.db import create_engine, session_factory
    from bot.migrate import upgrade
    from tests.conftest import START, import_structure

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    upgrade(url)

    async def prepare() -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        clock = FrozenClock(START)
        community = await import_structure(sessions, clock)
        async with sessions() as s:
            c = (await s.execute(select(Community).where(Community.id == community.id))).scalar_one()
            await make_issue(s, c, START - timedelta(days=1))
            await s.commit()
        await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    out = tmp_path / "nov.xlsx"
    assert main.main(["export", "--community", "NC", "--from", "2026-11-01", "--to", "2026-11-30",
                      "--out", str(out)]) == 0
    assert load_workbook(out).active.max_row == 2
    assert main.main(["export", "--community", "nanchi", "--from", "2026-11-30", "--to", "2026-11-01",
                      "--out", str(out)]) == 2
    assert "--from (2026-11-30) is after --to (2026-11-01)" in capsys.readouterr().err
    # Any range from the command line (the rows are streamed): a year and a half, and twenty years.
    assert main.main(["export", "--community", "NC", "--from", "2026-01-01", "--to", "2027-06-30",
                      "--out", str(out)]) == 0
    assert load_workbook(out).active.max_row == 2
    assert main.main(["export", "--community", "NC", "--from", "2010-01-01", "--to", "2029-12-31",
                      "--out", str(out)]) == 0
    assert "1 issues written" in capsys.readouterr().out
    assert main.main(["export", "--community", "NC", "--from", "2026-11-01", "--to", "soon",
                      "--out", str(out)]) == 2
    assert "must be dates like 2026-11-01" in capsys.readouterr().err
    assert main.main(["export", "--community", "NC", "--from", "2026-11-01", "--to", "2026-11-30",
                      "--out", str(tmp_path / "x.zip"), "--photos"]) == 2  # needs BOT_TOKEN
    assert main.main(["export", "--community", "Nowhere", "--from", "2026-11-01", "--to", "2026-11-30",
                      "--out", str(out)]) == 1
