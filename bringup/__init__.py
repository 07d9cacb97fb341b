"""bringup: declarative, gated, safe silicon bring-up."""
__version__ = "0.1.0"
