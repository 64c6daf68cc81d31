"""Shared pytest configuration: a deterministic hypothesis profile and small helpers."""
import os
import sys

import pytest
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


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current directory with progress bars off (CLI tests write files relative to it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CERTQNN_PROGRESS", "0")
    return tmp_path
