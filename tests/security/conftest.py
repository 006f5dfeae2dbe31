"""Fixtures for the security tests: the OICP hub (all features on) and the files hub."""

from tests.oicp.conftest import mock, oicp_hub  # noqa: F401 - fixtures used by these tests
