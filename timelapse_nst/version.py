"""The tool's version: recorded in every run folder, checkpoint and video it makes."""

__version__ = "0.4.0"
