"""Reporting: results files with asserted claims (:mod:`.results`), one figure style (:mod:`.plots`)."""
