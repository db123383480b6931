"""Network clients: accounts (FxA), tokenserver and storage, with a trace of every exchange.

The usual path of one sync::

    trace = Trace()
    fxa = FxaClient(auth_url, oauth_url, trace=trace)
    session = fxa.login(email, password)         # then verify_totp()/verify_code() if asked
    keys = session.fetch_keys()                  # SyncKeys: kSync bundle + kid
    tokens = TokenServerClient(token_url, trace=trace)
    storage = StorageClient(tokens.exchange(session.oauth_token().access_token, keys),
                            token_provider=session.token_provider(tokens), trace=trace)
    storage.info_collections(); trace.frame()

See docs/network-clients.md.
"""

from .answers import EnvelopeError, MalformedBSO
from .batching import InfoConfiguration, PackingPlan, PostQueue, UploadResult, plan_packing
from .errors import (
    BadRequest,
    BatchError,
    CollectionChanged,
    DeadlineExceeded,
    FxaBusy,
    FxaError,
    HTTPError,
    IncorrectEmailCase,
    IncorrectPassword,
    InvalidClientState,
    InvalidCredentials,
    InvalidGeneration,
    InvalidKeyId,
    InvalidKeysChangedAt,
    InvalidVerificationCode,
    LoginRequired,
    NetError,
    NewUsersDisabled,
    NodeReassigned,
    NotFound,
    PreconditionFailed,
    RequestTooLarge,
    ResponseInfo,
    ServerBusy,
    ServerUnreachable,
    StorageError,
    StorageUnauthorized,
    TokenServerBusy,
    TokenServerError,
    UnknownAccount,
    UnsupportedService,
    VerificationRequired,
)
from .fxa import FxaClient, FxaSession, OAuthToken
from .http import ServerSignal, Trace, TracedSession, never_retry, wait_and_retry
from .reader import CollectionReader, Page
from .sessionfile import load_session, save_session
from .storage import StorageClient
from .tokenserver import Token, TokenServerClient

__all__ = [
    "BadRequest",
    "BatchError",
    "CollectionChanged",
    "CollectionReader",
    "DeadlineExceeded",
    "EnvelopeError",
    "FxaBusy",
    "FxaClient",
    "FxaError",
    "FxaSession",
    "HTTPError",
    "IncorrectEmailCase",
    "IncorrectPassword",
    "InfoConfiguration",
    "InvalidClientState",
    "InvalidCredentials",
    "InvalidGeneration",
    "InvalidKeyId",
    "InvalidKeysChangedAt",
    "InvalidVerificationCode",
    "LoginRequired",
    "MalformedBSO",
    "NetError",
    "NewUsersDisabled",
    "NodeReassigned",
    "NotFound",
    "OAuthToken",
    "PackingPlan",
    "Page",
    "PostQueue",
    "PreconditionFailed",
    "RequestTooLarge",
    "ResponseInfo",
    "ServerBusy",
    "ServerSignal",
    "ServerUnreachable",
    "StorageClient",
    "StorageError",
    "StorageUnauthorized",
    "Token",
    "TokenServerBusy",
    "TokenServerClient",
    "TokenServerError",
    "Trace",
    "TracedSession",
    "UnknownAccount",
    "UnsupportedService",
    "UploadResult",
    "VerificationRequired",
    "load_session",
    "never_retry",
    "plan_packing",
    "save_session",
    "wait_and_retry",
]
