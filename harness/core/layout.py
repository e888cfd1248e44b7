"""The files of a phase directory that one stage writes and another reads: one name each.

The whole layout is in docs/architecture.md; these are the names the runner (``harness.run``)
and the analysis (``harness.analysis``) must agree on.
"""

from __future__ import annotations

MANIFEST = "manifest.json"  # harness.run.manifest
RESOURCES = "resources.csv"  # harness.stack.resources, through the runner
VERDICT = "verdict.json"  # what Locust printed (loadtests/), as checks
COSTS_FILE = "endpoint_costs.json"  # harness.run.scrape: per endpoint, over the steady windows
SAMPLES = "samples"  # the exact samples (harness.core.samples) and the write ledger (.ledger)
AUDIT = "audit.json"  # harness.run.audit: the database against the write ledger
