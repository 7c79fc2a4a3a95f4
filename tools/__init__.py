"""Command-line tools: offline render (and the Pulumi mocks it runs the program under)."""
