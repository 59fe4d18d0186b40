"""The OpenAI-compatible face of the pipeline: ``/v1/audio/transcriptions`` and friends."""
