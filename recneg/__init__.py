"""recneg: negative sampling for recommendation, with the book that teaches it."""
from ._errors import RecnegError

__version__ = "0.1.0"
__all__ = ["RecnegError", "__version__"]
