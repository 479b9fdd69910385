"""Joining a building: by invite link, or by asking its captains, who approve or decline.

The rules are here; who is told what (the captains of a join request, the person of the decision, someone
whose role was removed, the new and the old captain) is recorded as events that bot/notices/onboarding.py
words in each recipient's language."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.access import Actor, Place
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.households import HouseholdsService
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


@dataclass(frozen=True)
class Joined:
    invite: Invite
    place: PlaceInfo
    newly: bool


@dataclass(frozen=True)
class JoinRequested(Event):
    """A new join request: the building's captains are asked (team chat, else privately), with the flat
    the person says they live in, so they can check it."""

    request_id: int
    member_id: int
    building_id: int
    flat: str | None


@dataclass(frozen=True)
class JoinDecided(Event):
    """The captains approved or declined a join request: the person is told."""

    request_id: int
    member_id: int
    building_id: int
    approved: bool


@dataclass(frozen=True)
class RoleRemoved(Event):
    """Someone else removed a person's role at a place: the person is told who did."""

    role_id: int
    member_id: int
    role: str
    place_name: str
    community_id: int
    remover_id: int | None


@dataclass(frozen=True)
class CaptaincyHandedOver(Event):
    """A captaincy changed hands at `stamp` (seconds): the new captain is told, and the old one unless they
    handed it over themselves (`tell_old`)."""

    building_id: int
    old_id: int
    new_id: int
    stamp: int
    tell_old: bool


class OnboardingService(CommunityService):
    async def join_with_invite(self, member: Member, code: str) -> Joined:
        invite, newly = await self.members.redeem_invite(member, code)
        info = await self.members.place_info(await self._invite_place(invite))
        return Joined(invite, info, newly)

    async def _invite_place(self, invite: Invite) -> Place:
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
        await self.events.record(JoinRequested(request.id, member.id, building_id, flat))
        return request, info, True

    async def decide(self, actor: Actor, request_id: int, approve: bool) -> tuple[JoinRequest, Member, str, bool]:
        """Approve or decline; tell the person. Returns (request, person, building name, changed)."""
        request, changed = await self.members.decide_join(actor, request_id, approve)
        person = await self.members.get(request.member_id)
        building = await self.session.get(Building, request.building_id)
        assert person is not None and building is not None
        if changed and not approve:
            # The flat they gave with the request goes with it, unless they belong to the building anyway.
            households = HouseholdsService(self.session, self.clock)
            await self.session.flush()  # no autoflush: the query below must see the request declined
            if not await households.may_choose(person.id, building.id):
                await households.leave_building(person.id, building.id)
        if changed:
            await self.events.record(JoinDecided(request.id, person.id, building.id, approve))
        return request, person, building.name, changed

    # ------------------------------------------------------------------ /members actions

    async def remove_from_place(self, actor: Actor, role_id: int) -> RoleView:
        """Remove someone's role at a place (the actor must be allowed to grant it there) and tell them."""
        view = await self.members.role_view(role_id)
        community = await self.session.get(Community, view.role.community_id)
        await self.members.remove_role(actor, role_id)
        person = view.member
        if person.id != actor.member_id and community is not None:
            await self.events.record(RoleRemoved(role_id, person.id, view.role.role, view.place_name, community.id,
                                                 actor.member_id))
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
        await self.events.record(CaptaincyHandedOver(building_id, old.id, new.id, int(self.clock().timestamp()),
                                                     old.id != actor.member_id))
        return old, new, info.name


__all__ = ["ROLE_NAMES", "CaptaincyHandedOver", "JoinDecided", "JoinRequested", "Joined", "OnboardingService",
           "RoleRemoved"]
