"""Configuration: config.toml plus BOT_<SECTION>__<KEY> environment overrides, loaded once."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from knowledge.faq import DEFAULT_THRESHOLD

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "config.toml"
PLACEHOLDERS = ("demo-", "changeme", "wx0000000000000000")


class ConfigError(ValueError):
    """Every problem found in the configuration, reported at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 8000
    environment: str = "development"
    max_body_bytes: int = 65536
    reply_deadline_seconds: float = 4.0
    log_level: str = "INFO"


@dataclass(frozen=True)
class Storage:
    url: str = "sqlite:///var/bot.db"
    busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class WeChat:
    path: str = "/wechat"
    token: str = ""
    app_id: str = ""
    app_secret: str = field(default="", metadata={"secret": True})
    encoding_aes_key: str = ""
    api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    account_type: str = "subscription"
    max_clock_skew_seconds: int = 300
    cs_window_hours: int = 48
    template_id_case_update: str = ""
    template_id_urgent: str = ""  # urgent broadcasts outside the window (else: held)


@dataclass(frozen=True)
class Telegram:
    mode: str = "webhook"
    base_url: str = "https://api.telegram.org/bot"
    webhook_secret: str = ""
    token: str = field(default="", metadata={"secret": True})


@dataclass(frozen=True)
class Community:
    id: str = "xfl"
    name: str = ""
    office_address: str = ""
    office_phone: str = ""
    office_hours: str = ""


@dataclass(frozen=True)
class Cases:
    merge_window_minutes: int = 30
    attach_window_minutes: int = 10
    auto_close_days: int = 7
    max_text_chars: int = 2000


@dataclass(frozen=True)
class Limits:
    accept_hours: float = 2.0  # working hours
    urgent_accept_minutes: int = 30  # around the clock
    resolve_days: int = 3  # working days
    urgent_resolve_hours: int = 24
    long_resolve_days: int = 15
    urgent_categories: tuple[str, ...] = ("fire", "security", "elderly")
    long_categories: tuple[str, ...] = ("construction",)
    sensitive_categories: tuple[str, ...] = ("elderly",)
    leader_also: tuple[str, ...] = ("elderly", "security", "fire")
    remind_before_fraction: float = 0.25  # remind when this share of the limit is left
    # A category's own limits, over the ones above (not for urgent categories): {repair = 4}
    accept_hours_by_category: dict[str, float] = field(default_factory=dict)
    resolve_days_by_category: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Routing:
    police_categories: tuple[str, ...] = ("security",)
    police_chat_id: int = 0  # the community police contact's Telegram chat (0 = none)
    group_chat_id: int = 0  # a workers' group for non-sensitive summaries (0 = none)


@dataclass(frozen=True)
class Rates:
    satisfied: float = 1.0  # weights of the satisfaction rate
    basic: float = 1.0
    unsatisfied: float = 0.0


@dataclass(frozen=True)
class Knowledge:
    faq_threshold: float = DEFAULT_THRESHOLD
    reload_seconds: float = 5.0
    cache_dir: str = "var/cache"  # the built FAQ index, kept for the next start; "" keeps none


@dataclass(frozen=True)
class Broadcasts:
    default_opt_in: bool = True
    rate_per_second: float = 20.0
    quiet_hours: str = "21:00-08:00"
    urgent_hold_hours: float = 24.0  # an urgent push held for a resident's next message expires


@dataclass(frozen=True)
class Config:
    server: Server = field(default_factory=Server)
    storage: Storage = field(default_factory=Storage)
    wechat: WeChat = field(default_factory=WeChat)
    telegram: Telegram = field(default_factory=Telegram)
    community: Community = field(default_factory=Community)
    cases: Cases = field(default_factory=Cases)
    limits: Limits = field(default_factory=Limits)
    routing: Routing = field(default_factory=Routing)
    rates: Rates = field(default_factory=Rates)
    knowledge: Knowledge = field(default_factory=Knowledge)
    broadcasts: Broadcasts = field(default_factory=Broadcasts)
    timezone: str = "Asia/Shanghai"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_url(self) -> str:
        """The storage URL with a relative SQLite path resolved against the repository."""
        url = self.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
            return prefix + str(ROOT / url[len(prefix) :])
        return url

    @property
    def knowledge_cache(self) -> Path | None:
        """Where the built FAQ index is kept (relative paths against the repository)."""
        if not self.knowledge.cache_dir:
            return None
        return ROOT / self.knowledge.cache_dir  # an absolute cache_dir stays as it is


def _coerce(raw: Any, kind: Any, where: str, problems: list[str]) -> Any:
    if isinstance(raw, str) and kind is not str:
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"{where}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}")
            return None
    if getattr(kind, "__origin__", None) is dict:
        if not isinstance(raw, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            for k, v in raw.items()
        ):
            problems.append(f"{where}: expected a table of positive numbers, got {raw!r}")
            return None
        return {k: float(v) for k, v in raw.items()}
    if getattr(kind, "__origin__", None) is tuple:
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            problems.append(f"{where}: expected a list of text, got {raw!r}")
            return None
        return tuple(raw)
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if kind is bool and not isinstance(raw, bool):
        problems.append(f"{where}: expected true or false, got {raw!r}")
        return None
    if kind in (int, float) and (isinstance(raw, bool) or not isinstance(raw, int | float)):
        problems.append(f"{where}: expected a number, got {raw!r}")
        return None
    if kind is int and not isinstance(raw, int):
        problems.append(f"{where}: expected an integer, got {raw!r}")
        return None
    if kind is str and not isinstance(raw, str):
        problems.append(f"{where}: expected text, got {raw!r}")
        return None
    return raw


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        where = f"{prefix}{f.name}"
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            section = data.get(f.name, {})
            if not isinstance(section, Mapping):
                problems.append(f"{where}: expected a [{f.name}] table")
                section = {}
            values[f.name] = _build(kind, section, f"{where}.", problems)  # type: ignore[arg-type]
        elif f.name in data:
            value = _coerce(data[f.name], kind, where, problems)
            if value is not None:
                values[f.name] = value
    known = {f.name for f in dataclasses.fields(cls)}
    problems.extend(f"{prefix}{key}: unknown key" for key in data if key not in known)
    return cls(**values)


def _merge_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith("BOT_") or name == "BOT_CONFIG":
            continue
        parts = name[4:].lower().split("__")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value


def _secrets_in_file(data: Mapping[str, Any]) -> list[str]:
    problems = []
    for section_field in dataclasses.fields(Config):
        kind = get_type_hints(Config)[section_field.name]
        if not dataclasses.is_dataclass(kind):
            continue
        section = data.get(section_field.name, {})
        for f in dataclasses.fields(kind):
            if f.metadata.get("secret") and isinstance(section, Mapping) and f.name in section:
                env_name = f"BOT_{section_field.name.upper()}__{f.name.upper()}"
                problems.append(
                    f"{section_field.name}.{f.name}: secrets come only from the environment "
                    f"({env_name}), never from the file"
                )
    return problems


def _validate(config: Config, problems: list[str]) -> None:
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown time zone {config.timezone!r}")
    if config.wechat.account_type not in ("subscription", "service"):
        problems.append("wechat.account_type: must be subscription or service")
    if config.telegram.mode not in ("webhook", "polling"):
        problems.append("telegram.mode: must be webhook or polling")
    if config.wechat.encoding_aes_key and len(config.wechat.encoding_aes_key) != 43:
        problems.append("wechat.encoding_aes_key: must be empty or 43 characters")
    if not config.wechat.path.startswith("/"):
        problems.append("wechat.path: must start with /")
    if not 0 < config.server.port < 65536:
        problems.append("server.port: must be between 1 and 65535")
    if config.server.environment not in ("development", "production"):
        problems.append("server.environment: must be development or production")
    if not _valid_hours(config.broadcasts.quiet_hours):
        problems.append('broadcasts.quiet_hours: expected "HH:MM-HH:MM"')
    if not config.broadcasts.urgent_hold_hours > 0:
        problems.append("broadcasts.urgent_hold_hours: must be more than 0")
    if config.server.environment == "production":
        for key, value in (
            ("wechat.token", config.wechat.token),
            ("wechat.app_id", config.wechat.app_id),
            ("telegram.webhook_secret", config.telegram.webhook_secret),
        ):
            if not value or any(marker in value for marker in PLACEHOLDERS):
                problems.append(f"{key}: a placeholder value is refused in production")


def _valid_hours(text: str) -> bool:
    try:
        start, end = text.split("-")
        for part in (start, end):
            hour, minute = part.split(":")
            if not (0 <= int(hour) < 24 and 0 <= int(minute) < 60):
                return False
    except ValueError:
        return False
    return True


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the file (BOT_CONFIG or config.toml), apply environment overrides, validate."""
    env = os.environ if env is None else env
    path = Path(path or env.get("BOT_CONFIG") or DEFAULT_PATH)
    problems: list[str] = []
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    problems.extend(_secrets_in_file(data))
    _merge_env(data, env)
    config: Config = _build(Config, data, "", problems)
    _validate(config, problems)
    if problems:
        raise ConfigError(problems)
    return config
