"""A small broker seeded through the public API for the contract tests: two partners, a client account, two
instruments with rates, trades, an approved run (March) and a computed one (April).

The fuzzer names real objects from it without a hand-kept list: ``natural_keys`` reads every collection of the
schema back through the API (programs, partners, accounts, plans, instruments…), so a detail route's path values and
a body's references (``partner``, ``program``, ``symbol``, an upsert's own ``code``…) come from what exists. Only
runs, which have no collection to list, are named by the seed itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade
from tests.mam.fee_support import seed_fees
from tests.mam.support import seed_mam

# Body fields that name another object by its natural key: field → (collection, the object's field(s)).
REFERENCES: dict[str, tuple[str, str | tuple[str, ...]]] = {
    "partner": ("partners", "code"),
    "parent": ("partners", "code"),
    "program": ("programs", "code"),
    "plan": ("plans", "code"),
    "symbol": ("instruments", "symbol"),
    "currency": ("rates", "currency"),
    "account": ("accounts", ("server", "login")),
    "manager": ("partners", "code"),
    "server": ("accounts", "server"),
    "login": ("accounts", "login"),
    "group": ("mam/groups", "code"),
}
PERIODS = ["2026-03", "2026-04", "2026-05", "2025-12"]


@dataclass(frozen=True)
class Seeded:
    approved_run: int
    computed_run: int
    trade_import: int
    # collection (``collection_of``: the path after /api/v1/ up to a parameter) → its objects as the API lists them
    collections: dict[str, list[dict]] = field(default_factory=dict)
    # The partner whose token calls the partner routes (/me/): its key and its named tokens' ids.
    partner_key: str = ""
    partner_tokens: tuple[int, ...] = ()

    def objects(self, collection: str) -> list[dict]:
        if collection == "runs":  # no list endpoint: the seed's own
            return [{"id": self.approved_run}, {"id": self.computed_run}]
        if collection == "me/statements":  # a partner's statement of any month
            return [{"period": period} for period in PERIODS]
        if collection == "me/tokens":
            return [{"token_id": token_id} for token_id in self.partner_tokens]
        return self.collections.get(collection, [])

    def path_parameters(self, path: str, names: list[str], limit: int = 3) -> list[dict[str, Any]]:
        """Real values for the path parameters ``names`` of the template ``path``: those of objects of its
        collection (``/api/v1/partners/{code}/move/`` → partners' codes), as many as ``limit``."""
        collection = collection_of(path)
        found = []
        for obj in self.objects(collection):
            if all(name in obj for name in names):
                found.append({name: obj[name] for name in names})
        return found[:limit]

    def references(self, own_collection: str) -> dict[str, list[Any]]:
        """Body field → real values it can name; ``code`` names an object of the operation's own collection (an
        upsert's 200 path, a create's refusal)."""
        values: dict[str, list[Any]] = {}
        for name, (collection, fields) in REFERENCES.items():
            objects = self.objects(collection)
            if isinstance(fields, tuple):
                values[name] = [{f: obj[f] for f in fields} for obj in objects]
            else:
                values[name] = sorted({obj[fields] for obj in objects})
        values["currency"] = sorted({*values["currency"], "USD"})
        # A partner's payout details as the API takes them: a known currency, one line of text (a generated
        # three-letter code is seldom a currency, a generated string seldom free of control characters).
        values["payout_currency"] = values["currency"]
        values["payout_method"] = ["wire", "usdt"]
        values["payout_account"] = ["DE89 3704 0044 0532 0130 00"]
        values["code"] = sorted({obj["code"] for obj in self.objects(own_collection) if "code" in obj})
        values["period"] = PERIODS
        # Volumes on every instrument's step (a master open refuses lots off the step): a few real ones, so an open
        # can succeed among the generated cases.
        values["lots"] = ["0.10", "1.00", "2.50"]
        return {name: found for name, found in values.items() if found}

    def query_references(self) -> dict[str, list[Any]]:
        """Query parameter → real values (``account`` as ``server:login``)."""
        values = self.references("")
        values["account"] = [f"{a['server']}:{a['login']}" for a in values.get("account", [])]
        values["server"] = sorted({a["server"] for a in self.objects("accounts")})
        values["login"] = sorted({a["login"] for a in self.objects("accounts")})
        values["ticket"] = sorted({t["ticket"] for t in self.objects("mam/master-trades")})
        return {name: found for name, found in values.items() if found}


def collection_of(path: str) -> str:
    """The collection a path addresses: its segments after ``/api/v1/`` up to the first path parameter
    (``/api/v1/partners/{code}/move/`` → ``partners``, ``/api/v1/mam/master-trades/{group}/{ticket}/close/`` →
    ``mam/master-trades``)."""
    segments = []
    for segment in path.split("/")[3:]:
        if not segment or segment.startswith("{"):
            break
        segments.append(segment)
    return "/".join(segments)


def natural_keys(client, schema: dict) -> dict[str, list[dict]]:
    """Every collection of the schema (a ``GET`` without path parameters or required query parameters — an
    export of one period is no collection), read back as staff; a partner's own routes (``/me/``) are no broker
    collection."""
    collections = {}
    for path, item in schema["paths"].items():
        required = [p for p in item.get("get", {}).get("parameters", []) if p.get("required") and p["in"] == "query"]
        if "get" in item and "{" not in path and not required and not is_partner_route(path):
            response = client.get(path, {"page_size": 1000})
            assert response.status_code == 200, (path, response.content[:300])
            if not response["Content-Type"].startswith("application/json"):
                continue  # a CSV export of every line (GET /lines/export/) is no collection of objects
            body = response.json()
            collections[collection_of(path)] = body["results"] if isinstance(body, dict) else body
    return collections


def is_partner_route(path: str) -> bool:
    return path.startswith("/api/v1/me/")


def seed_partner(client) -> tuple[str, tuple[int, ...]]:
    """``sub``'s API key (staff's ``POST /partners/sub/tokens/``) and two named tokens of its own."""
    from partners.models import Partner
    from partners.services.tokens import partner_token_create

    key = post_ok(client, "/api/v1/partners/sub/tokens/", None)["token"]
    sub = Partner.objects.get(code="sub")
    tokens = tuple(partner_token_create(partner=sub, name=name)[0].pk for name in ("reports", "crm"))
    return key, tokens


def seed_broker(client) -> Seeded:
    setup_reference(client)
    setup_chain(client, master_rate="7", sub_rate="5")
    post_ok(client, "/api/v1/rebates/", {"partner": "sub", "account": {"server": "live1", "login": 1001}, "pct": "10"})
    ingest = post_ok(
        client,
        "/api/v1/trades/",
        [trade(1, lots="1.25"), trade(2, lots="0.10", symbol="USDJPY"), trade(3, close="2026-04-02T09:00:00Z")],
    )
    march = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    post_ok(client, f"/api/v1/runs/{march['id']}/approve/", {})
    april = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-04"})
    seed_mam(client)
    seed_fees(client)
    seed_payouts(client, period="2026-03")  # a draft (newest, listed first) and an exported batch
    assert client.get(f"/api/v1/runs/{april['id']}/").json()["status"] == "computed"
    return Seeded(approved_run=march["id"], computed_run=april["id"], trade_import=ingest["import_id"])


def seed_payouts(staff_client, period: str = "2025-12") -> dict:
    """Payout batches over the approved fee run's payables (the manager ``master`` and the IB ``sub``, with payout
    details): ``payout_batch`` exported (two lines to pay), ``payout_draft`` a draft made after it (holding
    nothing: the first holds every balance) — both made by another user than the test client's, who may approve."""
    from django.contrib.auth import get_user_model

    from ledger.services.payouts import payout_batch_approve, payout_batch_create, payout_batch_export

    for code in ("master", "sub"):
        body = {"payout_method": "bank", "payout_account": f"IBAN-{code}"}
        response = staff_client.patch(f"/api/v1/partners/{code}/", body, format="json")
        assert response.status_code == 200, response.content
    maker, checker = (get_user_model().objects.create_user(n, is_staff=True) for n in ("maker", "checker"))
    batch = payout_batch_create(period=period, user=maker)
    payout_batch_approve(batch_id=batch.pk, user=checker)
    payout_batch_export(batch_id=batch.pk, user=checker)
    draft = payout_batch_create(period=period, user=maker)
    return {"payout_batch": batch.pk, "payout_draft": draft.pk}


def seed_partner_tokens() -> dict:
    """A named API token for ``sub`` (two: a list of them pages) and one for ``sub2`` (another partner's)."""
    from partners.models import Partner
    from partners.services.tokens import partner_token_create

    sub, sub2 = Partner.objects.get(code="sub"), Partner.objects.get(code="sub2")
    own, _ = partner_token_create(partner=sub, name="reports")
    partner_token_create(partner=sub, name="crm")
    foreign, _ = partner_token_create(partner=sub2, name="reports")
    return {"token_sub": own.pk, "token_sub2": foreign.pk}
