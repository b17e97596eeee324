"""Library code the commands in scripts/ and the tests share: render, mock runtime, stack config reading, manifest YAML, the local stack; rules/ holds the offline rule tooling."""
