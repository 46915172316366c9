#!/usr/bin/env Rscript
# Reference numbers for clusterscape.pattern from R spatstat (run once; CI never runs R).
#
#   cd /work/main && Rscript scripts/ref_spatstat.R   # writes tests/data/spatstat_reference.json
#
# Needs R with spatstat (Debian r-cran-spatstat) and the repository venv (.venv/bin/python), which
# writes the seeded patterns in polygon windows (tests/_pattern_cases.py: a Ningbo district
# rebuilt from /work/shared/data, and a square with a hole) to a temporary directory.
# The translation correction in polygon windows is reported twice: Kest's default (set
# covariance on a pixel mask, approximate) and the exact one (edge.Trans(exact = TRUE)), which is
# what clusterscape computes.
suppressPackageStartupMessages(library(spatstat))
set.seed(42)

tmp <- tempfile("csref")
dir.create(tmp)
py <- sprintf("import sys; sys.path.insert(0, 'tests'); from _pattern_cases import write_r_inputs; write_r_inputs(%s)",
              shQuote(tmp, type = "sh"))
stopifnot(system2(".venv/bin/python", c("-c", shQuote(py)), stdout = "", stderr = "") == 0)

num <- function(x) {
  x <- as.numeric(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  paste0("[", paste(s, collapse = ", "), "]")
}
js <- function(x) {
  if (is.list(x)) {
    items <- vapply(names(x), function(k) paste0('"', k, '": ', js(x[[k]])), "")
    paste0("{", paste(items, collapse = ",\n"), "}")
  } else if (is.character(x)) {
    paste0('"', x, '"')
  } else if (length(x) == 1) {
    if (is.finite(x)) sprintf("%.17g", x) else "null"
  } else num(x)
}

kest_all <- function(X, r) {
  K <- Kest(X, r = r, correction = c("none", "border", "isotropic", "translate"))
  list(none = K$un, border = K$border, isotropic = K$iso, translate = K$trans)
}

out <- list(meta = list(
  spatstat = as.character(packageVersion("spatstat")),
  spatstat_explore = as.character(packageVersion("spatstat.explore")),
  R = R.version.string,
  made_by = "scripts/ref_spatstat.R"))

# ---- classic rectangular data sets -------------------------------------------------------
rrect <- seq(0, 0.25, length.out = 26)
for (nm in c("cells", "redwood", "japanesepines")) {
  message("classic: ", nm)
  X <- get(nm)
  W <- Window(X)
  e <- list(x = X$x, y = X$y, window = c(W$xrange[1], W$yrange[1], W$xrange[2], W$yrange[2]),
            r = rrect)
  e <- c(e, kest_all(X, rrect))
  set.seed(1)
  e$dclf_L_p <- dclf.test(X, Lest, nsim = 99, verbose = FALSE)$p.value
  set.seed(1)
  e$mad_L_p <- mad.test(X, Lest, nsim = 99, verbose = FALSE)$p.value
  out[[nm]] <- e
}

# Kinhom on redwood: a given intensity function, and the default leave-one-out kernel estimate
X <- redwood
lamfun <- function(x, y) 62 * exp(1.5 * x - y) / 2
lam <- lamfun(X$x, X$y)
Ki <- Kinhom(X, lambda = lam, r = rrect, correction = c("border", "isotropic", "translate"))
Kn <- Kinhom(X, lambda = lam, r = rrect, correction = "isotropic", renormalise = FALSE)
Kd <- Kinhom(X, r = rrect, correction = "isotropic")
out$redwood_kinhom <- list(lambda = lam, r = rrect, border = Ki$border, isotropic = Ki$iso,
  translate = Ki$trans, isotropic_not_renormalised = Kn$iso, default_isotropic = Kd$iso,
  default_sigma = shortside(Frame(Window(X))) / 8,
  default_lambda = as.numeric(density(X, at = "points", leaveoneout = TRUE)))

# Kcross on amacrine (on -> off)
X <- amacrine
W <- Window(X)
Kc <- Kcross(X, "on", "off", r = seq(0, 0.25, length.out = 26),
             correction = c("none", "border", "isotropic", "translate"))
on <- X[marks(X) == "on"]
off <- X[marks(X) == "off"]
out$amacrine_kcross <- list(xi = on$x, yi = on$y, xj = off$x, yj = off$y,
  window = c(W$xrange[1], W$yrange[1], W$xrange[2], W$yrange[2]),
  r = seq(0, 0.25, length.out = 26), none = Kc$un, border = Kc$border,
  isotropic = Kc$iso, translate = Kc$trans)

# ---- polygon windows (Ningbo district, square with hole) ---------------------------------
# Exact translation weights |W| / |W ∩ (W + v)| with polyclip (the engine of
# edge.Trans(exact = TRUE) / overlap.owin, called directly because owin validation of each
# shifted copy is very slow). Checked against edge.Trans(exact = TRUE) on the first pairs.
poly_area <- function(P) sum(vapply(P, function(p) {
  n <- length(p$x); j <- c(2:n, 1); sum(p$x * p$y[j] - p$x[j] * p$y) / 2 }, 0))
exact_trans_K <- function(X, r) {
  W <- Window(X)
  cp <- closepairs(X, max(r), what = "all")
  A <- W$bdry
  ov <- vapply(seq_along(cp$dx), function(k) {
    B <- lapply(A, function(p) list(x = p$x + cp$dx[k], y = p$y + cp$dy[k]))
    poly_area(polyclip::polyclip(A, B, "intersection", fillA = "nonzero", fillB = "nonzero"))
  }, 0)
  w <- pmin(area(W) / ov, 100)
  chk <- edge.Trans(dx = cp$dx[1:5], dy = cp$dy[1:5], W = W, exact = TRUE, paired = TRUE)
  stopifnot(max(abs(chk - w[1:5]) / chk) < 1e-6)  # polyclip snaps to an integer grid
  n <- npoints(X)
  cumsum(whist(cp$d, breakpts.from.r(r)$val, w)) * area(W) / (n * (n - 1))
}
for (nm in c("ningbo_jiangbei", "holed_square")) {
  message("polygon: ", nm)
  pts <- read.csv(file.path(tmp, paste0(nm, "_points.csv")))
  rr <- read.csv(file.path(tmp, paste0(nm, "_r.csv")))$r
  wv <- read.csv(file.path(tmp, paste0(nm, "_window.csv")))
  rings <- lapply(split(wv, wv$ring), function(d) list(x = d$x, y = d$y))
  W <- owin(poly = rings)
  X <- ppp(pts$x, pts$y, window = W)
  stopifnot(npoints(X) == nrow(pts))
  e <- list(area = area(W), r = rr)
  e <- c(e, kest_all(X, rr))
  message("  exact translate")
  e$translate_exact <- exact_trans_K(X, rr)
  message("  Kcross / Kinhom")
  # Kcross: first half of the rows as type "a", second half as "b"
  marks(X) <- factor(rep(c("a", "b"), c(nrow(pts) %/% 2, nrow(pts) - nrow(pts) %/% 2)))
  Kc <- Kcross(X, "a", "b", r = rr, correction = c("none", "border", "isotropic"))
  e$kcross_none <- Kc$un
  e$kcross_border <- Kc$border
  e$kcross_isotropic <- Kc$iso
  # Kinhom with a given intensity linear in x
  Xu <- unmark(X)
  xr <- W$xrange
  lam <- npoints(Xu) / area(W) * (0.5 + (Xu$x - xr[1]) / diff(xr))
  Ki <- Kinhom(Xu, lambda = lam, r = rr, correction = c("border", "isotropic"))
  e$kinhom_lambda <- lam
  e$kinhom_border <- Ki$border
  e$kinhom_isotropic <- Ki$iso
  out[[nm]] <- e
}

writeLines(js(out), "tests/data/spatstat_reference.json")
cat("wrote tests/data/spatstat_reference.json\n")
