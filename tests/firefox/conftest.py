"""Registers the ``firefox`` marker here, so tests/firefox needs no change to pyproject.toml."""


def pytest_configure(config):
    config.addinivalue_line("markers", "firefox: drives a real Firefox ESR (firefox-esr from Debian)")
