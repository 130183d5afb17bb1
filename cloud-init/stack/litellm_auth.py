# clawbake: who may call LiteLLM, and where. Loaded by LiteLLM as
# `general_settings.custom_auth` from beside its config file; with it set,
# this function alone decides every authenticated request.
#
# Two keys, each read from the file clawbake-env put in /run/secrets:
#   LITELLM_GATEWAY_KEY  the gateway's: the model routes below, nothing else;
#   LITELLM_MASTER_KEY   the operator's: everything (admin), never held by
#                        the gateway.
# Anything else is refused. The files are read on every request, so the
# decision always follows the files this container was started with.
import hmac

from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.auth.auth_utils import get_request_route

SECRETS = "/run/secrets"

# What OpenClaw's `openai-completions` provider calls: exact paths, as
# LiteLLM itself resolves the route it dispatches on.
GATEWAY_ROUTES = frozenset(
    {
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/models",
        "/models",
        "/v1/embeddings",
        "/embeddings",
    }
)


def _key(name):
    try:
        with open(f"{SECRETS}/{name}", "rb") as f:
            value = f.read()
    except OSError:
        return None
    return value or None


def _is(given, name):
    expected = _key(name)
    return expected is not None and hmac.compare_digest(given, expected)


def _refuse(code, message):
    return ProxyException(message=message, type="auth_error", param="api_key", code=code)


async def user_api_key_auth(request, api_key):
    given = (api_key or "").removeprefix("Bearer ").strip().encode()
    if not given:
        raise _refuse(401, "no key given")
    if _is(given, "LITELLM_MASTER_KEY"):
        return UserAPIKeyAuth(
            api_key=given.decode(),
            user_id="clawbake-admin",
            user_role=LitellmUserRoles.PROXY_ADMIN,
        )
    if _is(given, "LITELLM_GATEWAY_KEY"):
        route = get_request_route(request)
        if route not in GATEWAY_ROUTES:
            raise _refuse(403, "the gateway's key opens the model routes only")
        return UserAPIKeyAuth(
            api_key=given.decode(),
            key_alias="clawbake-gateway",
            user_id="clawbake-gateway",
            user_role=LitellmUserRoles.INTERNAL_USER,
            allowed_routes=sorted(GATEWAY_ROUTES),
        )
    raise _refuse(401, "unknown key")
