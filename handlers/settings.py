"""/settings and /deletedata (filled in by the settings slice)."""

from aiogram import Router

router = Router(name=__name__)
