"""Strict configuration: every refusal is exit 2 with the field and what is accepted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etl import cli
from etl import config as config_module
from etl.errors import ConfigError

ENV = {"ROBOFLOW_API_KEY": "k"}


def load(tmp_path: Path, text: str, **kwargs: object) -> config_module.Config:
    path = tmp_path / "c.toml"
    path.write_text('workspace = "acme"\n' + text)
    return config_module.load(path, environ=kwargs.pop("environ", ENV), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    ("[output]\nkeep = 2.5\n", "output.keep must be a whole number, not 2.5"),
    ("[crawl]\nconcurrency = 4.5\n", "crawl.concurrency must be a whole number"),
    ("[crawl]\nconcurrency = true\n", "crawl.concurrency must be a whole number"),
    ("[api]\nread_timeout = -1\n", "api.read_timeout must be a number of seconds above 0"),
    ("[api]\nconnect_timeout = 0\n", "api.connect_timeout must be a number of seconds above 0"),
    ("[api]\ntotal_timeout = nan\n", "api.total_timeout must be a finite number"),
    ("[crawl]\nbackoff_base = inf\n", "crawl.backoff_base must be a finite number"),
    ("[crawl]\ndeadline_seconds = 0\n", "crawl.deadline_seconds .* above 0"),
    ("[crawl]\ndeadline_seconds = -5\n", "crawl.deadline_seconds .* above 0"),
    ("[crawl]\nbackoff_base = 10\nbackoff_max = 1\n", "backoff_max must be at least"),
    ('[output]\nout = ""\n', "output.out must name a folder"),
    ('[api]\nkey = "rf-123"\n', "a key in a config file is refused.*ROBOFLOW_API_KEY.*key_file"),
    ("full_refresh = 1\n", "full_refresh must be true or false"),
    ("[api]\nmax_response_mb = 0\n", "api.max_response_mb must be between 1 and 4096"),
])
def test_a_bad_value_is_refused_with_its_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_the_key_is_not_repeated_when_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[api]\nkey = "rf-SECRET-123"\n')
    assert "rf-SECRET-123" not in str(caught.value)


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("k\n")
    (tmp_path / "key").chmod(0o600)
    cfg = load(tmp_path, '[api]\nkey_file = "key"\n[output]\nout = "data/out"\n', environ={})
    assert cfg.output.out == tmp_path / "data" / "out"
    assert cfg.api.key is not None and cfg.api.key.reveal() == "k"


def test_security_warnings_are_given_once(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k\n")
    key.chmod(0o644)
    cfg = load(tmp_path, f'[api]\nurl = "http://api.example.com"\nverify_tls = false\n'
                         f'key_file = "{key}"\n', environ={})
    assert len(cfg.warnings) == 3
    assert any("plain http" in w for w in cfg.warnings)
    assert any("verify_tls = false" in w for w in cfg.warnings)
    assert any("readable by others" in w and "chmod 600" in w for w in cfg.warnings)
    local = load(tmp_path, '[api]\nurl = "http://127.0.0.1:8765"\n')
    assert local.warnings == ()  # a local simulator is not a warning


def test_a_world_writable_key_file_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k\n")
    os.chmod(key, 0o666)
    with pytest.raises(ConfigError, match="writable by every user"):
        load(tmp_path, f'[api]\nkey_file = "{key}"\n', environ={})


def test_no_full_refresh_undoes_the_config(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = cli._parser().parse_args(["export", "--no-full-refresh"])
    assert parsed.full_refresh is False
    assert cli._parser().parse_args(["export"]).full_refresh is None
    cfg = load(tmp_path, "full_refresh = true\n", overrides={"full_refresh": False})
    assert cfg.full_refresh is False


def test_refusals_through_the_cli_are_exit_2_before_any_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ROBOFLOW_API_KEY", "k")
    config = tmp_path / "c.toml"
    config.write_text('workspace = "acme"\n[api]\nurl = "http://127.0.0.1:9"\n'
                      "[output]\nkeep = 2.5\n")
    assert cli.main(["export", "--config", str(config)]) == 2
    assert "output.keep must be a whole number" in capsys.readouterr().err
    assert cli.main(["export", "--config", str(config), "--deadline", "0"]) == 2
