"""Print (or register) the folder of inslib's Mantid algorithms.

Usage::

    python -m inslib.runtime.plugins            # print the folder and the config line
    python -m inslib.runtime.plugins --write    # append it to ~/.mantid/Mantid.user.properties

Mantid imports every .py file of the folders listed in ``user.python.plugins.directories``
at start-up; restart Workbench after changing it. The folder holds only algorithm files.
"""

import argparse
import sys
from pathlib import Path

from inslib.runtime.host import algorithms_dir

KEY = "user.python.plugins.directories"


def add_plugin_directory(properties_file: Path, directory: Path) -> str:
    """Add ``directory`` to the plugin key of a Mantid properties file; return the new line.

    Parameters
    ----------
    properties_file : pathlib.Path
        Mantid.user.properties (created when missing).
    directory : pathlib.Path
        Folder of algorithm files.

    Returns
    -------
    str
        The ``user.python.plugins.directories=...`` line now in the file.
    """
    lines = properties_file.read_text().splitlines() if properties_file.exists() else []
    entry = str(directory.resolve())
    for index, line in enumerate(lines):
        if line.split("=", 1)[0].strip() == KEY:
            folders = [f for f in line.split("=", 1)[1].strip().split(";") if f]
            if entry not in folders:
                folders.append(entry)
            lines[index] = f"{KEY}={';'.join(folders)}"
            break
    else:
        lines.append(f"{KEY}={entry}")
    properties_file.parent.mkdir(parents=True, exist_ok=True)
    properties_file.write_text("\n".join(lines) + "\n")
    return next(line for line in lines if line.startswith(KEY))


def main(argv=None) -> int:
    """Print the plugin folder, or add it to the user's Mantid properties with --write."""
    parser = argparse.ArgumentParser(prog="python -m inslib.runtime.plugins")
    parser.add_argument("--write", action="store_true",
                        help="add the folder to ~/.mantid/Mantid.user.properties")
    parser.add_argument("--properties", type=Path,
                        default=Path.home() / ".mantid" / "Mantid.user.properties")
    args = parser.parse_args(argv)
    directory = algorithms_dir()
    if args.write:
        print(f"{args.properties}: {add_plugin_directory(args.properties, directory)}")
        print("Restart Mantid Workbench to load the algorithms.")
    else:
        print(directory.resolve())
        print(f"Add to Mantid.user.properties: {KEY}={directory.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
