#!/usr/bin/env Rscript
# Kd by the dbmss Kdhat recipe (R/Kdhat.R, exact-distance branch), written out with base R so
# it runs without dbmss (not packaged by Debian). Run once; CI never runs R.
#
#   cd <repo> && Rscript scripts/ref_dbmss_kd.R   # writes tests/data/dbmss_kd_reference.json
#
# Recipe: Dist = all n(n-1)/2 pair distances; bw = bw.nrd0(Dist[Dist <= 2 * rmax]) with
# rmax = max(r); distances <= 4 bw are mirrored around 0; Kd = stats::density of Dist and the
# mirrored copies on [0, rmax] (n = min(max(512, max(Dist)/rmax*128), 4096) points), divided by
# 1 - the density mass below 0, read off at r by linear interpolation. Weighted (Kemp): the
# same with pair weights w_i w_j (the bandwidth still from the unweighted distances).
d <- read.csv("tests/data/kd_parity/points.csv")
xy <- cbind(d$x, d$y)
n <- nrow(xy)
ij <- which(upper.tri(matrix(0, n, n)), arr.ind = TRUE)
Dist <- sqrt((xy[ij[, 1], 1] - xy[ij[, 2], 1])^2 + (xy[ij[, 1], 2] - xy[ij[, 2], 2])^2)
pw <- d$w[ij[, 1]] * d$w[ij[, 2]]
kd_recipe <- function(r, weighted) {
  rmax <- max(r)
  bw <- bw.nrd0(Dist[Dist <= 2 * rmax])
  refl <- which(Dist <= 4 * bw)
  D <- c(Dist, -Dist[refl])
  nd <- min(max(512, max(D) / rmax * 128), 4096)
  if (weighted) {
    W <- c(pw, pw[refl]); W <- W / sum(W)
    dens <- density(D, weights = W, from = 0, to = rmax, bw = bw, n = nd)
    below <- density(D, weights = W, to = 0, bw = bw)
  } else {
    dens <- density(D, from = 0, to = rmax, bw = bw, n = nd)
    below <- density(D, to = 0, bw = bw)
  }
  y <- dens$y / (1 - mean(below$y) * diff(range(below$x)))
  list(bw = bw, kd = approx(dens$x, y, xout = r)$y)
}
num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
out <- character(0)
for (rmax in c(3000, 10000)) {
  r <- seq(0, rmax, length.out = 31)
  for (weighted in c(FALSE, TRUE)) {
    k <- kd_recipe(r, weighted)
    out <- c(out, sprintf('"%s_%d": {"r": %s, "bw": %.17g, "kd": %s, "bw_all_pairs": %.17g}',
                          if (weighted) "kemp" else "kd", rmax, num(r), k$bw, num(k$kd), bw.nrd0(Dist)))
  }
}
writeLines(paste0("{", paste(out, collapse = ",\n"), sprintf(',\n"R": "%s"}\n', R.version.string)),
           "tests/data/dbmss_kd_reference.json")
