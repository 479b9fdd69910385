"""The bot in group chats: being added, /link with a code, refusals, /unlink, supergroup migration,
anonymous admins, and leaving groups nobody linked within a day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.services.access import Place
from bot.services.chats import ChatsService
from models import Building, ChatLink, GroupChat, Invite
from tests.conftest import BotHarness
from tests.e2e.test_onboarding import _make_invite, groups_known  # noqa: F401 - fixture

NEW_GROUP = -1001999000001


async def _link_of(harness: BotHarness, chat_id: int) -> ChatLink | None:
    async with harness.sessions() as s:
        return await ChatsService(s, harness.clock).link_of(chat_id)


async def _b2(harness: BotHarness) -> Building:
    async with harness.sessions() as s:
        return (await s.execute(select(Building).where(Building.key == "b2"))).scalar_one()


async def test_added_to_a_group_explains_how_to_link(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(NEW_GROUP, wang, title="Building 2 team"))
    text = tg.last(NEW_GROUP).text
    assert text.startswith("Hello! I help this neighbourhood handle reports, patrols and cleaning days.")
    assert "<code>/link CODE</code>" in text
    assert "If nobody links this group within a day, I will leave it." in text
    # Added again to an already linked group: nothing to explain.
    await harness.feed(up.bot_added(-1001000000011, wang))
    assert tg.sent(-1001000000011) == []


async def test_link_unlink_and_refusals(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(NEW_GROUP, wang, title="Building 2 team"))
    invite = await _make_invite(harness, 3002, "", "b2", purpose="link")

    await harness.feed(up.text(wang, "/link", NEW_GROUP))
    assert tg.last(NEW_GROUP).text.startswith("Send <code>/link CODE</code> with a code from /invite")

    # Someone who is not a captain of Building 2 (captain of Building 1) is refused politely.
    zhang = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(zhang, f"/link {invite.code}", NEW_GROUP))
    # The group is not linked yet: the sender's language is used.
    assert tg.last(NEW_GROUP).text == "Only the building's captains (or the area head and office) can do this."
    assert await _link_of(harness, NEW_GROUP) is None
    async with harness.sessions() as s:
        assert (await s.get(Invite, invite.id)).uses == 0  # type: ignore[union-attr] # the refusal used nothing

    await harness.feed(up.text(wang, f"/link {invite.code}", NEW_GROUP))
    # Linked: the group now speaks the community's language.
    assert tg.last(NEW_GROUP).text == "✅ 本群已绑定为 Building 2 的工作群，那里的新上报将推送到这里。"
    link = await _link_of(harness, NEW_GROUP)
    assert link is not None and (link.place_kind, link.kind) == ("building", "team")
    async with harness.sessions() as s:
        chats = ChatsService(s, harness.clock)
        b2 = await _b2(harness)
        assert await chats.chat_for(Place(b2.community_id, b2.area_id, b2.id), "team") == NEW_GROUP

    # The code worked once.
    await harness.feed(up.text(wang, f"/link {invite.code}", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == "该邀请链接已达到使用次数上限，请索取新的链接。"
    await harness.feed(up.text(wang, "/link not-a-code", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == "该邀请链接无效，请索取新的链接。"

    # Unlinking: refused for a volunteer, done for the captain.
    await harness.feed(up.text(up.user(4001, "Vol", "en"), "/unlink", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == "仅楼栋长（或片长、社区办公室）可操作。"
    await harness.feed(up.text(wang, "/unlink", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == "本群已解除绑定，我将不再在这里发消息。"  # said in the group's language
    assert await _link_of(harness, NEW_GROUP) is None
    await harness.feed(up.text(wang, "/unlink", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == "This group is not linked to any place."


async def test_join_code_is_not_a_link_code(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(NEW_GROUP, wang))
    invite = await _make_invite(harness, 3002, "resident", "b2")
    await harness.feed(up.text(wang, f"/link {invite.code}", NEW_GROUP))
    assert tg.last(NEW_GROUP).text == ("This is an invite link for a person, not a group code. Get a group code in "
                                       "a private chat with me: /invite → 🔗 Group link code.")
    assert await _link_of(harness, NEW_GROUP) is None


async def test_anonymous_admin_link(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(NEW_GROUP, wang))
    invite = await _make_invite(harness, 3002, "", "b2", purpose="link")
    await harness.feed(up.anonymous_admin(NEW_GROUP, f"/link {invite.code}"))
    assert tg.last(NEW_GROUP).text == "Please send /link as yourself, not anonymously as the group."
    assert await _link_of(harness, NEW_GROUP) is None


async def test_supergroup_migration_keeps_the_link(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    old, new = -555001, -1001555000001
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(old, wang, title="B2 team", chat_type="group"))
    invite = await _make_invite(harness, 3002, "", "b2", purpose="link")
    await harness.feed(up.text(wang, f"/link {invite.code}", old))
    await harness.feed(up.migrate_to_supergroup(old, new, wang))
    assert await _link_of(harness, old) is None
    link = await _link_of(harness, new)
    assert link is not None and link.kind == "team"
    # A day later the stale-group job leaves neither the old id nor the new one.
    harness.clock.advance(days=2)
    assert await harness.tick() == []
    assert tg.calls_of("leaveChat") == []
    async with harness.sessions() as s:
        assert (await s.get(GroupChat, new)).left_at is None  # type: ignore[union-attr]


async def test_unlinked_groups_are_left_after_a_day(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    wang = up.user(3002, "Wang", "en")
    await harness.feed(up.bot_added(NEW_GROUP, wang))
    harness.clock.advance(hours=23)
    await harness.tick()
    assert tg.calls_of("leaveChat") == []
    harness.clock.advance(hours=2)
    await harness.tick()
    assert [c.chat_id for c in tg.calls_of("leaveChat")] == [NEW_GROUP]
    # Linked groups (the sample's team chats) are never left.
    assert all(c.chat_id == NEW_GROUP for c in tg.calls_of("leaveChat"))
    await harness.tick()
    assert len(tg.calls_of("leaveChat")) == 1


async def test_group_help_points_to_the_private_chat(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    await harness.feed(up.text(up.user(3001, "Zhang", "en"), "/help", -1001000000011))
    assert tg.last(-1001000000011).text.startswith("请在私聊中使用我：打开 @")
