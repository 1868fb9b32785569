"""The analyses of an audit, each a function ``analyse_*(ctx) -> (typed results, claims)``.

* :mod:`~prevalens.analyses.context`: what every analysis reads, and how a derived statistic
  gets its estimate and interval from the joint replicates;
* :mod:`~prevalens.analyses.strata`: prevalence strata, and the rarest against the most common;
* :mod:`~prevalens.analyses.gap`: macro minus micro, and its per-class decomposition;
* :mod:`~prevalens.analyses.trend`: the metric against log prevalence;
* :mod:`~prevalens.analyses.divergence`: each class against the micro value;
* :mod:`~prevalens.analyses.family`: every claim of every analysis, adjusted as one family.
"""
