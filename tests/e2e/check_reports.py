#!/usr/bin/env python3
"""End to end: the Markdown and SVG reports on the samples, with a hostile capture name.

Markdown: every table is a valid GitHub-flavoured table (a header, a delimiter row, rows with
the header's number of cells), and GitHub's own renderer (cmark-gfm, installed by
tests/install-deps.sh) turns it into exactly those tables, with the capture name as plain text:
no link, image, HTML, mention or code the name did not ask for. Stories come with a fenced
ladder and sentences.

SVG: `-f svg --flow ID` parses as XML (xml.etree) for every connection of every sample, is an
SVG document with an arrow per ladder row, the evidence notes and the story; the hostile name is
text; without --flow it is a usage error.

Usage: check_reports.py TCPMORTEM CAPTURES_DIR
"""
import html
import json
import pathlib
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402
import tempfile
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "x|y*_`z`[l](http:__e.example)<img src=a>@octocat #1 $m$&amp;.pcap"


check = Checks("reports")


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def split_row(line):
    """The cells of a GFM table row: split on pipes not escaped by a backslash."""
    cells, cur, i = [], "", 0
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            cur += body[i:i + 2]
            i += 2
            continue
        if body[i] == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += body[i]
        i += 1
    cells.append(cur)
    return cells


def gfm_tables(text):
    """Every table: (header cells, rows). Fails the check on a malformed one."""
    tables, lines, i = [], text.split("\n"), 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.startswith("|"):
            i += 1
            continue
        check("table preceded by a blank line", i > 0 and lines[i - 1] == "", repr(lines[i - 1]))
        header = split_row(line)
        delim = split_row(lines[i + 1]) if i + 1 < len(lines) else []
        check("table has a delimiter row", len(delim) == len(header) and
              all(re.fullmatch(r"\s*:?-+:?\s*", c) for c in delim), f"{line!r} / {lines[i + 1]!r}")
        rows = []
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            cells = split_row(lines[i])
            check("row has the header's cells", len(cells) == len(header),
                  f"{len(cells)} != {len(header)}: {lines[i]!r}")
            rows.append(cells)
            i += 1
        tables.append((header, rows))
    return tables


def check_markdown(binary, captures, tmp):
    hostile = tmp / HOSTILE
    shutil.copy(captures / "rst_unread_data.pcap", hostile)
    # Two files: frame numbers (and so ids) count across both, so the connection is named by
    # its endpoints, which both files use (two stories).
    r = run(binary, "-f", "markdown", "--flow", "198.51.100.1:40001 198.51.100.2:8080",
            str(hostile), str(captures / "half_closed_at_end.pcap"))
    md = r.stdout
    check("markdown exit 0", r.returncode == 0, r.stderr)
    tables = gfm_tables(md)
    check("markdown has the summary tables", len(tables) >= 4, f"{len(tables)} tables")
    names = [t[0][0].strip() for t in tables]
    for want in ("close class", "endpoint", "#", "file"):
        check(f"markdown table '{want}'", want in names, str(names))
    check("markdown story headings", md.count("### Connection #") == 2 and
          "`198.51.100.1:40001` → `198.51.100.2:8080`" in md, md[:300])
    check("markdown story of the half-close", "closed its sending side (FIN" in md)
    check("markdown ladder fenced", re.search(r"```text\n.*\|-- SYN seq=0 .*?```", md, re.S) is not None)
    check("markdown sentences", "The server reset the connection" in md)

    cmark = shutil.which("cmark-gfm")
    if not cmark:
        check("cmark-gfm is installed (tests/install-deps.sh installs it)", False, "not found")
        return
    out = subprocess.run([cmark, "--unsafe", "-e", "table", "-e", "autolink", "-e",
                          "strikethrough", "-e", "tagfilter"], input=md, capture_output=True,
                         text=True, timeout=60)
    page = out.stdout
    check("cmark-gfm renders", out.returncode == 0, out.stderr)
    check("GitHub renders every table", page.count("<table>") == len(tables),
          f"{page.count('<table>')} != {len(tables)}")
    check("GitHub renders every row", page.count("<tr>") == sum(1 + len(r) for _, r in tables),
          f"{page.count('<tr>')} rows")
    check("no link from the capture name", "<a " not in page, re.findall(r"<a [^>]*>", page))
    check("no image from the capture name", "<img" not in page)
    check("no strikethrough or emphasis from the name", "<del>" not in page and "<em>" not in page)
    visible = html.unescape(re.sub(r"<[^>]+>", "", page))
    check("the capture name is shown as it is", HOSTILE in visible,
          [l for l in visible.splitlines() if "octocat" in l][:2])
    check("the story's ladder stays a code block",
          re.search(r"<pre><code class=\"language-text\">.*\|-- SYN", page, re.S) is not None)


def check_svg(binary, captures, tmp):
    hostile = tmp / ("svg " + HOSTILE.replace("/", "_"))
    shutil.copy(captures / "peer_vanished.pcap", hostile)
    samples = sorted(list(captures.glob("*.pcap")) + list(captures.glob("*.pcapng"))) + [hostile]
    drawn = 0
    for capture in samples:
        flows = [json.loads(l) for l in run(binary, "-f", "ndjson", str(capture)).stdout.splitlines()]
        for flow in flows:
            name = f"svg {capture.name} #{flow['id']}"
            r = subprocess.run([binary, "-f", "svg", "--flow", str(flow["id"]), str(capture)],
                               capture_output=True, timeout=60)
            check(name + " exit 0", r.returncode == 0, r.stderr.decode())
            try:
                root = ET.fromstring(r.stdout)
            except ET.ParseError as e:
                check(name + " parses as XML", False, str(e))
                continue
            check(name + " parses as XML", True)
            check(name + " is SVG", root.tag == SVG_NS + "svg", root.tag)
            texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
            lines = list(root.iter(SVG_NS + "line"))
            heads = list(root.iter(SVG_NS + "polygon"))
            rows = [t for t in texts if re.fullmatch(r"#\d+", t)]
            check(name + " an arrow per row", len(heads) == len(rows) and len(lines) >= len(rows),
                  f"{len(heads)} heads, {len(rows)} rows")
            for ev in flow["close"]["evidence"]:
                check(f"{name} evidence frame {ev['frame']}", f"#{ev['frame']}" in rows, str(rows))
                check(f"{name} evidence note '{ev['note']}'", any(ev["note"] in t for t in texts))
            check(name + " story", "What happened" in texts)
            # Everything drawn lies inside its picture.
            for pic in [root] + root.findall(SVG_NS + "svg"):
                height = float(pic.get("height"))
                ys = [float(el.get(a)) for el in pic.iter() for a in ("y", "y1", "y2")
                      if el.get(a) and el is not pic and el.tag != SVG_NS + "svg"]
                rows_y = [float(t.get("y")) for t in pic.iter(SVG_NS + "tspan") if t.get("y")]
                check(name + " drawn within the picture", max(ys + rows_y, default=0) < height,
                      f"max y {max(ys + rows_y, default=0)} >= height {height}")
                # The rows lie between the column lines' ends, above the story.
                row_ys = [float(t.get("y")) for t in pic.iter(SVG_NS + "text")
                          if re.fullmatch(r"#\d+", "".join(t.itertext()))]
                story_y = [float(t.get("y")) for t in pic.iter(SVG_NS + "text")
                           if "".join(t.itertext()) == "What happened"]
                columns = [float(l.get("y2")) for l in pic.iter(SVG_NS + "line")
                           if l.get("x1") == l.get("x2")]
                check(name + " rows above the story", story_y and max(row_ys) < story_y[0],
                      f"{max(row_ys)} vs {story_y}")
                check(name + " columns reach the last row", len(columns) == 2 and
                      min(columns) >= max(row_ys), f"{columns} vs {max(row_ys)}")
                break
            if capture == hostile:
                check(name + " hostile name is text", any(HOSTILE in t for t in texts))
            drawn += 1
    check("svg drew every connection", drawn > 30, f"{drawn}")
    r = run(binary, "-f", "svg", str(captures / "rst_abort.pcap"))
    check("svg without --flow is a usage error", r.returncode == 2 and "--flow" in r.stderr
          and r.stdout == "", r.stderr)
    # Two connections: stacked in one document.
    flows = [json.loads(l) for l in
             run(binary, "-f", "ndjson", str(captures / "rst_abort.pcap")).stdout.splitlines()]
    r = subprocess.run([binary, "-f", "svg", "--flow", ",".join(str(f["id"]) for f in flows),
                        str(captures / "rst_abort.pcap")], capture_output=True, timeout=60)
    root = ET.fromstring(r.stdout)
    check("two connections, two diagrams in one SVG",
          len(root.findall(SVG_NS + "svg")) == 2, ET.tostring(root)[:200])


def main():
    binary, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        check_markdown(binary, captures, pathlib.Path(tmp))
        check_svg(binary, captures, pathlib.Path(tmp))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
