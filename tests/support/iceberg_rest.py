"""A small Iceberg REST catalog server for the tests, over a SQLite SQL catalog.

No REST catalog server is cheaply startable here (the reference one and Polaris are JVM
services, Lakekeeper a Rust binary; none is a registry package), so this one speaks the
part of the REST protocol a load uses, on 127.0.0.1, in a thread: config, namespaces (with
properties), tables (list, exists, load, create and staged create, commit). Each request is
handed to pyiceberg's own SqlCatalog, whose commit checks the requirements, so optimistic
concurrency behaves as in a real catalog. It is a test double of the protocol, not a product.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from pyiceberg import exceptions as ice
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import CommitTableRequest
from pyiceberg.table.sorting import SortOrder

_ERRORS = {ice.NoSuchTableError: (404, "NoSuchTableException"),
           ice.NoSuchNamespaceError: (404, "NoSuchNamespaceException"),
           ice.NamespaceAlreadyExistsError: (409, "AlreadyExistsException"),
           ice.TableAlreadyExistsError: (409, "AlreadyExistsException"),
           ice.CommitFailedException: (409, "CommitFailedException")}


class _Named:
    """What SqlCatalog.commit_table needs of a table: its name."""

    def __init__(self, ident: tuple[str, str]) -> None:
        self.ident = ident

    def name(self) -> tuple[str, str]:
        return self.ident


def _table_result(table: Any) -> dict[str, Any]:
    return {"metadata-location": table.metadata_location,
            "metadata": json.loads(table.metadata.model_dump_json()), "config": {}}


class _Catalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")][1:]  # drop "v1"
        if parts == ["config"]:
            return 200, {"defaults": {}, "overrides": {}}
        if parts[:1] != ["namespaces"]:
            return 404, _error(404, "NotFound", path)
        if len(parts) == 1:
            return self.namespaces(method, body)
        ns = parts[1]
        if len(parts) == 2:
            if method == "HEAD":
                return (204 if self.catalog.namespace_exists(ns) else 404), None
            return 200, {"namespace": [ns], "properties": self.catalog.load_namespace_properties(ns)}
        if parts[2] == "properties":
            summary = self.catalog.update_namespace_properties(ns, set(body.get("removals") or ()),
                                                               body.get("updates") or {})
            return 200, {"updated": summary.updated, "removed": summary.removed,
                         "missing": summary.missing}
        if len(parts) == 3:
            return self.tables(method, ns, body)
        return self.table(method, (ns, parts[3]), body)

    def namespaces(self, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST":
            ns = tuple(body["namespace"])
            self.catalog.create_namespace(ns, body.get("properties") or {})
            return 200, {"namespace": list(ns), "properties": body.get("properties") or {}}
        return 200, {"namespaces": [list(n) for n in self.catalog.list_namespaces()]}

    def tables(self, method: str, ns: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method != "POST":
            return 200, {"identifiers": [{"namespace": [ns], "name": t[-1]}
                                         for t in self.catalog.list_tables(ns)]}
        args: dict[str, Any] = {"schema": Schema.model_validate(body["schema"]),
                                "location": body.get("location"),
                                "properties": body.get("properties") or {}}
        if body.get("partition-spec"):
            args["partition_spec"] = PartitionSpec.model_validate(body["partition-spec"])
        if body.get("write-order"):
            args["sort_order"] = SortOrder.model_validate(body["write-order"])
        if body.get("stage-create"):  # the create happens with the first commit
            if self.catalog.table_exists((ns, body["name"])):
                raise ice.TableAlreadyExistsError(f"{ns}.{body['name']}")
            return 200, _table_result(self.catalog._create_staged_table((ns, body["name"]), **args))
        return 200, _table_result(self.catalog.create_table((ns, body["name"]), **args))

    def table(self, method: str, ident: tuple[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if method == "HEAD":
            return (204 if self.catalog.table_exists(ident) else 404), None
        if method == "POST":
            request = CommitTableRequest.model_validate(body)
            response = self.catalog.commit_table(_Named(ident), request.requirements,  # type: ignore[arg-type]
                                                 request.updates)
            return 200, json.loads(response.model_dump_json())
        return 200, _table_result(self.catalog.load_table(ident))


def _error(code: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}


def _handler(catalog: _Catalog, seen: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            path = urlsplit(self.path).path
            seen.append(f"{self.command} {re.sub(r'/tables/[^/]+', '/tables/T', path)}")
            try:
                status, answer = catalog.route(self.command, path, body)
            except tuple(_ERRORS) as exc:
                status, kind = next(v for k, v in _ERRORS.items() if isinstance(exc, k))
                answer = _error(status, kind, str(exc))
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = do_DELETE = _serve

    return Handler


@contextmanager
def rest_catalog(catalog: SqlCatalog) -> Iterator[tuple[str, list[str]]]:
    """``(http://127.0.0.1:PORT, requests seen)`` of a REST server over ``catalog``."""
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(_Catalog(catalog), seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
