"""The package version, in a module of its own so that any part of recdiff can read it without importing the rest."""

__version__ = "0.1.0"
