"""Command line interface: ``gluon-dl COMMAND``."""
import sys


def main(argv=None):
    print("gluon-dl: not ready", file=sys.stderr)
    return 1
