"""emdkit's benchmark suite: emdkit beside its peers, in one process, as ratios."""
