"""Write the rule set as promtool-ready files, with their unit tests; tooling/rules/build.py says how.

    python -m scripts.build_rules --out build/rules [--for-tests]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tooling.rules import build as rules


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=rules.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--for-tests", action="store_true", help="strip annotations from rules/ as well (the tests/ copies never have them)")
    args = parser.parse_args(argv)
    written_rules, written_tests = rules.build(args.out, for_tests=args.for_tests)
    print(f"wrote {len(written_rules)} rule files and {len(written_tests)} test files under {args.out}")


if __name__ == "__main__":
    main()
