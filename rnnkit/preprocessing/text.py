"""``keras.preprocessing.text`` alias: :class:`TextVectorization` (implemented in :mod:`rnnkit.utils`)."""
from ..utils.text_vectorization import TextVectorization

__all__ = ["TextVectorization"]
