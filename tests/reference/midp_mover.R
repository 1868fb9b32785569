# Output of midp_mover.R (R 4, base R only), stored so the default test run needs no R:
# alpha=0.05000 x=  0 n=  3: [0.0000000000, 0.6315968501]
# alpha=0.05000 x=  3 n=  3: [0.3684031499, 1.0000000000]
# alpha=0.05000 x=  0 n=  5: [0.0000000000, 0.4507197283]
# alpha=0.05000 x=  1 n= 10: [0.0050014753, 0.4034761557]
# alpha=0.05000 x=  3 n= 10: [0.0826002170, 0.6199185659]
# alpha=0.05000 x=  6 n= 10: [0.2911361099, 0.8577070557]
# alpha=0.05000 x= 10 n= 10: [0.7411344491, 1.0000000000]
# alpha=0.05000 x= 97 n=100: [0.9205454286, 0.9923134160]
# alpha=0.05000 x=  0 n=200: [0.0000000000, 0.0148670392]
# alpha=0.00125 x=  0 n=  3: [0.0000000000, 0.8922782655]
# alpha=0.00125 x=  3 n=  3: [0.1077217345, 1.0000000000]
# alpha=0.00125 x=  0 n=  5: [0.0000000000, 0.7373472196]
# alpha=0.00125 x=  1 n= 10: [0.0001250000, 0.6162767149]
# alpha=0.00125 x=  3 n= 10: [0.0224256456, 0.7910485317]
# alpha=0.00125 x=  6 n= 10: [0.1448221071, 0.9481966099]
# alpha=0.00125 x= 10 n= 10: [0.5124966151, 1.0000000000]
# alpha=0.00125 x= 97 n=100: [0.8762391562, 0.9979556274]
# alpha=0.00125 x=  0 n=200: [0.0000000000, 0.0328706794]
# wilson 6/10: [0.3126737697, 0.8318196703]
# newcombe 56/70-48/80: [0.0524314724, 0.3338726540]
# mover-midp 6/10 - 14487/14490 alpha=0.05000: [-0.7086568894, -0.1420856586]
# mover-midp 6/10 - 14487/14490 alpha=0.00125: [-0.8549708945, -0.0515956644]

# Independent reference for the exact mid-p interval (base R only: pbinom, dbinom, uniroot).
midp <- function(x, n, alpha = 0.05) {
  lo <- if (x == 0) 0 else uniroot(function(p) pbinom(x, n, p, lower.tail = FALSE) + 0.5 * dbinom(x, n, p) - alpha / 2,
                                   c(1e-15, 1 - 1e-15), tol = 1e-14)$root
  hi <- if (x == n) 1 else uniroot(function(p) pbinom(x - 1, n, p) + 0.5 * dbinom(x, n, p) - alpha / 2,
                                   c(1e-15, 1 - 1e-15), tol = 1e-14)$root
  c(lo, hi)
}
ref <- list(c(0, 3), c(3, 3), c(0, 5), c(1, 10), c(3, 10), c(6, 10), c(10, 10), c(97, 100), c(0, 200))
for (a in c(0.05, 0.05 / 40)) for (r in ref) {
  ci <- midp(r[1], r[2], a)
  cat(sprintf("alpha=%.5f x=%3d n=%3d: [%.10f, %.10f]\n", a, r[1], r[2], ci[1], ci[2]))
}
# Wilson (prop.test without continuity correction) for 6/10, and Newcombe's method 10 for 56/70 - 48/80
w <- function(x, n, a = 0.05) prop.test(x, n, conf.level = 1 - a, correct = FALSE)$conf.int
cat(sprintf("wilson 6/10: [%.10f, %.10f]\n", w(6, 10)[1], w(6, 10)[2]))
nc <- function(x1, n1, x2, n2, a = 0.05) {
  p1 <- x1 / n1; p2 <- x2 / n2; w1 <- w(x1, n1, a); w2 <- w(x2, n2, a)
  c(p1 - p2 - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2), p1 - p2 + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2))
}
ci <- nc(56, 70, 48, 80); cat(sprintf("newcombe 56/70-48/80: [%.10f, %.10f]\n", ci[1], ci[2]))
# MOVER with mid-p limits: 6/10 vs 14487/14490 (Shuttle Bpv.Close) at 95% and at 1 - 0.05/40
mm <- function(x1, n1, x2, n2, a) {
  p1 <- x1 / n1; p2 <- x2 / n2; m1 <- midp(x1, n1, a); m2 <- midp(x2, n2, a)
  c(p1 - p2 - sqrt((p1 - m1[1])^2 + (m2[2] - p2)^2), p1 - p2 + sqrt((m1[2] - p1)^2 + (p2 - m2[1])^2))
}
for (a in c(0.05, 0.05 / 40)) { ci <- mm(6, 10, 14487, 14490, a)
  cat(sprintf("mover-midp 6/10 - 14487/14490 alpha=%.5f: [%.10f, %.10f]\n", a, ci[1], ci[2])) }
