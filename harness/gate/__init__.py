"""The capacity gate: a run's SLO and validity checks plus a noise-aware comparison with a
baseline. ``baseline`` stores the metrics, ``noise`` estimates run-to-run noise, ``checks`` are
pure functions over summaries, ``render`` writes Markdown and JUnit, ``cli`` decides exit codes."""
