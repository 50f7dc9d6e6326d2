"""Version of the infotrafic package."""

__version__ = "0.1.0"
