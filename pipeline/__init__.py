"""Style-transfer gallery generator: manifest -> plan -> render -> site."""

__version__ = "0.1.0"
