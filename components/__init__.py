"""grafana-platform: typed Pulumi components and the validated model they are built from."""
import warnings

# The provider SDK's alerting module imports every alerting resource, and three of them warn at
# import that they are deprecated (AlertEnrichment, AlertRuleV0Alpha1, RecordingRuleV0Alpha1):
# resources no component declares. Under PYTHONWARNINGS=error (or -W error) those warnings would
# end the program with a traceback; every other warning keeps the filters the user set.
warnings.filterwarnings("ignore", r"grafana\.alerting/\w+\.\w+ has been deprecated in favor of ",
                        DeprecationWarning, r"pulumiverse_grafana\.alerting\.")
