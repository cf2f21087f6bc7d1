"""Database access shared by the services: engines, the messaging tables, migrations."""
