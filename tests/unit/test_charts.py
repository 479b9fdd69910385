"""The digest chart: a PNG, Chinese labels drawn with a CJK font (no missing glyphs), English fallback."""

from __future__ import annotations

import logging
import warnings
from datetime import date, timedelta

import pytest

from bot import charts
from bot.charts import ChartData, chart_locale, cjk_font, digest_figure, draw_digest_chart

DAYS = [date(2026, 11, 6) + timedelta(days=i) for i in range(14)]
DATA = ChartData(DAYS, [i % 4 for i in range(14)], [i % 3 for i in range(14)],
                 [("parking", 4), ("litter", 2), ("fire_lane", 1)], "南齿社区 Nanchi")
LABELS = {"parking": ("Disorderly parking", "乱停乱放"), "litter": ("Litter", "垃圾/卫生死角"),
          "fire_lane": ("Blocked fire lane", "占用消防通道")}


def label(key: str, locale: str) -> str:
    en, zh = LABELS[key]
    return zh if locale.startswith("zh") else en


def test_english_chart_is_a_png() -> None:
    png = draw_digest_chart(DATA, "en", label)
    assert png.startswith(b"\x89PNG") and len(png) > 5_000


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font installed (Debian: fonts-noto-cjk)")
def test_chinese_chart_has_every_glyph() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        png = draw_digest_chart(DATA, "zh_Hans", label)
    assert png.startswith(b"\x89PNG")


def test_without_cjk_font_falls_back_to_english(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    seen: list[str] = []

    def spy(key: str, locale: str) -> str:
        seen.append(locale)
        return label(key, locale)

    with caplog.at_level(logging.WARNING, logger="bot.charts"):
        assert chart_locale("zh_Hans") == "en"
        data = ChartData(DAYS, DATA.new, DATA.resolved, DATA.open_by_category, "Nanchi")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            png = draw_digest_chart(data, "zh_Hans", spy)
    assert png.startswith(b"\x89PNG")
    assert set(seen) == {"en"}
    assert "no CJK font" in caplog.text


def test_matplotlib_is_imported_only_to_draw() -> None:
    import subprocess
    import sys

    code = ("import sys; import bot.services.digests, bot.charts; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


QUIET = ChartData(DAYS, [0] * 14, [0] * 14, [], "Nanchi")


def _texts(axes: object) -> list[str]:
    return [t.get_text() for t in axes.texts]  # type: ignore[attr-defined]


def test_quiet_fortnight_counts_from_zero_in_whole_numbers_and_says_so() -> None:
    with digest_figure(QUIET, "en", label) as fig:
        counts = fig.axes[0]
        low, high = counts.get_ylim()
        ticks = list(counts.get_yticks())
        assert low == 0 and high >= 1  # not −0.045 to 0.045
        assert ticks and all(t == int(t) and t >= 0 for t in ticks) and 0 in ticks
        assert "No reports in these 14 days" in _texts(counts)
        assert "No open issues" in _texts(fig.axes[1])


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font installed (Debian: fonts-noto-cjk)")
def test_quiet_fortnight_says_so_in_chinese() -> None:
    with digest_figure(QUIET, "zh_Hans", label) as fig:
        assert "近14天没有上报" in _texts(fig.axes[0])


def test_busy_fortnight_has_integer_ticks_from_zero_and_no_empty_note() -> None:
    with digest_figure(DATA, "en", label) as fig:
        counts = fig.axes[0]
        low, high = counts.get_ylim()
        assert low == 0 and high >= max(DATA.new)
        assert all(t == int(t) for t in counts.get_yticks())
        assert _texts(counts) == []


# ---- the chart process pool (issue 17: a thousand charts at 08:00 must not hold the bot's GIL)

PLAIN = charts.Labels({(key, loc): label(key, loc) for key in LABELS for loc in ("en", "zh_Hans")})


@pytest.fixture
def pool_of_one() -> object:
    charts.configure(1)
    yield charts
    charts.shutdown()
    charts.configure(0)


async def test_pool_draws_the_same_png_as_a_thread(pool_of_one: object) -> None:
    import os

    drawn = await charts.render_digest_chart(DATA, "en", PLAIN)
    pool = charts._pool
    assert pool is not None  # started lazily, by the first chart
    pids = set(pool._processes or {})  # type: ignore[attr-defined]
    assert pids and os.getpid() not in pids
    assert drawn == draw_digest_chart(DATA, "en", label)
    charts.shutdown()
    assert charts._pool is None
    # A chart after a clean stop starts a new pool rather than failing.
    assert await charts.render_digest_chart(DATA, "en", PLAIN) == drawn


async def test_a_broken_pool_falls_back_to_a_thread(pool_of_one: object, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    class Broken(ProcessPoolExecutor):
        def submit(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise BrokenProcessPool("a chart process was killed")

    broken = Broken(max_workers=1)
    monkeypatch.setattr(charts, "_pool", broken)
    with caplog.at_level(logging.ERROR, logger="bot.charts"):
        png = await charts.render_digest_chart(DATA, "en", PLAIN)
    assert png == draw_digest_chart(DATA, "en", label)
    assert "drawn in a thread" in caplog.text
    assert charts._get_pool() is None  # no second try at every chart


async def test_without_configure_charts_are_drawn_in_a_thread() -> None:
    charts.configure(0)
    assert await charts.render_digest_chart(DATA, "en", PLAIN) == draw_digest_chart(DATA, "en", label)
    assert charts._pool is None
