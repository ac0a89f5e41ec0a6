"""The control API's OpenAPI document, held against real tools.

1. openapi-spec-validator validates the document (OpenAPI 3.1).
2. openapi-python-client generates a Python client from it.
3. The generated client drives a running daemon: create, credentials, start, list, show, the
   listings, balance, kill, halt, and a missing account. Each answer must have a status the
   document declares for its operation, parse into the generated model, and validate against
   the operation's response schema (openapi-schema-validator, OAS 3.1).

Usage: check.py DOC.json WORK_DIR BASE_URL TOKEN CREDENTIALS.json
Prints one line per call and "ok" at the end; exits non-zero on the first failure.
"""

import importlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc_path, work, base_url, token, creds_path = sys.argv[1:6]
doc = json.loads(Path(doc_path).read_text())
validate(doc)
print("document: valid OpenAPI", doc["openapi"])

out = Path(work) / "generated"
generator = Path(sys.executable).parent / "openapi-python-client"
gen = subprocess.run(
    [str(generator), "generate", "--path", doc_path, "--output-path", str(out), "--meta", "none"],
    capture_output=True,
    text=True,
)
if gen.returncode != 0:
    sys.exit(f"openapi-python-client failed:\n{gen.stdout}\n{gen.stderr}")
sys.path.insert(0, str(Path(work)))
client_pkg = importlib.import_module("generated")
api = "generated.api.default."
models = importlib.import_module("generated.models")
client = client_pkg.AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

registry = Registry().with_resource("doc", Resource.from_contents(doc, default_specification=DRAFT202012))


def operation(method, path):
    """The document's operation for a concrete path."""
    for template, ops in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method in ops:
            return template, ops[method]
    sys.exit(f"{method} {path}: not in the document")


def check(response, method, path, statuses, model=None):
    """The status is expected and declared; the body parses and validates."""
    code = int(response.status_code)
    template, op = operation(method, path)
    if code not in statuses:
        sys.exit(f"{method} {path}: status {code}, expected {statuses}: {response.content!r}")
    declared = op["responses"].get(str(code)) or op["responses"].get("default")
    if declared is None:
        sys.exit(f"{method} {template}: status {code} is not declared")
    content = declared.get("content", {})
    if response.content:
        media = next(iter(content), None)
        if media is None:
            sys.exit(f"{method} {template} {code}: a body, but no content declared")
        schema = content[media]["schema"]
        if "json" in media:
            body = json.loads(response.content)
            OAS31Validator(schema_with_base(schema), registry=registry).validate(body)
    if model is not None and not isinstance(response.parsed, model):
        sys.exit(f"{method} {path}: parsed as {type(response.parsed).__name__}, not {model}")
    print(f"{method.upper()} {path} -> {code} ok")
    return response.parsed


def schema_with_base(schema):
    """A schema whose local references point into the document."""
    text = json.dumps(schema).replace('"#/components/', '"doc#/components/')
    return json.loads(text)


def call(module, *args, **kwargs):
    return importlib.import_module(api + module).sync_detailed(*args, client=client, **kwargs)


body = models.PostApiV1AccountsBody.from_dict(
    {
        "name": "gen1",
        "token": "KOGE",
        "order_usdt": "10",
        "daily_target_usdt": "100000",
        "buy_offset": {"mode": "percent", "value": "0.5"},
        "sell_offset": {"mode": "percent", "value": "-1"},
    }
)
created = check(call("post_api_v1_accounts", body=body), "post", "/api/v1/accounts", [201], models.Account)
assert created.name == "gen1", created
creds = json.loads(Path(creds_path).read_text())
check(
    call(
        "put_api_v1_accounts_name_credentials",
        "gen1",
        body=models.PutApiV1AccountsNameCredentialsJsonBody.from_dict(creds),
    ),
    "put",
    "/api/v1/accounts/gen1/credentials",
    [204],
)
ack = check(call("post_api_v1_accounts_name_action", "gen1", "start"), "post", "/api/v1/accounts/gen1/start", [202], models.Ack)
assert ack.outcome.value == "delivered", ack
deadline = time.time() + 60
while True:
    listed = check(call("get_api_v1_accounts"), "get", "/api/v1/accounts", [200], list)
    mine = [a for a in listed if a.name == "gen1"]
    assert len(mine) == 1 and isinstance(mine[0], models.Account), listed
    if mine[0].progress.cycles_done >= 1:
        break
    if time.time() > deadline:
        sys.exit(f"no pair closed: {mine[0]}")
    time.sleep(0.5)
check(call("get_api_v1_accounts_name", "gen1"), "get", "/api/v1/accounts/gen1", [200], models.Account)
for listing in ["orders", "cycles", "fills"]:
    rows = check(call(f"get_api_v1_accounts_name_{listing}", "gen1"), "get", f"/api/v1/accounts/gen1/{listing}", [200], list)
    assert rows, listing
check(call("get_api_v1_accounts_name_events", "gen1"), "get", "/api/v1/accounts/gen1/events", [200], list)
check(call("get_api_v1_accounts_name_balance", "gen1"), "get", "/api/v1/accounts/gen1/balance", [200], list)
check(call("get_readyz"), "get", "/readyz", [200])
report = check(call("post_api_v1_accounts_name_action", "gen1", "kill"), "post", "/api/v1/accounts/gen1/kill", [200, 202])
assert isinstance(report, (models.KillReport, models.Ack)), report
check(call("post_api_v1_halt"), "post", "/api/v1/halt", [200, 202], models.Halt)
missing = check(call("get_api_v1_accounts_name", "nobody"), "get", "/api/v1/accounts/nobody", [404], models.Problem)
assert missing.code.value == "account_not_found", missing
print("ok")
