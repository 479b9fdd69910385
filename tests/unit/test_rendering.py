"""Telegram HTML helpers: long messages are split between whole blocks and never exceed Telegram's
limit (counted in UTF-16, so Chinese and emoji count right), and user text can never break the HTML."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.rendering import CAPTION_LIMIT, TEXT_LIMIT, esc, plain_len, render, shorten, split_blocks, utf16_len
from tests.telegram import FakeTelegram, parse_html
from tests.telegram import utf16_len as tg_utf16_len

HOSTILE = [
    "<b>bold</b>", "</b>", "<script>alert(1)</script>", "a & b", "&amp;", "&lt;tag&gt;", "1 < 2 > 0",
    '<a href="javascript:x">x</a>', "<tg-spoiler>", "\u202eRTL override", "zero\u200bwidth", "𝕏 😀👨‍👩‍👧",
    "楼道堆物 <楼栋>", "\x00", "<<>>", "&#0;", "&unknown;",
]


def telegram_accepts(html_text: str, limit: int = TEXT_LIMIT) -> None:
    """What Telegram does with it: the HTML must parse and the visible text must fit."""
    text, _entities = parse_html(html_text)
    assert tg_utf16_len(text) <= limit, tg_utf16_len(text)
    assert plain_len(html_text) == tg_utf16_len(text)


# ------------------------------------------------------------------ escaping


def test_esc_of_hostile_text_is_shown_literally() -> None:
    for raw in HOSTILE:
        html_text = f"<b>Report:</b> {esc(raw)}"
        text, entities = parse_html(html_text)
        assert text == f"Report: {raw}"
        assert [e["type"] for e in entities] == ["bold"]


async def test_hostile_names_reach_the_double_intact() -> None:
    tg = FakeTelegram()
    bot = tg.make_bot()
    tg.add_chat(42, type="private")
    for raw in HOSTILE:
        await bot.send_message(42, f"Hi {esc(raw)}!")
    assert [c.plain for c in tg.sent(42)] == [f"Hi {raw}!" for raw in HOSTILE]
    await bot.session.close()


def test_templates_autoescape(tmp_path: object) -> None:
    from bot.rendering import ENV

    html_text = ENV.from_string("<b>{{ name }}</b>").render(name="<i>Eve</i> & co")
    assert html_text == "<b>&lt;i&gt;Eve&lt;/i&gt; &amp; co</b>"
    telegram_accepts(html_text)
    assert callable(render)


# ------------------------------------------------------------------ lengths


def test_utf16_lengths() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("楼栋") == 2  # BMP: one unit each
    assert utf16_len("😀") == 2  # astral: a surrogate pair
    assert utf16_len("👨‍👩‍👧") == 8
    assert plain_len("<b>楼</b> &amp; 😀") == 6


def test_shorten_counts_utf16_and_marks_the_cut() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("😀" * 600, CAPTION_LIMIT)
    assert utf16_len(cut) <= CAPTION_LIMIT and cut.endswith("…")
    cut = shorten("楼" * 5000, TEXT_LIMIT)
    assert utf16_len(cut) == TEXT_LIMIT and cut.endswith("…")


# ------------------------------------------------------------------ splitting


def test_blocks_are_kept_whole() -> None:
    block = "<b>楼栋 {n}</b>\n" + "\n".join(f"• 第{i}户 😀 已签到" for i in range(40))
    blocks = [block.format(n=n) for n in range(30)]
    messages = split_blocks(blocks)
    assert len(messages) > 1
    for message in messages:
        telegram_accepts(message)
    # Every block is inside exactly one message, unchanged and in order.
    assert "\n\n".join(messages) == "\n\n".join(blocks)


def test_single_small_message_unchanged() -> None:
    assert split_blocks(["<b>a</b>", "", "  ", "b"]) == ["<b>a</b>\n\nb"]
    assert split_blocks([]) == []


def test_oversized_block_is_cut_between_lines_and_stays_valid() -> None:
    lines = [f"{i:04d} 楼道堆物 😀 <i>{esc('<x>')}</i>" for i in range(700)]
    block = "<b>Roster</b>\n<blockquote>" + "\n".join(lines) + "</blockquote>"
    messages = split_blocks(["intro", block, "outro"])
    assert len(messages) >= 3
    for message in messages:
        telegram_accepts(message)
    seen = "\n".join(parse_html(m)[0] for m in messages)
    for i in (0, 350, 699):
        assert f"{i:04d} 楼道堆物" in seen


def test_single_line_longer_than_the_limit() -> None:
    messages = split_blocks(["<b>" + "楼" * 5000 + "</b>", "after"])
    for message in messages:
        telegram_accepts(message)
    assert messages[-1].endswith("after")


def test_caption_limit() -> None:
    messages = split_blocks([f"第{i}条 😀" * 20 for i in range(30)], limit=CAPTION_LIMIT)
    for message in messages:
        telegram_accepts(message, CAPTION_LIMIT)


TAGS = st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler", "blockquote"])
WORDS = st.text(alphabet=st.sampled_from(list("ab <>&\"'楼栋居民😀👍\u200b")), min_size=0, max_size=40)


@st.composite
def html_block(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 30))):
        words = draw(WORDS)
        tag = draw(st.none() | TAGS)
        lines.append(f"<{tag}>{esc(words)}</{tag}>" if tag else esc(words))
    body = "\n".join(lines)
    wrap = draw(st.none() | TAGS)
    return f"<{wrap}>{body}</{wrap}>" if wrap else body


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(html_block(), max_size=12), limit=st.sampled_from([120, 500, CAPTION_LIMIT]))
def test_split_property(blocks: list[str], limit: int) -> None:
    messages = split_blocks(blocks, limit=limit)
    for message in messages:
        telegram_accepts(message, limit)
    joined = "\n\n".join(messages)
    for block in blocks:
        if block.strip() and plain_len(block) <= limit:
            assert block in joined  # a block that fits is never cut
            assert any(block in m for m in messages)
