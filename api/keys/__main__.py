"""`python -m api.keys`: run as a package, so the key table is defined once (by `api.keys`)
even when the schema code imports the module again."""

import sys

from api.keys import main

sys.exit(main())
