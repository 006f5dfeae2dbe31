"""The OCPP-J server: WebSocket endpoint, one StationSession per live connection."""
