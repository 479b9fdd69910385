"""Campaigns: what captains, residents' chats and the office read — words only; the rules are in
bot/services/campaigns/. Called from the campaigns tick (phase starts, the end summary) and the
/campaign screens; the spreadsheet of the summary is a background job (`campaign_xlsx`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select

from bot.i18n import LazyString, _, __, translate, use_locale
from bot.notices.dates import day_label
from bot.rendering import esc, render
from bot.services.background import JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.campaigns import CampaignEnded, CampaignPhaseStarted, CampaignsService, Progress
from bot.services.digests.figures import category_label
from bot.services.events import NoticeContext, notice
from models import Campaign, CampaignIssue, Community, Issue

MAX_ROWS = 40  # building lines on one screen (a message holds 4096 characters)
ALBUM_SIZE = 10  # Telegram albums hold 2–10 items: five before/after pairs each

# The default template's phases (bot.services.campaigns.PHASE_KEYS), marked for translation here; a phase
# stores its key, and its instruction only when staff typed their own.
PHASES: dict[str, LazyString] = {
    "publicity": __("Publicity and mobilisation"),
    "self_check": __("Residents check and fix it themselves"),
    "clean_up": __("Concentrated clean-up"),
    "acceptance": __("Inspection and acceptance"),
}
PHASE_INSTRUCTIONS: dict[str, LazyString] = {
    "publicity": __("Please tell every household what the campaign is about and what must change, in the "
                    "chats and on the notice boards."),
    "self_check": __("Residents put things right themselves now: please remind them, and report what is "
                     "still wrong."),
    "clean_up": __("The concentrated clean-up starts: captains, please walk your buildings and report every "
                   "case still there."),
    "acceptance": __("Check the fixes on site: please verify the reported cases and report anything left."),
}


def phase_name(key: str, locale: str) -> str:
    return translate(locale, PHASES[key].message) if key in PHASES else key


def phase_instruction(phase: dict[str, Any], locale: str) -> str:
    text = phase.get("instruction")
    if text:
        return str(text)
    words = PHASE_INSTRUCTIONS.get(str(phase.get("key")))
    return translate(locale, words.message) if words is not None else ""


def span_text(campaign: Campaign) -> str:
    return _("%(first)s – %(last)s", first=day_label(campaign.start_day), last=day_label(campaign.end_day))


def categories_text(campaign: Any, community: Community, locale: str) -> str:
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


def _service(ctx: NoticeContext) -> CampaignsService:
    return CampaignsService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)


@notice(CampaignPhaseStarted)
async def phase_started(event: CampaignPhaseStarted, ctx: NoticeContext) -> None:
    svc = _service(ctx)
    await send_phase(svc, await svc.get(event.campaign_id), event.index)


@notice(CampaignEnded)
async def campaign_ended(event: CampaignEnded, ctx: NoticeContext) -> None:
    svc = _service(ctx)
    await send_end_summary(svc, await svc.get(event.campaign_id))


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
    ten (albums of five pairs). The spreadsheet of every issue follows (CampaignsService.queue_xlsx)."""
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
        kind = "campaign_summary"
        if person is not None:
            await svc.outbox.notify(person, key=key, kind=kind, text=text, tz=community.timezone,
                                    community_id=community.id)
        else:
            await svc.outbox.enqueue(key=key, kind=kind, chat_id=chat_id, text=text, community_id=community.id)
        photos = [fid for _ref, before, after in summary.album for fid in (before, after)]
        for n in range(0, len(photos), ALBUM_SIZE):
            part = photos[n:n + ALBUM_SIZE]
            refs = summary.album[n // 2:(n + len(part)) // 2]
            with use_locale(locale):
                caption = _("Before → after: {refs}").format(refs=" ".join(f"#{esc(r)}" for r, _b, _a in refs))
            # A single photo cannot be an album; a pair always can (two items).
            await svc.outbox.enqueue(key=f"{key}:album{n // ALBUM_SIZE}", chat_id=chat_id, photos=part,
                                     text=caption, member_id=person.id if person else None, kind=kind,
                                     community_id=community.id)


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
