"""Referral to enforcement (转办): an issue whose owner will not or cannot fix it goes to a department
configured in the structure file (`departments:`). It stays in the ledger as "referred" with the
department, the date and the department's own deadline; reminders and escalation follow that deadline
(the office is told when the department is late). When the department reports back, staff record the
outcome: fixed (the normal 🔧 Resolve → confirmation → verification path) or "refused to comply",
which refers it on to the department the community chose for that category
(`community.settings.referral.refused_to: {category: department key, default: key}`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.access import Actor
from bot.services.events import Event
from bot.services.lifecycle import IssueAction, allows
from bot.services.structure import ImportReport, StructureError, section
from bot.services.triage import InvalidInput, TriageService, deadline_after_days
from models import DEPARTMENT_KINDS, Community, Department, Issue, IssueStatus

REFER_DAYS = (3, 7, 14)
REFUSED_DAYS = 7


@dataclass(frozen=True)
class IssueReferred(Event):
    """Referred to a department: its liaison group (if any) gets the problem, the followers are told."""

    issue_id: int
    event_id: int
    department_id: int
    place: str


@dataclass(frozen=True)
class RefusalUndecided(Event):
    """The responsible party refuses to comply and no department is set for the category: the office decides."""

    issue_id: int
    refusals: int


@dataclass
class Referred:
    issue: Issue
    changed: bool
    department: Department | None = None


def refused_to(community: Community, category: str) -> str | None:
    raw = ((community.settings or {}).get("referral") or {}).get("refused_to") or {}
    if not isinstance(raw, dict):
        return None
    value = raw.get(category, raw.get("default"))
    return str(value) if value else None


class ReferralService(TriageService):
    async def departments(self, community_id: int) -> list[Department]:
        return list((await self.session.execute(select(Department).where(
            Department.community_id == community_id, Department.active.is_(True)).order_by(Department.id))).scalars())

    async def department(self, issue: Issue, department_id: int) -> Department:
        dept = await self.session.get(Department, department_id)
        if dept is None or dept.community_id != issue.community_id or not dept.active:
            raise InvalidInput("no_department")
        return dept

    async def refer(self, actor: Actor, issue_id: int, department_id: int, days: int) -> Referred:
        """Refer to a department with its own deadline (days from now); staff and area heads."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "refer", issue)
        if days not in REFER_DAYS:
            raise InvalidInput("days")
        dept = await self.department(issue, department_id)
        if not allows(IssueAction.REFER, issue):
            return Referred(issue, False, dept)
        if issue.status == IssueStatus.REFERRED and issue.department_id == dept.id:
            return Referred(issue, False, dept)
        await self._refer(issue, dept, days, actor.member_id)
        return Referred(issue, True, dept)

    async def _refer(self, issue: Issue, dept: Department, days: int, actor_id: int | None,
                     action: IssueAction = IssueAction.REFER) -> None:
        community = await self.community_of(issue)
        now = self.clock()
        issue.department_id = dept.id
        issue.referred_at = now
        issue.overdue = False
        event = await self._set_status(issue, action, IssueStatus.REFERRED, actor_id, kind="referred", note=dept.key,
                                       public=False)
        await self._set_deadline(issue, deadline_after_days(now, days, community.timezone), actor_id, public=False)
        await self._cancel_reminders(issue)
        await self.events.record(IssueReferred(issue.id, event.id, dept.id, await self.place_name(issue)))
        await self.refresh_card(issue)

    async def refused(self, actor: Actor, issue_id: int) -> Referred:
        """"Refused to comply" (拒不整改): recorded, and the issue goes on to the department the community
        chose for its category; without one, the office is told to decide."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "refer", issue)
        if not allows(IssueAction.REFUSED, issue):
            return Referred(issue, False)
        community = await self.community_of(issue)
        current = await self.session.get(Department, issue.department_id) if issue.department_id else None
        issue.refusals += 1
        await self._event(issue, "refused", actor.member_id, note=current.key if current else None, public=False)
        target_key = refused_to(community, issue.category)
        target = (await self.session.execute(select(Department).where(
            Department.community_id == issue.community_id, Department.key == target_key))).scalar_one_or_none() \
            if target_key else None
        if target is not None and (current is None or target.id != current.id):
            await self._refer(issue, target, REFUSED_DAYS, actor.member_id, IssueAction.REFUSED)
            return Referred(issue, True, target)
        await self.events.record(RefusalUndecided(issue.id, issue.refusals))
        await self.refresh_card(issue)
        return Referred(issue, True, None)


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)
    name_zh: str = Field(default="", max_length=128)
    kind: str = "other"
    chat: int | None = None


@section("departments")
async def import_departments(session: AsyncSession, community: Community, data: Any, report: ImportReport) -> None:
    """`departments:` in the structure file: a list of {key, name, name_zh, kind, chat}. Matched by key;
    departments the file no longer lists are deactivated (their referrals stay in the ledger)."""
    if not isinstance(data, list):
        raise StructureError("departments: expected a list")
    existing = {d.key: d for d in (await session.execute(select(Department).where(
        Department.community_id == community.id))).scalars()}
    seen: set[str] = set()
    for i, raw in enumerate(data):
        try:
            d_in = DepartmentIn.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise StructureError(f"departments.{i}.{where}: {err['msg']}") from None
        if d_in.kind not in DEPARTMENT_KINDS:
            raise StructureError(f"departments.{i}.kind: one of {', '.join(DEPARTMENT_KINDS)}")
        if d_in.key in seen:
            raise StructureError(f"departments.{i}: duplicate key {d_in.key!r}")
        seen.add(d_in.key)
        dept = existing.get(d_in.key)
        if dept is None:
            dept = Department(community_id=community.id, key=d_in.key)
            session.add(dept)
        dept.name, dept.name_zh, dept.kind, dept.chat_id, dept.active = (
            d_in.name, d_in.name_zh, d_in.kind, d_in.chat, True)
    for key, dept in existing.items():
        if key not in seen:
            dept.active = False
    await session.flush()


__all__ = [
    "REFER_DAYS",
    "IssueReferred",
    "ReferralService",
    "Referred",
    "RefusalUndecided",
    "import_departments",
    "refused_to",
]
