"""checks.py - what every end-to-end check script shares: a counter of named checks that prints
each failure, and the summary line and exit status at the end.

    check = Checks("reports")
    check("the JSON parses", ok, detail)
    ...
    return check.summary()     # 1 when any check failed (or none ran), else 0

or, for a script that collects its failures as messages, `return verdict(name, failures)`.
"""


class Checks:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def __call__(self, what, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}: {detail}")
        return ok

    def summary(self):
        """Prints 'NAME: P passed, F failed'; exit status 1 when a check failed or none ran."""
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def verdict(name, failures, echo=False):
    """The end of a script that collects failures as messages: prints each (when echo: those not
    printed as they happened), then 'NAME: ok' or 'NAME: N failures'; the exit status (1 when
    any failed)."""
    if echo:
        for f in failures:
            print("FAIL", f)
    print(f"{name}: {len(failures)} failures" if failures else f"{name}: ok")
    return 1 if failures else 0
