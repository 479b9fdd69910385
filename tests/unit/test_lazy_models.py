"""aiogram's models are built on first use (bot/lazy_models.py): every one of them must still build, by
the very call pydantic makes on first use, and validate what Telegram sends."""

from __future__ import annotations

import inspect

import aiogram.methods
import aiogram.types
from pydantic import BaseModel

from bot import lazy_models


def _aiogram_models() -> list[type[BaseModel]]:
    found = {obj for module in (aiogram.types, aiogram.methods) for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__.startswith("aiogram.")}
    return sorted(found, key=lambda c: c.__qualname__)


def test_aiogram_was_imported_without_building_its_models() -> None:
    assert len(lazy_models.namespace()) > 300  # aiogram handed its names over instead of building
    assert not all(c.__pydantic_complete__ for c in _aiogram_models())


def test_every_aiogram_model_builds_on_first_use() -> None:
    models = _aiogram_models()
    assert len(models) > 400
    broken = [c.__qualname__ for c in models
              if c.model_rebuild(raise_errors=False, _parent_namespace_depth=5) is False  # pydantic's own call
              or not c.__pydantic_complete__]
    assert broken == []


def test_a_lazily_built_update_validates_a_real_message() -> None:
    update = aiogram.types.Update.model_validate({
        "update_id": 7, "message": {
            "message_id": 1, "date": 1_700_000_000, "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "Ann"}, "text": "/report",
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90}]}})
    assert update.message is not None and update.message.photo and update.message.photo[0].width == 90
    assert update.message.from_user is not None and update.message.from_user.first_name == "Ann"
