"""Alerting and recording rules: thresholds, rule files, SLO generation, lint and the PrometheusRule component."""
