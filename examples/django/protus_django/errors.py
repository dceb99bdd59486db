"""The one exception every call to the sidecar raises: an RFC 9457 problem as PROTUS answered it."""


class ProtusError(Exception):
    """A refusal or failure from PROTUS.

    `status` and `code` are the problem's (DESIGN §5: e.g. 402 `insufficient_funds`, 403
    `insufficient_scope`, 409 `conflict`, 422 `idempotency_key_reused`, 503
    `central_unavailable`); `detail` is its human-readable text and `problem` the whole document.
    When the sidecar itself cannot be reached, `status` is 503 and `code` `sidecar_unavailable`.
    `idempotency_key` is the key the call was sent with (retry with the same one), `retry_after`
    the `Retry-After` seconds when PROTUS gave them.
    """

    def __init__(self, status, code, detail="", problem=None, idempotency_key=None, retry_after=None):
        self.status = status
        self.code = code
        self.detail = detail or ""
        self.problem = problem or {}
        self.idempotency_key = idempotency_key
        self.retry_after = retry_after
        super().__init__(f"{status} {code}: {self.detail}" if self.detail else f"{status} {code}")

    @property
    def retryable(self):
        """True for answers PROTUS never stores under the key: retrying with the same key does the work."""
        return self.status >= 500
