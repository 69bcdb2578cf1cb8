import sys

from flexmarket.cli import main

sys.exit(main())
