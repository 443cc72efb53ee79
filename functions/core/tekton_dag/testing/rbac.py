"""Kubernetes authentication and RBAC authorization, as kube-apiserver does them, for the fake API.

The rules come from the Helm chart itself: ``chart_documents()`` runs ``helm template`` on
``helm/tekton-dag`` with each team's values file and keeps the Roles, ClusterRoles, RoleBindings,
ClusterRoleBindings and ServiceAccounts it renders. ``Authorizer`` decides requests against them
the way the RBAC authorizer does (kubernetes/kubernetes):

- plugin/pkg/auth/authorizer/rbac/rbac.go ``RuleAllows``/``appliesToUser``: a RoleBinding grants
  its Role's (or ClusterRole's) rules in the binding's namespace only, a ClusterRoleBinding grants a
  ClusterRole's rules everywhere; a ServiceAccount subject matches the user
  ``system:serviceaccount:<ns>:<name>`` (its namespace defaults to the binding's); a Group subject
  matches any of the user's groups. A binding whose role does not exist grants nothing and adds
  ``role.rbac.authorization.k8s.io "x" not found`` to the denial's reason (``RBAC: ...``).
- pkg/apis/rbac/v1/evaluation_helpers.go: ``VerbMatches`` / ``APIGroupMatches`` (``*`` or equal),
  ``ResourceMatches`` (``*``, the exact ``resource`` or ``resource/subresource``, or
  ``*/subresource``), ``ResourceNameMatches`` (no resourceNames: any name; else the request's name
  must be listed, so ``create`` and ``list``, which have no name, never match a named rule),
  ``NonResourceURLMatches`` (``*``, exact, or a prefix ending in ``*``).
- staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: the verb of a request (GET
  named → get, GET collection → list, or watch with ``?watch=true``; POST → create; PUT → update;
  PATCH → patch; DELETE named → delete, DELETE collection → deletecollection).
- staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
  ``ForbiddenStatusError``/``forbiddenMessage`` and apimachinery pkg/api/errors ``NewForbidden``:
  ``<resource>.<group> "<name>" is forbidden: User "<user>" cannot <verb> resource "<resource>" in
  API group "<group>" in the namespace "<ns>"`` (``: <reason>`` appended when there is one).

Authentication (staging/src/k8s.io/apiserver/pkg/authentication): one bearer token per identity,
as a projected ServiceAccount token would be (opaque here, not a JWT). A token for a ServiceAccount
the chart does not render cannot be issued (a real token is bound to its ServiceAccount object).
A request with an unknown token is 401 ``Unauthorized``; one with no token is ``system:anonymous``
(kube-apiserver's default ``--anonymous-auth=true``: pkg/kubeapiserver/authenticator/config.go),
which RBAC then refuses (403). ServiceAccount users carry the groups ``system:serviceaccounts``,
``system:serviceaccounts:<ns>`` and ``system:authenticated`` (serviceaccount/util.go).

The bootstrap policy a cluster always has (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
policy.go) is added: ``cluster-admin`` (everything), ``system:discovery`` and
``system:public-info-viewer`` (discovery and /version for every authenticated user). The admin
identity is what kind's kubeconfig holds: a user in ``kubeadm:cluster-admins``, bound to
cluster-admin by kubeadm since v1.29 (cmd/kubeadm/app/constants ``ClusterAdminsGroupAndClusterRoleBinding``).

Not modelled: ClusterRole aggregation, impersonation, escalation checks on writing RBAC objects,
the Node and Webhook authorizers, token expiry and audiences.

Kept cheap (the fake answers thousands of requests a second): each decision is compiled once per
(user, namespace, group, resource, verb) into "any name" or the set of allowed names and kept in a
dict, so a request costs one dict lookup after the first of its kind.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[4]
CHART = REPO / "helm" / "tekton-dag"
TEAMS = REPO / "teams"
KUBE_VERSION = "1.30.0"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")
ADMIN = "kubernetes-admin"
ADMIN_GROUP = "kubeadm:cluster-admins"
AUTHENTICATED, UNAUTHENTICATED = "system:authenticated", "system:unauthenticated"
ANONYMOUS = "system:anonymous"
_ALL: frozenset[str] = frozenset({"\0any"})  # the compiled grant "every name"

Rule = dict[str, Any]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


def service_account_user(namespace: str, name: str) -> User:
    return User(f"system:serviceaccount:{namespace}:{name}",
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED))


ADMIN_USER = User(ADMIN, (ADMIN_GROUP, AUTHENTICATED))
ANONYMOUS_USER = User(ANONYMOUS, (UNAUTHENTICATED,))

_DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                   "/readyz", "/version", "/version/"]
BOOTSTRAP: list[dict[str, Any]] = [
    {
        "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ADMIN_GROUP},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": ADMIN_GROUP}],
    },
    {
        "kind": "ClusterRole",
        "metadata": {"name": "system:discovery"},
        "rules": [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:discovery"},
        "roleRef": {"kind": "ClusterRole", "name": "system:discovery"},
        "subjects": [{"kind": "Group", "name": AUTHENTICATED}],
    },
    {
        "kind": "ClusterRole",
        "metadata": {"name": "system:public-info-viewer"},
        "rules": [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    },
    {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:public-info-viewer"},
        "roleRef": {"kind": "ClusterRole", "name": "system:public-info-viewer"},
        "subjects": [{"kind": "Group", "name": AUTHENTICATED}, {"kind": "Group", "name": UNAUTHENTICATED}],
    },
]


# --- the chart's RBAC -------------------------------------------------------------------------
def helm_binary() -> str:
    found = shutil.which("helm", path=f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise RuntimeError("helm is not installed: run scripts/install-tools (it puts helm in .tools/bin)")
    return found


@functools.lru_cache(maxsize=16)
def _render(values_files: tuple[Path, ...], sets: tuple[str, ...], namespace: str) -> tuple[dict[str, Any], ...]:
    args = [
        helm_binary(),
        "template",
        "tekton-dag",
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]
    for path in values_files:
        args += ["--values", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed: {result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc and doc.get("kind") in RBAC_KINDS)


def chart_documents(sets: Sequence[str] = (), teams: Path = TEAMS) -> list[dict[str, Any]]:
    """The RBAC objects (and ServiceAccounts) the chart renders for every team's values file
    (``teams/*/values.yaml``), each in its team namespace; ``sets`` as ``helm --set`` (e.g.
    ``mode=all-in-one``). Rendered once per process and arguments."""
    docs: list[dict[str, Any]] = []
    for values in sorted(teams.glob("*/values.yaml")):
        namespace = (yaml.safe_load(values.read_text()) or {}).get("team", {}).get("namespace", "tekton-pipelines")
        docs += _render((values,), tuple(sets), namespace)
    return [_copy(d) for d in docs]


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = yaml.safe_load(yaml.safe_dump(doc))  # callers may edit their copy (tests remove rules)
    return copied


# --- authorization ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """The authorizer's attributes of one request (authorizer.Attributes)."""

    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""  # for a non-resource request (resource == "")

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass
class _Grant:
    namespace: str | None  # None: a ClusterRoleBinding (everywhere)
    subjects: list[dict[str, Any]]
    rules: list[Rule] = field(default_factory=list)
    error: str = ""  # the bound role does not exist


class Authorizer:
    """RBAC over a fixed set of documents (the chart's plus the bootstrap policy)."""

    def __init__(self, documents: Iterable[dict[str, Any]], bootstrap: bool = True):
        docs = [*(BOOTSTRAP if bootstrap else ()), *documents]
        roles = {(d["metadata"].get("namespace", ""), d["metadata"]["name"]): d.get("rules") or []
                 for d in docs if d["kind"] == "Role"}
        cluster_roles = {d["metadata"]["name"]: d.get("rules") or [] for d in docs if d["kind"] == "ClusterRole"}
        self.service_accounts = {(d["metadata"].get("namespace", ""), d["metadata"]["name"])
                                 for d in docs if d["kind"] == "ServiceAccount"}
        self._grants: list[_Grant] = []
        for d in docs:
            if d["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            namespace = d["metadata"].get("namespace", "") if d["kind"] == "RoleBinding" else None
            ref = d["roleRef"]
            grant = _Grant(namespace, d.get("subjects") or [])
            if ref["kind"] == "Role" and namespace is not None and (namespace, ref["name"]) in roles:
                grant.rules = roles[(namespace, ref["name"])]
            elif ref["kind"] == "ClusterRole" and ref["name"] in cluster_roles:
                grant.rules = cluster_roles[ref["name"]]
            else:
                grant.error = f'{ref["kind"].lower()}.rbac.authorization.k8s.io "{ref["name"]}" not found'
            self._grants.append(grant)
        self._compiled: dict[tuple[str, str, str, str, str, str], tuple[frozenset[str], str]] = {}
        self._lock = threading.Lock()

    def authorize(self, user: User, request: Request) -> tuple[bool, str]:
        """(allowed, reason): the reason is RBAC's, empty unless a bound role is missing."""
        resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        key = (user.name, request.namespace, request.group, resource, request.verb,
               "" if request.is_resource else request.path)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(user, request)
            with self._lock:
                self._compiled[key] = compiled
        names, reason = compiled
        return _names_allow(names, request), reason

    def _compile(self, user: User, request: Request) -> tuple[frozenset[str], str]:
        names: set[str] = set()
        errors = []
        for grant in self._grants:
            if grant.namespace is not None and grant.namespace != request.namespace:
                continue
            if not any(_applies_to(user, s, grant.namespace or "") for s in grant.subjects):
                continue
            if grant.error:
                errors.append(grant.error)
            for rule in grant.rules:
                allowed = _rule_names(rule, request)
                if allowed is _ALL:
                    return _ALL, ""
                names |= allowed
        reason = ""
        if errors:
            reason = "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        return frozenset(names), reason


def _applies_to(user: User, subject: dict[str, Any], namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(user.name == subject.get("name"))
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == f"system:serviceaccount:{sa_namespace}:{subject.get('name')}"
    return False


def rule_allows(rule: Rule, request: Request) -> bool:
    """Whether ``rule`` alone allows ``request`` (the matching ``authorize`` does per bound rule)."""
    return _names_allow(_rule_names(rule, request), request)


def _names_allow(names: frozenset[str], request: Request) -> bool:
    """Whether the names a rule (or all bound rules) allow cover ``request``'s object."""
    return names is _ALL or request.name in names


def _rule_names(rule: Rule, request: Request) -> frozenset[str]:
    """The names ``rule`` allows ``request`` on: _ALL, some, or none (empty)."""
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and request.verb not in verbs:
        return frozenset()
    if not request.is_resource:
        urls = rule.get("nonResourceURLs") or ()
        path = request.path
        matched = any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in urls)
        return _ALL if matched else frozenset()
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and request.group not in groups:
        return frozenset()
    combined = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    resources = rule.get("resources") or ()
    if not any(r == "*" or r == combined or (request.subresource and r == f"*/{request.subresource}")
               for r in resources):
        return frozenset()
    listed = rule.get("resourceNames") or ()
    return frozenset(listed) if listed else _ALL


def verb_of(method: str, named: bool, query: dict[str, list[str]]) -> str:
    """The authorization verb of an HTTP request on a resource (requestinfo.go)."""
    if method == "GET":
        if (query.get("watch") or [""])[0] in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}.get(method, method.lower())


def forbidden(user: User, request: Request, reason: str = "") -> tuple[str, dict[str, Any]]:
    """The message and details of the 403 Status kube-apiserver answers (ForbiddenStatusError)."""
    if not request.is_resource:
        text = f'User "{user.name}" cannot {request.verb} path "{request.path}"'
    else:
        resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
        scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
        text = f'User "{user.name}" cannot {request.verb} resource "{resource}" in API group "{request.group}" {scope}'
    if reason:
        text += f": {reason}"
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    if not qualified:
        message = f"forbidden: {text}"
    elif request.name:
        message = f'{qualified} "{request.name}" is forbidden: {text}'
    else:
        message = f"{qualified} is forbidden: {text}"
    return message, {"name": request.name, "group": request.group, "kind": request.resource}


# --- authentication -----------------------------------------------------------------------------
class Tokens:
    """Bearer tokens → users: one per identity, issued on demand."""

    def __init__(self, service_accounts: set[tuple[str, str]]):
        self._service_accounts = service_accounts
        self._users: dict[str, User] = {}
        self._issued: dict[str, str] = {}  # user name → token
        self._lock = threading.Lock()

    def issue(self, user: User) -> str:
        with self._lock:
            if user.name not in self._issued:
                token = secrets.token_urlsafe(24)
                self._issued[user.name], self._users[token] = token, user
            return self._issued[user.name]

    def for_service_account(self, namespace: str, name: str) -> str:
        if (namespace, name) not in self._service_accounts:
            raise KeyError(f"no ServiceAccount {namespace}/{name} in the rendered chart: no token can be issued for it")
        return self.issue(service_account_user(namespace, name))

    def user(self, authorization: str | None) -> User | None:
        """The user of an ``Authorization`` header: ANONYMOUS_USER without one, None when the
        token is unknown (401)."""
        if not authorization:
            return ANONYMOUS_USER
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._users.get(token.strip())


__all__ = ["ADMIN_USER", "Authorizer", "Request", "Tokens", "User", "chart_documents", "forbidden",
           "service_account_user", "verb_of"]
