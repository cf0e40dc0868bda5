from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from etl import config
from etl.config import Config, Secret
from etl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
ENV = {"ROBOFLOW_API_KEY": "k-123"}


def load(**overrides: object) -> Config:
    return config.load(overrides={"workspace": "ws", **overrides}, environ=ENV)


def test_defaults_and_real_api_url() -> None:
    cfg = load()
    assert cfg.api.url == "https://api.roboflow.com"
    assert cfg.crawl.splits == ("train", "valid", "test")
    assert cfg.crawl.confidences == (None,)
    assert cfg.api.verify_tls is True


def test_example_toml_documents_every_default() -> None:
    """configs/example.toml states each option with the value config.py uses."""
    raw = tomllib.loads((ROOT / "configs" / "example.toml").read_text())
    for section, cls in config._SECTIONS.items():
        defaults = cls()
        documented = raw[section]
        for f in fields(cls):
            if f.name in ("key", "deadline_seconds", "max_age_hours"):
                continue
            assert f.name in documented, f"{section}.{f.name} missing from example.toml"
            value = getattr(defaults, f.name)
            if f.name == "confidences":
                assert documented[f.name] == ["default"]
            elif isinstance(value, tuple):
                assert tuple(documented[f.name]) == value
            elif isinstance(value, Path):
                assert Path(documented[f.name]) == value
            else:
                assert documented[f.name] == value, f"{section}.{f.name}"
    cfg = config.load(ROOT / "configs" / "example.toml", environ=ENV)
    assert cfg.workspace == "my-workspace"


def test_key_from_env_is_secret() -> None:
    cfg = load()
    assert cfg.api.key == Secret("k-123")
    assert "k-123" not in repr(cfg)
    assert "k-123" not in str(cfg.api.key)


def test_key_from_key_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-key\n")
    path = tmp_path / "c.toml"
    path.write_text('workspace = "w"\n[api]\nkey_file = "key"\n')
    cfg = config.load(path, environ={})
    assert cfg.api.key is not None and cfg.api.key.reveal() == "file-key"


def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ROBOFLOW_API_KEY"):
        config.load(overrides={"workspace": "ws"}, environ={})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"crawl.concurrency": 0}, "concurrency"),
        ({"crawl.splits": ["all"]}, "splits"),
        ({"crawl.confidences": [101]}, "confidences"),
        ({"crawl.confidences": ["0.5"]}, "confidences"),
        ({"crawl.image_page_size": 5000}, "image_page_size"),
        ({"api.url": "ftp://x"}, "api.url"),
        ({"crawl.bogus": 1}, "unknown"),
        ({"log_format": "xml"}, "log_format"),
    ],
)
def test_bad_values_name_the_option(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load(**overrides)


def test_confidences_parse_default_and_ints() -> None:
    assert load(**{"crawl.confidences": ["default", 50, 50]}).crawl.confidences == (None, 50)


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("workspace = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(path, environ=ENV)


def test_repeated_splits_are_fetched_once_and_the_env_key_is_stripped() -> None:
    from etl import config as config_module

    cfg = config_module.load(None, overrides={"workspace": "acme",
                                               "crawl.splits": ["test", "test", "valid"]},
                             environ={"ROBOFLOW_API_KEY": " k-123\n"})
    assert cfg.crawl.splits == ("test", "valid")
    assert cfg.api.key is not None and cfg.api.key.reveal() == "k-123"
