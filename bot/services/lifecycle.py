"""The issue's life in one table: which actions each status allows, where each action takes the issue,
and who may take it.

`RULES[action]` says in which statuses the action is taken (`statuses`), which status changes it makes
(`moves`, from → to; an action whose moves are empty never changes the status), which right at the
issue's place it needs (`needs`: an action of bot/services/access.py, or REPORTER, FOLLOWER, SYSTEM,
ANYONE) and, for the three ways (三事分流), which way it is for (`way`).

Every service guard asks `allows(action, issue)`, every status change goes through
`transition(issue, action, to)` (a change the table does not list is a bug: IllegalTransition), and
the buttons under a card or a view are chosen from `available_actions(issue, viewer)`. Where on the
card a button sits is the keyboards' business (bot/keyboards/issues.py); whether it is there at all
is this table's. tests/unit/test_lifecycle.py walks it against the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.services.access import Actor, Place, can
from models import Issue, IssueStatus

S = IssueStatus

# Statuses in which the team works on an issue (the card's work buttons act).
WORKABLE = (S.NEW, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED, S.REFERRED)
ALL_STATUSES = (S.NEW, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED, S.REFERRED, S.RESOLVED, S.VERIFYING, S.CLOSED,
                S.REJECTED, S.DUPLICATE, S.WITHDRAWN)

# `needs` beyond access.py's actions
REPORTER = "reporter"  # only the person who reported it
FOLLOWER = "follower"  # the reporter or a follower
VIEWER = "viewer"  # someone who may see the issue and does not follow it yet
ANYONE = "anyone"  # whoever may see the issue (the services check the rest)
SYSTEM = "system"  # the bot itself (jobs, a role that ended): never a button


class IssueAction(StrEnum):
    # the team (the card in the team chat, /queue, /issue)
    ACCEPT = "accept"
    ASSIGN = "assign"
    DEADLINE = "deadline"
    REJECT = "reject"
    DUPLICATE = "duplicate"
    RESOLVE = "resolve"
    TRIAGE = "triage"  # 三事分流, decided by staff (or captains where the community lets them)
    PROPOSE = "propose"  # a captain proposes the way; staff decide
    NOTE = "note"
    ASK = "ask"  # ❓ a question to the reporter
    SETTLE = "settle"  # 🤝 a private matter settled
    TOUCH = "touch"  # 📞 put the sides of a private matter in touch (bot/services/relays.py)
    CONSULT = "consult"  # 🗳 a consultation about a joint matter
    REFER = "refer"  # 📨 to an enforcement or service department
    REFUSED = "refused"  # 🚫 the responsible party refuses to comply
    NOTICE = "notice"  # 📄 a rectification notice
    VERIFY = "verify"  # ✅ checked and closed out (or a spot check's outcome)
    NOT_ACCEPTED = "not_accepted"  # ❌ the check failed: back to work
    DETAILS = "details"
    # the reporter and followers
    CONFIRM = "confirm"  # 👍 fixed, thank you
    REOPEN = "reopen"  # 👎 not fixed
    REBOUND = "rebound"  # the problem came back: a new report reopens a fixed issue
    RATE = "rate"
    WITHDRAW = "withdraw"
    EDIT = "edit"
    ANSWER = "answer"  # the reporter answers a question of the team
    FOLLOW = "follow"
    # the bot itself
    UNASSIGN = "unassign"  # the assignee lost their last role in the community
    EXPIRE = "expire"  # nobody answered "is it fixed?" within the window


class IllegalTransition(RuntimeError):
    """A service tried a status change the table does not list (a bug, never the user's doing)."""


def _moves(froms: tuple[str, ...], *to: str) -> frozenset[tuple[str, str]]:
    return frozenset((f, t) for f in froms for t in to if f != t)


@dataclass(frozen=True)
class Rule:
    statuses: tuple[str, ...]
    needs: str
    moves: frozenset[tuple[str, str]] = frozenset()
    way: str | None = None  # only for issues of this way (三事分流: office | joint | residents)


A = IssueAction
RULES: dict[IssueAction, Rule] = {
    A.ACCEPT: Rule((S.NEW,), "triage", _moves((S.NEW,), S.ACCEPTED)),
    A.ASSIGN: Rule(WORKABLE, "triage", _moves(WORKABLE, S.IN_PROGRESS)),
    A.DEADLINE: Rule(WORKABLE, "triage"),
    A.REJECT: Rule(WORKABLE, "triage", _moves(WORKABLE, S.REJECTED)),
    A.DUPLICATE: Rule(WORKABLE, "triage", _moves(WORKABLE, S.DUPLICATE)),
    A.RESOLVE: Rule(WORKABLE, "triage", _moves(WORKABLE, S.RESOLVED)),
    # Staff may correct the way of any issue (the ledger's figures count it); routing follows only
    # while it is worked on.
    A.TRIAGE: Rule(ALL_STATUSES, "set_triage"),
    A.PROPOSE: Rule(WORKABLE, "triage"),
    A.NOTE: Rule(ALL_STATUSES, "triage"),
    A.ASK: Rule(ALL_STATUSES, "triage"),
    A.SETTLE: Rule(WORKABLE, "triage", _moves(WORKABLE, S.CLOSED), way="residents"),
    A.TOUCH: Rule(WORKABLE, "triage", way="residents"),
    A.CONSULT: Rule(WORKABLE, "consult", way="joint"),
    A.REFER: Rule(WORKABLE, "refer", _moves(WORKABLE, S.REFERRED)),
    A.REFUSED: Rule(WORKABLE, "refer", _moves(WORKABLE, S.REFERRED)),
    A.NOTICE: Rule(WORKABLE, "triage"),
    # A closed issue picked for a spot check (抽查) is verified again without a status change.
    A.VERIFY: Rule((S.VERIFYING, S.CLOSED), "verify", _moves((S.VERIFYING,), S.CLOSED)),
    A.NOT_ACCEPTED: Rule((S.VERIFYING, S.CLOSED), "verify", _moves((S.VERIFYING, S.CLOSED), S.REOPENED)),
    A.DETAILS: Rule(ALL_STATUSES, ANYONE),
    # Confirmed: closed out, or waiting for the office's check (验收) when the issue needs one.
    A.CONFIRM: Rule((S.RESOLVED,), REPORTER, _moves((S.RESOLVED,), S.CLOSED, S.VERIFYING)),
    A.REOPEN: Rule((S.RESOLVED,), FOLLOWER, _moves((S.RESOLVED,), S.REOPENED)),
    A.REBOUND: Rule((S.RESOLVED, S.CLOSED), VIEWER, _moves((S.RESOLVED, S.CLOSED), S.REOPENED)),
    A.RATE: Rule((S.VERIFYING, S.CLOSED), REPORTER),
    A.WITHDRAW: Rule((S.NEW,), REPORTER, _moves((S.NEW,), S.WITHDRAWN)),
    A.EDIT: Rule((S.NEW,), REPORTER),
    A.ANSWER: Rule(ALL_STATUSES, REPORTER),
    A.FOLLOW: Rule(IssueStatus.OPEN, VIEWER),
    A.UNASSIGN: Rule(IssueStatus.OPEN, SYSTEM, _moves((S.IN_PROGRESS,), S.ACCEPTED)),
    A.EXPIRE: Rule((S.RESOLVED,), SYSTEM, _moves((S.RESOLVED,), S.CLOSED, S.VERIFYING)),
}

# Every status change any action makes: (from, to) → the actions that make it.
TRANSITIONS: dict[tuple[str, str], tuple[IssueAction, ...]] = {}
for _action, _rule in RULES.items():
    for _move in sorted(_rule.moves):
        TRANSITIONS[_move] = (*TRANSITIONS.get(_move, ()), _action)


def allows(action: IssueAction, issue: Issue) -> bool:
    """Whether the issue's status (and way) allows the action — not who may take it."""
    rule = RULES[action]
    return issue.status in rule.statuses and (rule.way is None or issue.triage == rule.way)


def transition(issue: Issue, action: IssueAction, to: str) -> str:
    """Move the issue to `to` by `action`; returns the status it had. Only moves the table lists."""
    old = issue.status
    rule = RULES[action]
    # Staying in the status is no transition (assigned again, referred to another department).
    if (old, to) not in rule.moves and not (old == to and old in rule.statuses and any(
            t == to for _f, t in rule.moves)):
        raise IllegalTransition(f"{action}: {old} → {to}")
    issue.status = to
    return old


# The rights a viewer may hold at an issue's place (the `needs` that are access.py actions).
RIGHTS = ("triage", "set_triage", "refer", "verify", "consult")


@dataclass(frozen=True)
class Viewer:
    """Who looks at an issue: the access.py actions they may take at its place, and how they relate to it."""

    rights: frozenset[str] = frozenset()
    is_reporter: bool = False
    is_follower: bool = False

    @classmethod
    def of(cls, actor: Actor, issue: Issue, *, is_follower: bool = False) -> Viewer:
        place = Place(issue.community_id, issue.area_id, issue.building_id)
        return cls(frozenset(r for r in RIGHTS if can(actor, r, place)),
                   is_reporter=issue.reporter_id == actor.member_id, is_follower=is_follower)

    def may(self, needs: str) -> bool:
        if needs == ANYONE:
            return True
        if needs == REPORTER:
            return self.is_reporter
        if needs == FOLLOWER:
            return self.is_reporter or self.is_follower
        if needs == VIEWER:
            return not (self.is_reporter or self.is_follower)
        if needs == SYSTEM:
            return False
        return needs in self.rights


# The card in a team chat: anyone in the chat may press its buttons, so it offers what the status allows
# to the team, and the service checks the person who presses.
CARD = Viewer(frozenset(RIGHTS))


def available_actions(issue: Issue, viewer: Viewer) -> tuple[IssueAction, ...]:
    """What this viewer may do with the issue now, in the table's order."""
    return tuple(a for a, rule in RULES.items() if allows(a, issue) and viewer.may(rule.needs))


__all__ = [
    "ALL_STATUSES",
    "CARD",
    "RULES",
    "TRANSITIONS",
    "WORKABLE",
    "IllegalTransition",
    "IssueAction",
    "Rule",
    "Viewer",
    "allows",
    "available_actions",
    "transition",
]
