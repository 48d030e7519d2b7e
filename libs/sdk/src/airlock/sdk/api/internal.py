"""Client for the Internal API, used by the DAG processor, triggerer and callback processor."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import msgspec

from airlock.models.internal import BundleFileInfo, BundleFilesPage, BundleSync, BundleSyncResult
from airlock.models.secrets import ConnectionInfo, VariableValue
from airlock.models.versions.internal import HEAD as API_VERSION
from airlock.sdk.api._http import HttpSession
from airlock.sdk.api.errors import ApiError


class InternalClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: float,
    ) -> None:
        self._http = HttpSession(
            base_url,
            token,
            transport=transport,
            api=("Internal", API_VERSION),
            **options,  # type: ignore[arg-type]
        )

    def list_bundle_files(self, bundle: str, page_size: int = 1000) -> list[BundleFileInfo]:
        files: list[BundleFileInfo] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            response = self._http.request(
                "GET", f"/internal/bundles/{_seg(bundle)}/files", params=params
            )
            page = msgspec.json.decode(response.content, type=BundleFilesPage)
            files += page.files
            if page.next_after is None:
                return files
            after = page.next_after

    def sync_bundle(self, bundle: str, batch: BundleSync) -> BundleSyncResult:
        response = self._http.request("PUT", f"/internal/bundles/{_seg(bundle)}/dags", body=batch)
        return msgspec.json.decode(response.content, type=BundleSyncResult)

    def get_variable(self, bundle: str, key: str) -> str | None:
        try:
            response = self._http.request(
                "GET", f"/internal/bundles/{_seg(bundle)}/variables/{_seg(key)}"
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return msgspec.json.decode(response.content, type=VariableValue).value

    def get_connection(self, bundle: str, conn_id: str) -> ConnectionInfo | None:
        try:
            response = self._http.request(
                "GET", f"/internal/bundles/{_seg(bundle)}/connections/{_seg(conn_id)}"
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return msgspec.json.decode(response.content, type=ConnectionInfo)

    def close(self) -> None:
        self._http.close()


def _seg(value: str) -> str:
    return quote(value, safe="")
