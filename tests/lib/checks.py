"""checks.py - what every end-to-end check script shares: a counter of named checks that prints
each failure, and the summary line and exit status at the end.

    check = Checks("reports")
    check("the JSON parses", ok, detail)
    ...
    return check.summary()     # 1 when any check failed (or none ran), else 0
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
