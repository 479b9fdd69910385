"""The digests' words: the daily digest, the weekly and monthly reports, the chart's labels, the XLSX
tables and the CLI's printable page, in each reader's language. The figures and who gets what when are in
bot/services/digests/; the service calls `TelegramDigests` through its `DigestPresenter` protocol."""

from __future__ import annotations

import asyncio
import html
import io
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.charts import ChartData, Labels, draw_digest_chart, render_digest_chart
from bot.i18n import _, use_locale
from bot.keyboards.digests import digest_nav, issue_buttons, unpack_day
from bot.notices.campaigns import progress_block
from bot.notices.dates import day_label, duration, num
from bot.notices.ledger import export_ledger
from bot.notices.surveys import question_text
from bot.rendering import render, split_blocks
from bot.services.access import NotAllowed
from bot.services.background import JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.digests import (
    REPORT_SECTIONS,
    Built,
    DailyDigest,
    IssueRow,
    OnDemand,
    PeriodReport,
    category_label,
    present_with,
    send_moment,
)
from bot.services.ledger import read_sessions
from models import Community, Member

# ------------------------------------------------------------------------------ figures in words

def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 86400, 1)



def _sections(text: str) -> list[str]:
    """Templates separate sections by a blank line; a section never contains one."""
    return [block.strip("\n") for block in text.split("\n\n") if block.strip()]



def _helpers(community: Community, places: dict[str, dict[int, str]], locale: str,
             moment: datetime | None = None) -> dict[str, Any]:
    tz = ZoneInfo(community.timezone)

    def cat(key: str) -> str:
        return category_label(community, key, locale)

    def place(row: IssueRow) -> str:
        if row.building_id and row.building_id in places["building"]:
            return places["building"][row.building_id]
        if row.area_id and row.area_id in places["area"]:
            return places["area"][row.area_id]
        return community.name

    def area_of(row: IssueRow) -> str:
        if row.area_id and row.area_id in places["area"]:
            return places["area"][row.area_id]
        return community.name

    def hm(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%H:%M") if value else ""

    def span(first: date, last: date) -> str:
        if first == last:
            return day_label(first)
        return _("%(first)s – %(last)s", first=day_label(first), last=day_label(last))

    def over(row: IssueRow, at: datetime) -> str:
        """How long past the deadline it missed (the first one, not escalation's new one), until done."""
        since = row.overdue_since
        if since is None:
            return ""
        until = min(row.done_at, at) if row.done_at is not None else at
        return duration((until - since).total_seconds())

    def when(value: datetime) -> str:
        return f"{day_label(value.astimezone(tz).date())} {hm(value)}"

    def qtext(question: dict[str, str]) -> str:
        """A survey question in the reader's language (bot.notices.surveys.question_text)."""
        return question_text(question, locale)

    def change(now: float | None, before: float | None) -> str:
        if now is None or before is None:
            return ""
        delta = round(now - before, 1)
        if delta == 0:
            return "±0"
        return f"+{num(delta)}" if delta > 0 else f"−{num(-delta)}"

    return dict(cat=cat, place=place, area_of=area_of, hm=hm, day=day_label, span=span, dur=duration,
                over=over, when=when, change=change, num=num, hours=_hours, days=_days, tz=tz,
                send_time=hm(moment), qtext=qtext)



# ------------------------------------------------------------------------------ messages, chart, tables


def render_daily(digest: DailyDigest, locale: str) -> list[str]:
    """The digest as Telegram HTML messages, split only between whole sections."""
    moment = send_moment("daily", digest.day, digest.community)
    text = render("digests_daily.html.j2", locale=locale, d=digest, **_helpers(
        digest.community, digest.places, locale, moment))
    return split_blocks(_sections(text))


def render_period(report: PeriodReport, locale: str) -> list[str]:
    moment = send_moment(report.kind, report.start, report.community)
    campaigns = [Markup(progress_block(p, locale)) for p in report.campaigns]
    text = render("digests_period.html.j2", locale=locale, r=report, zh=locale.startswith("zh"),
                  campaigns=campaigns, **_helpers(report.community, report.places, locale, moment))
    return split_blocks(_sections(text))


def chart_caption(locale: str) -> str:
    with use_locale(locale):
        return _("New vs. resolved in the last 14 days, and open issues by category.")


def _chart_input(digest: DailyDigest, locale: str) -> tuple[ChartData, str, Labels]:
    """What the chart needs, as plain picklable data: category names are looked up here, in the
    digest's language and in English (the chart falls back to English without a CJK font)."""
    community = digest.community
    title = community.name + (f" · {digest.area.name}" if digest.area else "")
    labels = Labels({(key, loc): category_label(community, key, loc)
                     for key, _n in digest.open_by_category for loc in {locale, "en"}})
    data = ChartData(list(digest.chart_days), list(digest.chart_new), list(digest.chart_resolved),
                     [(key, n) for key, n in digest.open_by_category], title)
    return data, locale, labels



def xlsx(report: PeriodReport, locale: str) -> bytes:
    """The report's tables as an XLSX workbook (opens cleanly in Excel, WPS and LibreOffice)."""
    """The report's tables as an XLSX workbook (opens cleanly in Excel, WPS and LibreOffice)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    helpers = _helpers(report.community, report.places, locale)
    with use_locale(locale):
        wb = Workbook()
        summary = wb.active
        assert summary is not None
        summary.title = _("Summary")[:31]
        summary.append([report.community.name, helpers["span"](report.start, report.end)])
        summary.append([])
        summary.append([_("Figure"), _("This period"), _("Previous period"), _("Change")])
        c, p = report.current, report.previous
        for label, now, before in (
            (_("New"), c.new, p.new), (_("Accepted"), c.accepted, p.accepted),
            (_("Resolved"), c.resolved, p.resolved), (_("Closed"), c.closed, p.closed),
            (_("Open at the end"), c.open, p.open), (_("Overdue during the period"), c.overdue, p.overdue),
            (_("Median hours to accept"), _hours(c.median_accept), _hours(p.median_accept)),
            (_("Median days to resolve"), _days(c.median_resolve), _days(p.median_resolve)),
            (_("Satisfaction (1–5)"), c.satisfaction, p.satisfaction),
            (_("Ratings"), c.ratings, p.ratings),
        ):
            change = round(now - before, 1) if isinstance(now, (int, float)) and isinstance(
                before, (int, float)) else None
            summary.append([label, now, before, change])
        headers = [_("New"), _("Resolved"), _("Still open"), _("Overdue")]
        areas = wb.create_sheet(_("Areas")[:31])
        areas.append([_("Area"), *headers])
        for row in report.areas:
            areas.append([row.name, row.new, row.resolved, row.open, row.overdue])
        buildings = wb.create_sheet(_("Buildings")[:31])
        buildings.append([_("Building"), _("Area"), *headers])
        for row in report.buildings:
            buildings.append([row.name, row.area, row.new, row.resolved, row.open, row.overdue])
        overdue = wb.create_sheet(_("Overdue")[:31])
        overdue.append([_("Reference"), _("Category"), _("Place"), _("First deadline"), _("Missed deadline"),
                        _("Deadline"), _("Days over"), _("Done")])
        tz = ZoneInfo(report.community.timezone)

        def local(value: datetime | None) -> datetime | None:
            return value.astimezone(tz).replace(tzinfo=None) if value else None

        for issue in report.overdue_all:
            since = issue.overdue_since
            until = min(issue.done_at, report.as_of) if issue.done_at else report.as_of
            days_over = round((until - since).total_seconds() / 86400, 1) if since else None
            overdue.append([issue.hashtag, helpers["cat"](issue.category), helpers["place"](issue),
                            local(issue.first_deadline_at or issue.deadline_at), local(since),
                            local(issue.deadline_at), days_over, local(issue.done_at)])
        categories = wb.create_sheet(_("Categories")[:31])
        categories.append([_("Category"), _("New")])
        for key, n in report.top_categories:
            categories.append([helpers["cat"](key), n])
        if report.surveys:
            surveys = wb.create_sheet(_("Surveys")[:31])
            surveys.append([_("Survey"), _("Place"), _("Question"), _("Mean"), _("Satisfied (4–5) %"),
                            _("Responses"), _("Households"), _("Coverage %"), _("Target met")])
            for result in report.surveys:
                for place in result.places:
                    met = place.progress.met if place.progress is not None else result.all_met
                    for q in place.questions:
                        surveys.append([result.title, place.name or _("All places"), helpers["qtext"](q.raw),
                                        q.mean, q.satisfied, q.responses, place.households, place.coverage,
                                        _("yes") if met else _("no")])
        for sheet in wb.worksheets:
            start_row = 3 if sheet is summary else 1
            for cell in sheet[start_row]:
                cell.font = Font(bold=True)
            for i, column in enumerate(sheet.columns, start=1):
                width = max((len(str(cell.value)) for cell in column if cell.value is not None), default=8)
                sheet.column_dimensions[get_column_letter(i)].width = min(max(10, width * 1.6 + 2), 48)
                for cell in column:
                    if isinstance(cell.value, datetime):
                        cell.number_format = "yyyy-mm-dd hh:mm"
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()


async def ledger_file(session: AsyncSession, community: Community, first: date, last: date, locale: str
                      ) -> tuple[str, bytes]:
    """The ledger of local days first..last as XLSX (name, bytes), for the monthly report. No reporter
    column: the report goes to the office chat, and whoever needs names exports with /export. Errors
    propagate: the report is retried at the next tick rather than sent without its ledger."""
    name = f"ledger-{community.code}-{first:%Y-%m}.xlsx"
    with tempfile.TemporaryDirectory(prefix="digest-ledger-") as folder:
        out = Path(folder) / name
        await export_ledger(read_sessions(session), community, None, first, last, out, fmt="xlsx",
                            locale=locale, reporter=False)
        return name, await asyncio.to_thread(out.read_bytes)


def html_page(title: str, messages: list[str], images: list[str]) -> str:
    """A printable page: Telegram HTML is a subset of HTML, so the messages go in as they are."""
    body = "\n<hr>\n".join(f'<div class="msg">{m}</div>' for m in messages)
    pictures = "".join(f'<p><img src="{html.escape(src)}" alt="chart"></p>' for src in images)
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(title) + "</title>"
            "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto}"
            ".msg{white-space:pre-wrap;line-height:1.5}img{max-width:100%}</style></head><body>\n"
            + body + "\n" + pictures + "\n</body></html>\n")



class TelegramDigests:
    """The service's `DigestPresenter`: the digests in Telegram HTML, with their chart, tables and buttons."""

    def daily_texts(self, digest: DailyDigest, locale: str) -> list[str]:
        return render_daily(digest, locale)

    def period_texts(self, report: PeriodReport, locale: str) -> list[str]:
        return render_period(report, locale)

    def chart(self, digest: DailyDigest, locale: str) -> bytes:
        return draw_digest_chart(*_chart_input(digest, locale))

    async def chart_png(self, digest: DailyDigest, locale: str) -> bytes:
        """Drawn off the event loop: in the chart process pool where the bot configured one."""
        return await render_digest_chart(*_chart_input(digest, locale))

    def xlsx(self, report: PeriodReport, locale: str) -> bytes:
        return xlsx(report, locale)

    async def daily(self, digest: DailyDigest, locale: str) -> Built:
        texts = render_daily(digest, locale)
        chart = await self.chart_png(digest, locale)
        issues = [(r.id, r.reference) for r in digest.attention_issues()]
        return Built(texts, chart, [], issues, buttons=issue_buttons(issues), caption=chart_caption(locale))

    async def period(self, session: AsyncSession, report: PeriodReport, locale: str) -> Built:
        community, kind = report.community, report.kind
        texts = render_period(report, locale)
        for section in REPORT_SECTIONS:
            texts += await section(session, community, kind, report.start, report.end, locale)
        files = [(f"{kind}-{community.code}-{report.start.isoformat()}.xlsx", xlsx(report, locale))]
        if kind == "monthly":
            files.append(await ledger_file(session, community, report.start, report.end, locale))
        issues = [(r.id, r.reference) for r in report.overdue.top]
        return Built(texts, None, files, issues, buttons=issue_buttons(issues))

    def html_page(self, title: str, messages: list[str], images: list[str]) -> str:
        return html_page(title, messages, images)


present_with(TelegramDigests())


# ------------------------------------------------------------------------------ /digest on demand


def _nav_rows(result: OnDemand) -> list[list[tuple[str, str]]]:
    nav = digest_nav(result.day, result.area_id, reports=result.reports,
                     issues=result.issues if result.kind == "daily" else None)
    return [[(b.text, b.callback_data or "") for b in row] for row in nav.inline_keyboard]


@job_kind("digest")
async def digest_job(run: JobRun) -> JobOutcome:
    """A digest on demand, built off the update path (its chart and tables take a while on a big
    community); the rights are checked again now by DigestService.requested()."""
    from bot.services import build_services
    from handlers.errors import not_allowed_text

    p = run.params
    day = unpack_day(int(p["day"]))
    if day is None:
        raise JobFailed(_("I couldn't read that date."))
    async with run.sessions() as session:
        services = build_services(session, run.clock, run.settings)
        member = await session.get(Member, run.member_id)
        if member is None:
            raise JobFailed(_("Sorry, you can't do this here."))
        actor = await services.members.actor(member)
        try:
            result = await services.digests.requested(actor, member, str(p["kind"]), day, p.get("area") or None,
                                                         run.locale)
        except NotAllowed as exc:
            raise JobFailed(not_allowed_text(exc)) from None
    nav = _nav_rows(result)
    messages: list[JobMessage] = []
    for i, text in enumerate(result.texts):
        last = i == len(result.texts) - 1 and result.chart is None and not result.files
        messages.append(JobMessage(text=text, buttons=nav if last else None))
    if result.chart is not None:
        messages.append(JobMessage(text=result.caption, photo=result.chart, buttons=nav if not result.files else None))
    for n, (name, content) in enumerate(result.files):
        path = run.folder / name
        await asyncio.to_thread(path.write_bytes, content)
        messages.append(JobMessage(document=path, buttons=nav if n == len(result.files) - 1 else None))
    return JobOutcome(_("📊 Here it is:"), messages, {"texts": len(result.texts), "files": len(result.files)})
