"""Serving the images the mock generated, with the providers' expiry and not-ready semantics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headshot_mock.mockserver import images, jobs
from headshot_mock.mockserver.runtime import FILES_PATH, Runtime

# Object stores answer like this for a missing or expired object; providers' CDNs are such stores.
_NOT_FOUND = (
    b"<?xml version='1.0' encoding='UTF-8'?>"
    b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)
_EXPIRED = (
    b"<?xml version='1.0' encoding='UTF-8'?>"
    b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)


def routes(runtime: Runtime) -> list[Route]:
    async def serve(request: Request) -> Response:
        token = request.path_params["token"]
        descriptor = await runtime.store.file_get(token)
        if descriptor is None or descriptor["name"] != request.path_params["name"]:
            return Response(_NOT_FOUND, 404, media_type="application/xml")
        expires_at = descriptor.get("expires_at")
        if expires_at is not None and await runtime.now() >= expires_at:
            return Response(_EXPIRED, 403, media_type="application/xml")
        job_ref = descriptor.get("job")
        if job_ref is not None:
            job = await jobs.get(runtime, descriptor["provider"], job_ref)
            if (
                job is None
                or not job["done"]
                or job.get("deleted")
                or descriptor.get("when") not in (None, job["final"])
            ):
                return Response(_NOT_FOUND, 404, media_type="application/xml")
        recipe = images.Recipe(**descriptor["recipe"])
        body = await images.produce(recipe)
        return Response(
            body, media_type=recipe.media_type, headers={"cache-control": "private, max-age=86400"}
        )

    return [Route(FILES_PATH + "/{token}/{name}", serve, methods=["GET", "HEAD"])]
