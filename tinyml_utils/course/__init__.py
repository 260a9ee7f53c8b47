"""What the chapters compose: typed recipes (:mod:`.recipes`), the one artifact store
(:mod:`.artifacts`) and multi-technique pipelines (:mod:`.pipelines`)."""
