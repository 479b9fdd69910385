"""Powers and traces end with the role: hooks capabilities register so that, when a person's roles
shrink (removed in /members, left a building, handed over a captaincy, dropped by a re-import) or they
erase their data, what came with the role ends too — an issue assigned to them goes back to the
captains, a check-in location is forgotten. MembersService runs the hooks; this module has no
dependencies so every capability can import it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from models import Member


@dataclass(frozen=True)
class Erased:
    """What an erasure hook may need to find the person's traces: the values before they were wiped."""

    member_id: int
    telegram_id: int
    name: str
    community_ids: frozenset[int]


# (session, clock, member): the member's roles have just shrunk (or ended).
RoleEndHook = Callable[[AsyncSession, Clock, Member], Awaitable[None]]
# (session, clock, member, erased): the member has just erased their data; runs after the role hooks.
EraseHook = Callable[[AsyncSession, Clock, Member, Erased], Awaitable[None]]

ROLE_END_HOOKS: dict[str, RoleEndHook] = {}
ERASE_HOOKS: dict[str, EraseHook] = {}


def on_roles_ended(name: str) -> Callable[[RoleEndHook], RoleEndHook]:
    def register(fn: RoleEndHook) -> RoleEndHook:
        ROLE_END_HOOKS[name] = fn
        return fn

    return register


def on_erased(name: str) -> Callable[[EraseHook], EraseHook]:
    def register(fn: EraseHook) -> EraseHook:
        ERASE_HOOKS[name] = fn
        return fn

    return register


__all__ = ["ERASE_HOOKS", "ROLE_END_HOOKS", "EraseHook", "Erased", "RoleEndHook", "on_erased", "on_roles_ended"]
