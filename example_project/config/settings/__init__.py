"""Settings modules: ``local`` (default), ``production`` and ``test``, all built on ``base``."""
