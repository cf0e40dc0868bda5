"""The regression rules of ``evals-etl check``: a TOML file read into frozen values.

Every mistake in the file is a :class:`ConfigError` (exit 2) naming the file, the rule and
the field, raised before anything is read from the dataset. The webhook URL may stand in the
file or in an environment variable the file names (``webhook_url_env``), so that a file kept
in version control need not hold the capability the URL is.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from etl.errors import ConfigError

Baseline = Literal["previous_version", "best_so_far", "pinned"]
BASELINES: tuple[str, ...] = get_args(Baseline)
# Every metric is higher-is-better. "iou" is the per-class name of "miou".
METRICS = ("map50", "map50_95", "map75", "miou", "iou", "precision", "recall", "f1")
SPLITS = ("train", "valid", "test")
_RULE_KEYS = {"name", "metric", "split", "class", "tolerance", "baseline", "eval", "project"}
_NOTIFY_KEYS = {"webhook_url", "webhook_url_env", "timeout_seconds"}


@dataclass(frozen=True)
class Rule:
    """A regression when the candidate's ``metric`` is below the baseline's by more than
    ``tolerance`` (absolute, in the metric's own unit)."""

    metric: str
    split: str = "test"
    class_name: str | None = None  # None: the whole split ("all")
    tolerance: float = 0.0
    baseline: Baseline = "previous_version"
    eval_id: str | None = None  # the pinned eval, with baseline = "pinned"
    project: str | None = None  # only this project's evals
    name: str = ""

    @property
    def key(self) -> str:
        """What makes two rules the same rule for ``--since-last`` (the name is a label)."""
        return "|".join(str(v) for v in (self.metric, self.split, self.class_name,
                                         self.tolerance, self.baseline, self.eval_id,
                                         self.project))

    @property
    def title(self) -> str:
        scope = "all classes" if self.class_name is None else f"class {self.class_name!r}"
        base = f"eval {self.eval_id}" if self.baseline == "pinned" else self.baseline
        return self.name or f"{self.metric} on {self.split}, {scope}, vs {base}"


@dataclass(frozen=True)
class Notify:
    webhook_url: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    notify: Notify = Notify()
    source: str = "the default rules"


# Without --rules: the headline F1 of each project's newest eval against its previous version.
DEFAULT = RuleSet((Rule("f1", tolerance=0.01),))


def load(path: Path | None, environ: Mapping[str, str] | None = None) -> RuleSet:
    """The rules in ``path`` (the default rules when None)."""
    if path is None:
        return DEFAULT
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"rules file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"rules file {path} is not valid TOML: {exc}") from None
    where = f"rules file {path}"
    unknown = set(raw) - {"rule", "notify"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} "
                          "(expected [[rule]] tables and an optional [notify])")
    entries = raw.get("rule", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: no [[rule]] table: a check needs at least one rule")
    rules = tuple(_rule(entry, f"{where}, rule {i + 1}") for i, entry in enumerate(entries))
    env = os.environ if environ is None else environ
    return RuleSet(rules, _notify(raw.get("notify", {}), where, env), str(path))


def _rule(entry: object, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    _no_unknown(entry, _RULE_KEYS, where)
    metric = _choice(entry, "metric", METRICS, where, required=True) or ""
    split = _choice(entry, "split", SPLITS, where) or "test"
    baseline = _choice(entry, "baseline", BASELINES, where) or "previous_version"
    cls = _text(entry, "class", where)
    eval_id = _text(entry, "eval", where)
    if (baseline == "pinned") != (eval_id is not None):
        raise ConfigError(f"{where}: eval names the pinned eval, and goes with "
                          'baseline = "pinned" only')
    tolerance = entry.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
            math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"{where}: tolerance must be a number >= 0, not {tolerance!r}")
    return Rule(metric, split, None if cls in (None, "all") else cls, float(tolerance),
                baseline, eval_id, _text(entry, "project", where),  # type: ignore[arg-type]
                _text(entry, "name", where) or "")


def _notify(entry: object, where: str, env: Mapping[str, str]) -> Notify:
    where = f"{where}, [notify]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    _no_unknown(entry, _NOTIFY_KEYS, where)
    url, name = _text(entry, "webhook_url", where), _text(entry, "webhook_url_env", where)
    if url is not None and name is not None:
        raise ConfigError(f"{where}: give webhook_url or webhook_url_env, not both")
    if name is not None:
        url = env.get(name, "").strip() or None
        if url is None:
            raise ConfigError(f"{where}: webhook_url_env names ${name}, which is not set")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: the webhook URL must be an http(s) URL")  # never echoed
    timeout = entry.get("timeout_seconds", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
            math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"{where}: timeout_seconds must be a number above 0")
    return Notify(url, float(timeout))


def _no_unknown(entry: Mapping[str, Any], known: set[str], where: str) -> None:
    if unknown := set(entry) - known:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")


def _text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value


def _choice(entry: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str, *,
            required: bool = False) -> str | None:
    value = _text(entry, key, where)
    if value is None and required:
        raise ConfigError(f"{where}: {key} is required (one of {', '.join(allowed)})")
    if value is not None and value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return value
