"""The rectification notice (限期整改通知书) in words: a one-page PDF for a responsible party (an owner, a
shop, a household) to hand over or post — reference, place, problem, the before photo, the requirement and
deadline, the community's name and date, and a signature line — in the community's language.

The rules (the right, the timeline entry) are bot/services/notices.py's `NoticeService.prepare`;
`notice_of` words its facts, `build_pdf` is pure and slow-ish (font subsetting), so handlers run it off
the update path in a thread. Chinese needs a CJK font (Debian `fonts-noto-cjk`); without one the notice
is written in English and a warning is logged rather than failing."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import _, use_locale
from bot.notices.triage import category_label
from bot.services.notices import NoticeFacts

log = logging.getLogger(__name__)

# Noto Sans CJK (a collection: index 2 is Simplified Chinese), then other common places.
CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
)


def cjk_font() -> tuple[str, int] | None:
    for path, index in CJK_FONTS:
        if Path(path).is_file():
            return path, index
    return None


@dataclass
class Notice:
    """Everything printed on the notice, already in its language."""

    locale: str
    filename: str
    title: str
    lines: list[tuple[str, str]]  # (label, value)
    closing: str
    community: str
    date: str
    signature: str
    photo_file_id: str | None = None
    key: str = ""  # the outbox key of its delivery (one per notice recorded)


def build_pdf(notice: Notice, photo: bytes | None = None) -> bytes:
    """The notice as PDF bytes (A4, one page). Runs in a worker thread."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    font = cjk_font()
    if font is not None:
        pdf.add_font("cjk", fname=font[0], collection_font_number=font[1])
        family = "cjk"
    else:
        family = "helvetica"

    def t(text: str) -> str:
        # The built-in font has no glyphs beyond Latin-1: names typed in Chinese become "?" rather than crash.
        return text if font is not None else text.encode("latin-1", "replace").decode("latin-1")

    pdf.set_font(family, size=20)
    pdf.cell(0, 14, t(notice.title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, size=12)
    for label, value in notice.lines:
        pdf.multi_cell(0, 8, t(f"{label}{value}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    if photo:
        try:
            pdf.image(io.BytesIO(photo), w=80, h=60, keep_aspect_ratio=True)
        except Exception:
            log.info("rectification notice: the before photo could not be read; left out")
    pdf.ln(4)
    pdf.multi_cell(0, 8, t(notice.closing), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(-70)
    pdf.cell(0, 8, t(notice.community), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, t(notice.date), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 8, t(notice.signature), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def notice_of(facts: NoticeFacts) -> Notice:
    """The notice's content in the community's language (English when Chinese has no font here)."""
    issue, community = facts.issue, facts.community
    locale = community.locale
    if locale.startswith("zh") and cjk_font() is None:
        log.warning("rectification notice: no CJK font found (install fonts-noto-cjk); writing it in English")
        locale = "en"
    tz = ZoneInfo(community.timezone)
    deadline = issue.deadline_at.astimezone(tz) if issue.deadline_at else None
    today = facts.at.astimezone(tz)
    with use_locale(locale):
        zh = locale.startswith("zh")

        def day(d: Any) -> str:
            return f"{d.year}年{d.month}月{d.day}日" if zh else d.strftime("%d %B %Y")

        return Notice(
            locale=locale, filename=f"notice-{issue.reference}.pdf",
            title=_("Rectification notice"),
            lines=[(_("Reference: "), issue.hashtag), (_("Place: "), facts.place),
                   (_("Problem: "), f"{category_label(community, issue.category)} — {issue.description or ''}"),
                   (_("Requirement: "), facts.requirement),
                   (_("Deadline: "), (day(deadline) + " " + deadline.strftime("%H:%M")) if deadline else "—")],
            closing=_("Please put this right by the deadline. If it is not done, the matter will be referred "
                      "to the competent department."),
            community=community.name, date=day(today), signature=_("Signature: ______________________"),
            photo_file_id=next((p.file_id for p in issue.photos if p.kind == "before"), None), key=facts.key)


__all__ = ["CJK_FONTS", "Notice", "build_pdf", "cjk_font", "notice_of"]
