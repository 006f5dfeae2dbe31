"""Fixtures for the scale and fault tests: in-process hubs (protections) and the hub as a real
child process (faults)."""

from __future__ import annotations



