"""Parse an untrusted JSON request body (webhooks, telemetry) into values every later step can store.

``json.loads`` accepts more than the database and the rest of the code can hold, and each
of these used to surface as a 5xx far from the request: ``\\u0000`` (PostgreSQL text cannot
hold NUL), an unpaired surrogate such as ``"\\ud800"`` (not encodable as UTF-8, so neither
storable nor loggable), ``NaN``/``Infinity`` (not JSON), and nesting deep enough to exhaust
the recursion limit when the value is serialised again (JSONField, the receipt timeline).
So the body is refused as a whole, with a 400 that names where the problem is.
"""

from __future__ import annotations

import json
import re

# Deeper than any platform payload (Genesys detail events nest about 6 levels); far below
# the interpreter's recursion limit, which json.dumps and the JSONField encoder rely on.
MAX_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JsonBodyError(ValueError):
    """The body is not usable JSON; ``field`` is the dotted path of the offending value, if any."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail, self.field = detail, field


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(body: bytes, *, max_depth: int = MAX_DEPTH):
    """The parsed body, or ``JsonBodyError`` naming the first problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError("body is not valid UTF-8") from None
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise JsonBodyError(f"malformed JSON: nested deeper than {max_depth} levels") from None
    except ValueError as error:
        raise JsonBodyError(f"malformed JSON: {str(error)[:200]}") from None
    check_storable(payload, max_depth=max_depth)
    return payload


def check_storable(payload, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk the value without recursion: depth at most ``max_depth``, no NUL or lone surrogate in any string."""
    stack = [(payload, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise JsonBodyError(f"{path}: JSON nested deeper than {max_depth} levels", field=path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key, f"{path} (a key)")
                    child = key if path == "body" else f"{path}.{key}"
                else:
                    child = f"{path}[{key}]"
                stack.append((item, child, depth + 1))
        elif isinstance(value, str):
            _check_string(value, path)


def _check_string(value: str, path: str) -> None:
    found = _UNSTORABLE.search(value)
    if found is None:
        return
    what = "a NUL character (\\u0000)" if found.group() == "\x00" else "an unpaired UTF-16 surrogate"
    field = path.removesuffix(" (a key)")
    # The path itself may hold the character: name it with escapes, never the raw value.
    shown = field.encode("ascii", "backslashreplace").decode()
    raise JsonBodyError(f"{shown}: strings must not contain {what}", field=shown)
