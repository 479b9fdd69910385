"""Configuration errors as an operator meets them: `python main.py` in a clean environment, one clear
line on stderr naming the variable and where to set it, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"


def run_main(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """main.py with nothing but PATH and the given variables, from an empty directory (no .env)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env}
    return subprocess.run([sys.executable, str(MAIN), *args], cwd=tmp_path, env=clean, capture_output=True,
                          text=True, timeout=60)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_without_token_exits_at_once_with_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_main(tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "BOT_TOKEN" in line and "@BotFather" in line
    assert str(tmp_path / ".env") in line  # where to put it
    assert time.monotonic() - started < 20
    assert not (tmp_path / "data").exists()  # it did not start migrating before checking


@pytest.mark.parametrize("token", ["abc", "123456", "123456:", "12:ab cd", ":abc"])
def test_malformed_token_same_way(tmp_path: Path, token: str) -> None:
    result = run_main(tmp_path, BOT_TOKEN=token)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "BOT_TOKEN" in line and "malformed" in line


def test_token_from_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_TOKEN=not-a-token\n", encoding="utf-8")
    result = run_main(tmp_path)
    assert result.returncode == 2
    assert "malformed" in one_error_line(result)


def test_webhook_url_without_secret(tmp_path: Path) -> None:
    result = run_main(tmp_path, BOT_TOKEN="123:abc", WEBHOOK_URL="https://bot.example.org/webhook")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "WEBHOOK_SECRET" in line and "WEBHOOK_URL" in line


def test_bad_timezone(tmp_path: Path) -> None:
    result = run_main(tmp_path, BOT_TOKEN="123:abc", TIMEZONE="Mars/Olympus")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "TIMEZONE" in line and "Mars/Olympus" in line and "Asia/Shanghai" in line


@pytest.mark.parametrize(("var", "value"), [("ADMIN_IDS", "12,bob"), ("SEND_RATE", "0"), ("WEBHOOK_PORT", "http")])
def test_other_bad_values_name_their_variable(tmp_path: Path, var: str, value: str) -> None:
    result = run_main(tmp_path, BOT_TOKEN="123:abc", **{var: value})
    assert result.returncode == 2
    assert var in one_error_line(result)


def test_config_errors_apply_to_subcommands_too(tmp_path: Path) -> None:
    result = run_main(tmp_path, "migrate", TIMEZONE="Nowhere")
    assert result.returncode == 2
    assert "TIMEZONE" in one_error_line(result)


def test_help_lists_subcommands(tmp_path: Path) -> None:
    result = run_main(tmp_path, "--help")
    assert result.returncode == 0
    for name in ("run", "migrate", "import"):
        assert name in result.stdout


def test_default_database_creates_data_directory(tmp_path: Path) -> None:
    result = run_main(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "bot.sqlite3").is_file()
    assert "up to date" in result.stdout
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ in-process parsing


def settings(**env: str) -> Settings:
    return load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})


@pytest.mark.parametrize(("raw", "ids"), [
    ("", []), ("12345", [12345]), ("1,2,3", [1, 2, 3]), (" 1 , 2 ", [1, 2]), ("1;2", [1, 2]),
    ("[7, 8]", [7, 8]), ("1,,2,", [1, 2]),
])
def test_admin_ids_parsing(monkeypatch: pytest.MonkeyPatch, raw: str, ids: list[int]) -> None:
    monkeypatch.setenv("ADMIN_IDS", raw)
    assert Settings(_env_file=None).admin_ids == ids  # type: ignore[call-arg]


def test_defaults() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite+aiosqlite:///data/bot.sqlite3"
    assert s.timezone == "Asia/Shanghai" and s.default_locale == "en"
    assert (s.webhook_host, s.webhook_port, s.send_rate) == ("127.0.0.1", 8080, 28.0)
    assert s.webhook_url is None and s.redis_url is None and s.admin_ids == []


def test_require_token() -> None:
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set"):
        settings().require_token()
    with pytest.raises(ConfigError, match="malformed"):
        settings(BOT_TOKEN="nope").require_token()
    settings(BOT_TOKEN=" 123456:ABC-def_1\n").require_token()  # pasted with whitespace: fine


def test_default_locale_mapped() -> None:
    assert settings(DEFAULT_LOCALE="zh-hans").default_locale == "zh_Hans"
    assert settings(DEFAULT_LOCALE="fr").default_locale == "en"


def test_webhook_secret_charset() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        settings(WEBHOOK_URL="https://x.example/webhook", WEBHOOK_SECRET="has spaces!")
    ok = settings(WEBHOOK_URL="https://x.example/webhook", WEBHOOK_SECRET="s3cret-_X" * 4)
    assert ok.webhook_secret == "s3cret-_X" * 4


def test_short_webhook_secret_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    """A short secret can be guessed, and whoever guesses it posts forged updates to the webhook."""
    result = run_main(tmp_path, BOT_TOKEN="123:abc", WEBHOOK_URL="https://bot.example.org/webhook",
                      WEBHOOK_SECRET="s3cret-_X")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "WEBHOOK_SECRET" in line and "at least 32 characters" in line
    assert 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"' in line
    with pytest.raises(ConfigError, match="at least 32"):
        settings(WEBHOOK_SECRET="x" * 31)
    assert settings(WEBHOOK_SECRET="x" * 32).webhook_secret == "x" * 32


def test_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which SQLite made the file world-readable
    try:
        result = run_main(tmp_path, "migrate")
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "data").glob("bot.sqlite3*"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_healthz_is_not_public_in_the_nginx_examples() -> None:
    """/healthz says how busy the workers are and touches the database: internal only (workers listen on
    127.0.0.1 or the compose network; the monitoring reaches them there), never through nginx."""
    for conf in (ROOT / "deploy").glob("nginx*.conf"):
        text = conf.read_text(encoding="utf-8")
        routed = [line for line in text.splitlines() if "location" in line and not line.strip().startswith("#")]
        assert not any("healthz" in line for line in routed), conf
        assert "location / { return 404; }" in text, conf
