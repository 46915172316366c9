#!/usr/bin/env Rscript
# spatstat dclf.test / mad.test on the patterns of tests/data/dclf_parity/ (run once; CI never
# runs R). Inputs: scripts/make_dclf_parity_inputs.py. Output: tests/data/spatstat_dclf_reference.json
#
#   cd <repo> && Rscript scripts/ref_spatstat_dclf.R
#
# The simulated patterns are passed as simulate = <list of ppp>, so spatstat and clusterscape
# test the same curves. With a list spatstat cannot know the null is CSR, so use.theory = TRUE
# asks for the reference it uses by default for CSR ("Reference function: theoretical"); the
# default call dclf.test(X) is also run to record that reference and the default r interval.
suppressPackageStartupMessages(library(spatstat))
set.seed(1)
dir <- "tests/data/dclf_parity"
out <- list()
for (name in c("rect", "holed")) {
  d <- read.csv(file.path(dir, paste0(name, ".csv")))
  wkt <- readLines(file.path(dir, paste0(name, ".wkt")))
  if (name == "rect") {
    W <- owin(c(0, 1000), c(0, 600))
  } else {
    W <- owin(poly = list(list(x = c(0, 1000, 1000, 0), y = c(0, 0, 1000, 1000)),
                          list(x = c(300, 300, 600, 600), y = c(300, 700, 700, 300))))
  }
  X <- ppp(d$x[d$sim == 0], d$y[d$sim == 0], window = W)
  sims <- lapply(sort(unique(d$sim[d$sim > 0])), function(s) ppp(d$x[d$sim == s], d$y[d$sim == s], window = W))
  res <- list()
  for (fn in c("K", "L")) {
    f <- if (fn == "K") Kest else Lest
    a <- dclf.test(X, f, simulate = sims, nsim = length(sims), use.theory = TRUE, verbose = FALSE)
    b <- mad.test(X, f, simulate = sims, nsim = length(sims), use.theory = TRUE, verbose = FALSE)
    stopifnot(grepl("theoretical", paste(a$method, collapse = " ")))
    res[[paste0("dclf_", fn)]] <- c(unname(a$statistic[[1]]), a$p.value)
    res[[paste0("mad_", fn)]] <- c(unname(b$statistic[[1]]), b$p.value)
    res[[paste0("rinterval_", fn)]] <- attr(a, "rinterval")
  }
  dflt <- dclf.test(X, nsim = 19, verbose = FALSE)
  res$default_method <- paste(dflt$method, collapse = " | ")
  res$default_rinterval <- attr(dflt, "rinterval")
  out[[name]] <- res
}
num <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ", "), "]")
item <- function(k, v) if (is.character(v)) sprintf('"%s": "%s"', k, gsub('"', "'", v)) else sprintf('"%s": %s', k, num(v))
txt <- paste0("{\n", paste(vapply(names(out), function(n) {
  paste0('"', n, '": {', paste(mapply(item, names(out[[n]]), out[[n]]), collapse = ",\n  "), "}")
}, ""), collapse = ",\n"), ',\n"spatstat": "', packageVersion("spatstat.explore"), '"\n}\n')
writeLines(txt, "tests/data/spatstat_dclf_reference.json")
cat(txt)
