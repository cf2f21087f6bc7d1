"""The library every cpnet service shares: contracts, messaging, database, telemetry, settings."""
