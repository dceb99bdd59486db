"""A partner's API, as a Django developer would write it with protus_django."""

from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from protus_django import (
    ProtusBilling,
    ProtusChargePermission,
    ProtusCheckPermission,
    ProtusError,
    ProtusHoldPermission,
    webhook_view,
)

# What the webhook handler received: (webhook-id, event), in arrival order.
RECEIVED = []


def who(request):
    return {"account_id": request.user.account_id, "scope": request.user.scope}


@api_view(["GET"])
@permission_classes([ProtusCheckPermission])
def balance(request):
    return Response({**who(request), "balance": ProtusBilling.for_request(request).balance()})


@api_view(["POST"])
@permission_classes([ProtusHoldPermission])
def reserve(request):
    hold = ProtusBilling.for_request(request).hold(request.data["amount"], description="reservation")
    return Response({**who(request), "hold": hold}, status=201)


@api_view(["POST"])
@permission_classes([ProtusChargePermission])
def launch_campaign(request):
    """The original demo's billable action: launching a campaign, charged by service."""
    try:
        charge = ProtusBilling.for_request(request).charge(
            service_id=request.data["service_id"],
            payload={"campaign_id": request.data.get("campaign_id")},
            idempotency_key=request.data.get("idempotency_key"),
        )
    except ProtusError as error:
        return Response({"code": error.code, "detail": error.detail}, status=error.status)
    return Response({**who(request), "charge": charge}, status=201)


def handle_event(event, webhook_id):
    RECEIVED.append((webhook_id, event))


protus_webhook = webhook_view(handle_event)
