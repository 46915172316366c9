"""Hide credentials in database URLs and in any text that may quote one.

Used wherever a connection string could be written or shown: ``summary.json``, the report,
``/api/summary``, error messages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, unquote_plus

__all__ = ["REDACTED", "redact_text", "redact_url", "redact_value", "url_secrets"]

REDACTED = "***"

# Query-string / libpq keywords whose values are secrets (compared lower-case, without '_' '-').
_SECRET_KEYS = ("password", "passwd", "pwd", "pass", "sslpassword", "secret", "token", "apikey")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
# key=value pairs outside URLs, e.g. libpq "host=db password=s3cret" or "PGPASSWORD=s3cret".
_KV = re.compile(
    r"(?i)\b([A-Za-z_]*(?:password|passwd|pwd|secret|token)[A-Za-z_]*)(\s*[=:]\s*)"
    r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,]+)"
)


def _is_secret_key(key: str) -> bool:
    k = key.lower().replace("_", "").replace("-", "")
    return any(s in k for s in _SECRET_KEYS)


def url_secrets(url: str) -> list[str]:
    """The secret values in a URL (userinfo password, secret query parameters), raw and decoded."""
    found: list[str] = []
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://(.*)$", url, re.S)
    if m is None:
        return found
    rest = m.group(1)
    q = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:q], rest[q:]
    at = head.rfind("@")
    if at >= 0 and ":" in head[:at]:
        found.append(head[:at].split(":", 1)[1])
    if tail.startswith("?"):
        for piece in tail[1:].partition("#")[0].split("&"):
            key, eq, value = piece.partition("=")
            if eq and value and _is_secret_key(unquote_plus(key)):
                found.append(value)
    return sorted({s for f in found for s in (f, unquote(f), unquote_plus(f)) if s})


def redact_url(url: str) -> str:
    """Hide every credential of a URL.

    The password in the user information (everything between the first ``:`` and the *last*
    ``@`` before the query, so a password containing ``@``, ``:`` or ``/`` is hidden whole) and
    the value of every secret-looking query parameter (``password``, ``sslpassword``,
    ``PGPASSWORD``, ``token``, ...) become ``***``; user name, host, database and the other
    parameters stay.

    Examples
    --------
    >>> redact_url("postgresql://me:p@ss@db:5432/x?table=t&password=s3cret")
    'postgresql://me:***@db:5432/x?table=t&password=***'
    """
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", url, re.S)
    if m is None:
        return redact_text_plain(url)
    scheme, rest = m.groups()
    q = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:q], rest[q:]
    at = head.rfind("@")
    if at >= 0:
        userinfo, hostpath = head[:at], head[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        head = f"{user}:{REDACTED}@{hostpath}" if colon else f"{user}@{hostpath}"
    if tail.startswith("?"):
        query, hash_, fragment = tail[1:].partition("#")
        pieces = []
        for piece in query.split("&"):
            key, eq, _value = piece.partition("=")
            if eq and _is_secret_key(unquote_plus(key)):
                pieces.append(f"{key}={REDACTED}")
            else:
                pieces.append(redact_text_plain(piece) if "%3D" in piece.upper() else piece)
        tail = "?" + "&".join(pieces) + hash_ + fragment
    return scheme + head + tail


def redact_text_plain(text: str) -> str:
    """Hide ``key=value`` secrets (libpq keywords, ``PGPASSWORD=...``) in free text."""
    return _KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_text(text: str, *, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Hide credentials in free text: URLs in it, ``key=value`` secrets, and the given values."""
    out = _URL.sub(lambda m: redact_url(m.group(0)), text)
    out = redact_text_plain(out)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            out = out.replace(secret, REDACTED)
    return out


def redact_value(value: Any) -> Any:
    """Apply :func:`redact_text` to every string in a JSON-like structure (dicts, lists)."""
    if isinstance(value, str):
        return redact_text(value) if ("://" in value or "=" in value) else value
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value
