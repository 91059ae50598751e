"""The command line: a thin layer that wires the stages together (`python -m pipeline --help`)."""
from pipeline.cli.app import main

__all__ = ["main"]
