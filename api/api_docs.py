"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from local assets, so they work offline.

FastAPI's own pages load their scripts, styles and favicon from CDNs, which leaves a blank
page on a machine without internet (an agency's closed network). The assets come from the
``fastapi-offline`` distribution (Swagger UI 5, Apache-2.0, and ReDoc 2, MIT; each bundle
carries its licence notice) and are served under ``ASSETS_PATH``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/api-docs-assets"

# The pages may load from this node only. ReDoc's sidebar links a logo on its vendor's CDN
# (not optional in its bundle): the policy keeps the browser from asking for it. Both
# pages start from an inline script; ReDoc styles inline and searches in a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def assets_directory() -> Path:
    """The folder holding ``swagger-ui-bundle.js``, ``swagger-ui.css``,
    ``redoc.standalone.js`` and ``favicon.png``, inside the installed distribution."""
    return Path(str(files("fastapi_offline") / "static"))


def install_api_docs(app: FastAPI, *, title: str) -> None:
    """Serve ``/docs`` and ``/redoc`` for ``app`` with assets from this node only.

    ``app`` must be made with ``docs_url=None, redoc_url=None`` (no CDN pages).

    Args:
        app: The application whose ``openapi_url`` the pages read.
        title: The pages' title.
    """
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            # No badge from the public validator: the page must ask nothing of other hosts.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page
