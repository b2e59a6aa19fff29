"""Syntax check of Bicep files with tree-sitter-bicep (no Bicep compiler installs here).

Usage: python check_bicep.py FILE...

tree-sitter-bicep 1.1.0 predates the `extension` statement (Bicep 0.30+), which the docs give as
the only way to use the Microsoft Graph extension (`extension <alias>` with the alias declared in
bicepconfig.json, or `extension '<registry reference>'`); its older spellings `import` and
`provider` are retired. So each `extension` line is checked here against that documented form
(and an alias against the bicepconfig.json beside the file or above it) and then blanked, byte
for byte, before the rest of the file is parsed.

Prints every ERROR or MISSING node as FILE:LINE:COLUMN with the offending source line and
exits 1 if any file has one. It checks syntax only: names, types and the ARM JSON a real
`bicep build` would produce are not checked.
"""

import os
import re
import sys

import tree_sitter
import tree_sitter_bicep


def problems(tree):
    """Yields (node, what) for each syntax error in the tree, outermost first."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            yield node, f"missing {node.type}"
        elif node.is_error:
            yield node, "cannot parse"
            continue  # the children of an error node are noise
        if node.has_error:
            stack.extend(reversed(node.children))


EXTENSION = re.compile(
    rb"^extension[ \t]+(?:(?P<alias>[A-Za-z_][A-Za-z0-9_]*)|'(?P<ref>br:[^'\s]+)')"
    rb"(?:[ \t]+as[ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*(?://.*)?$"
)


def declared_aliases(path):
    """The extension aliases of the bicepconfig.json nearest to path (JSON with comments)."""
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        config = os.path.join(directory, "bicepconfig.json")
        if os.path.exists(config):
            with open(config, encoding="utf-8") as f:
                text = f.read()
            block = re.search(r'"extensions"\s*:\s*\{([^}]*)\}', text)
            return set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:', block.group(1))) if block else set()
        parent = os.path.dirname(directory)
        if parent == directory:
            return set()
        directory = parent


def blank_extensions(path, source):
    """Checks and blanks the `extension` lines; returns (source, [(row, problem)])."""
    out, found = [], []
    for row, line in enumerate(source.split(b"\n")):
        if not line.lstrip().startswith(b"extension"):
            out.append(line)
            continue
        match = EXTENSION.match(line.strip())
        if not match:
            found.append((row, "an extension statement not of the documented form"))
        elif match.group("alias") and match.group("alias").decode() not in declared_aliases(path):
            found.append((row, f"extension alias {match.group('alias').decode()} is not in bicepconfig.json"))
        out.append(b" " * len(line))
    return b"\n".join(out), found


def main(paths):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    failed = 0
    for path in paths:
        with open(path, "rb") as f:
            source = f.read()
        lines = source.decode("utf-8", "replace").splitlines()
        source, extension_problems = blank_extensions(path, source)
        tree = parser.parse(source)
        found = [(row, 0, what) for row, what in extension_problems]
        found += [(node.start_point[0], node.start_point[1], what) for node, what in problems(tree)]
        for row, column, what in found:
            text = lines[row].strip() if row < len(lines) else ""
            print(f"{path}:{row + 1}:{column + 1}: {what}: {text}")
        if found:
            failed += 1
        else:
            print(f"{path}: ok")
    if failed:
        print(f"bicep syntax: {failed} of {len(paths)} file(s) do not parse")
        return 1
    print(f"bicep syntax: {len(paths)} file(s) parse")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
