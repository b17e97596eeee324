"""Pulumi components of the observability stack, one module per part."""
