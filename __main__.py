"""grafana-platform: load and validate the stack's whole estate, then declare it."""
import program

program.main()
