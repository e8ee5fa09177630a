"""sdcore: the library behind the reproducible book of *Revisiting Self-Distillation*."""

__version__ = "0.1.0"
