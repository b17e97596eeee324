"""Grafana: the workload, access (UIDs, folders, provider), datasources, provisioning and the dashboards component."""
