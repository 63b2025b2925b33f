"""Doctest collection: modules that need torch are skipped when torch is absent
(torch is an optional dependency; the test extra installs it)."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["emdkit/wgan.py"]
