"""Joining a building: by invite link, or by asking its captains, who approve or decline."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import _, use_locale
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.base import CommunityService
from bot.services.members import PlaceInfo, RoleView
from models import Building, Community, Invite, JoinRequest, Member

ROLE_NAMES = {
    "resident": "resident",
    "volunteer": "volunteer",
    "captain": "building captain",
    "area_head": "area head",
    "staff": "office staff",
    "admin": "admin",
}


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


@dataclass(frozen=True)
class Joined:
    invite: Invite
    place: PlaceInfo
    newly: bool


class OnboardingService(CommunityService):
    async def join_with_invite(self, member: Member, code: str) -> Joined:
        invite, newly = await self.members.redeem_invite(member, code)
        info = await self.members.place_info(await self._invite_place(invite))
        return Joined(invite, info, newly)

    async def _invite_place(self, invite: Invite) -> object:
        from bot.services.access import Place

        if invite.building_id is not None:
            return await self.members.building_place(invite.building_id)
        return Place(invite.community_id, invite.area_id)

    async def ask_to_join(self, member: Member, building_id: int,
                          flat: str | None = None) -> tuple[JoinRequest, PlaceInfo, bool]:
        """File a join request and tell the building's captains (team chat, else privately), with the flat
        the person says they live in, so the captains can check it."""
        request, is_new = await self.members.request_join(member, building_id)
        place = await self.members.building_place(building_id)
        info = await self.members.place_info(place)
        if not is_new:
            return request, info, False
        from bot.keyboards.start import decision_buttons

        team_chat = await self.chats.chat_for(place, "team")
        name = esc(member.display_name)
        if member.username:
            name += f" (@{esc(member.username)})"
        if team_chat is not None:
            with use_locale(info.community.locale):
                text = _join_text(name, info.name, flat)
                await self.outbox.enqueue(key=f"join:{request.id}:chat", kind="join_request",
                                          chat_id=team_chat, text=text, buttons=decision_buttons(request.id),
                                          community_id=info.community.id)
            return request, info, True
        recipients = await self.members.responsible(place, 0)
        for captain in recipients:
            with use_locale(self.members.locale_for(captain, info.community)):
                text = _join_text(name, info.name, flat)
                await self.outbox.notify(captain, key=f"join:{request.id}:{captain.id}", kind="join_request",
                                         text=text, buttons=decision_buttons(request.id),
                                         community_id=info.community.id, tz=info.community.timezone)
        return request, info, True

    async def decide(self, actor: Actor, request_id: int, approve: bool) -> tuple[JoinRequest, Member, str, bool]:
        """Approve or decline; tell the person. Returns (request, person, building name, changed)."""
        request, changed = await self.members.decide_join(actor, request_id, approve)
        person = await self.members.get(request.member_id)
        building = await self.session.get(Building, request.building_id)
        assert person is not None and building is not None
        if changed and not approve:
            # The flat they gave with the request goes with it, unless they belong to the building anyway.
            from bot.services.households import HouseholdsService

            households = HouseholdsService(self.session, self.clock)
            await self.session.flush()  # no autoflush: the query below must see the request declined
            if not await households.may_choose(person.id, building.id):
                await households.leave_building(person.id, building.id)
        if changed:
            info = await self.members.place_info(await self.members.building_place(building.id))
            with use_locale(self.members.locale_for(person, info.community)):
                if approve:
                    text = _("✅ Welcome! The captains confirmed you as a resident of {building}. "
                             "Send /start to see what I can do.").format(building=esc(building.name))
                else:
                    text = _("The captains of {building} could not confirm your request. If you think "
                             "this is a mistake, ask your building captain for an invite link.").format(
                        building=esc(building.name))
                await self.outbox.notify(person, key=f"join:{request.id}:outcome", kind="join_outcome",
                                         text=text, urgent=True, tz=info.community.timezone)
        return request, person, building.name, changed

    # ------------------------------------------------------------------ /members actions

    async def remove_from_place(self, actor: Actor, role_id: int) -> RoleView:
        """Remove someone's role at a place (the actor must be allowed to grant it there) and tell them."""
        view = await self.members.role_view(role_id)
        community = await self.session.get(Community, view.role.community_id)
        await self.members.remove_role(actor, role_id)
        person = view.member
        remover = await self.session.get(Member, actor.member_id)
        if person.id != actor.member_id and community is not None:
            with use_locale(self.members.locale_for(person, community)):
                text = _("You are no longer {role} of {place}. {who} removed this role; if you think this "
                         "is a mistake, please talk to them.").format(
                    role=role_as(view.role.role), place=esc(view.place_name),
                    who=esc(remover.display_name if remover else "—"))
                await self.outbox.notify(person, key=f"role_removed:{role_id}:{person.id}", kind="role_removed",
                                         text=text, urgent=True, community_id=community.id,
                                         tz=community.timezone)
        return view

    async def hand_over(self, actor: Actor, building_id: int, from_member_id: int,
                        to_member_id: int) -> tuple[Member, Member, str]:
        """Hand a captaincy over; the new and the old captain are told. Returns (old, new, building)."""
        await self.members.hand_over_captaincy(actor, building_id, from_member_id, to_member_id)
        place = await self.members.building_place(building_id)
        info = await self.members.place_info(place)
        old = await self.members.get(from_member_id)
        new = await self.members.get(to_member_id)
        assert old is not None and new is not None
        stamp = int(self.clock().timestamp())
        with use_locale(self.members.locale_for(new, info.community)):
            text = _("🎉 You are now the building captain of {building}. Join requests and reports from "
                     "there come to you. Send /help to see your commands.").format(building=esc(info.name))
            await self.outbox.notify(new, key=f"captain_new:{building_id}:{new.id}:{stamp}", kind="captain_handover",
                                     text=text, urgent=True, community_id=info.community.id,
                                     tz=info.community.timezone)
        if old.id != actor.member_id:
            with use_locale(self.members.locale_for(old, info.community)):
                text = _("The captaincy of {building} was handed over to {name}. You stay a resident "
                         "there. Thank you for your work!").format(building=esc(info.name),
                                                                 name=esc(new.display_name))
                await self.outbox.notify(old, key=f"captain_old:{building_id}:{old.id}:{stamp}",
                                         kind="captain_handover", text=text, urgent=True,
                                         community_id=info.community.id, tz=info.community.timezone)
        return old, new, info.name
