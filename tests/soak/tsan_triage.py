#!/usr/bin/env python3
"""Sorts the ThreadSanitizer reports of a soak run (make soak-tsan).

Debian's gRPC, Abseil and protobuf are not built with -fsanitize=thread, so TSan cannot see the
synchronisation by which gRPC hands a request, a callback or a buffer from one thread to another:
every such hand-over is reported as a race (docs/testing.md). A report is therefore only evidence
when TSan saw both threads' synchronisation, i.e. when neither accessing thread was created by
gRPC (the main thread, the soak's threads, the library's own scheduler, executor and reaper
threads). This script counts the reports of each kind, groups the rest by the first danube or soak
frame of each access, prints every report between threads TSan fully sees, and exits 1 if there
is any.

    tsan_triage.py LOG...   (TSAN_OPTIONS=log_path=... writes LOG.<pid>)
"""
import collections
import re
import sys


def classify(report):
    """(kinds of the two accessing threads, signature) of one report."""
    body = report.split("SUMMARY:")[0]
    accesses = re.findall(
        r"\n  ((?:Previous )?[^\n]*? by (main thread|thread T\d+)[^\n]*):\n((?:    [^\n]*\n)+)", body)
    creators = dict(re.findall(r"\n  Thread (T\d+) \([^\n]*\) created by [^\n]*at:\n((?:    #[^\n]*\n)+)", body))
    kinds, signature = [], []
    for _, who, stack in accesses[:2]:
        if who == "main thread":
            kinds.append("main")
        else:
            created = creators.get(who.split()[-1], "")
            kinds.append("grpc" if ("grpc" in created or "libgpr" in created) else "ours")
        frame = None
        for name in re.findall(r"#\d+ (.+?) \S+ \(", stack):
            if re.match(r"(danube|soak)::", name):
                frame = re.sub(r"\(.*", "", name)[:100]
                break
        signature.append(frame or ("(stack not restored)" if "failed to restore" in stack else "(library)"))
    return tuple(kinds), tuple(signature)


def main(paths):
    reports = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as log:
            reports += log.read().split("WARNING: ThreadSanitizer:")[1:]
    by_kind = collections.Counter()
    grouped = collections.Counter()
    visible = []
    for report in reports:
        kinds, signature = classify(report)
        by_kind[kinds] += 1
        if "grpc" in kinds:
            grouped[signature] += 1
        else:
            visible.append(report)
    print(f"tsan_triage: {len(reports)} reports")
    for kinds, n in by_kind.most_common():
        print(f"  {n:6} between threads {' and '.join(kinds)}")
    print("  most frequent with a gRPC-created thread on one side (hand-overs TSan cannot see):")
    for signature, n in grouped.most_common(15):
        print(f"  {n:6} {' / '.join(signature)}")
    if visible:
        print(f"tsan_triage: FAIL: {len(visible)} reports between threads whose synchronisation TSan sees:")
        for report in visible:
            print("WARNING: ThreadSanitizer:" + report.split("SUMMARY:")[0])
        return 1
    print("tsan_triage: no report between threads whose synchronisation TSan sees")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
