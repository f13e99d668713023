"""Imported first by the execution environments' forkserver (`lambda_runtime.PRELOAD`).

1. What the Lambda runtime does not have is hidden, before anything else is imported: the dev
   venv holds `aws_xray_sdk` (moto's dependency) and `awscrt` (SAM CLI's), which neither the
   python3.12 runtime nor the layer ships. With them present a function would take paths it never
   takes on AWS: Powertools' Tracer would build an X-Ray recorder (and its botocore client) in
   every environment, botocore would sign with the CRT. `import` of a hidden name raises
   ModuleNotFoundError and `importlib.util.find_spec` returns None, as when not installed.
2. Every environment then forks with botocore's service models already read and one shared loader
   installed (`botocore_models`), as it forks with boto3 and Powertools already imported: a new
   environment's clients are built in milliseconds instead of re-reading the models. (pydantic is
   not preloaded: no handler imports it at init, decision 73.)
"""

import sys

#: installed in the dev venv, absent from the Lambda runtime and the layer (tests/unit/test_lambda_packages.py)
NOT_IN_LAMBDA_RUNTIME = ("aws_xray_sdk", "awscrt")

for _name in NOT_IN_LAMBDA_RUNTIME:
    sys.modules[_name] = None  # type: ignore[assignment]

from registry_workflow.local import botocore_models  # noqa: E402 - after the hiding above, on purpose

botocore_models.install(preload=True)
