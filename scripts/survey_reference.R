#!/usr/bin/env Rscript
# Reference estimates from R's `survey` package for the SIPAS index engine (crate sipas-indices).
#
# Usage: Rscript scripts/survey_reference.R data.csv composites.csv [no-villages] > reference.csv
#
# `stratum` and `cluster` are whatever the design declares: communes and villages, or for the SIPAS
# multistage design provinces and districts (the first stage's units as ultimate clusters); with
# `no-villages` the per-village domains are left out (a cluster is then not a village).
#
# data.csv: one row per form; columns `domain` (province), `stratum` (commune), `cluster`
#   (village, unique within its stratum), `weight` (design weight), then one column per ratio
#   variable: the form's value (an item score 0–100, 100/0 for "chose the option", a level) or
#   empty (NA) when the form has no valid answer for it (not scored / not answered).
# composites.csv: columns `composite,variable`: each composite is the mean of its variables' ratios
#   over the variables with at least one valid answer in the domain (as the engine combines items).
#
# For each variable v the ratio estimator is sum(w*y)/sum(w*n) with y = v (0 when NA) and
# n = 1 when v is not NA: computed with svyratio(~y, ~n). Composites use svycontrast() on
# svytotal() (delta method = Taylor linearisation). Domains:
#   ALL            the whole design: ids = ~cluster, strata = ~stratum, nest = TRUE
#   <domain>       subset() of that design (domain estimation)
#   V:<s>/<c>      one village: its forms as a simple random sample (ids = ~1)
# Lonely PSUs (a stratum with one cluster): options(survey.lonely.psu = "adjust").
# Output (stdout): CSV domain,name,estimate,se,df,ci_low,ci_high with t = qt(0.975, degf).

suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust", digits = 17)

args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(2, 3))) stop("usage: survey_reference.R data.csv composites.csv [no-villages]")
with_villages <- length(args) == 2
d <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = c(domain = "character",
  stratum = "character", cluster = "character"))
comp <- read.csv(args[2], stringsAsFactors = FALSE)
vars <- setdiff(names(d), c("domain", "stratum", "cluster", "weight"))

# y_<v> and n_<v> columns for every ratio variable.
for (v in vars) {
  d[[paste0("y_", v)]] <- ifelse(is.na(d[[v]]), 0, d[[v]])
  d[[paste0("n_", v)]] <- as.numeric(!is.na(d[[v]]))
}
ys <- paste0("y_", vars)
ns <- paste0("n_", vars)
tot_formula <- as.formula(paste("~", paste(c(ys, ns), collapse = "+")))

out <- data.frame()
emit <- function(domain, name, est, se, df) {
  t <- qt(0.975, df)
  out <<- rbind(out, data.frame(domain = domain, name = name, estimate = est, se = se, df = df,
    ci_low = est - t * se, ci_high = est + t * se, stringsAsFactors = FALSE))
}

estimate_domain <- function(domain, des) {
  df <- degf(des)
  tot <- svytotal(tot_formula, des)
  n_tot <- coef(tot)[ns]
  for (i in seq_along(vars)) {
    if (n_tot[[i]] <= 0) next
    r <- svyratio(as.formula(paste0("~", ys[i])), as.formula(paste0("~", ns[i])), des)
    emit(domain, vars[i], as.numeric(coef(r)), as.numeric(SE(r)), df)
  }
  for (cname in unique(comp$composite)) {
    members <- comp$variable[comp$composite == cname]
    members <- members[n_tot[paste0("n_", members)] > 0]
    if (length(members) == 0) next
    expr <- parse(text = paste0("(", paste0("y_", members, "/n_", members, collapse = "+"), ")/",
      length(members)))[[1]]
    cc <- svycontrast(tot, expr)
    emit(domain, cname, as.numeric(coef(cc)), as.numeric(SE(cc)), df)
  }
}

des <- svydesign(ids = ~cluster, strata = ~stratum, weights = ~weight, data = d, nest = TRUE)
estimate_domain("ALL", des)
for (dom in sort(unique(d$domain))) {
  estimate_domain(dom, subset(des, domain == dom))
}
villages <- unique(d[, c("stratum", "cluster")])
if (!with_villages) villages <- villages[0, ]
for (i in seq_len(nrow(villages))) {
  rows <- d[d$stratum == villages$stratum[i] & d$cluster == villages$cluster[i], ]
  if (nrow(rows) < 2) next
  vdes <- svydesign(ids = ~1, weights = ~weight, data = rows)
  estimate_domain(paste0("V:", villages$stratum[i], "/", villages$cluster[i]), vdes)
}
write.csv(out, stdout(), row.names = FALSE)
