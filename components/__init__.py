"""grafana-platform: typed Pulumi components and the validated model they are built from."""
