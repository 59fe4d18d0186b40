"""Tests of the example project: settings per environment, checks, the demo client."""
