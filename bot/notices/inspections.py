"""Inspections: the words — a checklist's and its items' names in the reader's language, the issue
description of a failed item, the spot-check messages to the inspector, and the record's spreadsheet.
The rules are in bot/services/inspections/."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import _, translate, use_locale
from bot.rendering import esc
from bot.services.events import NoticeContext, notice
from bot.services.inspections import InspectionRow, SpotCheckDue
from models import Building, Community, Member, SpotCheck


def text_of(data: dict[str, str], locale: str) -> str:
    """An item's or a checklist's words in a language: default ones through the catalogue, typed ones
    as typed (in both languages when given both)."""
    if "msgid" in data:
        return translate(locale, data["msgid"])
    zh = locale.startswith("zh")
    return (data.get("zh") if zh else data.get("en")) or data.get("en") or data.get("zh") or data.get("text") or ""


def failure_words(locale: str) -> Callable[[dict[str, str]], str]:
    """How a failed item reads as the description of the issue it files, in the inspector's language."""

    def describe(item: dict[str, str]) -> str:
        label = text_of(item, locale)
        with use_locale(locale):
            return _("🔍 Inspection: {item}").format(item=label)

    return describe


def spot_check_text(building: str, moment: str) -> str:
    if moment == "assigned":
        return _("🎯 <b>Spot check this week</b>: {place}. Unannounced: please don't tell the building. Open "
                 "/inspect when you are there.").format(place=esc(building))
    return _("⏰ Reminder: this week's spot check of {place} is not done yet. Open /inspect when you are "
             "there.").format(place=esc(building))


@notice(SpotCheckDue)
async def spot_check_due(event: SpotCheckDue, ctx: NoticeContext) -> None:
    """To the inspector privately, with a button that starts the inspection; gone at the week's end."""
    spot = await ctx.session.get(SpotCheck, event.spot_id)
    member = await ctx.session.get(Member, event.member_id)
    building = await ctx.session.get(Building, event.building_id)
    assert spot is not None and member is not None and building is not None
    community = await ctx.session.get(Community, spot.community_id)
    assert community is not None
    locale = ctx.members.locale_for(member, community)
    end = datetime.combine(spot.week_start + timedelta(days=7), time(0), ZoneInfo(community.timezone))
    with use_locale(locale):
        text = spot_check_text(building.name, event.moment)
        button = _("🔍 Inspect {place}").format(place=building.name)[:60]
    await ctx.outbox.notify(member, key=f"spotcheck:{spot.id}:{event.moment}:{member.id}", kind="spot_check",
                            text=text, tz=community.timezone, community_id=community.id,
                            buttons=[[(button, f"in:b:{spot.building_id}:0")]], expires_at=end.astimezone(UTC))


def records_xlsx(rows: list[InspectionRow], tz: str, locale: str) -> bytes:
    """The record of inspections as a spreadsheet, headers and failures in `locale`."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    zone = ZoneInfo(tz)
    with use_locale(locale):
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = _("Inspections")[:31]
        ws.append([_("Building"), _("Area"), _("Inspector"), _("Started"), _("Finished"), _("Passed"),
                   _("Failed"), _("Pass rate %"), _("Spot check"), _("Failures"), _("Issue numbers")])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r in rows:
            ws.append([r.building, r.area, r.inspector, r.started_at.astimezone(zone).replace(tzinfo=None),
                       r.finished_at.astimezone(zone).replace(tzinfo=None) if r.finished_at else None,
                       r.passed, r.failed, r.rate, _("yes") if r.spot_check else _("no"),
                       "; ".join(text_of(item, locale) for item in r.failures), " ".join(r.references)])
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        buf = io.BytesIO()
        wb.save(buf)
    return buf.getvalue()
