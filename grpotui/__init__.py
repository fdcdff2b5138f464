"""grpotui: watch GRPO learn to sort numbers (CS336 Lecture 17), live in a terminal."""

__version__ = "0.1.0"
