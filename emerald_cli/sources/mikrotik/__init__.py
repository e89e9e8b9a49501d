"""MikroTik routers over the RouterOS API: connect, log in and read menus as the router sent them.

The package turns a router into plain data (`PollResult`) and knows nothing of the database.
"""
