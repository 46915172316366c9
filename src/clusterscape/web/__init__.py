"""The read-only dashboard: a FastAPI app over one study's saved outputs."""

from clusterscape.web.app import create_app

__all__ = ["create_app"]
