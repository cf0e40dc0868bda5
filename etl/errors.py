"""Every error evals-etl raises on purpose, and the exit codes they map to.

    EtlError                  every error we raise on purpose
    ├─ ConfigError            bad file, option or missing key            → EXIT_USAGE
    ├─ ApiError               endpoint, params (never the key), status, API code, message
    │  ├─ AuthError           401/403: fatal, ends the run at once       → EXIT_AUTH
    │  ├─ BadRequestError     400: never retried                         → ledger "error"
    │  ├─ NotFoundError       404 (report_not_found, model_eval_not_found)
    │  ├─ NotDoneError        409: retried within a budget               → "not_done" / "unavailable"
    │  └─ TransientError      429/5xx/connection/timeout/bad body, after retries → EXIT_API_DOWN
    │     └─ RetryBudgetExhausted  the run-wide retry budget is spent: the API is down
    ├─ ContractError          panel, field, eval_id: a payload breaks the contract → "error"
    │  └─ MalformedBody       not JSON at all (often a truncated body): retried like a 5xx
    └─ PublishError           lock held, manifest or rename failure      → EXIT_LOCKED / 1
       └─ StorageError        the disk refused a write (full, read-only, quota) → EXIT_STORAGE

Error classes hold data and build their message from it; they make no decisions. Whether to
retry is decided in ``etl.crawl.http``; which ledger state an error becomes, in ``etl.crawl.ledger``.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_AUTH = 4
EXIT_LOCKED = 5
EXIT_API_DOWN = 6
EXIT_STORAGE = 7
EXIT_CHECK_FAILED = 8  # status --check found the export unhealthy; doctor found a failing check
EXIT_REGRESSION = 9  # check found a regression (a model worse than its baseline)


class EtlError(Exception):
    """Base of every error evals-etl raises on purpose."""

    exit_code = EXIT_UNEXPECTED


class ConfigError(EtlError):
    """A bad config file, option or environment (including a missing API key)."""

    exit_code = EXIT_USAGE


class ApiError(EtlError):
    """The API answered with an error, or could not be reached.

    ``params`` never holds the API key: the key travels only in the Authorization header.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        params: Mapping[str, object] | None = None,
        status: int | None = None,
        code: str | None = None,
        message: str = "",
        attempts: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.params = dict(params or {})
        self.status = status
        self.code = code
        self.message = message
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = self.endpoint
        if self.params:
            where += "?" + "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        text = f": {self.message}" if self.message else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{where}: {status}{code}{text}{tries}"


class AuthError(ApiError):
    """401/403: the key is missing, wrong, or lacks the model-eval:read scope."""

    exit_code = EXIT_AUTH


class BadRequestError(ApiError):
    """400: the request itself is wrong; retrying cannot help."""


class NotFoundError(ApiError):
    """404: the eval vanished (model_eval_not_found) or a variant was never made (report_not_found)."""


class NotDoneError(ApiError):
    """409 model_eval_not_done: the eval is not done, or a done eval's panel data is missing."""


class TransientError(ApiError):
    """429, 5xx, connection errors, timeouts, truncated or non-JSON bodies, after the attempt cap.

    It ends a run only when even the listing cannot be had: the API is down for us.
    """

    exit_code = EXIT_API_DOWN


class RetryBudgetExhausted(TransientError):
    """The run-wide retry budget is spent: the API looks down, so the run stops early."""

    exit_code = EXIT_API_DOWN


class ContractError(EtlError):
    """A payload breaks the API contract: a required field is missing or has the wrong type."""

    def __init__(self, panel: str, field: str, problem: str, eval_id: str | None = None) -> None:
        self.panel = panel
        self.field = field
        self.problem = problem
        self.eval_id = eval_id
        super().__init__(self._describe())

    def with_eval(self, eval_id: str) -> ContractError:
        return type(self)(self.panel, self.field, self.problem, eval_id)

    def _describe(self) -> str:
        who = f"eval {self.eval_id!r}, " if self.eval_id else ""
        return f"{who}panel {self.panel!r}, field {self.field!r}: {self.problem}"


class MalformedBody(ContractError):
    """The body is not JSON at all, so it may be a truncated answer: the crawler retries it."""

    def __init__(self, panel: str, field: str, problem: str, eval_id: str | None = None) -> None:
        super().__init__(panel, field, problem, eval_id)


class PublishError(EtlError):
    """The output folder could not be published (lock, manifest or rename failure)."""


class LockHeldError(PublishError):
    """Another run holds the output folder's lock."""

    exit_code = EXIT_LOCKED


class StorageError(PublishError):
    """The disk refused a write: full, read-only, over quota. Names the path and the phase."""

    exit_code = EXIT_STORAGE

    def __init__(self, path: object, phase: str, reason: str) -> None:
        self.path, self.phase, self.reason = str(path), phase, reason
        super().__init__(f"cannot write {self.path} while {phase}: {reason}; the published "
                         "dataset is unchanged. Free some space (or fix the permissions) and "
                         "run again: the next run takes over the work already staged")

    @classmethod
    def of(cls, exc: BaseException, path: object, phase: str) -> StorageError | None:
        """``exc`` as a storage error when it is one (by errno, or DuckDB's and Arrow's text)."""
        reason = _STORAGE_ERRNOS.get(getattr(exc, "errno", None) or 0)
        if reason is not None:
            return cls(getattr(exc, "filename", None) or path, phase, reason)
        text = str(exc).lower()
        found = next((r for r in _STORAGE_ERRNOS.values() if r in text), None)
        return None if found is None else cls(path, phase, found)


_STORAGE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                   errno.EROFS: "read-only file system", errno.EFBIG: "file too large"}
