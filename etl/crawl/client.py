"""The Roboflow model-evals API, one method per endpoint.

Builds paths and query strings and picks the decoder for each answer; every request goes
through :class:`etl.crawl.http.Http`, which owns auth, retries and concurrency. Parameters the
exporter depends on (``split``, ``limit``) are always sent explicitly: server defaults differ
between sources (api-contract §15).
"""

from __future__ import annotations

from etl.crawl.http import Http, Response, segment
from etl.normalize import PANELS
from etl.normalize.evaluations import ListPage, ProjectInfo, decode_listing, decode_workspace
from etl.normalize.image_predictions import decode_page
from etl.panels import PanelRequest

LIST_LIMIT = 200  # the API's cap; a page this full may be truncated (api-contract §12)


class Client:
    def __init__(self, http: Http, workspace: str) -> None:
        self.http = http
        self.workspace = workspace
        self._ws = segment(workspace)

    async def projects(self) -> list[ProjectInfo]:
        """``GET /:workspace``: every project with its number of versions."""
        response = await self.http.get(self._ws, decode=decode_workspace)
        return list(response.value)

    async def list_evals(self, **filters: str) -> ListPage:
        """``GET /:workspace/model-evals`` with at most one entity filter plus ``status``."""
        query = {k: v for k, v in filters.items() if v is not None}
        query["limit"] = str(LIST_LIMIT)
        response = await self.http.get(f"{self._ws}/model-evals", query, decode=decode_listing)
        page: ListPage = response.value
        return page

    async def panel(self, request: PanelRequest) -> Response:
        """One panel unit (image-predictions: use :meth:`image_page`)."""
        codec = PANELS[request.panel]
        return await self.http.get(
            self._panel_path(request), request.query(), decode=codec.decode,
            retry_not_done=request.panel not in ("get", "compare"),
        )

    async def image_page(self, request: PanelRequest, offset: int, limit: int) -> Response:
        """One page of image-predictions; ``value`` is the decoded page."""
        query = {**request.query(), "limit": str(limit), "offset": str(offset)}
        return await self.http.get(
            self._panel_path(request), query, decode=decode_page, retry_not_done=True
        )

    def _panel_path(self, request: PanelRequest) -> str:
        if request.panel == "compare":  # a project version's, not an eval's (§9.5)
            return f"{self._ws}/model-evals/compare"
        path = f"{self._ws}/model-evals/{segment(request.eval_id)}"
        return path if request.panel == "get" else f"{path}/{request.panel}"
