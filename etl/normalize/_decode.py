"""Typed JSON decoding whose errors name the exact field, and their translation to ContractError.

msgspec reports a bad value as ``... - at `$.splits[...].map50``` and hides dictionary keys
behind ``[...]``; on that (rare) error path we decode the body again untyped and find the key,
so a message says ``$.splits.test.map50``. JSON has no NaN or Infinity: msgspec calls them
malformed, which would make the crawler retry a body that will never change, so they are
reported as a value problem at their path instead. No I/O.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec

from etl.errors import ContractError, MalformedBody
from etl.normalize._common import gc_paused

T = TypeVar("T")

# msgspec's own problem texts hold no " - at `$", but a resolved key may hold backticks (and
# newlines): the path runs from the first " - at `$" to the closing backtick at the very end.
_AT = re.compile(r"^(?P<problem>.*?) - at `(?P<path>\$.*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def decoder(type_: type[T]) -> Callable[[bytes], T]:
    """A decode function for ``type_`` that raises msgspec errors with resolved field paths."""
    dec = msgspec.json.Decoder(type_)

    def decode(body: bytes) -> T:
        try:
            with gc_paused():
                return dec.decode(body)
        except msgspec.ValidationError as exc:
            raise _validation_error(exc, body, type_) from None
        except msgspec.DecodeError as exc:
            raise _non_finite(body) or exc from None
        except RecursionError:  # a hostile body nested thousands deep: a shape, not a crash
            raise msgspec.ValidationError("JSON nested too deeply to be this payload") from None

    return decode


def contract_error(panel: str, exc: Exception, eval_id: str | None = None) -> ContractError:
    """Translate a decode failure into ``ContractError(panel, field, problem, eval_id)``.

    A ``msgspec.DecodeError`` (not JSON, truncated) is a :class:`MalformedBody` at field
    ``"$"``, which the crawler retries as a possibly truncated body.
    """
    if isinstance(exc, ContractError):
        return exc if exc.eval_id or not eval_id else exc.with_eval(eval_id)
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        field, problem = split_message(text)
        return ContractError(panel, field, problem, eval_id)
    if isinstance(exc, msgspec.DecodeError):
        return MalformedBody(panel, "$", f"malformed JSON: {text}", eval_id)
    return ContractError(panel, "$", f"{type(exc).__name__}: {text}", eval_id)


def split_message(text: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a`"`` → ``("$.a", "Expected `int`, got `str`")``."""
    match = _AT.match(text)
    path, problem = (match["path"], match["problem"]) if match else ("$", text)
    missing = _MISSING.match(problem)
    if missing:
        # The path names the object; the field is the missing member of it.
        return f"{path}{key_segment(missing['name'])}", "required field is missing"
    return path, problem


def key_segment(key: str) -> str:
    """A path segment for an object key: ``.test``, or ``["a.b"]`` when the key needs quoting."""
    return f".{key}" if _PLAIN_KEY.match(key) else f"[{json.dumps(key, ensure_ascii=False)}]"


def _validation_error(
    exc: msgspec.ValidationError, body: bytes, root: Any
) -> msgspec.ValidationError | msgspec.DecodeError:
    """``exc`` with its keys resolved, or a DecodeError when the body is no JSON at all.

    msgspec checks a value as soon as it has read it, so a body cut inside a number (``1.3``
    of ``1.3e-107``) fails on the value before the end is reached. Such a body is truncated
    and must read as malformed (the crawler retries those); a body that only holds
    NaN/Infinity besides is complete, and the value problem stands.
    """
    try:
        untyped = msgspec.json.decode(body)
    except RecursionError:  # too deep to walk: keep msgspec's own path
        return exc
    except msgspec.DecodeError as malformed:
        try:
            untyped = json.loads(body)  # takes NaN/Infinity, which msgspec calls malformed
        except RecursionError:
            return exc
        except ValueError:
            return malformed
    return _with_keys(exc, untyped, root)


def _with_keys(exc: msgspec.ValidationError, untyped: Any, root: Any) -> msgspec.ValidationError:
    match = _AT.match(str(exc))
    if not match or "[...]" not in match["path"]:
        return exc
    try:
        resolved = _resolve(untyped, root, match["path"])
    except Exception:  # noqa: BLE001 - best effort: keep msgspec's own path
        return exc
    return msgspec.ValidationError(f"{match['problem']} - at `{resolved}`")


def _resolve(obj: Any, typ: Any, path: str) -> str:
    """Walk ``path`` through the untyped value and its type, naming each ``[...]`` key."""
    out = "$"
    for name, index in _segments(path[1:]):
        typ = _member_for(typ, obj)
        if name is not None:
            if name == "[...]":
                key = _failing_key(obj, get_args(typ)[1])
                out += key_segment(key)
                obj, typ = obj[key], get_args(typ)[1]
                continue
            field = next(f for f in msgspec.structs.fields(typ) if f.encode_name == name)
            obj, typ, out = obj[name], field.type, out + f".{name}"
        else:
            args = get_args(typ)
            elem = args[index] if get_origin(typ) is tuple and Ellipsis not in args else args[0]
            obj, typ, out = obj[index], elem, out + f"[{index}]"
    return out


def _segments(path: str) -> list[tuple[str | None, int]]:
    found: list[tuple[str | None, int]] = []
    for m in _SEGMENT.finditer(path):
        if m.group(0) == "[...]":
            found.append(("[...]", 0))
        elif m.group(1) is not None:
            found.append((m.group(1), 0))
        else:
            found.append((None, int(m.group(2))))
    return found


def _member_for(typ: Any, obj: Any) -> Any:
    """The member of a (possibly Optional/Annotated) type that ``obj`` was decoded as."""
    while get_origin(typ) is Annotated:
        typ = get_args(typ)[0]
    if get_origin(typ) in (Union, types.UnionType):
        for member in get_args(typ):
            member = _member_for(member, obj)
            if isinstance(obj, dict) and (_is_struct(member) or get_origin(member) is dict):
                return member
            if isinstance(obj, list) and get_origin(member) in (list, tuple):
                return member
    return typ


def _is_struct(typ: Any) -> bool:
    return isinstance(typ, type) and issubclass(typ, msgspec.Struct)


def _failing_key(obj: dict[str, Any], value_type: Any) -> str:
    for key, value in obj.items():
        try:
            msgspec.convert(value, value_type)
        except msgspec.ValidationError:
            return key
    raise LookupError("no failing key")


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


def _non_finite(body: bytes) -> msgspec.ValidationError | None:
    """A ValidationError at the first NaN/Infinity if that is all that is wrong with ``body``."""
    try:
        found = _find_non_finite(json.loads(body, parse_constant=_NonFinite), "$")
    except (ValueError, RecursionError):
        return None
    if found is None:
        return None
    path, text = found
    return msgspec.ValidationError(f"non-finite number `{text}` is not allowed - at `{path}`")


def _find_non_finite(obj: Any, path: str) -> tuple[str, str] | None:
    if isinstance(obj, _NonFinite):
        return path, obj.text
    items: Any = ()
    if isinstance(obj, dict):
        items = ((key_segment(k), v) for k, v in obj.items())
    elif isinstance(obj, list):
        items = ((f"[{i}]", v) for i, v in enumerate(obj))
    for segment, value in items:
        found = _find_non_finite(value, path + segment)
        if found:
            return found
    return None
