"""truthfile.py - the truth files beside the sample captures (samples/captures/**/NAME.truth).

Written by samples/scenarios.py (through make-samples.sh), read by tests/e2e/check_samples.py
and the other end-to-end checks. One place for the format (samples/README.md describes it):

    # free text: the scenario's description, how it was captured (never read by a program)
    capture<TAB>scenario=NAME<TAB>family=4<TAB>vantage=client[<TAB>options=ARGS][<TAB>relinked=...]
    client<TAB>server<TAB>class<TAB>closer<TAB>modifiers<TAB>detail<TAB>facts
    198.51.100.1:40001<TAB>198.51.100.2:8080<TAB>fin_graceful<TAB>client<TAB>-<TAB>-<TAB>-
    ...

- `capture`: facts about the whole file, KEY=VALUE fields: the scenario and address family that
  made it, the vantage point (client, server, router), the tcpmortem options it must be read
  with (shell words), and for a rewritten copy the source and relink.py arguments.
- one row per connection, in the order the client opened them: client and server endpoints
  (`[v6]:port` for IPv6), class, closer, modifiers (comma-separated or `-`), close.detail (`-`:
  none expected), facts (`-` or space-separated KEY:VALUE items, VALUE `none` or `k=v,...`; the
  keys are the diagnoses tests/e2e/check_samples.py checks).

Python standard library only.
"""
import shlex

COLUMNS = ("client", "server", "class", "closer", "modifiers", "detail", "facts")
HEADER = "\t".join(COLUMNS)


def format_truth(prose, capture, rows):
    """The text of a truth file. prose: comment lines (without '# '); capture: dict of the
    capture line's fields (values str; 'options' a str of shell words, omitted when empty);
    rows: dicts with COLUMNS' keys, 'modifiers' an iterable, 'detail' str or None, 'facts' a
    dict KEY -> VALUE."""
    lines = ["# " + p for p in prose]
    lines.append("\t".join(["capture"] + ["%s=%s" % (k, v) for k, v in capture.items()
                                          if v not in (None, "")]))
    lines.append(HEADER)
    for r in rows:
        mods = ",".join(r["modifiers"]) or "-"
        facts = " ".join("%s:%s" % kv for kv in r["facts"].items()) or "-"
        lines.append("\t".join([r["client"], r["server"], r["class"], r["closer"], mods,
                                r["detail"] or "-", facts]))
    return "\n".join(lines) + "\n"


class Truth:
    """A parsed truth file: .capture (dict), .options (list of arguments), .vantage, .rows
    (dicts: client, server, class, closer, modifiers (set), detail (str or None), facts (dict),
    n: the row's ordinal among the rows of the same client endpoint, 1-based)."""

    def __init__(self, text, name="truth"):
        self.capture, self.rows = {}, []
        header_seen = False
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if fields[0] == "capture":
                for item in fields[1:]:
                    key, sep, value = item.partition("=")
                    if not sep:
                        raise ValueError("%s:%d: capture field %r is not KEY=VALUE"
                                         % (name, lineno, item))
                    self.capture[key] = value
            elif line == HEADER:
                header_seen = True
            elif not header_seen:
                raise ValueError("%s:%d: a row before the header" % (name, lineno))
            elif len(fields) != len(COLUMNS):
                raise ValueError("%s:%d: %d fields, want %d" % (name, lineno, len(fields),
                                                                len(COLUMNS)))
            else:
                row = dict(zip(COLUMNS, fields))
                row["modifiers"] = set() if row["modifiers"] == "-" else \
                    set(row["modifiers"].split(","))
                row["detail"] = None if row["detail"] == "-" else row["detail"]
                facts = {}
                if row["facts"] != "-":
                    for item in row["facts"].split(" "):
                        key, sep, value = item.partition(":")
                        if not sep:
                            raise ValueError("%s:%d: fact %r is not KEY:VALUE"
                                             % (name, lineno, item))
                        facts[key] = value
                row["facts"] = facts
                self.rows.append(row)
        if not header_seen:
            raise ValueError("%s: no header line" % name)
        seen = {}
        for row in self.rows:
            seen[row["client"]] = seen.get(row["client"], 0) + 1
            row["n"] = seen[row["client"]]
        self.options = shlex.split(self.capture.get("options", ""))
        self.vantage = self.capture.get("vantage")


def read(path):
    with open(path, encoding="utf-8") as f:
        return Truth(f.read(), str(path))
