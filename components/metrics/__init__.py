"""The metrics signal: the Prometheus Operator and its CRDs, Prometheus, Alertmanager, Pushgateway and the exporters."""
