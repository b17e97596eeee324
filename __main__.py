"""Pulumi entry point: load and validate the stack's settings, then build the stack (program.run)."""

from program import run

run()
