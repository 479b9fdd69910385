"""People and roles: who someone is, what they hold (bot/services/member_roles.py), invites, join requests,
settings, erasure."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cached_property

from sqlalchemy import delete, func, select, update

from bot.locales import SUPPORTED
from bot.services.access import (
    GRANT_NEEDS,
    Actor,
    NotAllowed,
    Place,
    can,
    can_grant,
    require,
    require_grant,
)
from bot.services.households import HouseholdsService
from bot.services.limits import INVITES, enforce_daily
from bot.services.member_roles import (
    ERASED_ID_BASE,
    INVITE_TTL,
    PREF_DEFAULTS,
    InviteError,
    MemberRoles,
    PlaceInfo,
    RoleView,
    TelegramPerson,
    level_name,
)
from bot.services.tenure import ERASE_HOOKS, ROLE_END_HOOKS, Erased
from models import (
    Building,
    ChatState,
    Community,
    GroupChat,
    Invite,
    JoinRequest,
    Member,
    OutboxItem,
    OutboxStatus,
    Role,
)


class MembersService(MemberRoles):
    """People and roles (MemberRoles); what ends a role (removal, leaving, handover) and what ends with it;
    invites, join requests, preferences and erasure."""

    @cached_property
    def households(self) -> HouseholdsService:
        """The flats of the buildings (the /members and /settings screens show a person's flat)."""
        return HouseholdsService(self.session, self.clock)

    async def remove_role(self, actor: Actor, role_id: int) -> Role:
        role = await self.session.get(Role, role_id)
        if role is None:
            raise LookupError("role")
        place = await self._role_place(role)
        # Removing someone needs the right to grant that role there.
        if not can_grant(actor, role.role, place) and actor.member_id != role.member_id:
            raise NotAllowed("remove_member", place, GRANT_NEEDS.get(role.role))
        await self.session.delete(role)
        await self.session.flush()
        person = await self.session.get(Member, role.member_id)
        if person is not None:
            await self.roles_ended(person)
        return role

    async def leave_building(self, member: Member, building_id: int) -> bool:
        result = await self.session.execute(delete(Role).where(
            Role.member_id == member.id, Role.role == "resident", Role.building_id == building_id))
        left = bool(getattr(result, "rowcount", 0))
        if left:
            await self.roles_ended(member)
        return left

    async def hand_over_captaincy(self, actor: Actor, building_id: int, from_member_id: int,
                                  to_member_id: int) -> None:
        """Move a building's captaincy to one of its residents. Area heads and staff may do it for
        any captain of their buildings; a captain may hand over their own. The old captain stays a
        resident of the building (they usually still live there)."""
        place = await self.building_place(building_id)
        if actor.member_id != from_member_id:
            require(actor, "handover_captain", place)
        current = (await self.session.execute(select(Role).where(
            Role.member_id == from_member_id, Role.role == "captain", Role.building_id == building_id))
        ).scalar_one_or_none()
        if current is None:
            raise LookupError("captain")
        target = await self.session.get(Member, to_member_id)
        if target is None or target.id == from_member_id or target.data_deleted_at is not None:
            raise LookupError("member")
        if target.id not in {m.id for m in await self.holders("resident", place)}:
            # Only a person of that building can become its captain.
            raise LookupError("member")
        previous = await self.session.get(Member, from_member_id)
        await self.session.delete(current)
        await self.session.flush()
        await self.grant(target, "captain", place, source="invite", granted_by=actor.member_id)
        if previous is not None:
            await self.grant(previous, "resident", place, source="invite", granted_by=actor.member_id)
            await self.roles_ended(previous)  # a captain's invites for the building end with the role

    async def roles_ended(self, member: Member) -> None:
        """A person's roles just shrunk: the powers that came with them end now. Their invites that
        they may no longer grant are revoked, and every capability's hook runs (an issue assigned to
        someone without a role in its community goes back to the captains)."""
        from bot.capabilities import load_all

        load_all()  # the CLI's re-import may run before any capability was imported
        await self.session.flush()
        await self.revoke_stale_invites(member)
        for hook in list(ROLE_END_HOOKS.values()):
            await hook(self.session, self.clock, member)

    async def create_invite(self, actor: Actor, *, role: str | None, place: Place, purpose: str = "join",
                            chat_kind: str | None = None, ttl: timedelta = INVITE_TTL,
                            max_uses: int | None = 50) -> Invite:
        if purpose == "join":
            if role is None:
                raise ValueError("role")
            require_grant(actor, role, place)
        else:
            require(actor, "link_chat", place)
            if chat_kind not in {"team", "residents"}:
                raise ValueError("chat_kind")
        community = await self.session.get(Community, place.community_id)
        if community is not None:
            # Capped per person and day, counted from the invites (and link codes) they made today.
            await enforce_daily(self.session, community, INVITES, self.clock(), lambda since: (
                select(func.count()).select_from(Invite).where(
                    Invite.created_by == actor.member_id, Invite.created_at >= since)))
        invite = Invite(
            code=secrets.token_urlsafe(12),  # 96 bits: unguessable
            purpose=purpose, role=role if purpose == "join" else None, chat_kind=chat_kind,
            community_id=place.community_id, area_id=place.area_id,
            building_id=place.building_id, created_by=actor.member_id,
            expires_at=self.clock() + ttl, max_uses=max_uses if purpose == "join" else 1,
            uses=0, created_at=self.clock())
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def invites_by(self, actor: Actor) -> list[Invite]:
        now = self.clock()
        rows = (await self.session.execute(select(Invite).where(
            Invite.created_by == actor.member_id, Invite.revoked_at.is_(None)).order_by(Invite.id.desc())
        )).scalars().all()
        return [i for i in rows if (i.expires_at is None or i.expires_at > now)
                and (i.max_uses is None or i.uses < i.max_uses)]

    async def invites_for_my_places(self, actor: Actor) -> list[Invite]:
        """Active invites made by others for places where the actor may grant the same thing: what
        a successor (the next captain, the area head, staff) may see and revoke in /invite."""
        now = self.clock()
        communities = None if actor.is_admin else sorted(actor.communities())
        stmt = select(Invite).where(Invite.revoked_at.is_(None),
                                    (Invite.created_by.is_(None)) | (Invite.created_by != actor.member_id))
        if communities is not None:
            stmt = stmt.where(Invite.community_id.in_(communities))
        rows = (await self.session.execute(stmt.order_by(Invite.id.desc()))).scalars().all()
        out = []
        for i in rows:
            if (i.expires_at is not None and i.expires_at <= now) or (i.max_uses is not None and i.uses >= i.max_uses):
                continue
            if await self._may_manage_invite(actor, i):
                out.append(i)
        return out

    async def invite_place(self, invite: Invite) -> Place:
        if invite.building_id is not None:
            return await self.building_place(invite.building_id)
        return Place(invite.community_id, invite.area_id)

    async def _may_manage_invite(self, actor: Actor, invite: Invite) -> bool:
        """May grant what the invite grants, at its place (or link chats there, for a link code)."""
        if actor.is_admin:
            return True
        try:
            place = await self.invite_place(invite)
        except LookupError:
            return False
        if invite.purpose == "link":
            return can(actor, "link_chat", place)
        return invite.role is not None and can_grant(actor, invite.role, place)

    async def revoke_invite(self, actor: Actor, invite_id: int) -> Invite:
        invite = await self.session.get(Invite, invite_id)
        if invite is None or (invite.created_by != actor.member_id
                              and not await self._may_manage_invite(actor, invite)):
            raise NotAllowed("revoke_invite")
        if invite.revoked_at is None:
            invite.revoked_at = self.clock()
            await self.session.flush()  # the session does not autoflush: later queries must see it
        return invite

    async def revoke_stale_invites(self, member: Member) -> int:
        """Revoke the member's active invites that they may no longer grant (all of them once erased)."""
        rows = list((await self.session.execute(select(Invite).where(
            Invite.created_by == member.id, Invite.revoked_at.is_(None)))).scalars())
        if not rows:
            return 0
        actor = await self.actor(member)
        revoked = 0
        for invite in rows:
            if member.data_deleted_at is None and await self._may_manage_invite(actor, invite):
                continue
            invite.revoked_at = self.clock()
            revoked += 1
        await self.session.flush()
        return revoked

    async def _creator_may(self, invite: Invite) -> bool:
        """Whether the invite's maker may still grant what it grants: checked at every use, because a
        link outlives its maker's role (invites made by the command line have no maker)."""
        if invite.created_by is None:
            return True
        creator = await self.session.get(Member, invite.created_by)
        if creator is None or creator.data_deleted_at is not None:
            return False
        return await self._may_manage_invite(await self.actor(creator), invite)

    async def check_invite(self, code: str, purpose: str) -> Invite:
        invite = (await self.session.execute(
            select(Invite).where(Invite.code == code))).scalar_one_or_none()
        if invite is None:
            raise InviteError("unknown")
        if invite.purpose != purpose:
            raise InviteError("purpose")
        if invite.revoked_at is not None:
            # Revoked because its maker lost the role: say so, rather than "withdrawn by its maker".
            raise InviteError("revoked" if await self._creator_may(invite) else "stale")
        if invite.expires_at is not None and invite.expires_at <= self.clock():
            raise InviteError("expired")
        if invite.max_uses is not None and invite.uses >= invite.max_uses:
            raise InviteError("used_up")
        if not await self._creator_may(invite):
            raise InviteError("stale")
        return invite

    async def redeem_invite(self, member: Member, code: str) -> tuple[Invite, bool]:
        """Use a join invite. Returns (invite, newly_granted)."""
        invite = await self.check_invite(code, "join")
        place = Place(invite.community_id, invite.area_id, invite.building_id)
        if place.building_id is not None:
            place = await self.building_place(place.building_id)
        assert invite.role is not None
        granted = await self.grant(member, invite.role, place, source="invite", granted_by=invite.created_by)
        if granted:
            # Atomic increment so that parallel redemptions cannot exceed max_uses.
            result = await self.session.execute(update(Invite).where(
                Invite.id == invite.id,
                (Invite.max_uses.is_(None)) | (Invite.uses < Invite.max_uses)).values(uses=Invite.uses + 1))
            if not getattr(result, "rowcount", 1):
                raise InviteError("used_up")
        return invite, granted

    async def use_link_code(self, code: str) -> Invite:
        invite = await self.check_invite(code, "link")
        invite.uses += 1
        return invite

    # ------------------------------------------------------------------ join requests

    async def pending_join(self, member: Member) -> JoinRequest | None:
        return (await self.session.execute(select(JoinRequest).where(
            JoinRequest.member_id == member.id, JoinRequest.status == "pending").limit(1))).scalar_one_or_none()

    async def request_join(self, member: Member, building_id: int) -> tuple[JoinRequest, bool]:
        """Ask to join a building. Returns (request, is_new); a pending one is not duplicated."""
        building = await self.session.get(Building, building_id)
        if building is None:
            raise LookupError("building")
        pending = (await self.session.execute(select(JoinRequest).where(
            JoinRequest.member_id == member.id, JoinRequest.building_id == building_id,
            JoinRequest.status == "pending"))).scalar_one_or_none()
        if pending is not None:
            return pending, False
        req = JoinRequest(member_id=member.id, building_id=building_id, status="pending",
                          created_at=self.clock())
        self.session.add(req)
        await self.session.flush()
        return req, True

    async def decide_join(self, actor: Actor, request_id: int, approve: bool) -> tuple[JoinRequest, bool]:
        """Approve or decline. Returns (request, changed): a second press changes nothing."""
        req = await self.session.get(JoinRequest, request_id)
        if req is None:
            raise LookupError("join_request")
        place = await self.building_place(req.building_id)
        require(actor, "approve_join", place)
        if req.status != "pending":
            return req, False
        req.status = "approved" if approve else "declined"
        req.decided_by = actor.member_id
        req.decided_at = self.clock()
        if approve:
            member = await self.session.get(Member, req.member_id)
            assert member is not None
            await self.grant(member, "resident", place, source="approval", granted_by=actor.member_id)
        return req, True

    # ------------------------------------------------------------------ settings and privacy

    async def set_locale(self, member: Member, locale: str) -> None:
        if locale not in SUPPORTED:
            raise ValueError(locale)
        member.locale = locale

    async def set_quiet_hours(self, member: Member, start: int | None, end: int | None) -> None:
        if (start is None) != (end is None):
            raise ValueError("both or neither")
        for v in (start, end):
            if v is not None and not 0 <= v < 24 * 60:
                raise ValueError("minutes")
        member.quiet_start, member.quiet_end = start, end

    async def set_pref(self, member: Member, name: str, value: bool) -> None:
        if name not in PREF_DEFAULTS:
            raise ValueError(name)
        prefs = dict(member.prefs or {})
        prefs[name] = value
        member.prefs = prefs  # a new dict, so that SQLAlchemy sees the JSON change

    @staticmethod
    def wants(member: Member, name: str) -> bool:
        """Whether a member wants a kind of notification (see PREF_DEFAULTS)."""
        return bool((member.prefs or {}).get(name, PREF_DEFAULTS.get(name, True)))

    def applicable_prefs(self, actor: Actor) -> list[str]:
        """The notification preferences that mean something for this person's roles."""
        kinds = {g.role for g in actor.grants}
        out = []
        if kinds or actor.is_admin:
            out += ["announcements", "cleaning"]
        if "staff" in kinds or actor.is_admin:
            out.append("digest")
        if "area_head" in kinds:
            out.append("area_digest")
        if "volunteer" in kinds:
            out.append("points_public")  # 志愿之星: volunteers choose whether they are named in public
        return out

    async def delete_data(self, member: Member) -> None:
        """Erase personal data. The row stays so that reports stay in the ledger, anonymised
        (reporter shown as —); its Telegram id is replaced, so that someone coming back later is a
        new person whose name is never attached to the old reports. Roles end (and the powers that
        came with them: invites, assignments); pending join requests are withdrawn; messages still
        waiting to be sent to them are cancelled, and every outbox row of theirs loses its chat id
        and text. Capabilities erase their own traces through ERASE_HOOKS (check-in locations,
        names in issue timelines)."""
        erased = Erased(
            member_id=member.id, telegram_id=member.telegram_id, name=member.display_name,
            community_ids=frozenset(c.id for c in await self.member_communities(member)))
        member.first_name = ""
        member.last_name = None
        member.username = None
        member.phone = None
        member.language_code = None
        member.locale = None
        member.quiet_start = member.quiet_end = None
        member.prefs = {}
        member.data_deleted_at = self.clock()
        member.telegram_id = ERASED_ID_BASE - member.id
        await self.session.execute(delete(Role).where(Role.member_id == member.id))
        await self.session.execute(delete(JoinRequest).where(
            JoinRequest.member_id == member.id, JoinRequest.status == "pending"))
        await self.scrub_outbox(erased)
        await self.roles_ended(member)
        for hook in list(ERASE_HOOKS.values()):
            await hook(self.session, self.clock, member, erased)
        await self.session.flush()

    async def scrub_outbox(self, erased: Erased) -> None:
        """Cut the outbox's link to an erased person: what still waits for them is cancelled, and every
        row of theirs (addressed to their private chat or to them) keeps neither chat id nor text.
        Chat id 0 is the sentinel: no chat has it, and the sender never sees these rows again (a
        scrubbed row is never pending, and without a message id nothing edits it)."""
        theirs = (OutboxItem.member_id == erased.member_id) | (OutboxItem.chat_id == erased.telegram_id)
        await self.session.execute(update(OutboxItem).where(
            theirs, OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))).values(
            status=OutboxStatus.EXPIRED, last_error="erased"))
        await self.session.execute(update(OutboxItem).where(theirs).values(
            chat_id=0, member_id=None, payload={"erased": True}, message_id=None))
        await self.session.execute(delete(ChatState).where(ChatState.chat_id == erased.telegram_id))
        # Who added the bot to a group is stored as a Telegram id: it goes with the rest.
        await self.session.execute(update(GroupChat).where(GroupChat.added_by == erased.telegram_id)
                                   .values(added_by=None))

    async def mark_privacy_seen(self, member: Member) -> bool:
        if member.privacy_seen_at is None:
            member.privacy_seen_at = self.clock()
            return True
        return False

    async def count_members(self, community_id: int) -> int:
        return int((await self.session.execute(select(func.count(func.distinct(Role.member_id))).where(
            Role.community_id == community_id))).scalar_one())


__all__ = ["ERASED_ID_BASE", "INVITE_TTL", "PREF_DEFAULTS", "InviteError", "MembersService", "PlaceInfo", "RoleView",
           "TelegramPerson", "can", "level_name"]
