"""Urban spatial structure: functional zones, centres and subcentres, district profiles.

- :func:`functional_zones` labels grid cells, H3 hexagons or user blocks by their dominant
  function (frequency density / category ratio of Chi, Jiao, Dong et al. 2016, or NMF topics),
  with a Shannon mixed-use entropy per unit.
- :func:`urban_centres` finds the main centre and the subcentres from a smoothed density
  surface, Gi* significance, density prominence and a minimum mass (Giuliano & Small 1991;
  McMillen 2001), with a polycentricity index.
- :func:`district_profiles` gives creative LQ by sector, Krugman specialisation, diversity and
  creative shares per district; :func:`cluster_context` places each cluster in its zone and
  measures its distance to the nearest centre; :func:`urban_summary` gives the pipeline's
  ``summary.json`` entries.
"""

from clusterscape import _lazy_exports

__all__, __getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "clusterscape.urban._common": "FUNCTIONS",
        "clusterscape.urban.centres": "CentreResult GridSurface urban_centres",
        # the one grid Gi* lives with the other hot-spot statistics; urban_centres uses it
        "clusterscape.measure.hotspots": "gi_star_grid",
        "clusterscape.urban.profiles": "cluster_context district_profiles urban_summary",
        "clusterscape.urban.zones": "functional_zones",
    },
)
