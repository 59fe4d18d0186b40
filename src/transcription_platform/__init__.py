"""transcription_platform: an audio-transcription backend for Django sites."""

__version__ = "0.1.0"
