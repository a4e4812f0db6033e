"""The security scenario's checks: every tests/system/py/security_*.py module
(one per area of the threat model) contributes its unittest.TestCase
classes (only modules whose name contains $RSM_SYSTEST_ONLY, when set).
Run inside the container by scenarios/security.sh."""

import glob
import importlib
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(HERE, "security_*.py"))):
        name = os.path.basename(path)[:-3]
        if name == "security_test":
            continue
        if os.environ.get("RSM_SYSTEST_ONLY", "") not in name:
            continue
        suite.addTests(loader.loadTestsFromModule(importlib.import_module(name)))
    return suite
