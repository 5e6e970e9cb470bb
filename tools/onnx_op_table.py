#!/usr/bin/env python3
"""The per-op pass table of ONNX's backend node tests for docs/ONNX.md.

    build/tests/onnx_node_test --gtest_output=json:/tmp/onnx_node.json
    python3 tools/onnx_op_table.py /tmp/onnx_node.json > /tmp/table.md

Reads tests/fixtures/onnx/manifest.json (the cases tools/gen_onnx_fixtures.py materialised and the ones it
left out, with reasons) and the test run's JSON report; prints one row per supported op: cases run, passed,
failed, and the cases left out grouped by reason. A case with several ops counts for each of them.
"""
import collections
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    manifest = json.loads((ROOT / "tests/fixtures/onnx/manifest.json").read_text())
    report = json.loads(pathlib.Path(sys.argv[1]).read_text())
    result = {}
    for suite in report["testsuites"]:
        for t in suite["testsuite"]:
            if "/" in t["name"] and t.get("value_param"):
                name = t["value_param"].strip('"')
                result[name] = not t.get("failures")
    rows = collections.OrderedDict((op, {"run": 0, "passed": 0, "excluded": collections.Counter()})
                                   for op in sorted(manifest["node"]["supported_ops"]))
    for case in manifest["node"]["cases"]:
        for op in case["ops"]:
            if op not in rows:
                continue
            rows[op]["run"] += 1
            rows[op]["passed"] += bool(result.get(case["name"]))
    for case in manifest["node"]["excluded"]:
        reason = case["reason"].split(":")[0]
        for op in case["ops"]:
            if op in rows:
                rows[op]["excluded"][reason] += 1
    print("| op | cases run | passed | left out (reason: count) |")
    print("|---|---:|---:|---|")
    for op, r in rows.items():
        left = ", ".join(f"{k}: {v}" for k, v in sorted(r["excluded"].items())) or "-"
        print(f"| {op} | {r['run']} | {r['passed']} | {left} |")
    total_run = len(manifest["node"]["cases"])
    total_pass = sum(bool(result.get(c["name"])) for c in manifest["node"]["cases"])
    print(f"\n{total_pass} of {total_run} cases pass; {len(manifest['node']['excluded'])} left out.")


if __name__ == "__main__":
    main()
