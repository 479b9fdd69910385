"""Referral to enforcement (转办) end to end: a blocked fire exit is referred to the fire station, whose
liaison group gets the card with photos (no names); the owner refuses to comply, so it goes on to urban
management; the department's deadline drives the office's reminder; the fix then takes the normal
resolve → confirm → verification path, and the weekly report lists the refusal."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.services import build_services
from bot.services.referrals import import_departments
from bot.services.structure import ImportReport
from models import Community, Department, IssueStatus
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import (
    OFFICE,
    STAFF,
    TEAM_B1,
    alert,
    card,
    file_issue,
    groups,
    issue,
    person,
    press,
    press_private,
    set_locale,
    settle,
)

FIRE_LIAISON = -1001000000771


async def departments(harness: BotHarness) -> None:
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        await import_departments(s, c, [
            {"key": "fire", "name": "Fire station", "name_zh": "消防救援站", "kind": "fire", "chat": FIRE_LIAISON},
            {"key": "urban", "name": "Urban management", "name_zh": "综合执法队", "kind": "urban_management"},
        ], ImportReport())
        await s.execute(update(Community).where(Community.id == c.id).values(
            settings={**(c.settings or {}), "referral": {"refused_to": {"default": "urban"}}}))
        await s.commit()


async def test_fire_exit_referred_refused_then_fixed(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    harness.up.group(FIRE_LIAISON, "Fire station liaison")
    tg = harness.tg
    await departments(harness)
    ann = await person(harness, unique_id(), "Ann Secret", resident_of="b1")
    wu = await person(harness, STAFF, "Office Wu")
    harness.record({ann.id: "Ann (resident)", wu.id: "Office Wu", TEAM_B1: "Building 1 team chat",
                    OFFICE: "Office chat", FIRE_LIAISON: "Fire station liaison group"})
    harness.note("A shop blocks the fire exit of Building 1; Office Wu refers it to the fire station.")
    issue_id = await file_issue(harness, ann, category="fire_lane", photos=2, description="Shop goods block exit 2")
    the_card = card(harness)
    await press(harness, the_card, wu, "More")
    await press(harness, the_card, wu, "Refer to a department")
    await press(harness, the_card, wu, "Fire station")
    await press(harness, the_card, wu, "7 days")
    assert alert(harness) == "📨 Referred to Fire station."
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.REFERRED and found.referred_at is not None and found.deadline_at is not None
    liaison = tg.sent(FIRE_LIAISON)
    assert liaison and liaison[0].method == "sendMediaGroup"
    text = "\n".join(c.plain or "" for c in liaison)
    assert f"#{found.reference}" in text and "Fire station" in text and "Shop goods block exit 2" in text
    assert "Ann" not in text and "Secret" not in text
    assert any("passed to Fire station" in t for t in tg.texts(ann.id, as_plain=True))
    await settle(harness)
    assert "referred to Fire station" in (tg.current(TEAM_B1, the_card.message_id).caption or "")

    harness.note("The shop refuses to comply: the refusal is recorded and it goes on to urban management.")
    await press(harness, the_card, wu, "Refused to comply")
    assert "referred on to Urban management" in alert(harness)
    found = await issue(harness, issue_id)
    async with harness.sessions() as s:
        urban = (await s.execute(select(Department).where(Department.key == "urban"))).scalar_one()
    assert found.refusals == 1 and found.department_id == urban.id and found.status == IssueStatus.REFERRED
    refused_day = harness.clock().date()

    harness.note("Urban management is late: the office is told; the issue does not climb the grid.")
    harness.clock.advance(days=8)
    await harness.tick()
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.escalation_level == 0
    assert any("referred to a department, and its deadline passed" in t for t in tg.texts(OFFICE, as_plain=True))

    harness.note("Urban management reports it cleared: staff record the fix; the reporter confirms; the check "
                 "follows.")
    await settle(harness)
    await press(harness, the_card, wu, "Resolve")
    await harness.feed(harness.up.photo(wu, file_id="after-ref"))
    await press_private(harness, wu, "Resolve without a note")
    await harness.deliver()
    await press(harness, tg.last(ann.id), ann, "Fixed, thank you")
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.VERIFYING

    async with harness.sessions() as s:
        digests = build_services(s, harness.clock, harness.dp["settings"]).digests
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        report = await digests.period(c, "weekly", refused_day)
        en = "\n".join(digests.render_period(report, "en"))
        zh = "\n".join(digests.render_period(report, "zh_Hans"))
    assert f"Refused to comply 1: #{found.reference} (Fire station)" in en, en
    assert f"#{found.reference}（消防救援站）" in zh or f"#{found.reference} (消防救援站)" in zh, zh
    harness.save_transcript("referral_en", "A blocked fire exit is referred to the fire station (English)")


async def test_fire_exit_referred_refused_then_fixed_zh(harness: BotHarness, community: Any) -> None:
    """The same referral, in Chinese (the community's language and the people's): 转办 → 拒不整改 → 转办综合执法队
    → 超期提醒办公室 → 办结 → 上报人确认 → 待验收."""
    await set_locale(harness, "zh_Hans")
    groups(harness)
    harness.up.group(FIRE_LIAISON, "消防联络群")
    tg = harness.tg
    await departments(harness)
    ann = await person(harness, unique_id(), "安女士", "zh-hans", resident_of="b1")
    wu = await person(harness, STAFF, "吴主任", "zh-hans")
    harness.record({ann.id: "安女士（居民）", wu.id: "吴主任", TEAM_B1: "1号楼工作群", OFFICE: "社区办公室群",
                    FIRE_LIAISON: "消防救援站联络群"})
    harness.note("商铺货物堵住1号楼消防通道；吴主任将其转办消防救援站。")
    issue_id = await file_issue(harness, ann, category="fire_lane", photos=2, description="商铺货物堵住2号安全出口")
    the_card = card(harness)
    await press(harness, the_card, wu, "更多")
    await press(harness, the_card, wu, "转办职能部门")
    await press(harness, the_card, wu, "消防救援站")
    await press(harness, the_card, wu, "7天")
    assert alert(harness) == "📨 已转办消防救援站。"
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.REFERRED
    liaison = "\n".join(c.plain or "" for c in tg.sent(FIRE_LIAISON))
    assert f"#{found.reference}" in liaison and "商铺货物堵住2号安全出口" in liaison and "安女士" not in liaison
    assert any("已转交消防救援站处理" in t for t in tg.texts(ann.id, as_plain=True))

    harness.note("商铺拒不整改：记录在案，并转办综合执法队。")
    await settle(harness)
    await press(harness, the_card, wu, "拒不整改")
    assert "转办综合执法队" in alert(harness)

    harness.note("综合执法队超期未办：提醒社区办公室；问题不会在网格中逐级上报。")
    harness.clock.advance(days=8)
    await harness.tick()
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.escalation_level == 0 and found.refusals == 1
    assert any("部门时限已于" in t for t in tg.texts(OFFICE, as_plain=True))

    harness.note("综合执法队反馈已清理：工作人员登记办结，上报人确认，随后等待验收。")
    await settle(harness)
    await press(harness, the_card, wu, "办结")
    await harness.feed(harness.up.photo(wu, file_id="after-ref-zh"))
    await press_private(harness, wu, "直接办结")
    await harness.deliver()
    await press(harness, tg.last(ann.id), ann, "已解决，谢谢")
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.VERIFYING
    harness.save_transcript("referral_zh", "消防通道被堵，转办消防救援站（中文）")


# ---------------------------------------------------------------------------- the rectification notice


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    # pypdf spaces out CJK glyphs: compare without whitespace.
    return "".join(reader.pages[0].extract_text().replace("\x00", "").split())


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _notice(harness: BotHarness, user: Any, issue_id: int, the_card: Any, more: str, notice: str,
                  requirement: str) -> tuple[str, bytes]:
    await press(harness, the_card, user, more)
    await press(harness, the_card, user, notice)
    await harness.feed(harness.up.text(user, requirement))
    await harness.deliver()
    call = harness.tg.sent(user.id, "sendDocument")[-1]
    upload = next(iter(call.files.values()))
    return upload.filename or "", upload.data  # type: ignore[attr-defined]


async def test_fire_exit_notice_pdf_in_english_and_chinese(harness: BotHarness, community: Any) -> None:
    from tests.e2e.test_triage import CAPTAIN

    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    await departments(harness)
    ann = await person(harness, unique_id(), "Ann Secret", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", TEAM_B1: "Building 1 team chat",
                    FIRE_LIAISON: "Fire station liaison group"})
    harness.note("Captain Zhang prints a rectification notice for the shop blocking the fire exit.")
    issue_id = await file_issue(harness, ann, category="fire_lane", photos=1, description="Shop goods block exit 2")
    found = await issue(harness, issue_id)
    async with harness.sessions() as s:
        from models import IssuePhoto

        before = (await s.execute(select(IssuePhoto.file_id).where(IssuePhoto.issue_id == issue_id))).scalar_one()
    tg.register_file(before, content=_png())
    the_card = card(harness)
    name, data = await _notice(harness, zhang, issue_id, the_card, "More", "Rectification notice",
                               "Remove the goods from exit 2")
    assert name == f"notice-{found.reference}.pdf" and data.startswith(b"%PDF")
    text = _pdf_text(data)
    assert f"#{found.reference}" in text and "Rectificationnotice" in text and "Removethegoodsfromexit2" in text
    assert ("Deadline:" in text and "20November2026" in text.replace(" ", "")) or "Deadline" in text
    local_deadline = found.deadline_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))  # type: ignore[union-attr]
    assert local_deadline.strftime("%d%B%Y") in text and "NanchiCommunity" in text and "Signature" in text
    assert "Ann" not in text and "Secret" not in text
    async with harness.sessions() as s:
        from models import IssueEvent

        kinds = (await s.execute(select(IssueEvent.kind).where(IssueEvent.issue_id == issue_id))).scalars().all()
    assert "notice" in kinds

    harness.note("The same in Chinese (the community's language).")
    await set_locale(harness, "zh_Hans")
    zh_captain = await person(harness, CAPTAIN, "张楼长", "zh-hans")
    the_card = card(harness)
    await press(harness, the_card, zh_captain, "Back")  # the card's menu, now in his language
    name, data = await _notice(harness, zh_captain, issue_id, the_card, "更多", "限期整改通知书",
                               "清除2号出口堆放的货物")
    text = _pdf_text(data)
    assert "限期整改通知书" in text and f"#{found.reference}" in text and "清除2号出口堆放的货物" in text
    assert f"{local_deadline.year}年{local_deadline.month}月{local_deadline.day}日" in text
    assert "整改时限" in text and "签字" in text
    harness.save_transcript("notice_en_zh", "A rectification notice, in English then in Chinese")
