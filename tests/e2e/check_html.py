#!/usr/bin/env python3
"""End to end: the HTML report, opened in headless Chromium.

The report of every sample (and of a copy with a hostile name) must be one self-contained file
(no src=, no external href, no url(), no @import, no <link>; the only URL is the SVG namespace),
link every story it names, and open in Chromium without a single console message: the report
never logs, so any "CONSOLE" line on Chromium's log (an uncaught exception, a blocked resource)
fails. The detector proves itself on every run: the same report with a deliberate script error
must be caught. The dumped DOM shows that the script ran (class "js" on <html>) and sorted the
table from the address (#sort=bytes-desc). A screenshot of the report and one of an SVG ladder
are saved in OUT_DIR.

Chromium comes from tests/install-deps.sh (Debian package chromium). If it cannot be installed
this test says so and exits 77, which ctest reports as skipped.

Usage: check_html.py TCPMORTEM CAPTURES_DIR OUT_DIR
"""
import html.parser
import json
import pathlib
import re
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "lib"))
from checks import Checks  # noqa: E402
import tempfile

HOSTILE = "<script>alert(1)<b>&\"quote'.pcap"
SKIP = 77


check = Checks("html")


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary, url, *extra):
    """Runs headless Chromium on url; returns (stdout, console lines, stderr)."""
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                            "--enable-logging=stderr", "--v=0", *extra, url],
                           capture_output=True, text=True, timeout=180)
    console = [l for l in r.stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
    return r.stdout, console, r.stderr


class Links(html.parser.HTMLParser):
    """Collects ids, hrefs, srcs, tags and the flow table's rows."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.srcs, self.tags = set(), [], [], []
        self.rows, self.in_table, self.keys = [], False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a:
            self.srcs.append(a["src"])
        if tag == "table" and a.get("id") == "flow-table":
            self.in_table = True
        if self.in_table and tag == "tr":
            self.rows.append([])
        if self.in_table and tag == "td":
            self.rows[-1].append(a.get("data-v"))
        if self.in_table and tag == "th":
            self.keys.append(a.get("data-key"))

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_table = False


def main():
    tcpmortem, captures = sys.argv[1], pathlib.Path(sys.argv[2])
    out_dir = pathlib.Path(sys.argv[3]).resolve()
    browser = chromium_binary()
    if not browser:
        print("SKIP: chromium is not installed and could not be (tests/install-deps.sh installs "
              "the Debian package chromium); the HTML report was not opened in a browser")
        return SKIP
    out_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        hostile = tmp / HOSTILE
        shutil.copy(captures / "rst_unread_data.pcap", hostile)
        inputs = sorted(str(p) for p in captures.glob("*.pcap*")) + [str(hostile)]
        report = out_dir / "report.html"
        r = subprocess.run([tcpmortem, "-f", "html", "-o", str(report), *inputs],
                           capture_output=True, text=True, timeout=300)
        check("html exit 0", r.returncode == 0, r.stderr)
        page = report.read_text(encoding="utf-8")

        # Self-contained.
        parser = Links()
        parser.feed(page)
        check("no src attribute", parser.srcs == [], str(parser.srcs[:3]))
        check("every href is an anchor in the page",
              all(h.startswith("#") and h[1:] in parser.ids for h in parser.hrefs),
              [h for h in parser.hrefs if not h.startswith("#") or h[1:] not in parser.ids][:3])
        check("no <link>, <iframe>, <img>, <object>",
              not set(parser.tags) & {"link", "iframe", "img", "object", "embed"})
        check("no url() or @import", "url(" not in page and "@import" not in page)
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
        check("the only URL is the SVG namespace", urls <= {"http://www.w3.org/2000/svg"}, str(urls))
        check("one script, ours", page.count("<script") == 1)
        check("hostile name escaped", "&lt;script&gt;alert(1)&lt;b&gt;&amp;&quot;quote&#39;.pcap"
              in page and "<script>alert(1)" not in page)
        check("stories with ladders", page.count('<article class="story"') >= 10 and
              page.count('class="ladder"') >= 10, f"{page.count('<article')} stories")
        n_flows = len(subprocess.run([tcpmortem, "-f", "ndjson", *inputs], capture_output=True,
                                     text=True).stdout.splitlines())
        check("a table row per connection", len(parser.rows) == n_flows + 1,  # + the header
              f"{len(parser.rows)} rows for {n_flows} connections")

        # The detector catches a deliberate error, so a clean run means something.
        broken = tmp / "broken.html"
        broken.write_text(page.replace("</body>", "<script>tcpmortemDeliberateError();</script>"
                                                  "</body>"), encoding="utf-8")
        _, console, err = chromium(browser, broken.as_uri(), "--dump-dom")
        check("the detector sees a deliberate script error",
              any("tcpmortemDeliberateError" in l for l in console), err[-2000:])

        # The report: no console message at all; the script ran and sorted from the address.
        dom, console, err = chromium(browser, report.as_uri() + "#sort=bytes-desc", "--dump-dom")
        check("no console message", console == [], "\n".join(console))
        check("the DOM was dumped", "<html" in dom, err[-2000:])
        check("the script ran", re.search(r"<html[^>]*class=\"js\"", dom) is not None, dom[:200])
        dumped = Links()
        dumped.feed(dom)
        k = dumped.keys.index("bytes")
        bytes_col = [int(row[k]) for row in dumped.rows if len(row) > k and row[k] is not None]
        check("sorted by bytes, descending", len(bytes_col) == n_flows and
              bytes_col == sorted(bytes_col, reverse=True), str(bytes_col))
        check("sort marker on the header", 'data-key="bytes" class="n sort desc"' in dom or
              re.search(r'data-key="bytes"[^>]*desc', dom) is not None)

        # Screenshots, to look at.
        shot = out_dir / "report.png"
        _, console, err = chromium(browser, report.as_uri(), f"--screenshot={shot}",
                                   "--window-size=1280,2400", "--hide-scrollbars")
        check("screenshot without console messages", console == [], "\n".join(console))
        data = shot.read_bytes() if shot.exists() else b""
        check("screenshot is a PNG", data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000,
              f"{len(data)} bytes")

        flows = [json.loads(l) for l in subprocess.run(
            [tcpmortem, "-f", "ndjson", str(captures / "peer_vanished.pcap")], capture_output=True,
            text=True).stdout.splitlines()]
        svg = out_dir / "ladder.svg"
        subprocess.run([tcpmortem, "-f", "svg", "--flow", str(flows[0]["id"]), "-o", str(svg),
                        str(captures / "peer_vanished.pcap")], check=True, timeout=60)
        shot = out_dir / "ladder.png"
        _, console, err = chromium(browser, svg.as_uri(), f"--screenshot={shot}",
                                   "--window-size=1000,1000", "--hide-scrollbars")
        check("SVG opens without console messages", console == [], "\n".join(console))
        check("SVG screenshot", shot.exists() and shot.stat().st_size > 10000)
        print(f"screenshots: {out_dir / 'report.png'} {shot}")

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
