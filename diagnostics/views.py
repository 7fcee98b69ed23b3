"""``POST /telemetry/``: client beacons from chat widgets (docs/architecture.md, "Client telemetry contract").

Widgets call it cross-origin, so CORS is answered here, per deployment:

* a preflight (``OPTIONS``) carries no custom header values, so it cannot name its deployment;
  it is answered (204 with ``Access-Control-Allow-Origin`` echoing the origin) when the origin
  is allowed by at least one deployment, and refused with 403 otherwise;
* the ``POST`` itself must carry ``X-Deployment-Key`` and an ``Origin`` in *that* deployment's
  allowed origins (403 otherwise, without CORS headers, so a browser hides the answer).

Checks in order: method, deployment key (401), origin (403), rate per key and client address
(429 + Retry-After), daily beacon quota of the deployment already used up (429), size (413),
media type (415), JSON and shape (400), batch size (413). Each beacon is then validated on its
own: a bad one is listed with its index; the valid ones are counted against the daily quota
(the whole batch is refused with 429 when they do not fit) and stored.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from console import jsonbody, ratelimit
from console.problems import ProblemResponse
from conversations.ingest import EnvelopeError
from diagnostics import actions
from diagnostics.beacons import normalize_origin, parse_beacon
from diagnostics.models import WidgetDeployment

log = logging.getLogger(__name__)

DEPLOYMENT_KEY_HEADER = "X-Deployment-Key"
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type, X-Deployment-Key, X-Request-ID"
EXPOSED_HEADERS = "Retry-After, X-Request-ID"
PREFLIGHT_MAX_AGE_SECONDS = 600


def _cors(origin: str) -> dict:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def _allowed_by(deployment: WidgetDeployment, origin: str) -> bool:
    return bool(origin) and origin in {normalize_origin(o) for o in deployment.allowed_origins or []}


def _allowed_by_any(origin: str) -> bool:
    if not origin:
        return False
    return any(
        origin in {normalize_origin(o) for o in origins or []}
        for origins in WidgetDeployment.objects.values_list("allowed_origins", flat=True)
    )


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _preflight(origin: str):
    if not _allowed_by_any(origin):
        return ProblemResponse(403, "this origin is not allowed to send telemetry", headers={"Vary": "Origin"})
    response = HttpResponse(status=204)
    for name, value in _cors(origin).items():
        response[name] = value
    response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return response


@csrf_exempt
def telemetry(request):
    origin = normalize_origin(request.headers.get("Origin", ""))
    if request.method == "OPTIONS":
        return _preflight(origin)
    if request.method != "POST":
        return ProblemResponse(405, "telemetry is sent with POST", headers={"Allow": ALLOWED_METHODS})
    try:
        return _receive(request, origin)
    except DatabaseError:
        log.exception("telemetry: database unavailable")
        return ProblemResponse(503, "the console cannot store telemetry right now; retry", headers={"Retry-After": "5"})


def _over_quota(deployment: WidgetDeployment, wait: int, cors: dict):
    quota = actions.quota_of(deployment)
    return ProblemResponse(
        429,
        f"this deployment's daily quota of {quota} beacons is used up; retry after 00:00 UTC",
        headers={**cors, "Retry-After": str(wait)},
        quota=quota,
    )


def _receive(request, origin: str):
    key = request.headers.get(DEPLOYMENT_KEY_HEADER, "").strip()
    deployment = (
        WidgetDeployment.objects.filter(key=key).first() if key and len(key) <= 64 and "\x00" not in key else None
    )
    if deployment is None:
        headers = _cors(origin) if _allowed_by_any(origin) else {"Vary": "Origin"}
        detail = f"{DEPLOYMENT_KEY_HEADER} is missing" if not key else f"{DEPLOYMENT_KEY_HEADER} names no deployment"
        return ProblemResponse(401, detail, headers=headers)
    if not _allowed_by(deployment, origin):
        detail = (
            "the Origin header is required" if not origin else f"origin {origin} is not allowed for this deployment"
        )
        return ProblemResponse(403, detail, headers={"Vary": "Origin"})
    cors = _cors(origin)
    retry_after = ratelimit.check(
        "telemetry",
        f"{deployment.pk}:{request.META.get('REMOTE_ADDR') or '-'}",
        settings.TELEMETRY_RATE_LIMIT_PER_MINUTE,
    )
    if retry_after:
        return ProblemResponse(
            429, "too many telemetry requests; retry later", headers={**cors, "Retry-After": str(retry_after)}
        )
    now = timezone.now()
    wait = actions.quota_exhausted(deployment, now=now)
    if wait:
        return _over_quota(deployment, wait, cors)
    limit = settings.TELEMETRY_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit or len(request.body) > limit:
        return ProblemResponse(413, f"body is larger than {limit} bytes", headers=cors)
    if not _is_json(request.META.get("CONTENT_TYPE", "")):
        return ProblemResponse(415, "Content-Type must be application/json", headers=cors)
    try:
        payload = jsonbody.loads(request.body)
    except jsonbody.JsonBodyError as error:
        extra = {"field": error.field} if error.field else {}
        return ProblemResponse(400, error.detail, headers=cors, **extra)
    if not isinstance(payload, dict) or not isinstance(payload.get("beacons"), list):
        return ProblemResponse(400, 'body must be a JSON object {"beacons": [...]}', headers=cors, field="beacons")
    raw_beacons = payload["beacons"]
    most = settings.TELEMETRY_MAX_BEACONS
    if len(raw_beacons) > most:
        return ProblemResponse(
            413, f"a batch holds at most {most} beacons; got {len(raw_beacons)}", headers=cors, field="beacons"
        )
    beacons, errors = [], []
    for index, raw in enumerate(raw_beacons):
        try:
            beacons.append(parse_beacon(raw, now=now))
        except EnvelopeError as error:
            errors.append({"index": index, "error": str(error)})
    wait = actions.claim_beacon_quota(deployment, len(beacons), now=now)
    if wait:
        return _over_quota(deployment, wait, cors)
    result = actions.record_beacons(deployment, beacons, origin=origin)
    return JsonResponse(
        {"accepted": result.accepted, "duplicates": result.duplicates, "errors": errors}, status=202, headers=cors
    )
