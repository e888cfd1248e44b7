"""Run history: per-phase summaries over time (``store``), change points per metric
(``changes``), and the ``history add`` and ``trend`` commands (``cli``)."""
