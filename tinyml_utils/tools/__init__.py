"""Course tooling, apart from what learners import: the command line (:mod:`.cli`), the Jupyter
Book (:mod:`.book`) and its results dashboard (:mod:`.dashboard`), environment checks
(:mod:`.doctor`), full-mode reproduction (:mod:`.reproduce`) and the timing-claim benchmark
(:mod:`.stability`). Nothing below this package imports it (an import-linter contract)."""
