"""Offline rule tooling: promtool test copies, rule dependencies, the rule lint and SLO test generation. Not Pulumi code."""
