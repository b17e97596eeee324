"""The readers that derive tests/support/config_reference/*.yaml, on small inputs in the upstream formats."""

from __future__ import annotations

from tests.support.config_reference.derive import _alloy_component, _loki_block, _loki_sections, _tempo_node

LOKI_DOC = """
### Supported contents and default values of `loki.yaml`

```yaml
# comment
[target: <string> | default = "all"]

[server: <server>]

ui:
  [enabled: <boolean> | default = false]
  discovery:
    [join_peers: <list of strings> | default = []]
```

### server

An example first:

```yaml
server:
  http_listen_port: 80
```

```yaml
[http_listen_port: <int> | default = 3100]

[<tls_config>]

[limit: <int> | default = 3MB]

[configs: <list of tls_configs>]

[named: <map of string to tls_config>]

[odd: <relabel_config...>]
```

### tls_config

```yaml
[cert_file: <string> | default = ""]
```

## Runtime Configuration file

```yaml
[not_a_key: <string>]
```
"""


def test_loki_sections_take_the_reference_block_not_the_example() -> None:
    sections = _loki_sections(LOKI_DOC)
    assert set(sections) == {"", "server", "tls_config"}
    assert any("http_listen_port: <int>" in line for line in sections["server"])


def test_loki_keys_types_blocks_and_inlined_blocks() -> None:
    sections = _loki_sections(LOKI_DOC)
    names = {"server", "tls_config"}
    assert _loki_block(sections[""], names) == {
        "target": "string",
        "server": "block server",
        "ui": {"enabled": "boolean", "discovery": {"join_peers": "list of strings"}},
    }
    assert _loki_block(sections["server"], names) == {
        "http_listen_port": "int",
        "<include>": ["tls_config"],
        "limit": "bytes",  # documented as int, default written as a byte size
        "configs": "list of block tls_config",
        "named": "map of string to block tls_config",
        "odd": "any",
    }


def test_tempo_types_come_from_the_defaults() -> None:
    manifest = {"a": True, "b": 3, "c": 0.5, "d": "2m0s", "e": "", "f": ["x"], "g": [], "h": {}, "i": None, "j": {"k": "1h"}}
    assert _tempo_node(manifest) == {
        "a": "boolean",
        "b": "int",
        "c": "float",
        "d": "duration",
        "e": "string",
        "f": "list of strings",
        "g": "list",
        "h": "any",
        "i": "any",
        "j": {"k": "duration"},
    }


ALLOY_DOC = """
# `demo.component`

## Arguments

| Name         | Type                 | Description | Default | Required |
|--------------|----------------------|-------------|---------|----------|
| `forward_to` | `list(LogsReceiver)` | Where to.   |         | yes      |
| `timeout`    | `duration`           | How long.   | `"5s"`  | no       |

## Blocks

| Block                           | Description | Required |
|---------------------------------|-------------|----------|
| [`client`][client]              | A client.   | yes      |
| `client` > [`tls`][tls]         | Its TLS.    | no       |
| `client` > `tls` > [`tpm`][tpm] | Its TPM.    | no       |

[client]: #client
[tls]: #tls
[tpm]: #tpm

### `client`

| Name       | Type     | Description | Default | Required |
|------------|----------|-------------|---------|----------|
| `endpoint` | `string` | Where.      |         | yes      |

### `tls`

| Name       | Type      | Description | Default | Required |
|------------|-----------|-------------|---------|----------|
| `insecure` | `boolean` | Plain.      | `false` | no       |

### `tpm`

No arguments.

## Exported fields

| Name       | Type           | Description |
|------------|----------------|-------------|
| `receiver` | `LogsReceiver` | Input.      |
"""


def test_alloy_arguments_blocks_and_exports() -> None:
    assert _alloy_component(ALLOY_DOC) == {
        "arguments": {"forward_to": "list(LogsReceiver)", "timeout": "duration"},
        "blocks": {"client": {"endpoint": "string"}, "client > tls": {"insecure": "boolean"}, "client > tls > tpm": {}},
        "exports": {"receiver": "LogsReceiver"},
        "required": {"": ["forward_to"], "client": ["endpoint"]},
        "required_blocks": ["client"],
    }
