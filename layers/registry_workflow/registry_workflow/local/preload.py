"""Imported once by the execution environments' forkserver (`lambda_runtime.PRELOAD`).

Every environment forks from that server with botocore's service models already read and one
shared loader installed (`botocore_models`), as it forks with boto3 and pydantic already imported:
a new environment's clients are built in milliseconds instead of re-reading the models.
"""

from registry_workflow.local import botocore_models

botocore_models.install(preload=True)
