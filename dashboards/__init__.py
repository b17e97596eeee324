"""Every dashboard of the stack, as code: definitions per system, the builder, and the lint."""
