#!/usr/bin/env python3
"""Lists functions whose bodies are longer than a limit (issue 27: none over 60 lines outside
tests). Counts the lines between a function's braces, lambdas and nested blocks included, after
comments and string literals are blanked. Usage: function_lengths.py [--max N] DIR_OR_FILE...
Exit 1 when one is over, with `path:line: N lines` for each."""
import argparse
import os
import re
import sys


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def strip(text):
    text = re.sub(r'R"(\w*)\(.*?\)\1"', blank, text, flags=re.S)
    text = re.sub(r"/\*.*?\*/", blank, text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


SCOPE = re.compile(r"\b(namespace|struct|class|enum|union)\b[^;{}()]*$")
EXTERN = re.compile(r'extern\s*""\s*$')
FUNCTION = re.compile(r"\)\s*(const|override|noexcept|final|mutable|->[^;{}]*|\s)*$")
INIT_LIST = re.compile(r"\)\s*:[^;{}]*[)}]\s*$", re.S)


def long_functions(path, limit):
    text = strip(open(path, encoding="utf-8", errors="replace").read())
    stack, line, found = [], 1, []
    for k, ch in enumerate(text):
        if ch == "\n":
            line += 1
        elif ch == "{":
            before = text[max(0, k - 400):k]
            if any(kind == "fn" for kind, _ in stack):
                kind = "block"
            elif SCOPE.search(before) or EXTERN.search(before.rstrip()):
                kind = "scope"
            elif FUNCTION.search(before) or INIT_LIST.search(before):
                kind = "fn"
            else:
                kind = "block"
            stack.append((kind, line))
        elif ch == "}" and stack:
            kind, start = stack.pop()
            if kind == "fn" and line - start - 1 > limit:
                found.append((start, line - start - 1))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=60)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    over = []
    for root in args.paths:
        files = [root] if os.path.isfile(root) else [
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
        for f in sorted(files):
            if not f.endswith((".cc", ".h", ".cpp")) or f.endswith("_test.cc"):
                continue
            over += [(f, start, n) for start, n in long_functions(f, args.max)]
    for f, start, n in over:
        print(f"{f}:{start}: a function of {n} lines (at most {args.max}: split it)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
