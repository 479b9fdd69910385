"""Joining and roles in words: a join request to the building's captains (with the decision buttons from
bot/keyboards/start.py), the decision to the person, a removed role, a captaincy handed over; and the role
names the screens use. The rules are in bot/services/onboarding.py; these run for its events in the same
transaction, each in its recipient's language."""

from __future__ import annotations

from bot.i18n import _, use_locale
from bot.keyboards.start import decision_buttons
from bot.rendering import esc
from bot.services.events import NoticeContext, notice
from bot.services.onboarding import CaptaincyHandedOver, JoinDecided, JoinRequested, RoleRemoved
from models import Community, Member


def role_label(role: str) -> str:
    """The role's name in the current locale."""
    labels = {
        "resident": _("resident"),
        "volunteer": _("volunteer"),
        "captain": _("building captain"),
        "area_head": _("area head"),
        "staff": _("office staff"),
        "admin": _("admin"),
    }
    return labels.get(role, role)


def role_as(role: str) -> str:
    """The role with its article, for sentences like "You joined Building 1 as a resident"."""
    labels = {
        "resident": _("a resident"),
        "volunteer": _("a volunteer"),
        "captain": _("a building captain"),
        "area_head": _("an area head"),
        "staff": _("office staff"),
        "admin": _("an admin"),
    }
    return labels.get(role, role)


def _join_text(name: str, building: str, flat: str | None) -> str:
    if flat:
        return _("🙋 {name} asks to join {building} as a resident (flat {flat}).").format(
            name=name, building=esc(building), flat=esc(flat))
    return _("🙋 {name} asks to join {building} as a resident.").format(name=name, building=esc(building))


async def _member(ctx: NoticeContext, member_id: int) -> Member:
    member = await ctx.members.get(member_id)
    assert member is not None
    return member


@notice(JoinRequested)
async def join_requested(event: JoinRequested, ctx: NoticeContext) -> None:
    member = await _member(ctx, event.member_id)
    place = await ctx.members.building_place(event.building_id)
    info = await ctx.members.place_info(place)
    team_chat = await ctx.chats.chat_for(place, "team")
    name = esc(member.display_name)
    if member.username:
        name += f" (@{esc(member.username)})"
    if team_chat is not None:
        with use_locale(info.community.locale):
            text = _join_text(name, info.name, event.flat)
            await ctx.outbox.enqueue(key=f"join:{event.request_id}:chat", kind="join_request",
                                     chat_id=team_chat, text=text, buttons=decision_buttons(event.request_id),
                                     community_id=info.community.id)
        return
    for captain in await ctx.members.responsible(place, 0):
        with use_locale(ctx.members.locale_for(captain, info.community)):
            text = _join_text(name, info.name, event.flat)
            await ctx.outbox.notify(captain, key=f"join:{event.request_id}:{captain.id}", kind="join_request",
                                    text=text, buttons=decision_buttons(event.request_id),
                                    community_id=info.community.id, tz=info.community.timezone)


@notice(JoinDecided)
async def join_decided(event: JoinDecided, ctx: NoticeContext) -> None:
    person = await _member(ctx, event.member_id)
    info = await ctx.members.place_info(await ctx.members.building_place(event.building_id))
    building = info.name
    with use_locale(ctx.members.locale_for(person, info.community)):
        if event.approved:
            text = _("✅ Welcome! The captains confirmed you as a resident of {building}. "
                     "Send /start to see what I can do.").format(building=esc(building))
        else:
            text = _("The captains of {building} could not confirm your request. If you think "
                     "this is a mistake, ask your building captain for an invite link.").format(
                building=esc(building))
        await ctx.outbox.notify(person, key=f"join:{event.request_id}:outcome", kind="join_outcome",
                                text=text, urgent=True, tz=info.community.timezone)


@notice(RoleRemoved)
async def role_removed(event: RoleRemoved, ctx: NoticeContext) -> None:
    person = await _member(ctx, event.member_id)
    community = await ctx.session.get(Community, event.community_id)
    remover = await ctx.session.get(Member, event.remover_id) if event.remover_id is not None else None
    if community is None:
        return
    with use_locale(ctx.members.locale_for(person, community)):
        text = _("You are no longer {role} of {place}. {who} removed this role; if you think this "
                 "is a mistake, please talk to them.").format(
            role=role_as(event.role), place=esc(event.place_name),
            who=esc(remover.display_name if remover else "—"))
        await ctx.outbox.notify(person, key=f"role_removed:{event.role_id}:{person.id}", kind="role_removed",
                                text=text, urgent=True, community_id=community.id, tz=community.timezone)


@notice(CaptaincyHandedOver)
async def captaincy_handed_over(event: CaptaincyHandedOver, ctx: NoticeContext) -> None:
    info = await ctx.members.place_info(await ctx.members.building_place(event.building_id))
    old = await _member(ctx, event.old_id)
    new = await _member(ctx, event.new_id)
    with use_locale(ctx.members.locale_for(new, info.community)):
        text = _("🎉 You are now the building captain of {building}. Join requests and reports from "
                 "there come to you. Send /help to see your commands.").format(building=esc(info.name))
        await ctx.outbox.notify(new, key=f"captain_new:{event.building_id}:{new.id}:{event.stamp}",
                                kind="captain_handover", text=text, urgent=True, community_id=info.community.id,
                                tz=info.community.timezone)
    if event.tell_old:
        with use_locale(ctx.members.locale_for(old, info.community)):
            text = _("The captaincy of {building} was handed over to {name}. You stay a resident "
                     "there. Thank you for your work!").format(building=esc(info.name),
                                                             name=esc(new.display_name))
            await ctx.outbox.notify(old, key=f"captain_old:{event.building_id}:{old.id}:{event.stamp}",
                                    kind="captain_handover", text=text, urgent=True,
                                    community_id=info.community.id, tz=info.community.timezone)


__all__ = ["role_as", "role_label"]
