"""The walls between the layers, as a test (docs/DEVELOPING.md, "Three layers").

- Rules (`bot/services/`) import no aiogram, no keyboards, no rendering, no gettext, no notices, no handlers
  and nothing of the web pages: they return results and record events; `bot/notices/` words them.
- Handlers (`handlers/`) are glue: they never import the database layer (`bot.db`, SQLAlchemy) and never
  take a `session` parameter; they call services.
- Models (`models/`) import only models, SQLAlchemy and the standard library.

The scan reads every import in the file's syntax tree, including imports inside functions (which would
otherwise hide a dependency) and `TYPE_CHECKING` blocks (a type is still a dependency of the text).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVICE_FORBIDDEN = ("aiogram", "bot.keyboards", "bot.rendering", "bot.i18n", "bot.notices", "bot.commands",
                     "bot.web", "bot.middlewares", "bot.app", "handlers", "jinja2", "babel")
HANDLER_FORBIDDEN = ("bot.db", "sqlalchemy")
MODEL_ALLOWED = ("models", "sqlalchemy", "__future__")

def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            if node.module in ("bot", "handlers"):  # `from bot import rendering` imports bot.rendering
                found.extend(f"{node.module}.{a.name}" for a in node.names)
    return found


def _hits(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _session_params(path: Path) -> list[str]:
    """A handler's `session` parameter, and any reach for a session through something else
    (`service.session.get(...)`, `run.sessions`, `data["session"]`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if any(a.arg in ("session", "sessions") for a in args):
                out.append(f"session-param:{node.name}")
        elif isinstance(node, ast.Attribute) and node.attr in ("session", "sessions"):
            out.append(f"session-attribute:line {node.lineno}")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in ("session", "sessions"):
            out.append(f"session-item:line {node.lineno}")
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def violations() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot" / "services").rglob("*.py")):
        bad = {m for m in _imports(path) if _hits(m, SERVICE_FORBIDDEN)}
        if bad:
            found[_rel(path)] = bad
    for path in sorted((ROOT / "handlers").rglob("*.py")):
        bad = {m for m in _imports(path) if _hits(m, HANDLER_FORBIDDEN)} | set(_session_params(path))
        if bad:
            found[_rel(path)] = bad
    stdlib = set(sys.stdlib_module_names)
    for path in sorted((ROOT / "models").rglob("*.py")):
        bad = {m for m in _imports(path)
               if not _hits(m, MODEL_ALLOWED) and m.split(".")[0] not in stdlib}
        if bad:
            found[_rel(path)] = bad
    return found


def test_no_crossing_of_a_layer_wall() -> None:
    found = violations()
    assert found == {}, "crossings of a layer wall (see docs/DEVELOPING.md):\n" + "\n".join(
        f"  {f}: {', '.join(sorted(v))}" for f, v in sorted(found.items()))


def test_the_scan_sees_function_local_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from bot.keyboards.issues import x\n    import aiogram\n", encoding="utf-8")
    assert set(_imports(sample)) >= {"bot.keyboards.issues", "aiogram"}


def test_the_scan_sees_a_session_reached_through_a_service(tmp_path: Path) -> None:
    sample = tmp_path / "h.py"
    sample.write_text("async def h(x, triage):\n    await triage.session.get(1)\n    data['session']\n",
                      encoding="utf-8")
    assert sorted(_session_params(sample)) == ["session-attribute:line 2", "session-item:line 3"]
