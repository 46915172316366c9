#!/usr/bin/env Rscript
# spatstat border-corrected K, Kcross and Kinhom on FINE r grids (run once; CI never runs R).
#
#   cd <repo> && Rscript scripts/ref_spatstat_border_fine.R  # writes tests/data/spatstat_border_fine.json
#
# clusterscape evaluates the reduced-sample (border) estimator exactly at each r, so its value
# does not depend on the grid; spatstat bins boundary distances on its r breaks (a point counts
# at r_k when b >= r_{k-1}), which agrees with the exact value only on a fine grid. The grids
# here are 50 times finer than those of scripts/ref_spatstat.R and contain their values.
# Uses the same patterns (tests/_pattern_cases.py via the repository venv).
suppressPackageStartupMessages(library(spatstat))
tmp <- tempfile("csborder")
dir.create(tmp)
py <- sprintf("import sys; sys.path.insert(0, 'tests'); from _pattern_cases import write_r_inputs; write_r_inputs(%s)",
              shQuote(tmp, type = "sh"))
py_bin <- Sys.getenv("PYTHON", ".venv/bin/python")
stopifnot(system2(py_bin, c("-c", shQuote(py)), stdout = "", stderr = "") == 0)
num <- function(x) paste0("[", paste(ifelse(is.finite(x), sprintf("%.17g", x), "null"), collapse = ", "), "]")
out <- character(0)
X <- amacrine
rf <- seq(0, 0.25, length.out = 26 * 50 - 49)
Kc <- Kcross(X, "on", "off", r = rf, correction = "border")
out <- c(out, sprintf('"amacrine_kcross": {"r": %s, "border": %s}', num(rf), num(Kc$border)))
for (nm in c("ningbo_jiangbei", "holed_square")) {
  pts <- read.csv(file.path(tmp, paste0(nm, "_points.csv")))
  rr <- read.csv(file.path(tmp, paste0(nm, "_r.csv")))$r
  wv <- read.csv(file.path(tmp, paste0(nm, "_window.csv")))
  W <- owin(poly = lapply(split(wv, wv$ring), function(d) list(x = d$x, y = d$y)))
  X <- ppp(pts$x, pts$y, window = W)
  rf <- seq(0, max(rr), length.out = (length(rr) - 1) * 50 + 1)
  K <- Kest(X, r = rf, correction = "border")
  marks(X) <- factor(rep(c("a", "b"), c(nrow(pts) %/% 2, nrow(pts) - nrow(pts) %/% 2)))
  Kc <- Kcross(X, "a", "b", r = rf, correction = "border")
  Xu <- unmark(X)
  xr <- W$xrange
  lam <- npoints(Xu) / area(W) * (0.5 + (Xu$x - xr[1]) / diff(xr))
  Ki <- Kinhom(Xu, lambda = lam, r = rf, correction = "border")
  out <- c(out, sprintf('"%s": {"r": %s, "border": %s, "kcross_border": %s, "kinhom_border": %s}',
                        nm, num(rf), num(K$border), num(Kc$border), num(Ki$border)))
}
txt <- paste0("{", paste(out, collapse = ",\n"), sprintf(',\n"spatstat": "%s"}\n', packageVersion("spatstat.explore")))
writeLines(txt, "tests/data/spatstat_border_fine.json")
