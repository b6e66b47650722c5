from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "simulation: randomized PBFT simulator seed sweeps (about a minute in total)"
    )
