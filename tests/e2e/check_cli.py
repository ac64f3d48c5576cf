#!/usr/bin/env python3
"""End to end: the command-line conventions.

- The man page renders with groff without a single warning (groff -man -ww -z), and with man -l
  when man is installed.
- Every option the man page lists is in --help and offered by the bash completion, and every
  option of --help is in the man page.
- --help has examples; --version names the version and libpcap's.
- The completion completes formats, close classes (in a comma-separated list) and --color.
- `cmake --install` installs the binary, the man page (share/man/man1) and the completion
  (share/bash-completion/completions).

Usage: check_cli.py TCPMORTEM SOURCE_DIR BUILD_DIR
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402
import tempfile



check = Checks("cli")


def options_in(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b", text))


def man_options(page):
    """Options the OPTIONS section of the troff source defines (its .TP items)."""
    section = page.split(".SH OPTIONS", 1)[1].split("\n.SH ", 1)[0]
    items = re.findall(r"^\.T[PQ]\n(.*)$", section, re.M)
    found = set()
    for item in items:
        found |= options_in(item.replace("\\-", "-"))
    return found


def complete(source, *words):
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              '_tcpmortem; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", script, "_", str(source), "tcpmortem", *words],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.split()


def main():
    binary, src, build = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    man = src / "analyzer" / "cli" / "tcpmortem.1"
    completion = src / "analyzer" / "cli" / "tcpmortem.bash"
    page = man.read_text(encoding="utf-8")

    groff = shutil.which("groff")
    check("groff is installed (tests/install-deps.sh installs groff-base)", groff is not None)
    if groff:
        r = subprocess.run([groff, "-man", "-ww", "-z", str(man)], capture_output=True, text=True)
        check("man page renders without warnings", r.returncode == 0 and r.stderr == "", r.stderr)
        r = subprocess.run([groff, "-man", "-Tutf8", "-ww", str(man)], capture_output=True,
                           text=True, env=dict(os.environ, MANWIDTH="80"))
        rendered = re.sub(r".\x08", "", r.stdout)  # bold and underline by overstriking
        check("man page has its sections", all(s in rendered for s in
              ("NAME", "SYNOPSIS", "OPTIONS", "FORMATS", "EXIT STATUS", "ENVIRONMENT",
               "EXAMPLES", "STORIES AND LADDER DIAGRAMS")), rendered[:300])
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", "--warnings", str(man)], capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        check("man -l renders without warnings", r.returncode == 0 and r.stderr == "" and
              "tcpmortem" in r.stdout, r.stderr)

    r = subprocess.run([binary, "--help"], capture_output=True, text=True)
    help_text = r.stdout
    check("--help exits 0", r.returncode == 0)
    check("--help has examples", "Examples:" in help_text and help_text.count("  tcpmortem ") >= 5)
    help_opts = options_in(help_text.split("Options:", 1)[1].split("Examples:", 1)[0])
    documented = man_options(page)
    check("the man page lists options", len(documented) >= 18, sorted(documented))
    check("--help lists every option of the man page", documented <= help_opts,
          sorted(documented - help_opts))
    check("the man page lists every option of --help", help_opts <= documented,
          sorted(help_opts - documented))
    offered = set(complete(completion, "-"))
    check("the completion offers every option of the man page", documented <= offered,
          sorted(documented - offered))

    r = subprocess.run([binary, "--version"], capture_output=True, text=True)
    check("--version", r.returncode == 0 and re.match(r"tcpmortem \d+\.\d+\.\d+\n", r.stdout)
          and "libpcap" in r.stdout, r.stdout)
    check("the man page's version is the program's",
          f'"tcpmortem {r.stdout.split()[1]}"' in page, r.stdout)
    r = subprocess.run([binary, "--bogus"], capture_output=True, text=True)
    check("an unknown option: usage on stderr, exit 2", r.returncode == 2 and
          "Usage:" in r.stderr and r.stdout == "", r.stderr[:200])

    check("completion: formats", complete(completion, "-f", "") ==
          ["text", "json", "ndjson", "csv", "markdown", "svg", "html", "zeek", "zeek-json"])
    check("completion: a class in a list", complete(completion, "--class", "rst_abort,peer") ==
          ["rst_abort,peer_vanished"])
    check("completion: --color=", complete(completion, "--color", "=", "al") == ["always"])
    check("completion: the subcommand", "summarize" in complete(completion, "su"))
    check("completion: summarize's formats", complete(completion, "summarize", "-f", "") ==
          ["text", "json"])

    with tempfile.TemporaryDirectory() as prefix:
        r = subprocess.run(["cmake", "--install", str(build), "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        check("cmake --install", r.returncode == 0, r.stderr)
        root = pathlib.Path(prefix)
        check("installs the binary", (root / "bin" / "tcpmortem").exists())
        check("installs the man page", (root / "share/man/man1/tcpmortem.1").read_text() == page)
        check("installs the completion",
              (root / "share/bash-completion/completions/tcpmortem").read_text() ==
              completion.read_text())

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
