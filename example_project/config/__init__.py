"""Example project that mounts transcription_platform."""
