# Reference values for tests/test_paired.py: Newcombe's (1998) hybrid score interval for the
# difference of two paired proportions ("method 10", the square-and-add / MOVER interval with the
# continuity-corrected correlation), from two independent R implementations:
#   contingencytables 3.0.0 (Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
#     Tables", 2017, chapter 8): Newcombe_square_and_add_CI_paired_2x2
#   ratesci 1.1.0.9000 (Laud): moverpairci(type = "wilson", corc = TRUE)
# Run: Rscript tests/reference/newcombe_paired.R (its output is copied into tests/test_paired.py)
# Tables are (a, b, c, d): a both successes, b the first only, c the second only, d neither; the
# difference is (b - c) / n, first minus second.
suppressMessages({
  library(contingencytables)
  library(ratesci)
})
tables <- list(
  c(20, 12, 2, 16),  # Newcombe (1998), the example with method 10 limits 0.0562, 0.3292
  c(1, 1, 7, 12),    # Bentur et al. (2009), in Fagerland et al. (2014): -0.507, -0.026
  c(59, 6, 16, 80),  # Cavo et al. (2012), in Fagerland et al. (2017): -0.1186, -0.0046
  c(8, 3, 1, 2),     # Tang, Li & Tang (2010): -0.1574, 0.4136
  c(14, 5, 0, 22),   # Altman et al. (2000), Statistics with Confidence, table 6.2
  c(2, 10, 8, 3),    # ad < bc: the correlation is used as it is (negative)
  c(3, 4, 2, 3),     # 0 <= ad - bc <= n/2: the corrected correlation is 0
  c(30, 0, 0, 20),   # no discordant pair
  c(0, 0, 5, 5),     # a margin of 0 (the first never succeeds): correlation 0
  c(10, 0, 0, 0)     # every unit a success under both
)
for (level in c(0.95, 0.9)) {
  for (x in tables) {
    ct <- Newcombe_square_and_add_CI_paired_2x2(matrix(x, 2, 2, byrow = TRUE), alpha = 1 - level)
    rs <- moverpairci(x = x, level = level, contrast = "RD", type = "wilson", corc = TRUE,
                      precis = 15, warn = FALSE)$estimates
    cat(sprintf("%g %d %d %d %d  ct %.15g %.15g %.15g  ratesci %.15g %.15g\n", level, x[1], x[2],
                x[3], x[4], ct$estimate, ct$lower, ct$upper, rs[, "lower"], rs[, "upper"]))
  }
}
