"""ISPCube, the billing SaaS: customers, connections, plans and nodes (the routers)."""

from emerald_cli.sources.ispcube.client import ISPCubeClient

__all__ = ["ISPCubeClient"]
