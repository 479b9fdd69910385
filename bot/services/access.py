"""Who may do what, where: the one place every permission check lives.

Roles are scoped to the grid. Higher roles can do what lower ones can inside their scope:
admin ⊇ staff (community) ⊇ area head (area) ⊇ captain (building) ⊇ volunteer ⊇ resident.
Services call `require(actor, action, place)` on every action, because callback data comes from a
button anyone in a group can press and a client can forge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Level(IntEnum):
    NONE = 0
    RESIDENT = 1
    VOLUNTEER = 2
    CAPTAIN = 3
    AREA_HEAD = 4
    STAFF = 5
    ADMIN = 6


ROLE_LEVEL = {
    "resident": Level.RESIDENT,
    "volunteer": Level.VOLUNTEER,
    "captain": Level.CAPTAIN,
    "area_head": Level.AREA_HEAD,
    "staff": Level.STAFF,
    # relays (/contacts): residents write to their building's contacts; staff answer for the office
    "contacts": Level.RESIDENT,
    "relay_office": Level.STAFF,
    "admin": Level.ADMIN,
}
ROLES = tuple(ROLE_LEVEL)


@dataclass(frozen=True)
class Place:
    """A node of the grid. area_id/building_id are None above their level."""

    community_id: int
    area_id: int | None = None
    building_id: int | None = None

    @property
    def kind(self) -> str:
        if self.building_id is not None:
            return "building"
        if self.area_id is not None:
            return "area"
        return "community"


@dataclass(frozen=True)
class Grant:
    role: str
    community_id: int
    area_id: int | None = None
    building_id: int | None = None


@dataclass
class Actor:
    """A member as far as permissions go: their id, whether they are an admin, and their grants."""

    member_id: int
    telegram_id: int
    is_admin: bool = False
    grants: list[Grant] = field(default_factory=list)

    def level_at(self, place: Place) -> Level:
        if self.is_admin:
            return Level.ADMIN
        best = Level.NONE
        for g in self.grants:
            if g.community_id != place.community_id:
                continue
            level = ROLE_LEVEL[g.role]
            if g.role == "staff":
                applies = True
            elif g.role == "area_head":
                # Covers the area and every building in it (a building Place carries its area_id).
                applies = place.area_id is not None and g.area_id == place.area_id
            elif g.role == "captain":
                applies = place.building_id is not None and g.building_id == place.building_id
            elif g.role == "volunteer":
                applies = True
            else:  # resident
                applies = place.building_id is not None and g.building_id == place.building_id
            if applies and level > best:
                best = level
        return best

    def in_community(self, community_id: int) -> bool:
        return self.is_admin or any(g.community_id == community_id for g in self.grants)

    def communities(self) -> set[int]:
        return {g.community_id for g in self.grants}

    def roles(self, role: str) -> list[Grant]:
        return [g for g in self.grants if g.role == role]

    @property
    def top_level(self) -> Level:
        if self.is_admin:
            return Level.ADMIN
        return max((ROLE_LEVEL[g.role] for g in self.grants), default=Level.NONE)


class NotAllowed(Exception):
    """Raised when an actor may not take an action at a place. `needed` names the role needed."""

    def __init__(self, action: str, place: Place | None = None, needed: Level | None = None) -> None:
        super().__init__(action)
        self.action = action
        self.place = place
        self.needed = needed


# The minimum level an action needs at its place. Actions not listed are refused.
ACTIONS: dict[str, Level] = {
    # reporting and triage
    "report": Level.RESIDENT,
    "view_issue": Level.RESIDENT,  # plus: reporters and followers see their own
    "view_reporter": Level.CAPTAIN,
    "triage": Level.CAPTAIN,  # accept, assign, deadline, reject, resolve, note, ask the reporter
    "set_triage": Level.STAFF,  # 三事分流 is set by staff
    "verify": Level.AREA_HEAD,  # 验收销号: check a fix and close it out, or send it back; spot checks
    "refer": Level.AREA_HEAD,  # refer to an enforcement department, record its outcome (refused to comply)
    "queue": Level.CAPTAIN,
    "export": Level.AREA_HEAD,  # area heads for their area, staff for the community
    "export_reporter": Level.STAFF,
    # the web dashboard (the office's desk): area heads for their area, staff for the community
    "dashboard": Level.AREA_HEAD,
    "community_settings": Level.STAFF,  # categories, escalation hours, report times (the desk's Settings)
    # people and chats
    "members": Level.CAPTAIN,
    "remove_member": Level.CAPTAIN,
    "handover_captain": Level.AREA_HEAD,
    "approve_join": Level.CAPTAIN,
    "link_chat": Level.CAPTAIN,
    # patrols, cleaning days, announcements, digests
    "patrol_take": Level.VOLUNTEER,
    "roster": Level.CAPTAIN,
    "cleanday": Level.CAPTAIN,
    "announce": Level.CAPTAIN,
    "digest": Level.AREA_HEAD,
    # satisfaction surveys: staff start them; captains see their buildings' progress and record
    # answers given door to door
    "campaign": Level.STAFF,  # 专项整治: start a campaign
    "campaign_view": Level.CAPTAIN,  # its progress: figures per building, no names
    "campaign_issue": Level.CAPTAIN,  # add an issue to a campaign or take it out, at the place
    "survey": Level.STAFF,
    "survey_progress": Level.CAPTAIN,
    "survey_record": Level.CAPTAIN,
    # consultations (民意征集): captains for their buildings, area heads their area, staff anywhere
    "consult": Level.CAPTAIN,
    "consult_vote": Level.RESIDENT,  # plus: the voter must belong to a household of the building
    "consult_record": Level.CAPTAIN,  # 入户: an answer recorded in person on a household's behalf
    # relays (/contacts): residents write to their building's contacts; staff answer for the office
    "contacts": Level.RESIDENT,
    "relay_office": Level.STAFF,
    # inspections, scores and rankings: area heads in their area, staff anywhere; whoever is given a
    # building's spot check this week may inspect it too (checked in bot/services/inspections.py)
    "inspect": Level.AREA_HEAD,
    "checklist": Level.AREA_HEAD,
    "spot_checks": Level.STAFF,
    "scores": Level.AREA_HEAD,
    "admin": Level.ADMIN,
}

# Who may invite whom: the inviter's level needed at the place to grant a role there.
GRANT_NEEDS: dict[str, Level] = {
    "resident": Level.CAPTAIN,
    "volunteer": Level.CAPTAIN,
    "captain": Level.AREA_HEAD,
    "area_head": Level.STAFF,
    "staff": Level.STAFF,
}

# The place level each role is granted at.
ROLE_PLACE_KIND = {
    "resident": "building",
    "volunteer": "community",
    "captain": "building",
    "area_head": "area",
    "staff": "community",
}


def can(actor: Actor, action: str, place: Place) -> bool:
    needed = ACTIONS.get(action)
    if needed is None:
        return False
    if action in {"link_chat", "members", "queue", "roster", "cleanday", "announce"} and \
            place.kind != "building":
        # Above a building these need the role that owns that level.
        needed = max(needed, Level.AREA_HEAD if place.kind == "area" else Level.STAFF)
    if action in {"export", "dashboard"} and place.kind == "community":
        needed = Level.STAFF
    if action == "report":
        # Anyone who belongs to the community may report anywhere in it.
        return actor.in_community(place.community_id)
    return actor.level_at(place) >= needed


def require(actor: Actor, action: str, place: Place) -> None:
    if not can(actor, action, place):
        raise NotAllowed(action, place, ACTIONS.get(action))


def can_grant(actor: Actor, role: str, place: Place) -> bool:
    needed = GRANT_NEEDS.get(role)
    if needed is None or ROLE_PLACE_KIND[role] != place.kind:
        return False
    if role == "volunteer" and not actor.is_admin:
        # Volunteers belong to the whole community, but captains recruit them: a captain of any
        # building of the community may invite (and remove) its volunteers.
        return any(g.community_id == place.community_id and ROLE_LEVEL[g.role] >= needed
                   for g in actor.grants)
    return actor.level_at(place) >= needed


def require_grant(actor: Actor, role: str, place: Place) -> None:
    if not can_grant(actor, role, place):
        raise NotAllowed(f"grant_{role}", place, GRANT_NEEDS.get(role))
