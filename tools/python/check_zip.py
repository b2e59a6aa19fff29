"""Checks a deploy zip the way the Flex Consumption host will read it.

Usage: python3 check_zip.py ZIP REPO_ROOT

- host.json, the handler and one <Name>/function.json per functions/<Name>/ of the repository
  are at the zip's root (not under a folder);
- nothing else is in it but those, and never local.settings.json;
- every file is readable by everyone (the host reads host.json and function.json as another
  user: Azure/azure-functions-host#11528) and the handler is executable by everyone
  (Azure/functions-action#274: without its run bit the app starts no function).

Only the standard library: package.sh runs it with whatever python3 the machine has.
"""

import os
import stat
import sys
import zipfile


def main(zip_path, repo_root):
    functions = sorted(
        name
        for name in os.listdir(os.path.join(repo_root, "functions"))
        if os.path.isfile(os.path.join(repo_root, "functions", name, "function.json"))
    )
    expected = {"host.json", "handler"} | {f"{name}/function.json" for name in functions}
    problems = []
    with zipfile.ZipFile(zip_path) as z:
        files = {}
        for info in z.infolist():
            if info.is_dir():
                continue
            files[info.filename] = (info.external_attr >> 16) & 0o7777, info.external_attr >> 16
    for name in sorted(expected - files.keys()):
        problems.append(f"{name} is missing from the zip's root")
    for name in sorted(files.keys() - expected):
        problems.append(f"{name} should not be in the zip")
    for name, (mode, full) in sorted(files.items()):
        if full and not stat.S_ISREG(full):
            problems.append(f"{name} is not a regular file ({stat.filemode(full)})")
        if mode & 0o444 != 0o444:
            problems.append(f"{name} is not readable by everyone ({stat.filemode(full)})")
        if name == "handler" and mode & 0o111 != 0o111:
            problems.append(f"handler is not executable by everyone ({stat.filemode(full)})")
    for problem in problems:
        print(f"check-zip: {problem}")
    if problems:
        return 1
    print(f"check-zip: {zip_path}: host.json, handler ({stat.filemode(files['handler'][1])}) and "
          f"{len(functions)} functions at the root, every file readable")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
