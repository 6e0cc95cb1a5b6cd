"""kefu: reply suggestions for Chinese online-shop customer service."""

__version__ = "0.1.0"
