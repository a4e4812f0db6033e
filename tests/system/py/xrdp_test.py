"""The xrdp scenario's checks: every tests/system/py/xrdp_*.py module
contributes its unittest.TestCase classes (only modules whose name contains
$RSM_SYSTEST_ONLY, when set). Run inside the container by scenarios/xrdp.sh,
which starts the real xrdp and rsm-scp."""

import glob
import importlib
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(HERE, "xrdp_*.py"))):
        name = os.path.basename(path)[:-3]
        if name == "xrdp_test":
            continue
        if os.environ.get("RSM_SYSTEST_ONLY", "") not in name:
            continue
        suite.addTests(loader.loadTestsFromModule(importlib.import_module(name)))
    return suite


if __name__ == "__main__":
    unittest.main()
