"""Syndicator: polls news feeds, keeps each story once, republishes clean feeds.

The pipeline reads from the module names: fetch → parse → merge → store →
publish → serve; ``refresh`` runs it once, ``scheduler`` runs it on a
schedule and ``cli`` is the command line around both.
"""

__version__ = "0.1.0"
