"""Tests of the spec models, policies, loading and validation."""
