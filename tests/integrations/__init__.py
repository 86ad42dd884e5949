"""Tests of the Argo CD and Flux integrations and of the example spec repository."""
