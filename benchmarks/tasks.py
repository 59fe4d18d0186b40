"""Tasks of the raw django-q2 baseline in the queue benchmark."""


def noop() -> None:
    """Does nothing: what is left is django-q2's own cost per task."""
