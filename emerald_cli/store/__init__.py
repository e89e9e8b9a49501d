"""The database side: tables, migrations, the snapshot write, run history and the run lock.

It receives plain dicts and knows nothing of RouterOS, ISPCube or SmartOLT. Modules:
database (engines), schema (tables), migrate (Alembic from code), snapshot (write with change
detection), routers, runs (history), lock (one run per source), errors.
"""
