"""Relays: what each side reads — words and buttons only; the rules are in bot/services/relays.py.

Privacy: no username or phone number ever goes through. In a private matter the household never learns
who reported it ("your neighbour"), and the reporter hears from "the household in 2-301". In /contacts
the person answering for a place sees the resident's first name in private (they answer for them),
the office's group chat only "a resident of Building 1"; the resident sees the contact as /contacts
shows them."""

from __future__ import annotations

from bot.i18n import _, use_locale
from bot.keyboards.relays import message_buttons, settle_buttons
from bot.notices.triage import headline as issue_headline
from bot.rendering import esc, shorten
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.relays import RelayInfo, Sent, Settled, Started
from models import Member

CAPTION_ROOM = 700  # a relayed photo's caption: header + text must stay under Telegram's 1024


def headline(info: RelayInfo) -> str:
    issue = info.issue
    if issue is None:
        return ""
    return issue_headline(issue, info.community)


def contact_label(info: RelayInfo) -> str:
    """Side B as the resident knows it from /contacts."""
    r = info.relay
    if r.b_role == "office":
        return _("the community office")
    if r.b_role == "area_head":
        return _("area head {name} ({place})").format(name=esc(info.contact_name),
                                                       place=esc(info.area.name if info.area else ""))
    return _("captain {name} ({place})").format(name=esc(info.contact_name),
                                                 place=esc(info.building.name if info.building else ""))


def other_side(info: RelayInfo) -> str:
    """Whom the person writing is writing to, as they may know it."""
    r = info.relay
    if r.kind == "issue":
        if info.side == "a":
            return _("the household in {flat}").format(flat=esc(info.household.label if info.household else "?"))
        return _("your neighbour")
    if info.side == "a":
        return contact_label(info)
    return _("the resident")


def write_prompt(info: RelayInfo) -> str:
    return _("✍️ Write your message to {whom}: text, or a photo with a caption. I pass it on without your "
             "username or phone number.").format(whom=other_side(info))


def sent_text(info: RelayInfo) -> str:
    return _("✅ Sent to {whom}. Their answer will come here.").format(whom=other_side(info))


def _body(text: str | None, photo: bool) -> str:
    return esc(shorten(text, CAPTION_ROOM)) if photo and text else esc(text or "")


async def deliver(outbox: Outbox, members: MembersService, sent: Sent) -> None:
    """Enqueue the relayed message for everyone on the other side (quiet hours apply to people)."""
    info, m = sent.info, sent.message
    r = info.relay
    tz = info.community.timezone
    base = f"relay:{r.id}:m{m.id}"
    for person in sent.to.members:
        with use_locale(members.locale_for(person, info.community)):
            if r.kind == "issue":
                if m.side == "a":
                    head = _("💬 Your neighbour writes about {headline}:").format(headline=headline(info))
                else:
                    head = _("💬 The household in {flat} writes about {headline}:").format(
                        flat=esc(info.household.label if info.household else "?"), headline=headline(info))
            elif m.side == "a":
                building = info.building.name if info.building else (info.area.name if info.area else "")
                head = _("✉️ {name}, a resident of {place}, writes to you through the bot:").format(
                    name=esc(sent.sender.first_name or _("a resident")), place=esc(building))
            else:
                head = _("↩️ {contact} answers:").format(contact=contact_label(info))
            text = f"{head}\n{_body(m.text, bool(m.photo))}".strip()
            rows = message_buttons(r.id, issue=r.kind == "issue", reply=True)
        await outbox.notify(person, key=f"{base}:{person.id}", kind="relay", text=text, photo=m.photo,
                            buttons=rows, community_id=r.community_id, tz=tz)
    if sent.to.chat_id is not None:
        # The office's group chat: never a resident's name there, only where they live.
        with use_locale(info.community.locale):
            place = info.building.name if info.building else info.community.name
            head = _("✉️ A resident of {place} writes to the community office:").format(place=esc(place))
            text = f"{head}\n{_body(m.text, bool(m.photo))}".strip()
            rows = message_buttons(r.id, issue=False, reply=True)
        await outbox.enqueue(key=f"{base}:chat", kind="relay", chat_id=sent.to.chat_id, text=text, photo=m.photo,
                             buttons=rows, community_id=r.community_id)


async def introduce(outbox: Outbox, members: MembersService, started: Started) -> None:
    """A private matter's relay begins: the reporter and the household each hear how it works."""
    info = started.info
    r = info.relay
    tz = info.community.timezone
    with use_locale(members.locale_for(started.reporter, info.community)):
        text = _("🤝 About {headline}: the building captain has put you in touch with the household in {flat}. "
                 "Write to them here with ✉️ Write; I pass messages both ways without names, usernames or phone "
                 "numbers. When you have sorted it out, press 🤝 Settled.").format(
            headline=headline(info), flat=esc(info.household.label if info.household else "?"))
        rows = message_buttons(r.id, issue=True, reply=False)
    await outbox.notify(started.reporter, key=f"relay:{r.id}:start:{started.reporter.id}", kind="relay", text=text,
                        buttons=rows, community_id=r.community_id, tz=tz)
    issue = info.issue
    for person in started.household_members:
        with use_locale(members.locale_for(person, info.community)):
            text = _("🤝 Hello! The captain of {building} asks your household ({flat}) to talk with a neighbour "
                     "about {headline}:\n📝 {description}\nWrite with ✉️ Write; I pass messages both ways without "
                     "names, usernames or phone numbers. When it is sorted out, press 🤝 Settled.").format(
                building=esc(info.building.name if info.building else ""),
                flat=esc(info.household.label if info.household else "?"), headline=headline(info),
                description=esc(shorten((issue.description if issue else None) or "—", 600)))
            rows = message_buttons(r.id, issue=True, reply=False)
        await outbox.notify(person, key=f"relay:{r.id}:start:{person.id}", kind="relay", text=text, buttons=rows,
                            community_id=r.community_id, tz=tz)


async def settled(outbox: Outbox, members: MembersService, done: Settled, presser: Member) -> None:
    info = done.info
    r = info.relay
    tz = info.community.timezone
    if done.closed:
        people: list[Member] = [*done.other.members, presser]
        reporter = None
        if r.a_member_id is not None:
            reporter = next((p for p in people if p.id == r.a_member_id), None)
        for person in people:
            with use_locale(members.locale_for(person, info.community)):
                text = _("🤝 {headline}: both sides say it is settled, so it is closed. Thank you for sorting it "
                         "out as neighbours!").format(headline=headline(info))
            await outbox.notify(person, key=f"relay:{r.id}:closed:{person.id}", kind="relay", text=text,
                                community_id=r.community_id, tz=tz)
        for person in done.followers:
            if reporter is not None and person.id == reporter.id:
                continue
            with use_locale(members.locale_for(person, info.community)):
                text = _("🤝 {headline} is settled between the neighbours. Thank you for following it!").format(
                    headline=headline(info))
            await outbox.notify(person, key=f"relay:{r.id}:closed:{person.id}", kind="relay", text=text,
                                community_id=r.community_id, tz=tz)
        return
    for person in done.other.members:
        with use_locale(members.locale_for(person, info.community)):
            text = _("🤝 About {headline}: the other side says it is settled. If you agree, press 🤝 Settled "
                     "too.").format(headline=headline(info))
            rows = settle_buttons(r.id)
        await outbox.notify(person, key=f"relay:{r.id}:settled:{info.side}:{person.id}", kind="relay", text=text,
                            buttons=rows, community_id=r.community_id, tz=tz)


__all__ = ["contact_label", "deliver", "headline", "introduce", "other_side", "sent_text", "settled", "write_prompt"]
