"""Tests. Importing the application first installs its lazy model building (bot/lazy_models.py)."""

import bot  # noqa: F401
