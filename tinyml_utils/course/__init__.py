"""What the chapters compose: typed recipes (:mod:`.recipes`), the one artifact store (:mod:`.store`)
and what the chapters keep in it (:mod:`.catalogue`), the int8 files chapter 12 deploys (:mod:`.deployed`),
multi-technique pipelines (:mod:`.pipelines`), the timing claims' measurements and bounds (:mod:`.timing`),
the learners' self-checking exercises (:mod:`.exercises`) and the capstone's budget (:mod:`.capstone`),
chapter 08's composition (:mod:`.kws`), anomaly scorers (:mod:`.anomaly`) and federated learning with
Flower (:mod:`.federated`)."""
