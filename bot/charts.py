"""Charts for digests: new vs. resolved per day and open issues by category, as one PNG.

matplotlib is imported only when a chart is drawn (it costs about a second at import and most
processes never draw). Chinese labels need a CJK font: matplotlib's default (DejaVu Sans) has no CJK
glyphs and would draw empty boxes, so when no CJK font is installed a Chinese chart falls back to
English labels and says so in the log (the setup installs Debian `fonts-noto-cjk` where it can).

Where charts are drawn: a chart costs a few hundred milliseconds of pure-Python matplotlib work, and
drawing it in a thread still holds the GIL the event loop needs to answer people. At 08:00 a city
deployment draws a thousand of them, so the bot process (`configure(CHART_WORKERS)` in bot.app) draws
them in a small pool of *spawned* processes (fork would copy the event loop and the database
connections), started at the first chart and shut down on stop. If the pool cannot start or breaks,
charts are drawn in a thread as before. Tests and the CLI, which never call `configure`, draw in a
thread. The pool is given plain data (labels looked up beforehand), never ORM objects.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.i18n import _, use_locale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Preferred CJK families, best first (Noto Sans CJK is Debian's fonts-noto-cjk).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Source Han Sans SC",
                "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
                "Noto Serif CJK SC", "AR PL UMing CN", "Microsoft YaHei", "SimHei", "PingFang SC")

# pyplot keeps global state; charts are drawn from worker threads (asyncio.to_thread), one at a time.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartData:
    days: Sequence[date]  # the last 14 local days, oldest first
    new: Sequence[int]
    resolved: Sequence[int]
    open_by_category: Sequence[tuple[str, int]]  # (category key, open issues), largest first
    title: str  # community (and area) name, shown as given


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font matplotlib can use, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    for name in sorted(names):  # any other font that says it is CJK
        if "CJK" in name or "Hei" in name:
            return name
    return None


def needs_cjk(locale: str) -> bool:
    return locale.startswith("zh")


def chart_locale(locale: str) -> str:
    """The language the chart can be drawn in: the digest's, or English when no CJK font exists."""
    if needs_cjk(locale) and cjk_font() is None:
        log.warning("no CJK font installed (Debian: apt-get install fonts-noto-cjk); "
                    "the %s chart is drawn with English labels", locale)
        return "en"
    return locale


def draw_digest_chart(data: ChartData, locale: str, category_label: Callable[[str, str], str]) -> bytes:
    """Render the chart to PNG bytes. `category_label(key, locale)` names a category."""
    with digest_figure(data, locale, category_label) as fig:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()


@contextmanager
def digest_figure(data: ChartData, locale: str, category_label: Callable[[str, str], str]) -> Iterator[Figure]:
    """The chart as a matplotlib Figure, closed afterwards (tests read its axes rather than pixels)."""
    locale = chart_locale(locale)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    # A CJK fallback even for English labels: community, building and category names may be Chinese.
    family = ["DejaVu Sans"]
    cjk = cjk_font()
    if cjk:
        family = [cjk, "DejaVu Sans"] if needs_cjk(locale) else ["DejaVu Sans", cjk]
    with _LOCK, use_locale(locale), matplotlib.rc_context({"font.family": family, "axes.unicode_minus": False}):
        fig = plt.figure(figsize=(10, 4.2), dpi=100)
        try:
            _draw(fig, data, locale, category_label)
            yield fig
        finally:
            plt.close(fig)


def _draw(fig: Figure, data: ChartData, locale: str, category_label: Callable[[str, str], str]) -> None:
    from matplotlib.ticker import MaxNLocator

    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = list(range(len(data.days)))
    width = 0.4
    left.bar([i - width / 2 for i in x], list(data.new), width, label=_("New"), color="#e07b39")
    left.bar([i + width / 2 for i in x], list(data.resolved), width, label=_("Resolved"),
             color="#3a8f5c")
    left.set_xticks(x)
    left.set_xticklabels([_day_tick(d) for d in data.days], rotation=45, ha="right", fontsize=8)
    # Counts start at 0 and step by whole numbers; left to itself, matplotlib centres an all-zero
    # chart on 0 (−0.045 to 0.045), which reads as if there were negative reports.
    peak = max([*data.new, *data.resolved], default=0)
    left.set_ylim(0, max(peak, 1) * 1.15)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    if peak == 0:
        left.text(0.5, 0.5, _("No reports in these 14 days"), transform=left.transAxes, ha="center",
                  va="center", fontsize=11, color="#555555")
    left.set_title(_("New vs. resolved, last 14 days"), fontsize=11)
    left.legend(fontsize=9, frameon=False)
    left.spines[["top", "right"]].set_visible(False)

    cats = list(data.open_by_category)[:8][::-1]  # largest on top
    if cats:
        names = [category_label(key, locale) for key, _n in cats]
        right.barh(range(len(cats)), [n for _k, n in cats], color="#4a6fa5")
        right.set_yticks(range(len(cats)))
        right.set_yticklabels(names, fontsize=9)
        right.set_xlim(left=0)
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        right.text(0.5, 0.5, _("No open issues"), ha="center", va="center", fontsize=11)
        right.set_xticks([])
        right.set_yticks([])
    right.set_title(_("Open issues by category"), fontsize=11)
    right.spines[["top", "right"]].set_visible(False)
    fig.suptitle(data.title, fontsize=12)
    fig.tight_layout()


def _day_tick(d: date) -> str:
    return _("%(month)s/%(day)s", month=d.month, day=d.day)


# ------------------------------------------------------------------------------ the process pool


@dataclass(frozen=True)
class Labels:
    """Category names looked up beforehand, (key, locale) -> name: picklable, unlike a closure over a
    community row. A key missing from the table is shown as it is."""

    table: Mapping[tuple[str, str], str]

    def __call__(self, key: str, locale: str) -> str:
        return self.table.get((key, locale), key)


_pool_lock = threading.Lock()
_workers = 0  # 0: draw in a thread (tests, CLI); set by configure()
_pool: ProcessPoolExecutor | None = None
_pool_failed = False


def configure(workers: int) -> None:
    """How many processes draw charts (0 = a thread). The pool itself starts with the first chart."""
    global _workers, _pool_failed
    _workers = max(0, int(workers))
    _pool_failed = False


def _warm_up() -> None:
    """Runs once in each pool process: pay matplotlib's import and font scan before the first chart."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot

    cjk_font()


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool, _pool_failed
    if _workers <= 0 or _pool_failed:
        return None
    with _pool_lock:
        if _pool is None:
            try:
                _pool = ProcessPoolExecutor(max_workers=_workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_warm_up)
            except (OSError, ValueError, NotImplementedError):
                log.exception("no chart process pool; charts are drawn in a thread")
                _pool_failed = True
                return None
        return _pool


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    global _pool, _pool_failed
    with _pool_lock:
        if _pool is pool:
            _pool, _pool_failed = None, True
    pool.shutdown(wait=False, cancel_futures=True)


async def render_digest_chart(data: ChartData, locale: str, labels: Labels) -> bytes:
    """The chart as PNG bytes, drawn off the event loop: in the process pool when there is one (it holds
    neither the loop nor this process's GIL), else in a thread. Same bytes either way."""
    pool = _get_pool()
    if pool is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, draw_digest_chart, data, locale, labels)
        except (BrokenProcessPool, OSError):
            # A pool process died (killed, out of memory) or could not be spawned: carry on in a thread
            # rather than lose the digest; the log says why.
            log.exception("the chart process pool failed; charts are drawn in a thread from now on")
            _discard_pool(pool)
    return await asyncio.to_thread(draw_digest_chart, data, locale, labels)


def shutdown() -> None:
    """Stop the pool's processes (on a clean stop of the bot); a later chart starts a new pool."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ChartData", "Labels", "chart_locale", "cjk_font", "configure", "digest_figure", "draw_digest_chart",
           "needs_cjk", "render_digest_chart", "shutdown"]
