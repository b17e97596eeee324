"""The logs signal: Loki and Grafana Alloy, with their configuration generators."""
