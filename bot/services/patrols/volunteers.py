"""Volunteers on shifts: my shifts and the open ones, take (capacity by one conditional UPDATE, so two
presses on the last place cannot both win), drop (until 12 h before), a captain's removal and assignment
(asked to confirm), "can't make it", cover calls below the minimum, and swaps (first to accept wins)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.services.access import Actor, can, require
from bot.services.patrols.events import (
    AssignmentAnswered,
    CoverNeeded,
    SwapOffered,
    SwapTaken,
    VolunteerAsked,
    VolunteerCantCome,
    VolunteerRemoved,
)
from bot.services.patrols.planning import Planning
from bot.services.patrols.timing import DROP_LIMIT, HELD, PatrolError
from bot.services.patrols.views import ShiftView, place_of
from models import AssignmentStatus, Member, PatrolShift, ShiftAssignment, ShiftStatus, ShiftSwap


class Volunteers(Planning):
    async def my_shifts(self, member: Member, *, limit: int = 10) -> list[ShiftView]:
        now = self.clock()
        shifts = (await self.session.execute(
            select(PatrolShift).join(ShiftAssignment, ShiftAssignment.shift_id == PatrolShift.id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.status.in_(HELD),
                   PatrolShift.status == ShiftStatus.PLANNED,
                   (PatrolShift.ends_at > now) | (ShiftAssignment.checked_in_at.is_not(None)
                                                  & ShiftAssignment.checked_out_at.is_(None)))
            .order_by(PatrolShift.starts_at).limit(limit))).scalars().all()
        return await self.views(shifts)

    async def open_shifts(self, actor: Actor, member: Member, *, days: int = 14, limit: int = 8) -> list[ShiftView]:
        """Shifts that still have room and that this person may take, soonest first (the ones below
        their minimum first among the same day is not needed: soonest first, understaffed marked)."""
        now = self.clock()
        mine = select(ShiftAssignment.shift_id).where(ShiftAssignment.member_id == member.id,
                                                      ShiftAssignment.status.in_(HELD))
        ids = actor.communities() if not actor.is_admin else {c.id for c in await self.members.communities()}
        shifts = (await self.session.execute(
            select(PatrolShift).where(
                PatrolShift.community_id.in_(ids), PatrolShift.status == ShiftStatus.PLANNED,
                PatrolShift.starts_at > now, PatrolShift.starts_at < now + timedelta(days=days),
                PatrolShift.filled < PatrolShift.max_volunteers, PatrolShift.id.not_in(mine))
            .order_by(PatrolShift.starts_at).limit(limit * 3))).scalars().all()
        views = [v for v in await self.views(shifts) if can(actor, "patrol_take", place_of(v.route))]
        return views[:limit]

    async def _held(self, shift_id: int, member_id: int) -> ShiftAssignment | None:
        return (await self.session.execute(select(ShiftAssignment).where(
            ShiftAssignment.shift_id == shift_id, ShiftAssignment.member_id == member_id))).scalar_one_or_none()

    async def _overlaps(self, member: Member, shift: PatrolShift) -> bool:
        other = (await self.session.execute(
            select(func.count()).select_from(ShiftAssignment)
            .join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
            .where(ShiftAssignment.member_id == member.id, ShiftAssignment.status == AssignmentStatus.ACTIVE,
                   PatrolShift.id != shift.id, PatrolShift.status == ShiftStatus.PLANNED,
                   PatrolShift.starts_at < shift.ends_at, PatrolShift.ends_at > shift.starts_at))).scalar_one()
        return bool(other)

    async def _claim_place(self, shift: PatrolShift) -> None:
        """Take one place, atomically: one conditional UPDATE decides, whatever runs in parallel."""
        result = await self.session.execute(
            update(PatrolShift).where(PatrolShift.id == shift.id, PatrolShift.status == ShiftStatus.PLANNED,
                                      PatrolShift.filled < PatrolShift.max_volunteers)
            .values(filled=PatrolShift.filled + 1).execution_options(synchronize_session=False))
        if not getattr(result, "rowcount", 0):
            raise PatrolError("full")
        await self.session.refresh(shift, ["filled"])

    async def _release_place(self, shift: PatrolShift) -> None:
        await self.session.execute(
            update(PatrolShift).where(PatrolShift.id == shift.id, PatrolShift.filled > 0)
            .values(filled=PatrolShift.filled - 1).execution_options(synchronize_session=False))
        await self.session.refresh(shift, ["filled"])

    def _check_open(self, shift: PatrolShift) -> None:
        if shift.status == ShiftStatus.CANCELLED:
            raise PatrolError("cancelled")
        if shift.status != ShiftStatus.PLANNED or shift.starts_at <= self.clock():
            raise PatrolError("started")

    async def take(self, actor: Actor, member: Member, shift_id: int) -> ShiftView:
        """Take a place on a shift with one tap. A second tap changes nothing (PatrolError already)."""
        v = await self.view(shift_id)
        require(actor, "patrol_take", place_of(v.route))
        shift = v.shift
        self._check_open(shift)
        held = await self._held(shift.id, member.id)
        if held is not None and held.status == AssignmentStatus.ACTIVE:
            raise PatrolError("already")
        if await self._overlaps(member, shift):
            raise PatrolError("overlap")
        await self._claim_place(shift)
        now = self.clock()
        if held is None:
            held = ShiftAssignment(shift_id=shift.id, member_id=member.id, created_at=now)
            self.session.add(held)
        held.status = AssignmentStatus.ACTIVE
        held.dropped_at = held.drop_reason = held.confirmed_at = None
        held.reminded_1_at = None
        # Someone taking a shift within a day has just chosen it: no "are you coming?" reminder.
        held.reminded_24_at = now if shift.starts_at - now <= timedelta(hours=24) else None
        await self.session.flush()
        await self.refresh_roster_for(shift)
        return await self.view(shift_id)

    async def drop(self, actor: Actor, member: Member, shift_id: int, *, reason: str = "drop") -> ShiftView:
        """Leave a shift. reason: drop (only until 12 h before) | cant_make_it (the reminder's answer,
        tells the captains). Dropping below the minimum calls the pool to cover."""
        v = await self.view(shift_id)
        shift = v.shift
        self._check_open(shift)
        held = await self._held(shift.id, member.id)
        if held is None or held.status not in HELD:
            raise PatrolError("not_on_shift")
        now = self.clock()
        if reason == "drop" and held.status == AssignmentStatus.ACTIVE and shift.starts_at - now < DROP_LIMIT:
            raise PatrolError("too_late")
        was_active = held.status == AssignmentStatus.ACTIVE
        held.status = AssignmentStatus.DROPPED if was_active else AssignmentStatus.DECLINED
        held.dropped_at, held.drop_reason = now, reason
        await self._after_leaving(v, held, member, notify_captains=reason == "cant_make_it", reason=reason,
                                  was_active=was_active)
        return await self.view(shift_id)

    async def remove(self, actor: Actor, assignment_id: int) -> tuple[ShiftView, Member]:
        """A captain takes a volunteer off a shift (at any time before it starts)."""
        a = await self.session.get(ShiftAssignment, assignment_id)
        if a is None:
            raise LookupError("assignment")
        v = await self.view(a.shift_id)
        require(actor, "roster", place_of(v.route))
        self._check_open(v.shift)
        member = await self.members.get(a.member_id)
        assert member is not None
        if a.status not in HELD:
            raise PatrolError("already")
        was_active = a.status == AssignmentStatus.ACTIVE
        a.status, a.dropped_at, a.drop_reason = AssignmentStatus.DROPPED, self.clock(), "captain"
        await self._after_leaving(v, a, member, notify_captains=False, reason="captain", was_active=was_active)
        await self.events.record(VolunteerRemoved(v.id, a.id, member.id, self.clock()))
        return await self.view(v.id), member

    async def _after_leaving(self, v: ShiftView, held: ShiftAssignment, member: Member, *, notify_captains: bool,
                             reason: str, was_active: bool) -> None:
        shift = v.shift
        if was_active:
            await self._release_place(shift)
        await self.outbox.cancel(f"pt:s{shift.id}:r24:{member.id}")
        await self.outbox.cancel(f"pt:s{shift.id}:r1:{member.id}")
        await self.session.execute(update(ShiftSwap).where(
            ShiftSwap.assignment_id == held.id, ShiftSwap.status == "open").values(status="withdrawn"))
        await self.session.flush()
        if notify_captains:
            await self.events.record(VolunteerCantCome(shift.id, held.id, member.id))
        if was_active and shift.filled < shift.min_volunteers:
            await self._cover_call(v, held, exclude={member.id})
        await self.refresh_roster_for(shift)

    async def _cover_call(self, v: ShiftView, held: ShiftAssignment, exclude: set[int]) -> int:
        """Ask the community's volunteers to cover a shift that fell below its minimum: everyone in the
        pool who is not on it (nor the one leaving). Returns how many are asked."""
        on_shift = {m.id for a, m in v.people if a.status in HELD}
        stamp = f"{(held.dropped_at or self.clock()).timestamp():.0f}"
        asked = await self._pool_except(v.shift.community_id, exclude | on_shift)
        await self.events.record(CoverNeeded(v.id, held.id, stamp, asked))
        return len(asked)

    async def _pool_except(self, community_id: int, exclude: set[int]) -> tuple[int, ...]:
        """The volunteers of the community to ask, less `exclude` and people who erased their data (they
        are never written to)."""
        return tuple(p.id for p in await self.volunteer_pool(community_id)
                     if p.id not in exclude and p.data_deleted_at is None)

    async def confirm(self, member: Member, shift_id: int) -> tuple[ShiftView, bool]:
        """"I'll be there" on the 24 h reminder. Returns (view, changed)."""
        v = await self.view(shift_id)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        if held.confirmed_at is not None:
            return v, False
        held.confirmed_at = self.clock()
        return v, True

    # ---------------------------------------------------------------- captain assigns

    async def assign(self, actor: Actor, shift_id: int, member_id: int) -> tuple[ShiftView, Member]:
        """A captain puts a volunteer on a shift; the volunteer is asked to confirm (no place is taken
        until they say yes)."""
        v = await self.view(shift_id)
        require(actor, "roster", place_of(v.route))
        self._check_open(v.shift)
        member = await self.members.get(member_id)
        if member is None:
            raise LookupError("member")
        if not can(await self.members.actor(member), "patrol_take", place_of(v.route)):
            raise PatrolError("not_volunteer")
        held = await self._held(v.id, member.id)
        if held is not None and held.status in HELD:
            raise PatrolError("already")
        now = self.clock()
        if held is None:
            held = ShiftAssignment(shift_id=v.id, member_id=member.id, created_at=now)
            self.session.add(held)
        held.status, held.assigned_by, held.dropped_at, held.drop_reason = \
            AssignmentStatus.INVITED, actor.member_id, None, None
        await self.session.flush()
        await self.events.record(VolunteerAsked(v.id, held.id, member.id, actor.member_id, now))
        return await self.view(v.id), member

    async def answer_assignment(self, member: Member, assignment_id: int, yes: bool) -> tuple[ShiftView, bool]:
        """The volunteer's answer to a captain's assignment. Returns (view, changed)."""
        a = await self.session.get(ShiftAssignment, assignment_id)
        if a is None or a.member_id != member.id:
            raise LookupError("assignment")
        v = await self.view(a.shift_id)
        if a.status != AssignmentStatus.INVITED:
            return v, False
        self._check_open(v.shift)
        now = self.clock()
        if yes:
            if await self._overlaps(member, v.shift):
                raise PatrolError("overlap")
            await self._claim_place(v.shift)
            a.status = AssignmentStatus.ACTIVE
            a.reminded_24_at = now if v.shift.starts_at - now <= timedelta(hours=24) else None
        else:
            a.status, a.dropped_at, a.drop_reason = AssignmentStatus.DECLINED, now, "declined"
        await self.session.flush()
        if a.assigned_by:
            await self.events.record(AssignmentAnswered(v.id, a.id, member.id, a.assigned_by, yes, now))
        await self.refresh_roster_for(v.shift)
        return await self.view(v.id), True

    # ---------------------------------------------------------------- swaps

    async def request_swap(self, actor: Actor, member: Member, shift_id: int) -> tuple[ShiftSwap, int, bool]:
        """Offer my place to the pool. Returns (swap, offers sent, new). I stay on the shift until
        someone takes it."""
        v = await self.view(shift_id)
        self._check_open(v.shift)
        held = v.assignment_of(member.id)
        if held is None or held.status != AssignmentStatus.ACTIVE:
            raise PatrolError("not_on_shift")
        existing = (await self.session.execute(select(ShiftSwap).where(
            ShiftSwap.assignment_id == held.id, ShiftSwap.status == "open"))).scalar_one_or_none()
        if existing is not None:
            return existing, 0, False
        swap = ShiftSwap(shift_id=v.id, assignment_id=held.id, from_member_id=member.id, status="open",
                         created_at=self.clock())
        self.session.add(swap)
        await self.session.flush()
        on_shift = {m.id for a, m in v.people if a.status in HELD}
        asked = await self._pool_except(v.shift.community_id, on_shift)
        await self.events.record(SwapOffered(v.id, swap.id, member.id, asked))
        return swap, len(asked), True

    async def accept_swap(self, actor: Actor, member: Member, swap_id: int) -> ShiftView:
        """First to accept takes the place (one conditional UPDATE decides); both sides and the
        captains are told."""
        swap = await self.session.get(ShiftSwap, swap_id)
        if swap is None:
            raise LookupError("swap")
        v = await self.view(swap.shift_id)
        require(actor, "patrol_take", place_of(v.route))
        self._check_open(v.shift)
        if swap.from_member_id == member.id:
            raise PatrolError("own")
        mine = v.assignment_of(member.id)
        if mine is not None and mine.status == AssignmentStatus.ACTIVE:
            raise PatrolError("already")
        if await self._overlaps(member, v.shift):
            raise PatrolError("overlap")
        now = self.clock()
        claimed = await self.session.execute(
            update(ShiftSwap).where(ShiftSwap.id == swap.id, ShiftSwap.status == "open")
            .values(status="taken", taken_by=member.id, taken_at=now).execution_options(synchronize_session=False))
        if not getattr(claimed, "rowcount", 0):
            raise PatrolError("gone")
        old = await self.session.get(ShiftAssignment, swap.assignment_id)
        assert old is not None
        old.status, old.dropped_at, old.drop_reason = AssignmentStatus.SWAPPED, now, "swap"
        if mine is None:
            mine = ShiftAssignment(shift_id=v.id, member_id=member.id, created_at=now)
            self.session.add(mine)
        mine.status, mine.dropped_at, mine.drop_reason, mine.confirmed_at = AssignmentStatus.ACTIVE, None, None, None
        mine.reminded_1_at = None
        mine.reminded_24_at = now if v.shift.starts_at - now <= timedelta(hours=24) else None
        await self.outbox.cancel(f"pt:s{v.id}:r24:{swap.from_member_id}")
        await self.outbox.cancel(f"pt:s{v.id}:r1:{swap.from_member_id}")
        await self.session.flush()
        await self.events.record(SwapTaken(v.id, swap.id, member.id, swap.from_member_id))
        await self.refresh_roster_for(v.shift)
        return await self.view(v.id)

