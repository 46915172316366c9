"""One message catalogue for the report and the command line, in English and Chinese.

The messages live in ``en.toml`` and ``zh.toml`` beside this module (the same keys in both;
``tests/test_i18n.py`` checks it); :func:`t` looks a key up and fills its ``{placeholders}``.
Values that come from the data (verdicts, forms, statuses) are translated by :func:`term`,
which leaves a value it does not know unchanged. Column names of CSV/GPKG outputs stay
English; :func:`column_name` gives their Chinese names (``columns_zh.csv``).

Examples
--------
>>> t("report.section.minute", "zh")
'一分钟速览'
>>> t("report.section.minute", "en")
'In one minute'
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

__all__ = [
    "LANGS",
    "column_name",
    "current_lang",
    "default_lang",
    "messages",
    "normalise_lang",
    "patterns",
    "t",
    "term",
    "use_lang",
]

#: The languages of the catalogue.
LANGS = ("en", "zh")

_HERE = Path(__file__).parent
_CURRENT: ContextVar[str] = ContextVar("clusterscape_lang", default="en")
_EXTRA: ContextVar[Mapping[str, str] | None] = ContextVar("clusterscape_terms", default=None)


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """The language of the locale: ``zh`` when LC_ALL, LC_MESSAGES or LANG starts with zh, else ``en``.

    Examples
    --------
    >>> default_lang({"LANG": "zh_CN.UTF-8"})
    'zh'
    >>> default_lang({"LANG": "C.UTF-8"})
    'en'
    """
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:  # the first one set decides, as in POSIX
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def normalise_lang(lang: str | None) -> str:
    """``"zh"``/``"en"`` from a language code (``zh-CN``, ``zh_Hans``, ``EN``); None means the locale.

    Raises
    ------
    ValueError
        For a language the catalogue does not have.
    """
    if lang is None:
        return default_lang()
    code = str(lang).strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGS:
        raise ValueError(f"language {lang!r} is not available; choose zh or en")
    return code


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


@functools.cache
def _load(lang: str) -> dict[str, Any]:
    with open(_HERE / f"{normalise_lang(lang)}.toml", "rb") as fh:
        return tomllib.load(fh)


@functools.cache
def messages(lang: str) -> dict[str, str]:
    """Every message of one language, by dotted key (``report.section.minute``)."""
    data = {k: v for k, v in _load(lang).items() if k != "pattern"}
    return _flatten(data)


@functools.cache
def patterns(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The ``[[pattern]]`` rules of a language: a regular expression and its translation.

    Each rule matches one generated English clause (of a cluster's evidence, a table note);
    the ``{group}`` placeholders of its text are filled with the matched groups, each
    translated by :func:`term`.
    """
    rules = _load(lang).get("pattern", [])
    return tuple((re.compile(r["re"]), str(r["text"])) for r in rules)


def current_lang() -> str:
    """The language set by the innermost :func:`use_lang` (``en`` outside any)."""
    return _CURRENT.get()


@contextmanager
def use_lang(lang: str | None, terms: Mapping[str, str] | None = None) -> Iterator[str]:
    """Make ``lang`` the default of :func:`t` and :func:`term` inside the block.

    ``terms`` adds translations known only to this study (district names from its own
    boundaries, ``name_en`` -> ``name_zh``); they are used for ``zh`` only.
    """
    token = _CURRENT.set(normalise_lang(lang))
    extra = _EXTRA.set(dict(terms or {}))
    try:
        yield _CURRENT.get()
    finally:
        _EXTRA.reset(extra)
        _CURRENT.reset(token)


def t(key: str, lang: str | None = None, /, **fmt: Any) -> str:
    """The message ``key`` in ``lang`` (default: :func:`current_lang`), placeholders filled.

    Raises
    ------
    KeyError
        For a key the catalogue does not have (never a silent English fallback).
    """
    text = messages(lang or current_lang())[key]
    return text.format(**fmt) if fmt else text


def term(value: Any, lang: str | None = None) -> str:
    """A value from the data (a verdict, form, status, null model, generated note) in ``lang``.

    Known values are listed under ``[term]`` of the catalogue; generated phrases (a cluster's
    evidence, a table's note: clauses joined by "; ") are translated clause by clause by the
    ``[[pattern]]`` rules; anything else (a name, a code) is returned unchanged.

    Examples
    --------
    >>> term("clustered", "zh"), term("clustered", "en"), term("Ningbo", "zh")
    ('集聚', 'clustered', 'Ningbo')
    >>> term("shape compact; registry", "zh")
    '形态：紧凑；名录登记。'
    """
    text = "" if value is None else str(value)
    code = lang or current_lang()
    if code == "en" or not text.strip():
        return text
    return _term(text, code, depth=0)


def _term(text: str, lang: str, depth: int) -> str:
    table = messages(lang)
    extra = _EXTRA.get() or {}
    found = extra.get(text) or table.get(f"term.{text}")
    if found is not None:
        return found
    if depth > 4:
        return text
    stripped = text.strip()
    end = stripped.endswith(".")
    body = stripped[:-1] if end else stripped
    clauses = body.split("; ")
    out, changed = [], False
    for clause in clauses:
        new = extra.get(clause) or table.get(f"term.{clause}") or _pattern(clause, lang, depth)
        changed |= new is not None
        out.append(clause if new is None else new)
    if not changed:
        return text
    joined = "；".join(out)
    return joined + "。" if end or len(clauses) > 1 else joined


def _pattern(clause: str, lang: str, depth: int) -> str | None:
    for rule, template in patterns(lang):
        hit = rule.fullmatch(clause)
        if hit:
            groups = {k: _term(v, lang, depth + 1) if v else "" for k, v in hit.groupdict().items()}
            return template.format(**groups)
    return None


def column_name(column: str, lang: str | None = None) -> str:
    """The display name of an output column (the CSV/GPKG name itself stays English)."""
    table = messages(lang or current_lang())
    return table.get(f"column.{column}") or table.get(f"term.{column}", column)
