"""ISPCube's REST API as raw JSON records: token, paging, one re-login, retries.

Records come back exactly as ISPCube sent them; `records.py` types them. Paging stops on an
empty page, or on a page shorter than the one before it, never on a first page shorter than
`limit`: the largest `limit` ISPCube honours is unknown, and a server that quietly caps it
would otherwise end the listing early, and the customers it never sent would be marked removed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Self

import requests

from emerald_cli.sources.errors import ApiError, AuthFailed, Forbidden, SourceError
from emerald_cli.sources.http import JsonTransport, RetryPolicy
from emerald_cli.sources.streams import PageProgress, no_progress

logger = logging.getLogger(__name__)

VENDOR = "ISPCube"
CREDENTIALS_HINT = "check EMERALD_ISPCUBE_API_KEY, _CLIENT_ID, _USER and _PASSWORD"
LOGIN_PATH = "/sanctum/token"
CUSTOMERS_PATH = "/customers/customers_list"
CONNECTIONS_PATH = "/connections/connections_list"
PLANS_PATH = "/plans/plans_list"
NODES_PATH = "/nodes/nodes_list"
# ISPCube sends no total, so a listing that never ends is told by its length. A small ISP has a
# few thousand customers; the cut costs max/page_size requests of the month's allowance.
MAX_CUSTOMERS = 100_000


class ISPCubeClient:
    """Reads the four bulk ISPCube streams; one instance per sync, used by one thread.

    >>> client = ISPCubeClient("https://online99.ispcube.com/api", "key", "77", "api", "pw")
    >>> client
    ISPCubeClient(base_url='https://online99.ispcube.com/api', username='api')
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client_id: str,
        username: str,
        password: str,
        *,
        page_size: int = 1000,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        session: requests.Session | None = None,
        total_timeout: float = 300.0,
        backoff: float = 1.0,
        retry_after_max: float = 60.0,
        max_rows: int = MAX_CUSTOMERS,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.page_size = page_size
        self.max_rows = max_rows
        self.max_pages = max_rows // page_size + 1
        self._api_key = api_key
        self._client_id = str(client_id)
        self._password = password
        self._token: str | None = None
        # Requests sent again with a new token after a 401: retries the transport never saw.
        self._resent = 0
        self._transport = JsonTransport(
            VENDOR,
            self.base_url,
            session=session,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
            policy=RetryPolicy(
                retries=retries,
                backoff=backoff,
                retry_after_max=retry_after_max,
                backoff_on_rate_limit=True,
            ),
            auth_hint=CREDENTIALS_HINT,
        )
        self._transport.secrets = [api_key, password]

    def __repr__(self) -> str:
        return f"ISPCubeClient(base_url={self.base_url!r}, username={self.username!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, token requests and retries included."""
        return self._transport.requests_made

    def calls_made(self) -> tuple[int, int]:
        """Requests sent so far, and how many of them repeated one that failed."""
        return self._transport.requests_made, self._transport.retries_made + self._resent

    def login(self) -> None:
        """Ask for a fresh bearer token; wrong credentials raise AuthFailed."""
        headers = self._base_headers()
        headers["Content-Type"] = "application/json"
        try:
            body = self._transport.call(
                "POST",
                LOGIN_PATH,
                headers=headers,
                json_body={"username": self.username, "password": self._password},
            )
        except AuthFailed as error:
            status = 403 if isinstance(error, Forbidden) else 401
            raise AuthFailed(
                f"{VENDOR} rejected the credentials ({status} at {LOGIN_PATH}): {CREDENTIALS_HINT}"
            ) from None
        except SourceError as error:
            # Every later call needs a token too: a run that logged in again for each stream
            # would wait out the same failure (and its retries) once per stream.
            error.stops_source = True
            raise

        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError(
                f"{VENDOR} answered {LOGIN_PATH} without a token: the API changed; "
                "report it with the ISPCube version",
                stops_source=True,
            )
        self._token = token
        self._transport.secrets = [self._api_key, self._password, token]
        logger.debug("vendor=ispcube user=%s login=ok", self.username)

    def customers(self) -> list[dict[str, Any]]:
        """Every customer, raw, read page by page with limit/offset."""
        return [customer for page in self.customer_pages() for customer in page]

    def customer_pages(
        self, progress: PageProgress = no_progress
    ) -> Iterator[list[dict[str, Any]]]:
        """The customers a page at a time, as they arrive: a caller may work on one page
        while the next is on its way. `progress` hears of each page (ISPCube sends no total)."""
        return self._paged(CUSTOMERS_PATH, progress)

    def connections(self) -> list[dict[str, Any]]:
        """Every connection of every type, raw, in one (large, slow) answer."""
        return self._array(CONNECTIONS_PATH, self._get(CONNECTIONS_PATH))

    def plans(self) -> list[dict[str, Any]]:
        return self._array(PLANS_PATH, self._get(PLANS_PATH))

    def nodes(self) -> list[dict[str, Any]]:
        """Every node (router), raw; ISPCube may wrap the array in {"data": [...]}."""
        body = self._get(NODES_PATH)
        if isinstance(body, dict) and "data" in body:
            body = body["data"]
        return self._array(NODES_PATH, body)

    def _paged(self, path: str, progress: PageProgress) -> Iterator[list[dict[str, Any]]]:
        """The pages of `path`. A full page is as long as the one before it (the server's
        real page size, whatever it made of `limit`), so a shorter one is the last."""
        received = 0
        previous: list[Any] | None = None
        for requests_made in range(1, self.max_pages + 1):
            params = {"limit": self.page_size, "offset": received}
            page = self._array(path, self._get(path, params))
            if page == previous:
                raise ApiError(
                    f"{VENDOR} returned the same page twice at {path} (offset {received}): "
                    "it ignores offset; report it to ISPCube"
                )
            if page:
                progress(received + len(page), None)
                yield page
                received += len(page)

            if not page or (previous is not None and len(page) < len(previous)):
                logger.debug(
                    "vendor=ispcube path=%s requests=%d rows=%d", path, requests_made, received
                )
                return
            previous = page

        raise ApiError(
            f"{VENDOR} sent {self.max_pages} full pages of {self.page_size} at {path} and no "
            f"end to the listing; if the tenant really has more than "
            f"{self.max_rows:,} rows, raise [ispcube] max_customers, else report it to ISPCube"
        )

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        # A 401 mid-run means the token expired: log in again once, then retry once. A 403 is
        # the API user's permission, which no new token changes.
        if self._token is None:
            self.login()
        try:
            return self._data(path, params)
        except Forbidden:
            raise
        except AuthFailed:
            logger.info("vendor=ispcube path=%s status=auth_failed action=relogin", path)

        self.login()
        self._resent += 1
        try:
            return self._data(path, params)
        except Forbidden:
            raise
        except AuthFailed:
            raise AuthFailed(
                f"{VENDOR} refused a fresh token at {path} (401): {CREDENTIALS_HINT}"
            ) from None

    def _data(self, path: str, params: dict[str, Any] | None) -> Any:
        """One data call with the current token. A 403 does not stop the other streams: a
        user refused one endpoint may still be allowed the others."""
        try:
            return self._transport.call("GET", path, params=params, headers=self._data_headers())
        except Forbidden:
            raise Forbidden(
                f"{VENDOR} refused {path} to API user {self.username!r} (403): the user lacks "
                "permission for it; grant it in ISPCube or set EMERALD_ISPCUBE_USER to a user "
                "that has it",
                stops_source=False,
            ) from None

    def _array(self, path: str, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise ApiError(
                f"{VENDOR} answered {path} with a JSON {type(body).__name__}, not an array: "
                "the API changed; report it with the ISPCube version"
            )
        return body

    def _base_headers(self) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "api-key": self._api_key,
            "client-id": self._client_id,
            "login-type": "api",
        }

    def _data_headers(self) -> dict[str, str]:
        headers = self._base_headers()
        headers["Authorization"] = f"Bearer {self._token}"
        headers["username"] = self.username
        return headers
