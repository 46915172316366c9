"""Typed, validated options for every step of a study (the ``study.toml`` sections).

Each step has one frozen dataclass; a ``study.toml`` (or a mapping passed to
:class:`~clusterscape.study.run.StudyConfig`) is checked against them before any work starts:
a misspelt key fails at once naming the section, the key and the nearest valid key, and a
value of the wrong type or outside its range fails naming the option.

An option left at ``None`` means "the step function's own default", so a study with no
options runs exactly as the step functions do when called without keywords.

Adding a step: write its options dataclass (fields with :func:`option`), then add it to
:data:`SECTIONS`; :class:`StudyConfig` and ``study.toml`` pick it up.
"""

from __future__ import annotations

import difflib
import math
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union

from clusterscape.errors import InvalidInputError

__all__ = [
    "SECTIONS",
    "ClassifyOptions",
    "DetectOptions",
    "EffectsOptions",
    "LifecycleOptions",
    "MeasureOptions",
    "MethodsOptions",
    "StudyConfig",
    "UrbanCentresOptions",
    "UrbanOptions",
    "UrbanZonesOptions",
    "options_from_mapping",
]


def option(
    default: Any = None,
    *,
    choices: tuple[Any, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    length: int | None = None,
    path: bool = False,
) -> Any:
    """A step option: its default and the checks its value must pass.

    ``choices`` lists the allowed values; ``ge``/``gt``/``le``/``lt`` bound a number (each item
    of a sequence); ``length`` fixes a sequence's length; ``path=True`` marks a file path that
    ``study.toml`` gives relative to itself.
    """
    meta = {
        "choices": choices,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "length": length,
        "path": path,
    }
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


class _Options:
    """Shared behaviour of the option dataclasses (validation and keyword arguments)."""

    #: the ``study.toml`` section (``"detect"``, ``"urban.zones"``, ...)
    section: typing.ClassVar[str] = ""
    #: options used by the study itself, not passed on to the step function
    own: typing.ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):  # type: ignore[arg-type]
            if f.name in _nested(type(self)):
                continue
            value = _check_value(
                self.section, f.name, getattr(self, f.name), hints[f.name], f.metadata
            )
            object.__setattr__(self, f.name, value)

    def kwargs(self) -> dict[str, Any]:
        """The options that were set (not ``None``), as keywords of the step function."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or f.name in self.own or f.name in _nested(type(self)):
                continue
            out[f.name] = value
        return out

    def keys(self) -> list[str]:
        """The names of the options that were set: ``dict(options)`` is the set options."""
        return list(self.kwargs())

    def __getitem__(self, name: str) -> Any:
        return self.kwargs()[name]

    def as_dict(self) -> dict[str, Any]:
        """Every option that was set, nested sections included (for the run summary)."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _Options):
                sub = value.as_dict()
                if sub:
                    out[f.name] = sub
            elif value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _nested(cls: type) -> dict[str, type[_Options]]:
    hints = typing.get_type_hints(cls)
    return {
        name: hint
        for name, hint in hints.items()
        if isinstance(hint, type) and issubclass(hint, _Options)
    }


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is tuple:
        return "a list"
    if hint is type(None):
        return "none"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        hint, str(hint)
    )


def _fail(section: str, name: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"config [{section}] {name}: {message}")


def _check_value(section: str, name: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    """Check (and normalise: lists to tuples, integers to floats) one option's value."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _check_value(section, name, value, inner[0], meta)
        raise TypeError(f"unsupported option type {hint}")
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _fail(section, name, f"expected a list, got {value!r}")
        item = args[0]
        checked = tuple(_check_value(section, name, v, item, meta) for v in value)
        if meta.get("length") is not None and len(checked) != meta["length"]:
            raise _fail(
                section, name, f"expected a list of {meta['length']} values, got {len(checked)}"
            )
        return checked
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(section, name, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(section, name, f"expected an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(section, name, f"expected a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _fail(section, name, f"expected a finite number, got {value!r}")
    elif hint is str:
        if isinstance(value, Path) and meta.get("path"):
            value = str(value)
        if not isinstance(value, str):
            raise _fail(section, name, f"expected a string, got {value!r}")
    else:
        raise TypeError(f"unsupported option type {hint}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise _fail(
            section, name, f"expected one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    for key, ok, words in (
        ("ge", lambda v, b: v >= b, "at least"),
        ("gt", lambda v, b: v > b, "greater than"),
        ("le", lambda v, b: v <= b, "at most"),
        ("lt", lambda v, b: v < b, "less than"),
    ):
        bound = meta.get(key)
        if bound is not None and not typing.cast(Callable[[Any, Any], bool], ok)(value, bound):
            raise _fail(section, name, f"must be {words} {bound:g}, got {value!r}")
    return value


def unknown_key(section: str, key: str, known: list[str]) -> InvalidInputError:
    """The one-line error for a key that is not an option of ``section``."""
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return InvalidInputError(
        f"config [{section}]: unknown key {key!r}; {hint}valid keys: {', '.join(sorted(known))}."
    )


def _resolve_path(value: Any, base: Path | None) -> Any:
    """A relative file path read from a config file, made absolute against the file's folder.

    URLs (``://``), absolute paths, empty strings, non-strings and values read without a
    ``base`` are returned unchanged.
    """
    if (
        base is not None
        and isinstance(value, str)
        and value
        and "://" not in value
        and not Path(value).is_absolute()
    ):
        return str((base / value).resolve())
    return value


def options_from_mapping(
    cls: type[Any], data: Mapping[str, Any] | Any, *, base: Path | None = None
) -> Any:
    """Build the options ``cls`` from a mapping (a ``study.toml`` section), checking every key.

    An instance of ``cls`` is returned as it is. ``base`` resolves relative file paths.
    """
    if isinstance(data, cls):
        return data
    section = cls.section
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"config [{section}]: expected a table of options, got {type(data).__name__}."
        )
    names = [f.name for f in fields(cls)]
    nested = _nested(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise unknown_key(section, str(key), names)
        f = next(f for f in fields(cls) if f.name == key)
        if key in nested:
            value = options_from_mapping(nested[key], value, base=base)
        elif f.metadata.get("path"):
            value = _resolve_path(value, base)
        kwargs[key] = value
    return cls(**kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifyOptions(_Options):
    """``[classify]``: options of :func:`clusterscape.taxonomy.classify_establishments`.

    ``reclassify=False`` (default) keeps a table's own classification when it already has the
    columns ``sector``, ``is_creative`` and ``function``; ``true`` classifies it again.
    ``taxonomy`` is a TOML/CSV file of overrides merged onto the shipped code lists.
    """

    section: typing.ClassVar[str] = "classify"
    own: typing.ClassVar[tuple[str, ...]] = ("reclassify",)

    code_system: str | None = option(choices=("gbt4754", "uksic2007", "isic4", "naics2017"))
    taxonomy: str | None = option(path=True)
    reclassify: bool = option(False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectOptions(_Options):
    """``[detect]``: options of :func:`clusterscape.detect.clusters.detect_clusters`.

    The seed is the study's (``[study] seed``).
    """

    section: typing.ClassVar[str] = "detect"

    method: str | None = option(choices=("hdbscan", "dbscan"))
    min_cluster_size: int | None = option(ge=2)
    min_samples: int | None = option(ge=1)
    eps_m: float | None = option(gt=0)
    weight: str | None = option()
    stability_draws: int | None = option(ge=0)
    stability_fraction: float | None = option(gt=0, le=1)
    csr_simulations: int | None = option(ge=0)
    alpha: float | None = option(gt=0, lt=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasureOptions(_Options):
    """``[measure]``: options of :func:`clusterscape.measure.pattern.concentration_table`."""

    section: typing.ClassVar[str] = "measure"

    r_max_m: float | None = option(gt=0)
    nsim: int | None = option(ge=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class UrbanZonesOptions(_Options):
    """``[urban.zones]``: options of :func:`clusterscape.urban.functional_zones`."""

    section: typing.ClassVar[str] = "urban.zones"

    units: str | None = option(choices=("square", "h3"))
    cell_m: float | None = option(gt=0)
    method: str | None = option(choices=("fdcr", "topics"))
    min_count: int | None = option(ge=1)
    threshold: float | None = option(ge=0, le=1)
    n_topics: int | None = option(ge=1)
    function_col: str | None = option()
    seed: int | None = option()


@dataclass(frozen=True, slots=True, kw_only=True)
class UrbanCentresOptions(_Options):
    """``[urban.centres]``: options of :func:`clusterscape.urban.urban_centres`."""

    section: typing.ClassVar[str] = "urban.centres"

    cell_m: float | None = option(gt=0)
    bandwidth_m: float | None = option(gt=0)
    gi_distance_m: float | None = option(gt=0)
    alpha: float | None = option(gt=0, lt=1)
    min_share: float | None = option(ge=0, le=1)
    min_separation_m: float | None = option(ge=0)
    min_prominence: float | None = option(ge=0)
    weight_col: str | None = option()


@dataclass(frozen=True, slots=True, kw_only=True)
class UrbanOptions(_Options):
    """``[urban]``: the sub-tables ``[urban.zones]`` and ``[urban.centres]``."""

    section: typing.ClassVar[str] = "urban"

    zones: UrbanZonesOptions = field(default_factory=UrbanZonesOptions)
    centres: UrbanCentresOptions = field(default_factory=UrbanCentresOptions)

    def __post_init__(self) -> None:
        """Build the sub-tables from mappings, checking every key."""
        for name, cls in _nested(type(self)).items():
            object.__setattr__(self, name, options_from_mapping(cls, getattr(self, name)))


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectsOptions(_Options):
    """``[effects]``: which clusters and amenities, and :func:`~clusterscape.effects.did.amenity_effects` options.

    ``amenities`` (default ``["hotel", "mall"]``) are the urban functions whose openings are
    studied; ``select`` picks the treated clusters: ``"registry"`` (default: significant
    clusters matched to the parks registry when one is given), ``"significant"`` or
    ``"all"``. ``seed`` defaults to the study's.
    """

    section: typing.ClassVar[str] = "effects"
    own: typing.ClassVar[tuple[str, ...]] = ("amenities", "select")

    amenities: tuple[str, ...] = option(("hotel", "mall"))
    select: str = option("registry", choices=("registry", "significant", "all"))
    rings_m: tuple[float, ...] | None = option(ge=0)
    control_m: tuple[float, ...] | None = option(ge=0, length=2)
    treated_m: float | None = option(gt=0)
    window_years: tuple[int, ...] | None = option(length=2)
    model: str | None = option(choices=("ols", "poisson"))
    alpha: float | None = option(gt=0, lt=1)
    mask: bool | None = option()
    bootstrap: int | None = option(ge=0)
    seed: int | None = option()
    min_clusters: int | None = option(ge=1)
    min_amenities: int | None = option(ge=1)
    detrend: bool | None = option()


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleOptions(_Options):
    """``[lifecycle]``: clusters through time, :func:`clusterscape.lifecycle.cluster_lifecycle`.

    Run when the establishments have founding years (``opened`` for at least half of the
    creative firms); ``enabled = false`` switches it off. The other options are the function's
    (``min_cluster_size`` defaults to ``[detect] min_cluster_size`` when that is set, ``method``
    to ``[detect] method``); the seed is the study's.
    """

    section: typing.ClassVar[str] = "lifecycle"
    own: typing.ClassVar[tuple[str, ...]] = ("enabled",)

    enabled: bool = option(True)
    step: int | None = option(ge=1)
    min_cluster_size: int | None = option(ge=2)
    match: str | None = option(choices=("overlap", "jaccard"))
    threshold: float | None = option(gt=0, le=1)
    persist: int | None = option(ge=1)
    change: float | None = option(gt=0)
    min_change: int | None = option(ge=0)
    significance: str | None = option(choices=("auto", "population", "csr", "none"))
    simulations: int | None = option(ge=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodsOptions(_Options):
    """``[methods]``: options of :func:`clusterscape.measure.recipe.study_methods`.

    The published-study chain (nearest neighbour, ellipse path, kernel density, Moran/LISA,
    GeoDetector); its factor file is ``[study] factors`` (``--factors``).
    """

    section: typing.ClassVar[str] = "methods"

    cell_m: float | None = option(gt=0)
    permutations: int | None = option(ge=0)
    year: str | None = option()


#: ``study.toml`` section -> options class (the steps in the order they run)
SECTIONS: dict[str, type[Any]] = {
    "classify": ClassifyOptions,
    "detect": DetectOptions,
    "measure": MeasureOptions,
    "urban": UrbanOptions,
    "effects": EffectsOptions,
    "lifecycle": LifecycleOptions,
    "methods": MethodsOptions,
}


#: ``[study]`` keys that are file paths (relative to the ``study.toml`` that names them)
_STUDY_PATHS = ("establishments", "boundary", "parks", "landuse", "factors")


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyConfig(_Options):
    """Everything a study run needs; ``establishments=None`` means the built-in Ningbo study.

    A ``study.toml`` gives the same keys under ``[study]`` (paths relative to the TOML file), and
    step options under ``[classify]``, ``[detect]``, ``[measure]``, ``[urban.zones]``,
    ``[urban.centres]``, ``[effects]``, ``[lifecycle]`` and ``[methods]`` (see :data:`SECTIONS` and the option
    classes; ``factors`` is the ``--factors`` file of the methods step). Step
    options may also be given as mappings; every key and value is checked when the config is
    built, before any step runs. ``[effects]`` takes the keyword options of
    :func:`clusterscape.effects.did.amenity_effects`, ``amenities`` (default
    ``["hotel", "mall"]``) and ``select``: ``"registry"`` (default: significant clusters
    matched to the parks registry when one is given), ``"significant"`` or ``"all"``.

    ``datum`` is the datum of the input files' degree coordinates: ``wgs84`` (default),
    ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu). ``crs`` is its deprecated spelling: a datum
    given as ``crs`` is moved to ``datum`` with a :class:`DeprecationWarning` (and ``crs`` is
    left None); it will be removed in the next release.

    ``duplicates`` (user files): ``"drop"`` (default) merges the rows
    :func:`clusterscape.io.dedupe.find_duplicates` finds, listing them in ``duplicates.csv``;
    ``"keep"`` keeps them. ``stack`` decides what the clustering and the concentration
    statistics see of many rows at one coordinate (within 1 m): ``"keep"`` (default) every row,
    ``"collapse"`` one point per location, ``"weight"`` one point per location whose row count
    is the detection weight (see :func:`clusterscape.io.dedupe.stack_view`).

    ``capital_rates`` (``[study.capital_rates]``, e.g. ``USD = 7.30``): yuan per unit of a
    currency, replacing that entry of the built-in approximate table
    :data:`clusterscape.io.CAPITAL_RATES` when ``capital_cny`` is computed.
    """

    section: typing.ClassVar[str] = "study"

    establishments: str | None = option(path=True)
    datum: str = option("wgs84")
    crs: str | None = option()
    columns: Mapping[str, str] | None = None
    capital_rates: Mapping[str, float] | None = None
    boundary: str | None = option(path=True)
    parks: str | None = option(path=True)
    landuse: str | None = option(path=True)
    factors: str | None = option(path=True)
    seed: int = option(0, ge=0)
    scenario: str = option("planted", choices=("planted", "null"))
    engine: str = option("local", choices=("local", "dask"))
    scheduler: str | None = option()
    duplicates: str = option("drop", choices=("drop", "keep"))
    stack: str = option("keep", choices=("keep", "collapse", "weight"))
    classify: ClassifyOptions = field(default_factory=ClassifyOptions)
    detect: DetectOptions = field(default_factory=DetectOptions)
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    urban: UrbanOptions = field(default_factory=UrbanOptions)
    effects: EffectsOptions = field(default_factory=EffectsOptions)
    lifecycle: LifecycleOptions = field(default_factory=LifecycleOptions)
    methods: MethodsOptions = field(default_factory=MethodsOptions)

    def __post_init__(self) -> None:
        """Check every key and value (step sections built from mappings) before any work."""
        from clusterscape.coords import normalise_datum, resolve_datum

        hints = typing.get_type_hints(type(self))
        nested = _nested(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in nested:
                value = options_from_mapping(nested[f.name], value)
            elif f.name == "columns":
                value = _check_columns(value)
            elif f.name == "capital_rates":
                value = _check_rates(value)
            else:
                value = _check_value("study", f.name, value, hints[f.name], f.metadata)
            object.__setattr__(self, f.name, value)
        try:
            datum = normalise_datum(self.datum, caller="config [study]")
            if self.crs is not None:
                given = None if datum == "wgs84" else self.datum
                datum = resolve_datum(given, self.crs, caller="config [study]", stacklevel=3)
                object.__setattr__(self, "crs", None)
            object.__setattr__(self, "datum", datum)
        except InvalidInputError as exc:
            raise InvalidInputError(str(exc)) from None

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, base: Path | None = None, source: str = "config"
    ) -> StudyConfig:
        """Build a config from parsed ``study.toml`` content (sections as nested mappings).

        Every section and key is checked before anything runs; ``base`` resolves relative
        paths. Raises :class:`~clusterscape.errors.InvalidInputError` naming the section, the
        key and the nearest valid key.
        """
        allowed = ["study", *SECTIONS]
        for key in data:
            if key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = f"did you mean [{near[0]}]? " if near else ""
                raise InvalidInputError(
                    f"{source}: unknown section [{key}]; {hint}sections: "
                    f"{', '.join(f'[{s}]' for s in allowed)}."
                )
        study = data.get("study", {})
        if not isinstance(study, Mapping):
            raise InvalidInputError(f"{source}: [study] must be a table of keys.")
        names = [f.name for f in fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in study.items():
            if key not in names:
                raise _prefixed(source, unknown_key("study", str(key), names))
            if key in _STUDY_PATHS:
                value = _resolve_path(value, base)
            kwargs[key] = value
        try:
            for section, options_cls in SECTIONS.items():
                if section in data:
                    kwargs[section] = options_from_mapping(options_cls, data[section], base=base)
                elif section in kwargs:
                    kwargs[section] = options_from_mapping(options_cls, kwargs[section], base=base)
            return cls(**kwargs)
        except InvalidInputError as exc:
            raise _prefixed(source, exc) from None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> StudyConfig:
        """Read a ``study.toml``; keyword ``overrides`` that are not None win over the file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"config {path}: {exc}") from exc
        config = cls.from_mapping(data, base=path.parent, source=f"config {path}")
        try:
            return replace(config, **{k: v for k, v in overrides.items() if v is not None})
        except InvalidInputError as exc:
            raise _prefixed("options", exc) from None


def _prefixed(source: str, exc: InvalidInputError) -> InvalidInputError:
    text = str(exc)
    if text.startswith("config "):
        text = text[len("config ") :]
    return InvalidInputError(f"{source}: {text}")


def _check_rates(value: Any) -> Mapping[str, float] | None:
    """``capital_rates``: yuan per unit of each ISO currency code, each > 0."""
    if value is None:
        return None
    ok = isinstance(value, Mapping) and all(
        isinstance(k, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and v > 0
        for k, v in value.items()
    )
    if not ok:
        raise _fail(
            "study",
            "capital_rates",
            f"expected a table of ISO code = yuan per unit (e.g. USD = 7.2), got {value!r}",
        )
    return {str(k).upper(): float(v) for k, v in value.items()}


def _check_columns(value: Any) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail(
            "study", "columns", f"expected a table of canonical = column names, got {value!r}"
        )
    return dict(value)
