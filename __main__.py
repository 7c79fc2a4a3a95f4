"""grafana-platform: load and validate the stack's whole estate, then declare it."""
from estate import team_code

team_code.prepare()  # the team-code process starts while the program's modules load (estate/team_code.py)

import pulumi  # noqa: E402

import program  # noqa: E402

# The Pulumi engine's language host connects the SDK to the engine before it runs this file; run by
# hand (`python .`), there is no engine to declare anything to, and the load would fail without a stack.
if pulumi.runtime.settings.get_monitor() is None:
    raise SystemExit("grafana-platform is a Pulumi program: `pulumi preview --stack <stack>` runs it, and "
                     "`venv/bin/python -m tools.render --stack <stack>` renders a stack offline")

program.main()
