"""The ``--to`` URI of an Iceberg catalog, and the catalog properties it stands for (pure).

Three forms, the catalog type in the scheme, the table files' location in ``warehouse=``::

    iceberg+sql:///var/lib/evals/catalog.db?warehouse=s3://bucket/prefix   SQL catalog, SQLite file
    iceberg+postgresql://user@host:5432/db?warehouse=s3://bucket/prefix     SQL catalog, PostgreSQL
    iceberg+rest://host:8181/?warehouse=name                                REST catalog (rests: TLS)

``warehouse`` may be ``s3://``, ``gs://``, ``abfs://``, ``file:///…`` or an absolute path. Every
other query parameter is handed to pyiceberg verbatim (``s3.endpoint``, ``s3.region``,
``credential``, ``header.X-…``); ``catalog=`` names the catalog (default ``evals``: engines
that read a SQL catalog must use the same name). Credentials belong in the environment (the
standard AWS variables and profile files, which pyarrow's S3 filesystem reads) or in a URI
given through ``--to-file``/``--to-env``, never on the command line; every value that looks
like a credential is masked in :attr:`IcebergUri.masked` and :meth:`IcebergUri.redact`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from etl.errors import ConfigError

SCHEMES = ("iceberg+sql", "iceberg+postgresql", "iceberg+rest", "iceberg+rests")
DEFAULT_CATALOG = "evals"
MASK = "***"
# pyiceberg's own property names, passed through; anything else is a typo worth refusing.
_EXACT = {"warehouse", "credential", "token", "scope", "oauth2-server-uri", "audience",
          "resource", "prefix", "py-io-impl", "rest.sigv4-enabled", "rest.signing-region",
          "rest.signing-name", "rest.authorization-url"}
_PREFIXES = ("s3.", "client.", "gcs.", "adls.", "header.", "hf.", "pyarrow.")
_SHORTEST = 4
_SECRET = re.compile(r"secret|token|credential|password|passwd|key|sas|signature", re.IGNORECASE)


def is_iceberg(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in (*SCHEMES, "iceberg")


@dataclass(frozen=True)
class IcebergUri:
    kind: str  # "sql" or "rest"
    name: str  # the catalog's name
    properties: dict[str, str] = field(repr=False)  # what pyiceberg's catalog is built from
    masked: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def parse(cls, uri: str) -> IcebergUri:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ConfigError("an Iceberg target names its catalog: iceberg+sql:///path/catalog.db"
                              "?warehouse=…, iceberg+postgresql://…, iceberg+rest://host:port/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        name = query.pop("catalog", DEFAULT_CATALOG) or DEFAULT_CATALOG
        unknown = sorted(k for k in query if k not in _EXACT and not k.startswith(_PREFIXES))
        if unknown:
            raise ConfigError(f"Iceberg URI: unknown parameter(s) {', '.join(unknown)} (pyiceberg "
                              "properties start with s3., gcs., adls., client., header.)")
        properties = dict(query)
        if "warehouse" in properties:
            properties["warehouse"] = _location(properties["warehouse"])
        kind = "rest" if scheme.startswith("iceberg+rest") else "sql"
        properties["uri"] = _catalog_uri(scheme, parts.netloc, parts.path, kind)
        if kind == "sql" and not properties.get("warehouse"):
            raise ConfigError("an Iceberg SQL catalog needs ?warehouse=s3://bucket/prefix "
                              "(or a local folder): where the table files go")
        secrets = tuple(v for k, v in query.items() if v and _SECRET.search(k))
        if parts.password:
            secrets += (unquote(parts.password),)
        return cls(kind, name, properties, _mask(uri, secrets), secrets)

    @property
    def warehouse(self) -> str | None:
        return self.properties.get("warehouse")

    def redact(self, text: str) -> str:
        """``text`` with every credential of the URI (as given, or URL-quoted) masked."""
        for secret in self.secrets:
            if len(secret) < _SHORTEST:
                continue  # masking "a" everywhere would garble the message, not protect it
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(form, MASK)
        return text


def _catalog_uri(scheme: str, netloc: str, path: str, kind: str) -> str:
    if kind == "rest":
        if not netloc:
            raise ConfigError("iceberg+rest://host:port/…: the REST catalog's host is missing")
        return f"{'https' if scheme == 'iceberg+rests' else 'http'}://{netloc}{path}"
    if scheme == "iceberg+postgresql":
        if not netloc or not path.strip("/"):
            raise ConfigError("iceberg+postgresql://user@host:port/database: host or database "
                              "missing")
        return f"postgresql+psycopg2://{netloc}{path}"
    if netloc:
        raise ConfigError(f"iceberg+sql:///path/catalog.db: a SQLite file, not a host ({netloc!r});"
                          " give three slashes before an absolute path")
    if not path or path.endswith("/"):
        raise ConfigError("iceberg+sql:///path/catalog.db: the SQLite file of the catalog is missing")
    return f"sqlite:///{unquote(path)}"


def _location(value: str) -> str:
    """A bare absolute path is a local folder (``file://``); anything else is kept as given."""
    value = value.rstrip("/") or value
    return f"file://{value}" if value.startswith("/") else value


def _mask(uri: str, secrets: tuple[str, ...]) -> str:
    parts = urlsplit(uri)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    query = "&".join(f"{k}={MASK if v and _SECRET.search(k) else v}"
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    masked = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    for secret in secrets:  # a secret that also sits somewhere unexpected
        if len(secret) >= _SHORTEST:
            masked = masked.replace(secret, MASK)
    return masked
