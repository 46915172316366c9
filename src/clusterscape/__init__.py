"""clusterscape: creative-industry clusters, their forms, and their effects on the city."""

__version__ = "0.1.0"
