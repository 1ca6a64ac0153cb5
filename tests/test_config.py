"""Configuration: defaults that work, environment overrides, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def test_the_repository_config_loads_with_working_defaults() -> None:
    config = load_config(env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8000)
    assert config.wechat.path == "/wechat" and config.timezone == "Asia/Shanghai"
    assert config.database_url.startswith("sqlite:////")
    assert config.wechat.app_secret == "" and config.telegram.token == ""


def test_environment_overrides_any_key_with_its_type() -> None:
    config = load_config(
        env={
            "BOT_SERVER__PORT": "8123",
            "BOT_STORAGE__URL": "sqlite:////tmp/x.db",
            "BOT_BROADCASTS__DEFAULT_OPT_IN": "false",
            "BOT_WECHAT__APP_SECRET": "s3cret",
            "BOT_TIMEZONE": "Asia/Urumqi",
            "BOT_LIMITS__URGENT_CATEGORIES": '["fire"]',
        }
    )
    assert config.server.port == 8123
    assert config.database_url == "sqlite:////tmp/x.db"
    assert config.broadcasts.default_opt_in is False
    assert config.wechat.app_secret == "s3cret"
    assert config.timezone == "Asia/Urumqi"
    assert config.limits.urgent_categories == ("fire",)


def test_bot_config_selects_another_file(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 9001\n", encoding="utf-8")
    assert load_config(env={"BOT_CONFIG": str(other)}).server.port == 9001


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'timezone = "Mars/Olympus"\n[server]\nport = "eighty"\n[wechat]\naccount_type = "x"\n'
        'app_secret = "committed"\n[nosuch]\nkey = 1\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(
            bad,
            env={"BOT_TELEGRAM__MODE": "carrier-pigeon", "BOT_BROADCASTS__URGENT_HOLD_HOURS": "0"},
        )
    text = str(caught.value)
    for fragment in (
        "timezone",
        "server.port",
        "wechat.account_type",
        "wechat.app_secret",
        "nosuch",
        "telegram.mode",
        "broadcasts.urgent_hold_hours",
    ):
        assert fragment in text, fragment
    assert len(caught.value.problems) >= 7


def test_production_refuses_placeholder_values() -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        load_config(env={"BOT_SERVER__ENVIRONMENT": "production"})
