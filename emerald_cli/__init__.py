"""Sync ISPCube, MikroTik routers and SmartOLT into the Emerald ERP database."""
