"""Command line (placeholder while the foundation lands)."""


def main(argv=None) -> int:
    return 0
