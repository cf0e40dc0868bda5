"""The rules file: defaults, every field checked, mistakes named (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.check.rules import DEFAULT, Rule, load
from etl.errors import EXIT_USAGE, ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_no_file_means_the_default_rule() -> None:
    assert load(None) is DEFAULT
    assert DEFAULT.rules == (Rule("f1", "test", None, 0.01, "previous_version"),)


def test_a_full_file_reads_into_values(tmp_path: Path) -> None:
    rules = load(write(tmp_path, """
        [[rule]]
        name = "trucks"
        metric = "map50"
        split = "valid"
        class = "truck"
        tolerance = 0.02
        baseline = "best_so_far"
        project = "p"
        [[rule]]
        metric = "f1"
        class = "all"
        baseline = "pinned"
        eval = "abc"
        [notify]
        webhook_url_env = "HOOK"
        timeout_seconds = 3
    """), environ={"HOOK": "https://hooks.example/x "})
    assert rules.rules == (Rule("map50", "valid", "truck", 0.02, "best_so_far", None, "p",
                                "trucks"),
                           Rule("f1", "test", None, 0.0, "pinned", "abc"))
    assert rules.notify.webhook_url == "https://hooks.example/x"
    assert rules.notify.timeout_seconds == 3.0
    assert rules.rules[1].title == "f1 on test, all classes, vs eval abc"


@pytest.mark.parametrize(("text", "says"), [
    ("", "no [[rule]] table"),
    ("[[rule]]\nmetric = 'speed'", "metric must be one of"),
    ("[[rule]]\nsplit = 'test'", "metric is required"),
    ("[[rule]]\nmetric = 'f1'\ntolerance = -1", "tolerance must be a number >= 0"),
    ("[[rule]]\nmetric = 'f1'\ntolerance = true", "tolerance must be a number >= 0"),
    ("[[rule]]\nmetric = 'f1'\nbaseline = 'pinned'", "pinned"),
    ("[[rule]]\nmetric = 'f1'\neval = 'x'", "pinned"),
    ("[[rule]]\nmetric = 'f1'\nthreshold = 1", "unknown keys threshold"),
    ("[[rule]]\nmetric = 'f1'\n[notify]\nwebhook_url = 'ftp://x'", "http(s) URL"),
    ("[[rule]]\nmetric = 'f1'\n[notify]\nwebhook_url_env = 'NOPE'", "$NOPE, which is not set"),
    ("[[rule]]\nmetric = 'f1'\n[notify]\nwebhook_url = 'http://a'\nwebhook_url_env = 'X'",
     "not both"),
    ("[[rule]\nmetric = 'f1'", "not valid TOML"),
    ("[rules]\nmetric = 'f1'", "unknown keys rules"),
])
def test_mistakes_are_usage_errors_naming_the_rule(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert says in str(caught.value) and str(path) in str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rules file"):
        load(tmp_path / "nope.toml")


def test_the_webhook_url_is_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "[[rule]]\nmetric = 'f1'\n[notify]\nwebhook_url = 'htps://secret-token'")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "secret-token" not in str(caught.value)


def test_the_shipped_example_reads() -> None:
    example = Path(__file__).resolve().parents[2] / "configs" / "rules.example.toml"
    rules = load(example, environ={"EVALS_ETL_WEBHOOK": "https://hooks.example/x"})
    assert [r.metric for r in rules.rules] == ["f1", "map50"]
    assert rules.rules[0] == Rule("f1", "test", None, 0.01, "previous_version",
                                  name="headline F1 vs the previous version")
    assert rules.notify.webhook_url == "https://hooks.example/x"
