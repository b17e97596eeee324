"""Library code the commands in scripts/ and the tests share: render, mock runtime, stack config reading, manifest YAML, the local stack.

rules/ holds the offline rule tooling (promtool test copies, rule dependencies, the rule lint, SLO test generation).
"""
