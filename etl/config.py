"""Configuration: parsed once from TOML, the environment and CLI flags into frozen objects.

This is the only module that reads ``os.environ`` or a config file (besides the test-only
crash hook in ``crashpoints``). Every default lives
here; ``configs/example.toml`` documents the same values and a test keeps the two in step.
The API key is held in a :class:`Secret` whose ``repr`` is ``***``, so it cannot leak
through a log line, a traceback or a dataclass ``repr``.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from etl.errors import ConfigError

DEFAULT_API_URL = "https://api.roboflow.com"
KEY_ENV = "ROBOFLOW_API_KEY"
SPLITS: tuple[str, ...] = ("train", "valid", "test")  # the splits the per-split panels accept

LogFormat = Literal["auto", "text", "json"]


class Secret:
    """A string that never shows itself in ``repr``/``str``; call :meth:`reveal` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ApiConfig:
    url: str = DEFAULT_API_URL
    key: Secret | None = field(default=None, repr=False)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    total_timeout: float = 120.0
    verify_tls: bool = True
    # A response bigger than this (on the wire, or after inflating) ends its unit as an error.
    max_response_mb: int = 32


@dataclass(frozen=True)
class CrawlConfig:
    concurrency: int = 32
    splits: tuple[str, ...] = SPLITS
    # Requested confidence variants; None is "the server's default variant".
    confidences: tuple[int | None, ...] = (None,)
    image_page_size: int = 1000
    # A totalImages beyond this is refused after one request (a lying page costs no more).
    max_images_per_unit: int = 10_000_000
    max_attempts: int = 6
    retry_budget: int = 2000
    backoff_base: float = 0.25
    backoff_max: float = 30.0
    not_done_attempts: int = 4
    not_done_seconds: float = 30.0
    deadline_seconds: float | None = None


@dataclass(frozen=True)
class OutputConfig:
    out: Path = Path("evals-out")
    # Retention: the newest `keep` snapshots, and every snapshot replaced less than
    # `keep_days` days ago (an open read-only session keeps reading the one it started on).
    keep: int = 3
    keep_days: float = 8.0


@dataclass(frozen=True)
class HealthConfig:
    # A partial run is healthy when only "unavailable" panels made it partial ("never",
    # "unavailable" or "always"); `status --check` and the pings judge by it.
    accept_partial: str = "unavailable"
    max_age_hours: float | None = None  # `status --check` fails past it (--max-age overrides)


@dataclass(frozen=True)
class PingConfig:
    # Healthchecks style: `url` alone means url/start, url and url/fail; or give each.
    url: str = ""
    start: str = ""
    success: str = ""
    failure: str = ""
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class WorkspaceSource:
    """One workspace of a run and the key that reads it (each may have its own)."""

    slug: str
    key: Secret | None = field(default=None, repr=False)
    key_from: str = KEY_ENV  # where the key came from, for messages (never the key)


@dataclass(frozen=True)
class Config:
    workspace: str  # the first (usually the only) workspace; `workspaces` lists them all
    api: ApiConfig = ApiConfig()
    crawl: CrawlConfig = CrawlConfig()
    output: OutputConfig = OutputConfig()
    log_format: LogFormat = "auto"
    full_refresh: bool = False
    health: HealthConfig = HealthConfig()
    ping: PingConfig = PingConfig()
    # Said once per run: an unencrypted API URL, TLS checks off, a key file others can read.
    warnings: tuple[str, ...] = ()
    workspaces: tuple[WorkspaceSource, ...] = ()  # empty: just `workspace`, with api.key

    def sources(self) -> tuple[WorkspaceSource, ...]:
        """Every workspace of the run with its key (one, unless several were configured)."""
        return self.workspaces or (WorkspaceSource(self.workspace, self.api.key),)


_SECTIONS: dict[str, type] = {"api": ApiConfig, "crawl": CrawlConfig, "output": OutputConfig,
                              "health": HealthConfig, "ping": PingConfig}


def load(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    require_key: bool = True,
) -> Config:
    """Build the one ``Config`` of a run.

    Precedence, lowest first: defaults, the TOML file, ``overrides`` (dotted names such as
    ``"crawl.concurrency"`` from CLI flags). The key comes from ``ROBOFLOW_API_KEY`` or from
    the file named by ``api.key_file``, never from a flag.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = _read_toml(path) if path else {}
    if isinstance(raw.get("api"), Mapping) and "key" in raw["api"]:
        raise ConfigError(f"[api] key: a key in a config file is refused (config files get "
                          f"copied, committed and printed); set {KEY_ENV}, or name a file "
                          "that holds it with [api] key_file (chmod 600)")
    _resolve_relative(raw, path)
    overrides = dict(overrides or {})
    if (chosen := overrides.pop("workspaces", None)) is not None:
        # --workspace (repeatable) picks the run's workspaces; one the file describes keeps
        # the key source the file gives it.
        described = {e["slug"]: e for e in raw.get("workspaces") or []
                     if isinstance(e, Mapping) and isinstance(e.get("slug"), str)}
        raw.pop("workspace", None)
        raw["workspaces"] = [described.get(slug, slug) for slug in chosen]
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, name = dotted.rpartition(".")
        (raw.setdefault(section, {}) if section else raw)[name] = value

    key_file = raw.get("api", {}).pop("key_file", None)
    sections = {name: _build(cls, raw.pop(name, {}), name) for name, cls in _SECTIONS.items()}
    api = _with_key(sections["api"], env, key_file, path, require_key=False)

    sources = _workspaces(raw.pop("workspaces", None), raw.pop("workspace", None), api, env,
                          path, require_key)
    workspace = sources[0].slug
    log_format = raw.pop("log_format", "auto")
    if log_format not in ("auto", "text", "json"):
        raise ConfigError(f"log_format must be auto, text or json, not {log_format!r}")
    full_refresh = raw.pop("full_refresh", False)
    if not isinstance(full_refresh, bool):
        raise ConfigError("full_refresh must be true or false")
    if raw:
        raise ConfigError(f"unknown config keys: {', '.join(sorted(raw))}")
    config = Config(workspace, api, sections["crawl"], sections["output"], log_format,
                    full_refresh, sections["health"], sections["ping"],
                    workspaces=sources if len(sources) > 1 or sources[0].key_from != KEY_ENV
                    else ())
    if len(sources) > 1 or sources[0].key_from != KEY_ENV:
        config = replace(config, api=replace(api, key=sources[0].key))
    _validate(config)
    return replace(config, warnings=tuple(_security_warnings(config, key_file, path)))


def _workspaces(listed: Any, single: Any, api: ApiConfig, env: Mapping[str, str],
                config_path: Path | None, require_key: bool) -> tuple[WorkspaceSource, ...]:
    """``workspaces = ["a", "b"]``, ``[[workspaces]]`` tables (``slug`` and a ``key_env`` or
    ``key_file`` of its own), or the single ``workspace``; each with its key."""
    if isinstance(listed, list) and len(listed) == 1 and isinstance(listed[0], str):
        listed, single = None, listed[0]  # one workspace named on the command line
    if listed is None:
        if not single or not isinstance(single, str):
            raise ConfigError("no workspace: pass --workspace or set `workspace` in the config")
        if api.key is None and require_key:
            raise ConfigError(f"no API key: set {KEY_ENV} or name a key file in the config "
                              "([api] key_file)")
        return (WorkspaceSource(single, api.key),)
    if single is not None and single not in (listed if isinstance(listed, list) else []):
        raise ConfigError("set `workspace` or `workspaces`, not both")
    if not isinstance(listed, list) or not listed:
        raise ConfigError("workspaces must be a non-empty list of slugs or of tables")
    sources = []
    for i, item in enumerate(listed):
        entry = {"slug": item} if isinstance(item, str) else item
        if not isinstance(entry, Mapping) or not isinstance(entry.get("slug"), str):
            raise ConfigError(f"workspaces[{i}] must be a slug or a table with `slug`")
        unknown = set(entry) - {"slug", "key_env", "key_file"}
        if unknown or ("key_env" in entry and "key_file" in entry):
            raise ConfigError(f"workspaces[{i}] ({entry['slug']}): give `slug` and at most one "
                              f"of key_env, key_file (not {', '.join(sorted(unknown)) or 'both'})")
        if "key_env" in entry:
            name = str(entry["key_env"])
            value, source = (env.get(name) or "").strip() or None, f"${name}"
        elif "key_file" in entry:
            value, source = _read_key_file(entry["key_file"], config_path), str(entry["key_file"])
        else:
            value, source = (api.key.reveal() if api.key else None), KEY_ENV
        if value is None and require_key:
            raise ConfigError(f"workspace {entry['slug']!r}: no API key in {source}")
        sources.append(WorkspaceSource(entry["slug"], Secret(value) if value else None, source))
    slugs = [s.slug for s in sources]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"workspaces lists a slug twice: {', '.join(slugs)}")
    return tuple(sources)


def health(path: Path | None) -> HealthConfig:
    """The ``[health]`` section alone: ``status`` needs no workspace or key to judge a folder."""
    raw = _read_toml(path) if path else {}
    config = Config("-", health=_build(HealthConfig, raw.get("health", {}), "health"))
    _validate(config)
    return config.health


def _with_key(api: ApiConfig, env: Mapping[str, str], key_file: object,
              config_path: Path | None, require_key: bool) -> ApiConfig:
    # Stripped like the key file: a trailing newline would be an illegal header character.
    key_value = (env.get(KEY_ENV) or "").strip() or _read_key_file(key_file, config_path)
    if key_value:
        return replace(api, key=Secret(key_value))
    if require_key:
        raise ConfigError(
            f"no API key: set {KEY_ENV} or name a key file in the config ([api] key_file)")
    return api


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _read_key_file(key_file: object, config_path: Path | None) -> str | None:
    if key_file is None:
        return None
    path = _key_path(key_file, config_path)
    try:
        if path.stat().st_mode & 0o002:
            raise ConfigError(f"the key file {path} is writable by every user: anyone could "
                              "swap the key; chmod 600 it")
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from None


def _build(cls: type, values: Any, section: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown keys in [{section}]: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kwargs[name] = _coerce(section, name, value, getattr(cls(), name))
    return cls(**kwargs)


def _coerce(section: str, name: str, value: Any, default: Any) -> Any:
    where = f"{section}.{name}"
    if name == "confidences":
        return _confidences(where, value)
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(dict.fromkeys(value))  # a split given twice is fetched once
    if isinstance(default, Path):
        if not isinstance(value, str) or not value.strip():
            # Path("") is the working directory: never a silent choice of output folder.
            raise ConfigError(f"{where} must name a folder (an empty path would mean the "
                              "current directory; write \".\" if that is what you want)")
        return Path(value).expanduser()
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, not {value!r}")
        return value
    if isinstance(default, float) or default is None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, not {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
        return value
    raise ConfigError(f"{where}: unsupported value {value!r}")


def _resolve_relative(raw: dict[str, Any], config_path: Path | None) -> None:
    """Relative paths in a config file mean relative to that file, all of them alike."""
    if config_path is None:
        return
    output = raw.get("output")
    if not isinstance(output, dict):
        return
    out = output.get("out")
    if isinstance(out, str) and out.strip() and not Path(out).expanduser().is_absolute():
        output["out"] = str(config_path.parent / out)


def _security_warnings(config: Config, key_file: object, config_path: Path | None
                       ) -> list[str]:
    warnings = []
    url = urlsplit(config.api.url)
    if url.scheme == "http" and url.hostname not in ("localhost", "127.0.0.1", "::1"):
        warnings.append(f"api.url {config.api.url} is plain http: the API key crosses the "
                        "network unencrypted (fine for a local simulator, never for a real API)")
    if not config.api.verify_tls:
        warnings.append("api.verify_tls = false: the server's certificate is not checked, so "
                        "anyone on the path can read the API key; use it for a test server only")
    if key_file is not None:
        path = _key_path(key_file, config_path)
        mode = path.stat().st_mode
        if mode & 0o077:
            warnings.append(f"the key file {path} is readable by others (mode "
                            f"{mode & 0o777:o}); chmod 600 it")
    return warnings


def _key_path(key_file: object, config_path: Path | None) -> Path:
    path = Path(str(key_file)).expanduser()
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path


def _confidences(where: str, value: Any) -> tuple[int | None, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f'{where} must be a non-empty list of integers 0-100 or "default"')
    out: list[int | None] = []
    for item in value:
        if item == "default":
            out.append(None)
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 100:
            out.append(item)
        else:
            raise ConfigError(f'{where}: {item!r} is not an integer 0-100 or "default"')
    return tuple(dict.fromkeys(out))


def _validate(config: Config) -> None:
    crawl = config.crawl
    if not 1 <= crawl.concurrency <= 1024:
        raise ConfigError("crawl.concurrency must be between 1 and 1024")
    bad = [s for s in crawl.splits if s not in SPLITS]
    if bad or not crawl.splits:
        raise ConfigError(f"crawl.splits must be a non-empty subset of {', '.join(SPLITS)}")
    if not 1 <= crawl.image_page_size <= 1000:
        raise ConfigError("crawl.image_page_size must be between 1 and 1000")
    if crawl.max_attempts < 1 or crawl.retry_budget < 0:
        raise ConfigError("crawl.max_attempts must be >= 1 and crawl.retry_budget >= 0")
    if crawl.not_done_attempts < 1 or crawl.max_images_per_unit < 1:
        raise ConfigError("crawl.not_done_attempts and crawl.max_images_per_unit must be >= 1")
    durations = {"api.connect_timeout": config.api.connect_timeout,
                 "api.read_timeout": config.api.read_timeout,
                 "api.total_timeout": config.api.total_timeout,
                 "crawl.backoff_base": crawl.backoff_base, "crawl.backoff_max": crawl.backoff_max,
                 "crawl.not_done_seconds": crawl.not_done_seconds}
    if crawl.deadline_seconds is not None:
        durations["crawl.deadline_seconds (--deadline)"] = crawl.deadline_seconds
    for name, seconds in durations.items():
        if not 0 < seconds <= 7 * 24 * 3600:
            raise ConfigError(f"{name} must be a number of seconds above 0 and at most a week, "
                              f"not {seconds!r}")
    if crawl.backoff_max < crawl.backoff_base:
        raise ConfigError("crawl.backoff_max must be at least crawl.backoff_base")
    if not 1 <= config.api.max_response_mb <= 4096:
        raise ConfigError("api.max_response_mb must be between 1 and 4096")
    if config.output.keep < 1:
        raise ConfigError("output.keep must be >= 1")
    if not 0 <= config.output.keep_days <= 36500:
        raise ConfigError("output.keep_days must be between 0 and 36500")
    for source in config.sources():
        if source.slug in (".", "..") or not source.slug.strip():
            raise ConfigError(f"workspace {source.slug!r} is not a workspace slug")
    if not config.api.url.startswith(("http://", "https://")):
        raise ConfigError(f"api.url must be an http(s) URL, not {config.api.url!r}")
    if config.health.accept_partial not in ("never", "unavailable", "always"):
        raise ConfigError('health.accept_partial must be "never", "unavailable" or "always", '
                          f"not {config.health.accept_partial!r}")
    for name in ("url", "start", "success", "failure"):
        value = getattr(config.ping, name)
        if value and not value.startswith(("http://", "https://")):
            raise ConfigError(f"ping.{name} must be an http(s) URL")  # never echo it: a capability


WAREHOUSE_ENV = "EVALS_ETL_WAREHOUSE_URI"


def warehouse_uri(to: str | None, to_env: str | None, to_file: Path | None,
                  environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The warehouse URI from ``--to``, ``--to-env VAR``, ``--to-file PATH`` or, when none is
    given, ``$EVALS_ETL_WAREHOUSE_URI``; with the warnings it deserves (a password in argv)."""
    env = os.environ if environ is None else environ
    given = [name for name, value in (("--to", to), ("--to-env", to_env),
                                      ("--to-file", to_file)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"give the warehouse once: {' and '.join(given)} were both given")
    warnings: list[str] = []
    if to is not None:
        uri = to
        if urlsplit(to).password:
            warnings.append("the warehouse password is on the command line, where `ps` shows "
                            f"it to every local user: use --to-env, --to-file, ${WAREHOUSE_ENV}, "
                            "PGPASSWORD or ~/.pgpass instead")
    elif to_file is not None:
        try:
            uri = to_file.expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--to-file {to_file}: {exc.strerror}") from None
    else:
        name = to_env or WAREHOUSE_ENV
        uri = env.get(name, "").strip()
        if not uri:
            raise ConfigError(f"no warehouse: set ${name} (or give --to-env VAR / --to-file "
                              "PATH; --to URI works but shows a password to `ps`)")
    if not uri:
        raise ConfigError("the warehouse URI is empty")
    return uri, warnings
