"""Settings: every environment variable the bot reads, in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET = 32
SECRET_HINT = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class ConfigError(Exception):
    """A configuration problem, worded for the operator in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    bot_api_url: str | None = None
    database_url: str = "sqlite+aiosqlite:///data/bot.sqlite3"
    redis_url: str | None = None
    # Prefix of the bot's Redis keys (FSM state, event isolation), when REDIS_URL is set.
    redis_prefix: str = "fsm"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    default_locale: str = "en"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    # The dashboard (the office's desk, a Telegram Mini App): its public HTTPS address. Unset = not served.
    web_url: str | None = None
    # Where the dashboard listens in polling mode (in webhook mode it shares the webhook's server).
    web_host: str = "127.0.0.1"
    web_port: int = 8081
    send_rate: float = 28.0
    # How long a shutdown waits for running handlers before it gives up on them.
    shutdown_grace: float = 10.0
    # Seconds between scheduler ticks that turn due schedules into outbox rows.
    tick_seconds: int = 30
    # Processes that draw the digests' charts (matplotlib), so that a thousand charts at 08:00 hold neither
    # the event loop nor the GIL of the process answering people. 0 = draw in a thread.
    chart_workers: int = Field(default=2, ge=0)
    # Per-user throttle: messages a person may send per second before being slowed down.
    throttle_rate: float = 3.0
    # Days a delivered (or failed, or cancelled) outbox row is kept before the daily prune removes it:
    # the rows hold chat ids and message texts, so they should not outlive their use.
    outbox_retention_days: int = Field(default=30, ge=1)
    # Seconds one update may take; a handler that runs longer is cancelled and the person asked to retry.
    update_time_budget: float = Field(default=30.0, ge=0)
    # Background jobs (exports, digests on demand): how often the progress message is edited at most,
    # how long one job may run, how big its files may be in total, and where they wait to be sent (shared
    # by all workers).
    job_progress_seconds: float = Field(default=2.0, ge=0)
    job_time_limit: float = Field(default=600.0, gt=0)
    job_max_mb: int = Field(default=200, ge=1)
    job_files_dir: str = "data/jobs"
    # Exports in Telegram cover at most this many days (the command line exports any period).
    export_max_days: int = Field(default=366, ge=1)
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("bot_token", mode="before")
    @classmethod
    def _strip_token(cls, value: object) -> object:
        # A token pasted with a trailing newline or quotes is still the same token.
        return value.strip().strip("'\"").strip() if isinstance(value, str) else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            # Accept "1,2", "1, 2", "1;2", "1 2" and the JSON-looking "[1, 2]".
            cleaned = value.strip().strip("[]").replace(";", ",").replace(" ", ",")
            parts = [p.strip() for p in cleaned.split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError as exc:
                raise ValueError("must be comma-separated numeric Telegram user ids, e.g. 12345,67890") from exc
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from bot.i18n import normalize_locale

        return normalize_locale(value) or "en"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone (e.g. Asia/Shanghai, Europe/London)") from exc
        return value

    @field_validator("send_rate")
    @classmethod
    def _rate(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number of messages per second (Telegram allows about 30)")
        return value

    @model_validator(mode="after")
    def _webhook(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        if self.webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.webhook_secret):
            raise ValueError("WEBHOOK_SECRET may contain only A-Z, a-z, 0-9, _ and - (1-256 chars)")
        if self.webhook_secret and len(self.webhook_secret) < MIN_SECRET:
            # A short secret can be guessed, and whoever guesses it can post forged updates.
            raise ValueError(f"WEBHOOK_SECRET must be at least {MIN_SECRET} characters long; generate one with: "
                             f"{SECRET_HINT}")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_token(self) -> None:
        if not self.bot_token:
            raise ConfigError(
                "BOT_TOKEN is not set: put BOT_TOKEN=<token from @BotFather> in the environment "
                f"or in {Path.cwd() / '.env'}"
            )
        if not TOKEN_RE.match(self.bot_token):
            raise ConfigError(
                "BOT_TOKEN looks malformed (expected digits:letters, e.g. 123456:ABC-def from "
                f"@BotFather): fix it in the environment or in {Path.cwd() / '.env'}"
            )


def env_file_hint() -> str:
    return f"the environment or in {Path.cwd() / '.env'}"


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one operator-readable line that names the
    variable and where to fix it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())).upper()
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        # Model-level checks (WEBHOOK_SECRET with WEBHOOK_URL) name their variables themselves.
        what = f"{field}: {message}" if field else message
        raise ConfigError(f"configuration error: {what} — fix it in {env_file_hint()}") from None
