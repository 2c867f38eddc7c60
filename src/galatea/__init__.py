"""Galatea: a self-hostable character roleplay chat platform."""

__version__ = "0.1.0"
