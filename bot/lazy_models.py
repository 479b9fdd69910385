"""Build aiogram's pydantic models when first used instead of all at import.

aiogram declares its ~300 Bot API types and ~170 methods with `defer_build=True` and then rebuilds every
one of them at import (`model_rebuild(_types_namespace=...)` in aiogram/types/__init__.py). The validators
and serializers of all of them cost ~150 MB of resident memory, measured, most of the bot's footprint;
the bot uses a few dozen. We keep the namespace aiogram hands over and skip the eager rebuild; pydantic
then builds a model (and what it nests) the first time it validates or serializes one, with that
namespace. tests/unit/test_lazy_models.py builds every model through this path, so an aiogram upgrade
that breaks it fails there, not in production.

Must run before aiogram is imported: bot/__init__.py installs it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_NAMESPACE: dict[str, Any] = {}
_eager_rebuild = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]


def _model_rebuild(cls: type[BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any) -> Any:
    if cls.__module__.startswith("aiogram."):
        if _types_namespace is not None and not kwargs.get("force"):
            _NAMESPACE.update(_types_namespace)  # aiogram's eager pass at import: only remember the names
            return None
        if _NAMESPACE:
            kwargs.pop("_parent_namespace_depth", None)
            return _eager_rebuild(cls, *args, _types_namespace=_types_namespace or _NAMESPACE, **kwargs)
    return _eager_rebuild(cls, *args, _types_namespace=_types_namespace, **kwargs)


def install() -> None:
    if getattr(BaseModel.model_rebuild, "__func__", None) is not _model_rebuild:
        BaseModel.model_rebuild = classmethod(_model_rebuild)  # type: ignore[assignment,method-assign]


def namespace() -> dict[str, Any]:
    return _NAMESPACE
