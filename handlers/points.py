"""/points: a person's volunteer points this month and this year, their rank, and how points are
earned. Glue only: bot/services/points.py holds the rules."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.i18n import _
from bot.notices.points import mine_text
from bot.services.points import PointsService
from models import Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


@router.message(Command("points"))
async def points_cmd(message: Message, member: Member, points: PointsService) -> None:
    communities = await points.members.member_communities(member)
    if not communities:
        await message.answer(_("Points are for members of a community: join your building first with /start."))
        return
    month, year = await points.mine(member, communities[0])
    await message.answer(mine_text(member, month, year))
