"""Check library, seeded data and grading pipeline for "Deep learning in practice with PyTorch".

Layers (each imports only those before it): ``data`` -> ``checks`` -> ``grading`` -> ``cli``.
"""

__version__ = "0.1.0"
