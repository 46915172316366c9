"""Hide credentials in database URLs and in any text that may quote one.

Used wherever a connection string could be written or shown: ``summary.json``, the report,
``/api/summary``, error messages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, unquote_plus

__all__ = [
    "REDACTED",
    "redact_text",
    "redact_url",
    "redact_value",
    "split_userinfo",
    "url_secrets",
]

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


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", re.S)
_HOST_AFTER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_%]+)(:\d+)?(?=[/?#]|$)")


def split_userinfo(url: str) -> tuple[str, str | None, str] | None:
    """``(scheme://, userinfo or None, rest)`` of a URL; None if it is not ``scheme://...``.

    The user information ends at the last ``@`` before the query; when there is none there, a
    password holding a raw ``?`` or ``#`` is recognised by an ``@`` followed by a host name.
    """
    m = _SCHEME.match(url)
    if m is None:
        return None
    scheme, rest = m.groups()
    q = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    has_password = re.match(r"^[^:/?#@]*:", rest) is not None
    ats = [i for i, c in enumerate(rest) if c == "@"]
    # The last '@' that is followed by a host name (and, past the first '?', only when a
    # password starts the URL: it may hold a raw '?').
    hosts = [i for i in ats if _HOST_AFTER.match(rest[i + 1 :]) and (i < q or has_password)]
    at = hosts[-1] if hosts else rest[:q].rfind("@")
    if at >= 0:
        return scheme, rest[:at], rest[at + 1 :]
    return scheme, None, rest


def _query_pieces(rest: str) -> tuple[str, list[str], str]:
    """Split ``host/path?query#frag`` into the part before the query, its pieces, the fragment."""
    before, q, query = rest.partition("?")
    if not q:
        return rest, [], ""
    query, h, frag = query.partition("#")
    return before, query.split("&"), h + frag


def url_secrets(url: str) -> list[str]:
    """The secret values in a URL (userinfo password, secret query parameters), raw and decoded."""
    found: list[str] = []
    split = split_userinfo(url)
    if split is None:
        return found
    _, userinfo, rest = split
    if userinfo is not None and ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    for piece in _query_pieces(rest)[1]:
        key, eq, value = piece.partition("=")
        if eq and value and _is_secret_key(unquote_plus(key)):
            found.append(value)
    return sorted({s for f in found for s in (f, unquote(f), unquote_plus(f)) if s})


def redact_url(url: str) -> str:
    """Hide every credential of a URL.

    The password in the user information (everything between the first ``:`` and the *last*
    ``@`` before the host, so a password containing ``@``, ``:``, ``/`` or even ``?`` is hidden
    whole) and the value of every secret-looking query parameter (``password``,
    ``sslpassword``, ``PGPASSWORD``, ``token``, ...) become ``***``; user name, host, database
    and the other parameters stay.

    Examples
    --------
    >>> redact_url("postgresql://me:p@ss@db:5432/x?table=t&password=s3cret")
    'postgresql://me:***@db:5432/x?table=t&password=***'
    """
    split = split_userinfo(url)
    if split is None:
        return redact_text_plain(url)
    scheme, userinfo, rest = split
    head = ""
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        head = f"{user}:{REDACTED}@" if colon else f"{user}@"
    before, pieces, fragment = _query_pieces(rest)
    if pieces:
        out = []
        for piece in pieces:
            key, eq, _value = piece.partition("=")
            out.append(f"{key}={REDACTED}" if eq and _is_secret_key(unquote_plus(key)) else piece)
        rest = before + "?" + "&".join(out) + fragment
    return scheme + head + rest


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
