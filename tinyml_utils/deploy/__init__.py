"""Deployment targets: device profiles and budgets (:mod:`.devices`), C arrays (:mod:`.c_array`)."""
