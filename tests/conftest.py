"""Shared pytest configuration: a deterministic hypothesis profile and small helpers."""
import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))   # `import strategies` from any test module

# Deterministic by default (derandomize: the same examples on every run, no example database);
# CERTQNN_HYPOTHESIS_PROFILE=explore searches with fresh randomness instead.
settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "explore", deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("CERTQNN_HYPOTHESIS_PROFILE", "ci"))
