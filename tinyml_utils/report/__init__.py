"""Reporting: results files with asserted claims (:mod:`.results`), one figure style (:mod:`.plots`),
the course's roadmap read from the chapters (:mod:`.roadmap`). The book's dashboard is course tooling
(:mod:`tinyml_utils.tools.dashboard`)."""
