"""Where `evals-etl load` gets its warehouse URI: never only from argv, where `ps` shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import WAREHOUSE_ENV, warehouse_uri
from etl.errors import ConfigError

URI = "postgresql://loader:S3cret@db.internal:5432/analytics"


def test_the_default_is_the_environment_variable() -> None:
    assert warehouse_uri(None, None, None, {WAREHOUSE_ENV: f" {URI}\n"}) == (URI, [])


def test_a_named_variable_or_a_file(tmp_path: Path) -> None:
    assert warehouse_uri(None, "MY_DW", None, {"MY_DW": URI}) == (URI, [])
    secret = tmp_path / "dw-uri"
    secret.write_text(URI + "\n")
    assert warehouse_uri(None, None, secret, {}) == (URI, [])


def test_a_password_on_the_command_line_works_with_a_warning_that_does_not_repeat_it() -> None:
    uri, warnings = warehouse_uri(URI, None, None, {})
    assert uri == URI and len(warnings) == 1
    assert "ps" in warnings[0] and "S3cret" not in warnings[0]
    assert warehouse_uri("postgresql://loader@db/analytics", None, None, {})[1] == []


@pytest.mark.parametrize(("args", "message"), [
    ((None, None, None), "no warehouse: set \\$EVALS_ETL_WAREHOUSE_URI"),
    ((None, "UNSET_VAR", None), "no warehouse: set \\$UNSET_VAR"),
    ((URI, "MY_DW", None), "give the warehouse once"),
    ((None, None, Path("/nonexistent/dw-uri")), "--to-file /nonexistent/dw-uri"),
])
def test_mistakes_are_usage_errors(args: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        warehouse_uri(*args, environ={})
