"""What the signed-in user may do: the API's own authorizer, asked with the same RAM actions.

Every page and every action of the page names the DataWorks operation it stands for
(`RunManualDagNodes`, `RestartInstance`, `ListInstances` …); it is decided exactly as that
operation's API call would be — RAM policies on the workspace's ARN with the same conditions
(`dataworks:ProjectEnv`, `acs:SourceIp`, …), workspace membership and role — and every write
and every denial is audited the same way. Templates hold no rules: they are handed `allowed`
flags and the denial's message to show beside a disabled button.
"""

from __future__ import annotations

from dataclasses import dataclass

from opcenter.console.sessions import SessionInfo
from opcenter.context import Caller, ServiceContext
from opcenter.iam.authorizer import AccessRequest, Authorizer

__all__ = ["Access"]


@dataclass(frozen=True)
class Access:
    """The signed-in user of one request, with where it comes from."""

    ctx: ServiceContext
    authorizer: Authorizer
    session: SessionInfo
    source_ip: str = ""
    user_agent: str = ""
    secure: bool = False
    request_id: str = ""

    @property
    def caller(self) -> Caller:
        """Who the service records as CreateUser / operator."""
        s = self.session
        return Caller(name=s.name, account_id=s.account_id, is_root=s.is_root)

    def arn(self, workspace: str | None) -> str:
        """The resource ARN of workspace `workspace` (an identifier), `*` for none."""
        if not workspace:
            return "*"
        settings = self.ctx.settings
        return f"acs:dataworks:{settings.region}:{settings.account_id}:workspace/{workspace}"

    def request(
        self, operation: str, workspace: str | None, env: str | None = None, **params: str
    ) -> AccessRequest:
        """The access request of `operation` on `workspace` (identifier) in `env`."""
        if env:
            params = {"ProjectEnv": env, **params}
        return AccessRequest(
            principal=self.session.principal,
            action=f"dataworks:{operation}",
            resource=self.arn(workspace),
            params=params,
            source_ip=self.source_ip,
            secure_transport=self.secure,
            user_agent=self.user_agent,
            request_id=self.request_id,
            now=self.ctx.clock() / 1000,
            region=self.ctx.settings.region,
            account_id=self.session.account_id,
        )

    def check(self, operation: str, workspace: str | None, env: str | None = None) -> None:
        """Return when allowed; raise the denial (audited) otherwise. Writes are audited."""
        self.authorizer.check(self.request(operation, workspace, env))

    def denial(self, operation: str, workspace: str | None, env: str | None = None) -> str | None:
        """Why `operation` would be refused (the message), or None when allowed."""
        denied = self.authorizer.denial(self.request(operation, workspace, env))
        return None if denied is None else denied.message

    def allows(self, operation: str, workspace: str | None, env: str | None = None) -> bool:
        return self.denial(operation, workspace, env) is None
