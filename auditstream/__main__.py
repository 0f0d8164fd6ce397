import sys

from auditstream.cli import main

sys.exit(main())
