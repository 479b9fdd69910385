"""Triage buttons on an issue card (team chat, a captain's private chat, /queue), the private steps
they continue in (after photo, date, duplicate reference, note, question), the reporter's side
(confirm, rate, not fixed, answer a question) and /queue. Glue only: the rules are in
bot/services/triage/; the words in bot/notices/triage.py.

The router is one (handlers/triage/common.py); each module adds its handlers to it when imported, in
this order (aiogram tries handlers in the order they were registered).
"""

# isort: off
from handlers.triage import card, closeout, steps, reporter, queue  # noqa: F401  (registers, in this order)
# isort: on
from handlers.triage.common import (
    MENU_ACTIONS,
    TriageFlow,
    _rows_of,
    allowed,
    denied,
    finish,
    go_private,
    headline,
    input_error,
    is_card,
    is_private,
    private_fsm,
    private_rows,
    router,
    show,
)

__all__ = [
    "MENU_ACTIONS",
    "TriageFlow",
    "_rows_of",
    "allowed",
    "denied",
    "finish",
    "go_private",
    "headline",
    "input_error",
    "is_card",
    "is_private",
    "private_fsm",
    "private_rows",
    "router",
    "show",
]
