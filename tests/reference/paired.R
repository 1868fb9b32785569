# Reference values for tests/test_paired.py: paired DeLong (pROC::roc.test, paired = TRUE) and
# McNemar's test (mcnemar.test, binom.test on the discordant pairs).
# Run: Rscript tests/reference/paired.R (its output is copied into tests/test_paired.py)   (R 4.x, pROC 1.18)
suppressMessages(library(pROC))
options(digits = 15)
y <- c(0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0)
a <- c(-0.68, 0.2, -0.46, 1.53, 0.21, -0.58, 1.2, 0.9, 1.15, -1.32, 0.61, 2.05, -0.59, -0.46, -0.1, 1.26, 0.69, -0.33, -0.37, -0.25, 2.92, 0.97, -0.3, 1.75, 1.28, -0.2, -1.11, -0.01, -0.44, 1.17, 0.65, 1.38, 2.07, 1.06, 1.05, 1.39, 1.98, 0.11, 0.35, -0.29, -0.64, -0.3, -0.9, 0.16, 2.24, -0.83, 0.78, 0.21, 0.49, -0.18, 1.19, 0.7, 1.92, 0.37, 1.32, 1.44, -1.05, 1.66, -0.86, 0.97)
b <- c(-0.15, 0.19, -0.82, 0.95, -1.59, -1.42, 1.26, -1.68, 1.42, -2.41, 1.36, 0.48, 0.78, -0.1, -1.59, 1.88, 1.79, -0.23, -0.46, -0.28, 0.78, 1.88, -0.69, 1.12, 0.15, -0.73, -1.83, 1.25, -0.37, 1.55, 0.34, 0.3, 1.01, 0.27, 0.53, 0.62, 0.99, -1.02, -0.63, 1.81, -0.69, -1.2, -0.11, 1.49, -0.33, -0.62, 0.06, -1.66, 0.98, -0.11, 0.97, -0.4, 1.71, -0.05, 0.82, -0.09, -1.74, 2.47, -0.94, 0.78)
ra <- roc(y, a, levels = c(0, 1), direction = "<", quiet = TRUE)
rb <- roc(y, b, levels = c(0, 1), direction = "<", quiet = TRUE)
t <- roc.test(ra, rb, method = "delong", paired = TRUE)
cat(sprintf("auc_a %.15g\nauc_b %.15g\nvar_a %.15g\nvar_b %.15g\ncov %.15g\nz %.15g\np %.15g\n",
    as.numeric(auc(ra)), as.numeric(auc(rb)), var(ra, method = "delong"), var(rb, method = "delong"),
    cov(ra, rb, method = "delong"), t$statistic, t$p.value))
# McNemar on discordant counts b = 7 (A right, B wrong), c = 2, and a larger table
for (bc in list(c(7, 2), c(30, 18), c(5, 5), c(0, 4))) {
  tab <- matrix(c(40, bc[2], bc[1], 25), 2, 2)
  m <- mcnemar.test(tab)
  e <- binom.test(bc[1], sum(bc), 0.5)
  midp <- min(1, 2 * pbinom(min(bc), sum(bc), 0.5) - dbinom(min(bc), sum(bc), 0.5))
  cat(sprintf("mcnemar %d %d chisq %.15g exact %.15g midp %.15g\n", bc[1], bc[2], m$p.value,
      e$p.value, midp))
}
