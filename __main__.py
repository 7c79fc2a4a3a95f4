"""grafana-platform: load and validate the stack's whole estate, then declare it."""
from estate import team_code

team_code.prepare()  # the team-code process starts while the program's modules load (estate/team_code.py)

import program  # noqa: E402

program.main()
