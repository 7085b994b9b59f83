#!/usr/bin/env Rscript
# Reference estimates from R's `survey` package for the SIPAS index engine (crate sipas-indices).
#
# Usage: Rscript scripts/survey_reference.R data.csv composites.csv [no-villages] > reference.csv
#        Rscript scripts/survey_reference.R yoy previous.csv current.csv composites.csv > changes.csv
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

# Year over year: survey_reference.R yoy previous.csv current.csv composites.csv
# The two rounds are independent samples: they are stacked into one design whose strata and
# clusters are each round's own (prefixed with the round), and every figure's change
# current − previous is svycontrast() of the two rounds' svyby() totals (covmat = TRUE), with the
# stacked design's degrees of freedom. Domains: ALL, and each province (subset()).
if (length(args) == 4 && args[1] == "yoy") {
  read_round <- function(path, year) {
    r <- read.csv(path, stringsAsFactors = FALSE, colClasses = c(domain = "character",
      stratum = "character", cluster = "character"))
    r$year <- year
    r$stratum <- paste(year, r$stratum, sep = "/")
    r$cluster <- paste(year, r$cluster, sep = "/")
    r
  }
  d <- rbind(read_round(args[2], "prev"), read_round(args[3], "cur"))
  comp <- read.csv(args[4], stringsAsFactors = FALSE)
  vars <- setdiff(names(d), c("domain", "stratum", "cluster", "weight", "year"))
  for (v in vars) {
    d[[paste0("y_", v)]] <- ifelse(is.na(d[[v]]), 0, d[[v]])
    d[[paste0("n_", v)]] <- as.numeric(!is.na(d[[v]]))
  }
  tot_formula <- as.formula(paste("~", paste(c(paste0("y_", vars), paste0("n_", vars)), collapse = "+")))
  out <- data.frame()
  emit <- function(domain, name, est, se, df) {
    t <- qt(0.975, df)
    out <<- rbind(out, data.frame(domain = domain, name = name, estimate = est, se = se, df = df,
      ci_low = est - t * se, ci_high = est + t * se, stringsAsFactors = FALSE))
  }
  yoy_domain <- function(domain, des) {
    df <- degf(des)
    tot <- svyby(tot_formula, ~year, des, svytotal, covmat = TRUE)
    cf <- setNames(as.numeric(coef(tot)), names(coef(tot)))
    has <- function(year, v) cf[[paste0(year, ":n_", v)]] > 0
    ratio <- function(year, v) paste0("`", year, ":y_", v, "`/`", year, ":n_", v, "`")
    mean_of <- function(year, members) paste0("(", paste0(ratio(year, members), collapse = "+"), ")/",
      length(members))
    contrast <- function(name, text) {
      cc <- svycontrast(tot, parse(text = text)[[1]])
      emit(domain, name, as.numeric(coef(cc)), as.numeric(SE(cc)), df)
    }
    for (v in vars) {
      if (!has("cur", v) || !has("prev", v)) next
      contrast(v, paste0(ratio("cur", v), " - ", ratio("prev", v)))
    }
    for (cname in unique(comp$composite)) {
      members <- comp$variable[comp$composite == cname]
      now <- members[sapply(members, function(m) has("cur", m))]
      before <- members[sapply(members, function(m) has("prev", m))]
      if (length(now) == 0 || length(before) == 0) next
      contrast(cname, paste0(mean_of("cur", now), " - ", mean_of("prev", before)))
    }
  }
  des <- svydesign(ids = ~cluster, strata = ~stratum, weights = ~weight, data = d, nest = TRUE)
  yoy_domain("ALL", des)
  for (dom in sort(unique(d$domain))) yoy_domain(dom, subset(des, domain == dom))
  write.csv(out, stdout(), row.names = FALSE)
  quit(save = "no")
}

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
