"""Each API's OpenAPI docs page, with its scripts, styles and icon served by the API itself.

Orchestrators are often installed where nothing on the Internet can be reached, and a docs page
that loads its script from a CDN is then blank (and trusts that CDN with every visitor's token).
The page is Swagger UI (5.x, which reads OpenAPI 3.1), whose built files ship inside the
``swagger-ui-py`` package; they are served read-only under ``{openapi path}/assets``, which the
bearer-token middleware leaves open like the rest of the OpenAPI path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.response import File

_ASSET_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)


def assets_folder() -> Path:
    """The folder of Swagger UI's built files (found without importing the package, whose
    framework adapters need Jinja and YAML)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall airlock-core")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_page(openapi_path: str) -> tuple[SwaggerRenderPlugin, Router]:
    """The render plugin of the docs page and the router serving its assets."""
    base = f"{openapi_path}/assets"
    plugin = SwaggerRenderPlugin(
        js_url=f"{base}/swagger-ui-bundle.js",
        css_url=f"{base}/swagger-ui.css",
        standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
        path="/swagger",
    )
    folder = assets_folder()

    @get("/{name:str}", exclude_from_auth=True, include_in_schema=False, sync_to_thread=False)
    def asset(name: str) -> File:
        # Only the page's own files: the package's editor bundles and source maps stay unserved.
        if name not in _ASSET_FILES:
            raise NotFoundException(f"no docs asset {name!r}")
        return File(folder / name, content_disposition_type="inline")

    return plugin, Router(path=base, route_handlers=[asset])
