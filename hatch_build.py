"""Hatch build hook: a wheel without the dashboard's MapLibre files is refused.

``src/clusterscape/web/static/vendor/`` is gitignored (``make install`` copies it from the npm
package pinned in package-lock.json), and hatch leaves gitignored files out unless they are
listed as ``artifacts`` in pyproject.toml. This hook makes a wheel built before the copy fail
with one clear line instead of shipping a dashboard with no map. Editable installs skip the
check: they read the files from the source tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VENDOR = Path("src/clusterscape/web/static/vendor")
REQUIRED = ("maplibre-gl.js", "maplibre-gl.css", "LICENSE.txt")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Check that MapLibre GL's script, style sheet and BSD licence are in place."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        root = Path(self.root)
        missing = [name for name in REQUIRED if not (root / VENDOR / name).is_file()]
        if missing:
            raise RuntimeError(
                f"clusterscape build: {VENDOR}/ lacks {', '.join(missing)}; run `make install` "
                "(npm ci copies MapLibre GL there) before building a wheel or sdist."
            )
