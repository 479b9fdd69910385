"""Campaigns: what captains, residents' chats and the office read — words only; the rules are in
bot/services/campaigns.py. Called from the campaigns tick (phase starts, the end summary) and the
/campaign screens; the spreadsheet of the summary is a background job (`campaign_xlsx`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select

from bot.i18n import _, use_locale
from bot.notices.dates import day_label
from bot.rendering import esc, render
from bot.services.background import BackgroundService, JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.campaigns import (
    CampaignsService,
    Progress,
    phase_instruction,
    phase_name,
)
from bot.services.digests.figures import category_label
from models import Campaign, CampaignIssue, Community, Issue

MAX_ROWS = 40  # building lines on one screen (a message holds 4096 characters)
ALBUM_SIZE = 10  # Telegram albums hold 2–10 items: five before/after pairs each


def span_text(campaign: Campaign) -> str:
    return _("%(first)s – %(last)s", first=day_label(campaign.start_day), last=day_label(campaign.end_day))


def categories_text(campaign: Any, community: Community | None, locale: str) -> str:
    sep = "、" if locale.startswith("zh") else ", "
    return sep.join(category_label(community, key, locale) for key in campaign.categories or [])


async def progress_text(svc: CampaignsService, progress: Progress, locale: str) -> str:
    return progress_block(progress, locale)


def progress_block(progress: Progress, locale: str) -> str:
    """The campaign's screen (also the weekly report's section and the summary's table), in `locale`."""
    c, community = progress.campaign, progress.community
    place = ("、" if locale.startswith("zh") else ", ").join(progress.places) if progress.places else community.name
    with use_locale(locale):
        phase = None
        if progress.phase is not None:
            phase = _("Phase %(n)s of %(total)s: %(phase)s", n=progress.phase + 1, total=len(c.phases),
                      phase=phase_name(c.phases[progress.phase]["key"], locale))
        elif c.phases:
            phase = _("Starts %(day)s", day=day_label(c.start_day))
        # Buildings with something reported, one line each (a whole-community campaign may cover hundreds);
        # the rest are counted on one line.
        rows = [r for r in progress.rows if r.now.found or r.change.found]
        quiet = len(progress.rows) - len(rows)
        return render("campaigns_progress.html.j2", locale=locale, name=c.name, span=span_text(c),
                      rows=rows[:MAX_ROWS], more=max(0, len(rows) - MAX_ROWS), quiet=quiet,
                      place=place, categories=categories_text(c, community, locale),
                      phase=phase, target=c.target, p=progress, zh=locale.startswith("zh"))


async def send_phase(svc: CampaignsService, campaign: Campaign, index: int) -> None:
    """The phase's instruction to the captains of its buildings (privately, quiet hours kept) and its
    residents' chats, once: keyed by campaign, phase and recipient."""
    community = await svc.session.get(Community, campaign.community_id)
    assert community is not None
    people, chats = await svc.phase_recipients(campaign)
    phase = campaign.phases[index]
    texts: dict[str, str] = {}

    def text(locale: str) -> str:
        if locale not in texts:
            with use_locale(locale):
                texts[locale] = render(
                    "campaigns_phase.html.j2", locale=locale, name=campaign.name, n=index + 1,
                    total=len(campaign.phases), phase=phase_name(phase["key"], locale),
                    start=day_label(date.fromisoformat(phase["start"])),
                    instruction=phase_instruction(phase, locale), target=campaign.target)
        return texts[locale]

    batch = f"campaign:{campaign.id}:phase{index}"
    for person in people:
        if not person.started:
            continue
        await svc.outbox.notify(person, key=f"{batch}:m{person.id}", kind="campaign_phase",
                                text=text(svc.members.locale_for(person, community)), tz=community.timezone,
                                community_id=community.id, batch=batch)
    for chat_id in chats:
        await svc.outbox.enqueue(key=f"{batch}:c{chat_id}", kind="campaign_phase", chat_id=chat_id,
                                 text=text(community.locale), community_id=community.id, batch=batch)


async def send_end_summary(svc: CampaignsService, campaign: Campaign) -> None:
    """The office's summary at the end: figures and the table, then the before/after album of the best
    ten (albums of five pairs), then (a background job) the spreadsheet of every issue."""
    community = await svc.session.get(Community, campaign.community_id)
    assert community is not None
    summary = await svc.summary(campaign)
    office, staff = await svc.office_recipients(community.id)
    recipients = [(office, None, community.locale)] if office is not None else [
        (m.telegram_id, m, svc.members.locale_for(m, community)) for m in staff if m.started]
    for chat_id, person, locale in recipients:
        t = summary.progress.total.now
        with use_locale(locale):
            text = render("campaigns_summary.html.j2", locale=locale, name=campaign.name, t=t,
                          pct=round(100 * t.fixed / t.found) if t.found else 0, target=campaign.target,
                          progress=Markup(await progress_text(svc, summary.progress, locale)),
                          album=len(summary.album))
        key = f"campaign:{campaign.id}:summary:{chat_id}"
        common = {"kind": "campaign_summary", "community_id": community.id}
        if person is not None:
            await svc.outbox.notify(person, key=key, text=text, tz=community.timezone, **common)
        else:
            await svc.outbox.enqueue(key=key, chat_id=chat_id, text=text, **common)
        photos = [fid for _ref, before, after in summary.album for fid in (before, after)]
        for n in range(0, len(photos), ALBUM_SIZE):
            part = photos[n:n + ALBUM_SIZE]
            refs = summary.album[n // 2:(n + len(part)) // 2]
            with use_locale(locale):
                caption = _("Before → after: {refs}").format(refs=" ".join(f"#{esc(r)}" for r, _b, _a in refs))
            # A single photo cannot be an album; a pair always can (two items).
            await svc.outbox.enqueue(key=f"{key}:album{n // ALBUM_SIZE}", chat_id=chat_id, photos=part,
                                     text=caption, member_id=person.id if person else None, **common)
    campaign.summary_at = svc.clock()
    await queue_xlsx(svc, campaign)


async def queue_xlsx(svc: CampaignsService, campaign: Campaign) -> None:
    """Hand the spreadsheet to the worker (its owner may have another job running: the tick retries)."""
    owner = await svc.xlsx_owner(campaign)
    if owner is None:
        campaign.xlsx_queued_at = svc.clock()  # nobody to run it as: no spreadsheet
        return
    office, _staff = await svc.office_recipients(campaign.community_id)
    community = await svc.session.get(Community, campaign.community_id)
    assert community is not None
    chat_id = office if office is not None else owner.telegram_id
    locale = community.locale if office is not None else svc.members.locale_for(owner, community)
    job = await BackgroundService(svc.session, svc.clock).submit(
        kind="campaign_xlsx", member_id=owner.id, chat_id=chat_id, locale=locale,
        params={"campaign_id": campaign.id})
    if job is not None:
        campaign.xlsx_queued_at = svc.clock()


@job_kind("campaign_xlsx")
async def campaign_xlsx_job(run: JobRun) -> JobOutcome:
    """Every issue of a campaign as a ledger spreadsheet (the ledger's columns, filtered to the campaign)."""
    from bot.notices.ledger import export_ledger
    from bot.services.access import NotAllowed, Place, require
    from bot.services.ledger import read_sessions
    from bot.services.members import MembersService
    from models import Member

    async with run.sessions() as session:
        member = await session.get(Member, run.member_id)
        campaign = await session.get(Campaign, int(run.params["campaign_id"]))
        if member is None or campaign is None:
            raise JobFailed(_("Sorry, you can't do this here."))
        actor = await MembersService(session, run.clock, run.settings.admin_ids if run.settings else ()).actor(
            member)
        try:
            require(actor, "campaign", Place(campaign.community_id))
        except NotAllowed:
            raise JobFailed(_("Only office staff can do this.")) from None
        community = await session.get(Community, campaign.community_id)
        assert community is not None
        first = (await session.execute(select(func.min(Issue.created_at)).join(
            CampaignIssue, CampaignIssue.issue_id == Issue.id).where(
            CampaignIssue.campaign_id == campaign.id))).scalar_one()
        from zoneinfo import ZoneInfo

        start = min(first.astimezone(ZoneInfo(community.timezone)).date(), campaign.start_day) if first \
            else campaign.start_day
        end = max(campaign.end_day, run.clock().astimezone(ZoneInfo(community.timezone)).date())
        name = campaign.name
        reads = read_sessions(session)
    result = await export_ledger(reads, community, None, start, end + timedelta(days=0),
                                 run.folder / f"campaign_{campaign.id}.xlsx", locale=run.locale,
                                 reporter=False, campaign_id=campaign.id)
    caption = _("📊 {name}: every issue of the campaign ({n}).").format(name=esc(name), n=result.rows)
    return JobOutcome("", [JobMessage(text=caption, document=path) for path in result.files],
                      {"rows": result.rows})
