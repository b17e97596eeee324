"""pytest-xdist ``--dist loadgroup`` that works on pytest 9.2: the groups reach the scheduler in a file, not in node ids.

pytest-xdist 3.8 tells its controller a test's ``xdist_group`` by appending ``@group`` to the test's node id on
the worker; pytest 9.2 builds node ids from a structured id, so that write no longer changes the id and every
test is scheduled alone (pytest-xdist issue #1386, open, no fixed release). Both versions are pinned in
requirements.txt. This plugin keeps the ``xdist_group`` marker as the one statement of a group and carries it
through xdist's public hooks: the controller names a file for the groups (``pytest_configure_node``), every
worker writes the groups it collected there (node id -> group; workers collect the same tests), and the
scheduler the controller makes (``pytest_xdist_make_scheduler``) is xdist's own group scheduler reading that
file. Tests without a group stay alone, as in xdist.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

NAME = "xdist-groups"
KEY = "xdist_groups_file"
MARKER = "xdist_group"


def group_of(item: pytest.Item) -> str | None:
    """The item's group as xdist reads its marker (names of several markers joined by ``_``), None without one."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers(MARKER)}
    return "_".join(sorted(names)) or None


class XdistGroups:
    """Registered on the controller and on every worker (tests/conftest.py)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    # -- controller
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.path is None:
            handle, name = tempfile.mkstemp(prefix="xdist-groups-", suffix=".json")
            os.close(handle)
            self.path = Path(name)
        node.workerinput[KEY] = str(self.path)

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup" or self.path is None:
            return None
        from xdist.scheduler import LoadGroupScheduling

        path = self.path

        class FileGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
            """xdist's group scheduling, the groups read from the workers' file."""

            groups: dict[str, str] | None = None

            def _split_scope(self, nodeid: str) -> str:
                if self.groups is None:
                    # Written by each worker during collection, before it reports its collection: complete by now.
                    self.groups = json.loads(path.read_text() or "{}")
                return self.groups.get(nodeid, nodeid)

        return FileGroupScheduling(config, log)

    def pytest_unconfigure(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    # -- worker
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        target = getattr(config, "workerinput", {}).get(KEY)
        if not target:
            return
        groups = {item.nodeid: group for item in items if (group := group_of(item))}
        # Written whole, then renamed: the scheduler never reads half a file.
        temporary = Path(f"{target}.{os.getpid()}")
        temporary.write_text(json.dumps(groups))
        temporary.replace(target)
