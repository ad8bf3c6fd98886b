"""A question-answering bot about virtualization technologies, grounded in a curated corpus."""

__version__ = "0.1.0"
