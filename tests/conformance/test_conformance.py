"""schemathesis against the OpenAPI documents of a real central and a real sidecar, with real
credentials (conftest.py, hooks.py): no answer is a 5xx, every status is documented for its
operation, and every answer has the documented content type and conforms to its schema.

PROTUS_CONFORMANCE_SEED and PROTUS_CONFORMANCE_EXAMPLES change the generated cases (defaults:
one fixed seed, so a failure in CI is reproducible; a few examples per operation, so each
document takes about a minute on this machine).
"""

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
SEED = os.environ.get("PROTUS_CONFORMANCE_SEED", "8")
EXAMPLES = os.environ.get("PROTUS_CONFORMANCE_EXAMPLES", "10")
RUN_TIMEOUT = 300  # seconds for one document


def schemathesis(base, credentials, workdir):
    """`st run` against base's /openapi.json; fails with schemathesis's report on any failure.
    It runs in `workdir`, where it keeps its caches, so the checkout stays clean."""
    st = pathlib.Path(sys.executable).parent / "st"
    command = [
        str(st),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        # One worker: CPython 3.11 can fail ast.parse in concurrent threads (hypothesis parses
        # lambdas to describe strategies), "AST constructor recursion depth mismatch".
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    environment = {**os.environ, **credentials.environment(), "SCHEMATHESIS_HOOKS": str(HERE / "hooks.py")}
    completed = subprocess.run(
        command,
        env=environment,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    print(completed.stdout)
    print(completed.stderr, file=sys.stderr)
    assert completed.returncode == 0, f"schemathesis found failures (exit {completed.returncode}): see its report above"


def test_central_conforms_to_its_openapi_document(central, credentials, tmp_path):
    # Proves every answer of central to generated requests is documented and matches its schema.
    schemathesis(central.base, credentials, tmp_path)


def test_sidecar_conforms_to_its_openapi_document(sidecar, credentials, tmp_path):
    # Proves every answer of the sidecar to generated requests is documented and matches its schema.
    schemathesis(sidecar.base, credentials, tmp_path)
