"""/report and the quick report (a photo with a caption), /my, /issue, and a person's own view of an
issue (follow, edit the description, withdraw). The rules live in bot/services/reporting.py; the draft
lives in the FSM data (database), so a half-written report survives a restart.

One module per seam: questions.py (the states, the draft, asking the next question), begin.py (starting
a report), albums.py (the media-group debounce), flow.py (the conversation's steps), issue_view.py
(/issue and the view's buttons), my.py (/my). Their routers are included here in the order the handlers
must be tried: a photo of an album before a single photo, every step before the catch-all for stale
report buttons; the private-chat filter on messages covers them all.
"""

from __future__ import annotations

from aiogram import F, Router

from handlers.reporting import albums, begin, flow, issue_view, my
from handlers.reporting.albums import settle_albums
from handlers.reporting.begin import begin_report
from handlers.reporting.issue_view import show_issue
from handlers.reporting.questions import FLOW, IssueEdit, Report

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")
router.include_routers(begin.router, albums.router, flow.router, issue_view.router, my.router)

__all__ = ["FLOW", "IssueEdit", "Report", "begin_report", "router", "settle_albums", "show_issue"]
