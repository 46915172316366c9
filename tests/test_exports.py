"""Public names are listed once: each package's lazy table agrees with its modules' ``__all__``.

The rule (see ``clusterscape._lazy_exports``): every module keeps its own ``__all__``; a package
``__init__`` lists, in one table, which of those names it re-exports and from where; its
``__all__`` is made from that table. These tests hold the pieces together.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys

import pytest

import clusterscape

#: Every package whose ``__init__`` exports names through ``clusterscape._lazy_exports``.
LAZY_PACKAGES = [
    "clusterscape",
    "clusterscape.detect",
    "clusterscape.effects",
    "clusterscape.explain",
    "clusterscape.io",
    "clusterscape.measure",
    "clusterscape.measure.pattern",
    "clusterscape.study",
    "clusterscape.taxonomy",
    "clusterscape.urban",
]

OPTIONAL = {"clusterscape.explain.gwr": "mgwr", "clusterscape.study.dask": "dask"}


def _packages() -> list[str]:
    names = ["clusterscape"]
    for info in pkgutil.walk_packages(clusterscape.__path__, "clusterscape."):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


def test_every_package_with_a_table_is_checked() -> None:
    with_table = [
        name for name in _packages() if hasattr(importlib.import_module(name), "_EXPORT_TABLE")
    ]
    assert sorted(with_table) == sorted(LAZY_PACKAGES)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_all_equals_the_lazy_table(package: str) -> None:
    pkg = importlib.import_module(package)
    table = pkg._EXPORT_TABLE
    listed = [name for names in table.values() for name in names]
    assert len(listed) == len(set(listed)), f"{package}: a name is listed twice"
    # the top level adds its version string to the table's names
    extra = ["__version__"] if package == "clusterscape" else []
    assert list(pkg.__all__) == sorted([*listed, *extra])
    assert set(dir(pkg)) >= set(listed)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_table_names_are_in_their_modules_all_and_resolve(package: str) -> None:
    pkg = importlib.import_module(package)
    for module_name, names in pkg._EXPORT_TABLE.items():
        if module_name in OPTIONAL:
            pytest.importorskip(OPTIONAL[module_name])
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{module_name} has no __all__"
        missing = sorted(set(names) - set(exported))
        assert not missing, f"{package} re-exports {missing} that {module_name}.__all__ lacks"
        for name in names:
            value = getattr(pkg, name)
            assert value is getattr(module, name), f"{package}.{name} is not {module_name}.{name}"


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_unknown_name_is_an_attribute_error(package: str) -> None:
    pkg = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no attribute"):
        pkg.no_such_name  # noqa: B018


def test_module_all_names_exist() -> None:
    """Every public module's ``__all__`` names something the module defines."""
    for info in pkgutil.walk_packages(clusterscape.__path__, "clusterscape."):
        if info.name in OPTIONAL and importlib.util.find_spec(OPTIONAL[info.name]) is None:
            continue
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ lists {name!r}, which is missing"


def test_importing_the_package_imports_no_step_module() -> None:
    """The tables are lazy: ``import clusterscape`` loads none of the statistics modules."""
    code = (
        "import sys, clusterscape, clusterscape.measure, clusterscape.urban;"
        "print(sorted(m for m in sys.modules if m.startswith('clusterscape.measure.')"
        " or m.startswith('clusterscape.urban.')))"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
