"""What the chapters compose: typed recipes (:mod:`.recipes`), the one artifact store
(:mod:`.artifacts`), multi-technique pipelines (:mod:`.pipelines`) and the learners'
self-checking exercises (:mod:`.exercises`)."""
