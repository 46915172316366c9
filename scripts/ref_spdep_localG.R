# Reference Getis-Ord Gi* z-scores from R spdep::localG, for tests/test_hotspots.py.
# Run once (CI never runs R):  Rscript scripts/ref_spdep_localG.R tests/data/spdep_localG_reference.json
# Gi* with binary weights including self, fixed distance band d (dnearneigh: 0 <= d_ij <= d),
# z under randomisation (spdep localG, Ord & Getis 1995).
suppressPackageStartupMessages(library(spdep))
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "tests/data/spdep_localG_reference.json"
set.seed(20261128)
n <- 300
x <- round(runif(n, 0, 2000), 3)
y <- round(runif(n, 0, 2000), 3)
# a planted hot spot of high values around (500, 1500) and a cold area on the right
v <- round(rpois(n, 4) + 10 * exp(-((x - 500)^2 + (y - 1500)^2) / (2 * 250^2)) - 2 * (x > 1600), 3)
cases <- list()
for (d in c(150, 300)) {
  nb <- include.self(dnearneigh(cbind(x, y), 0, d))
  lw <- nb2listw(nb, style = "B", zero.policy = TRUE)
  g <- as.numeric(localG(v, lw, zero.policy = TRUE))
  cases[[length(cases) + 1]] <- sprintf('{"distance": %s, "z": [%s]}', d,
                                        paste(sprintf("%.12g", g), collapse = ", "))
}
fmt <- function(a) paste(sprintf("%.12g", a), collapse = ", ")
json <- sprintf(paste0('{\n "source": "R %s, spdep %s, localG(include.self(dnearneigh(xy, 0, d)), style = B)",\n',
                       ' "x": [%s],\n "y": [%s],\n "values": [%s],\n "cases": [%s]\n}\n'),
                paste(R.version$major, R.version$minor, sep = "."), as.character(packageVersion("spdep")),
                fmt(x), fmt(y), fmt(v), paste(cases, collapse = ",\n  "))
writeLines(json, out)
