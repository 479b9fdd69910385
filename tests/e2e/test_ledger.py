"""/export end to end: staff and area heads choose a period and a format and get the file."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

from openpyxl import load_workbook

from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import file_issue, groups, person, press_private, set_locale

STAFF, NORTH_HEAD = 2002, 2001


def screen(harness: BotHarness, chat: int) -> str:
    """The latest message in a chat as it is now (after edits)."""
    last = harness.tg.last(chat)
    return harness.tg.current(chat, last.message_id or 0).text or ""


def document(harness: BotHarness, chat: int, index: int = -1) -> tuple[str, bytes, str]:
    return harness.document(chat, index)


async def test_staff_exports_xlsx_area_head_without_reporter(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann <b>", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b3")
    await file_issue(harness, ann, description="=cmd|' /C calc'!A0")
    await file_issue(harness, bob, building="b3", category="lighting", photos=1)
    staff = await person(harness, STAFF, "Office Wu")
    await harness.feed(harness.up.text(staff, "/export"))
    assert "which period" in screen(harness, staff.id)
    await press_private(harness, staff, "This month")
    assert "which format" in screen(harness, staff.id)
    await press_private(harness, staff, "Spreadsheet (XLSX)")
    await harness.work()  # the export runs as a background job; the file comes through the outbox
    await harness.deliver()
    name, data, caption = document(harness, staff.id)
    assert name == "ledger-NC-20261101-20261120.xlsx" and "2 issues" in caption
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    assert rows[0][:4] == ["Reference", "Community", "Area", "Building"] and "Reporter" in rows[0]
    assert rows[1][rows[0].index("Reporter")] == "Ann <b>"
    assert rows[1][rows[0].index("Description")].startswith("'=")

    head = await person(harness, NORTH_HEAD, "Wang", "zh-hans")
    await harness.feed(harness.up.text(head, "/export"))
    await press_private(harness, head, "本月")
    await press_private(harness, head, "表格（XLSX）")
    await harness.work()  # the export runs as a background job; the file comes through the outbox
    await harness.deliver()
    name, data, caption = document(harness, head.id)
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    assert rows[0][0] == "编号" and "上报人" not in rows[0]
    assert [r[0] for r in rows[1:]] == ["#NC0001"]  # the North area only
    assert "共1件" in caption


async def test_other_dates_csv_and_zip_with_photos(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    await file_issue(harness, ann, photos=2)
    staff = await person(harness, STAFF, "Office Wu")
    await harness.feed(harness.up.text(staff, "/export"))
    await press_private(harness, staff, "Other dates")
    await harness.feed(harness.up.text(staff, "from Monday"))
    assert "couldn't read those dates" in harness.tg.last(staff.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(staff, "2026-11-20 2026-11-01"))
    assert "must not be after" in harness.tg.last(staff.id).plain  # type: ignore[operator]
    # Too long for Telegram: the real reason and the limit, not "must not be after".
    await harness.feed(harness.up.text(staff, "2026-01-01 2027-06-30"))
    said = harness.tg.last(staff.id).plain or ""
    assert "546 days" in said and "at most 366 days" in said and "must not be after" not in said
    await harness.feed(harness.up.text(staff, "2026-11-01 2026-11-30"))
    await press_private(harness, staff, "CSV")
    await harness.work()  # the export runs as a background job; the file comes through the outbox
    await harness.deliver()
    name, data, caption = document(harness, staff.id)
    assert name.endswith(".csv") and "1 issue." in caption
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1][0] == "#NC0001"

    await harness.feed(harness.up.text(staff, "/export"))
    await press_private(harness, staff, "Last 30 days")
    await press_private(harness, staff, "with photos")
    await harness.work()  # the export runs as a background job; the file comes through the outbox
    await harness.deliver()
    name, data, caption = document(harness, staff.id)
    assert name.endswith(".zip") and "2 photos" in caption
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names[0].endswith(".xlsx") and "NC0001_before_1.jpg" in names and "NC0001_before_2.jpg" in names
    assert harness.tg.calls_of("getFile")


async def test_export_refused_for_residents_and_captains(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    captain = await person(harness, 3001, "Zhang")
    for who in (ann, captain):
        await harness.feed(harness.up.text(who, "/export"))
        assert "area heads" in harness.tg.last(who.id).plain  # type: ignore[operator]
    # A forged button for the whole community, pressed by the North area head.
    head = await person(harness, NORTH_HEAD, "Wang")
    await harness.feed(harness.up.callback(head, "lg:c1:tm:xlsx", chat=head.id))
    assert harness.tg.alerts()[-1].params.get("show_alert")
    assert not harness.tg.sent(head.id, "sendDocument")
