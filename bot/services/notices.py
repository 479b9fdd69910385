"""The rectification notice (限期整改通知书) for a responsible party (an owner, a shop, a household) to
hand over or post: the rules. `NoticeService.prepare` checks the right, checks the requirement and
records the notice on the issue's timeline; it returns what the notice is about. The wording and the PDF
(in the community's language, a CJK font, the layout) are bot/notices/rectification.py's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.services.access import Actor
from bot.services.triage import InvalidInput, TriageService
from models import Community, Issue

MAX_REQUIREMENT = 500


@dataclass
class NoticeFacts:
    """What a rectification notice says, before words: the issue (photos loaded), its community, the place
    in full, the requirement, when it was made and the outbox key of its delivery (one per notice recorded)."""

    issue: Issue
    community: Community
    place: str
    requirement: str
    at: datetime
    key: str


class NoticeService(TriageService):
    async def prepare(self, actor: Actor, issue_id: int, requirement: str) -> NoticeFacts:
        """Captains (of its building) and above: the notice's facts, recorded on the timeline."""
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue)
        requirement = requirement.strip()
        if not requirement:
            raise InvalidInput("empty")
        if len(requirement) > MAX_REQUIREMENT:
            raise InvalidInput("too_long")
        community = await self.community_of(issue)
        place = await self.place_name(issue)
        if issue.place_note:
            place = f"{place}, {issue.place_note}"
        at = self.clock()
        event = await self._event(issue, "notice", actor.member_id, note=requirement, public=False)
        return NoticeFacts(issue, community, place, requirement, at, f"issue_notice:{issue.id}:{event.id}")


__all__ = ["MAX_REQUIREMENT", "NoticeFacts", "NoticeService"]
