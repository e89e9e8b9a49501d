"""SmartOLT, the GPON management SaaS: OLTs, ONUs, their statuses and optical signals."""

from emerald_cli.sources.smartolt.client import SmartOLTClient

__all__ = ["SmartOLTClient"]
