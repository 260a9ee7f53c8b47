"""What the chapters compose: typed recipes (:mod:`.recipes`), the one artifact store
(:mod:`.artifacts`), multi-technique pipelines (:mod:`.pipelines`), the learners' self-checking
exercises (:mod:`.exercises`) and federated learning with Flower (:mod:`.federated`)."""
