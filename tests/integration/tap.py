"""Runs a unittest module and reports in TAP, so meson counts each test.

Usage: tap.py MODULE (imported from this directory) or tap.py PATH/TO/FILE.py
(used by system-tier scenarios inside the container)."""

import importlib
import os
import sys
import traceback
import unittest


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, extra=""):
        self.n += 1
        status = "ok" if ok else "not ok"
        print(f"{status} {self.n} - {test.id()}{extra}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def _fail(self, test, err):
        self._line(False, test)
        for line in "".join(traceback.format_exception(*err)).splitlines():
            print("# " + line, flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, f" # SKIP {reason}")


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    name = sys.argv[1]
    if name.endswith(".py"):  # a path: import the file from its own directory
        sys.path.insert(0, os.path.dirname(os.path.abspath(name)))
        name = os.path.basename(name)[:-3]
    module = importlib.import_module(name)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    print(f"1..{suite.countTestCases()}", flush=True)
    result = TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
