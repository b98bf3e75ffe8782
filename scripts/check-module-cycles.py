#!/usr/bin/env python3
"""Fails when a crate of the workspace has a cycle between its top-level modules.

Each crate's `src/` is read as text. A top-level module is a file `src/x.rs` or a folder
`src/x/` (its files fold into `x`). An edge a -> b is a path into module b named in a file
of module a: `crate::b…`, `super::b…` from a top-level file, or `crate::Name` /
`super::Name` where the crate root re-exports `Name` from b (`pub use b::{Name, …}`).
The crate root itself is the facade: its `mod` and `pub use` lines are not edges, its
own code is (it is the node `lib`/`main`). Comments and string literals are skipped.

    scripts/check-module-cycles.py [CRATES_DIR]     check every crate (default: crates/)
    scripts/check-module-cycles.py --self-test      show that a planted cycle is caught

Exit 0 when no crate has a cycle; else 1, with one line per cycle naming the modules and
the names each takes from the next.
"""

import os
import re
import sys
import tempfile
from collections import defaultdict

PATH = re.compile(r"\b(crate|super)::((?:[A-Za-z_][A-Za-z0-9_]*::)*)(\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*)", re.S)
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def strip(text):
    """Removes comments, string and char literals, keeping line structure."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 40]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append("\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    out.append("\n")
                i += 1
            i += 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 12]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def modules_of(src):
    """Maps each top-level module name to its files; the root is 'lib' or 'main'."""
    mods = defaultdict(list)
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if os.path.isdir(path):
            for dirpath, _, files in os.walk(path):
                for f in sorted(files):
                    if f.endswith(".rs"):
                        mods[entry].append(os.path.join(dirpath, f))
        elif entry.endswith(".rs"):
            mods[entry[:-3]].append(path)
    return mods


def flat_names(group):
    """The last segment of every path in a `{a::B, c::{D, E}}` group or a single name."""
    if not group.startswith("{"):
        return [group]
    names, depth, token = [], 0, ""
    for ch in group[1:-1] + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(token.strip())
            token = ""
        else:
            token += ch
    return [n for n in names if n]


def first_segments(item):
    """For a group item `a::b::C` or `a::{B, C}`: (first segment, rest)."""
    item = item.strip()
    m = IDENT.match(item)
    return (m.group(0), item[m.end():]) if m else (None, "")


def reexports(root_text, modules):
    """Names the crate root re-exports, mapped to the module they come from."""
    table = {}
    for m in re.finditer(r"\bpub\s+use\s+([A-Za-z_][A-Za-z0-9_]*)::(\{[^;]*\}|[^;]*);", root_text, re.S):
        module, rest = m.group(1), m.group(2)
        if module not in modules:
            continue
        for item in flat_names(rest.strip()):
            item = re.sub(r"\s+", " ", item)
            alias = re.search(r"\bas\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", item)
            name = alias.group(1) if alias else item.split("::")[-1].strip()
            name = name.strip("{} ")
            if IDENT.fullmatch(name):
                table[name] = module
    return table


def edges_of(src):
    mods = modules_of(src)
    root = "lib" if "lib" in mods else "main"
    if root not in mods:
        return {}, root
    with open(mods[root][0], encoding="utf-8") as f:
        root_text = strip(f.read())
    names = reexports(root_text, mods)
    edges = defaultdict(lambda: defaultdict(set))

    def add(frm, to, name):
        if to != frm and to in mods:
            edges[frm][to].add(name)

    for module, files in mods.items():
        for path in files:
            with open(path, encoding="utf-8") as f:
                text = strip(f.read())
            if module == root and path == mods[root][0]:
                # The facade's `mod x;` and `pub use x::…;` lines are not edges.
                text = re.sub(r"\b(pub(\([a-z]+\))?\s+)?(mod\s+[A-Za-z_]\w*\s*;|use\s+[A-Za-z_]\w*::[^;]*;)", "", text)
            top_level = os.path.dirname(path) == src
            for m in PATH.finditer(text):
                anchor, middle, last = m.group(1), m.group(2), m.group(3)
                if anchor == "super" and not top_level:
                    continue  # a child naming its parent stays inside the module
                segments = [s for s in middle.split("::") if s]
                items = [middle + x for x in flat_names(last)] if last.startswith("{") else [middle + last]
                for item in items:
                    head, _ = first_segments(item)
                    if head is None or head == "self":
                        continue
                    if head in mods:
                        add(module, head, item.split("::")[-1].strip("{} ") or head)
                    elif head in names:
                        add(module, names[head], head)
                    elif not segments and module != root:
                        add(module, root, head)
    return edges, root


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def check(crates_dir):
    problems = []
    for crate in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, crate, "src")
        if not os.path.isdir(src):
            continue
        edges, _ = edges_of(src)
        for comp in cycles(edges):
            ties = "; ".join(
                f"{a} -> {b}: {', '.join(sorted(edges[a][b])[:6])}"
                for a in comp for b in sorted(edges.get(a, {})) if b in comp
            )
            problems.append(f"{os.path.join(crates_dir, crate)}: modules {', '.join(comp)} form a cycle ({ties}); move what they share into a module both can use")
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "crates", "demo", "src")
        os.makedirs(os.path.join(src, "c"))
        files = {
            "lib.rs": "mod a;\nmod b;\nmod c;\npub use b::Thing;\n",
            "a.rs": "use crate::Thing;\npub fn f() {}\n",
            "b.rs": "// crate::c::nothing in a comment\npub struct Thing;\nfn g() { let _ = \"crate::a::f\"; }\n",
            "c/mod.rs": "mod d;\n",
            "c/d.rs": "use super::super::a;\n",
        }
        for name, text in files.items():
            with open(os.path.join(src, name), "w", encoding="utf-8") as f:
                f.write(text)
        crates = os.path.join(tmp, "crates")
        assert check(crates) == [], check(crates)
        with open(os.path.join(src, "b.rs"), "a", encoding="utf-8") as f:
            f.write("fn h() { crate::a::f() }\n")
        found = check(crates)
        assert len(found) == 1 and "modules a, b form a cycle" in found[0], found
    print("check-module-cycles: self-test passed (a planted cycle was caught)")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    crates_dir = sys.argv[1] if len(sys.argv) > 1 else "crates"
    problems = check(crates_dir)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-module-cycles: no cycle between the modules of any crate in {crates_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
