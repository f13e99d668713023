"""SageMaker Model Registry as an event-driven approval workflow."""

MANAGED_BY = "registry-workflow"
__version__ = "0.1.0"
