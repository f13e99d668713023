"""What every store kept in the ledger table shares: the table from `LEDGER_TABLE`, the client, typed errors.

The ledger table holds deployments (`ledger.DeploymentLedger`), the audit trail
(`audit.AuditTrail`) and the gate's records (`gate.GateRecords`), each under its own key prefix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.errors import ConfigError

LEDGER_TABLE_ENV = "LEDGER_TABLE"


class LedgerTableStore:
    """Base of the stores in the ledger table; `what` names the store in a config error."""

    what = "the ledger table's items"

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @classmethod
    def from_env(cls) -> Self:
        name = os.environ.get(LEDGER_TABLE_ENV, "").strip()
        if not name:
            raise ConfigError(LEDGER_TABLE_ENV, name, f"is not set: {cls.what} live in the ledger table")
        return cls(name)

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    def _get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item, read consistently (None when absent)."""
        item = self._call(
            "GetItem",
            self.client.get_item,
            TableName=self.table_name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        ).get("Item")
        return dict(item) if item else None

    def _partition(self, pk: str) -> Iterator[dict[str, Any]]:
        """Every item of one partition key, in sort-key order, read consistently."""
        return self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query returns, page after page."""
        kwargs["TableName"] = self.table_name
        while True:
            page = self._call("Query", self.client.query, **kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _call(operation: str, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise aws.as_operation_error(f"dynamodb:{operation}", exc) from exc

    @staticmethod
    def _conditional(operation: str, method: Any, **kwargs: Any) -> bool:
        """A conditional write: True when written, False when its condition failed; other errors typed."""
        try:
            method(**kwargs)
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise aws.as_operation_error(f"dynamodb:{operation}", exc) from exc
            return False
        except BotoCoreError as exc:
            raise aws.as_operation_error(f"dynamodb:{operation}", exc) from exc
        return True
