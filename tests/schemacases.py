"""Run a check over every operation of a loaded OpenAPI schema with schemathesis' generated cases.

One test over all operations rather than schemathesis' pytest plugin, whose lazy loader does not run
on pytest 9. Each operation gets the schema's examples plus valid and invalid generated requests,
derandomized; failures are collected per operation so that one run reports them all.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode


def check_every_operation(schema, check: Callable, examples_per_operation: int) -> tuple[int, list[str]]:
    """Calls ``check(case)`` for the generated cases of every operation; answers (operations, failures)."""
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = st.one_of(
            *schema.get_strategies_from_examples(operation),
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=examples_per_operation,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            check(case)

        try:
            run()
        except Exception as error:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {error}")
    return operations, failures
