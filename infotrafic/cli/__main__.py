"""Allow ``python -m infotrafic.cli`` as an alias of the ``infotrafic`` command."""

from infotrafic.cli import main

if __name__ == "__main__":
    main()
