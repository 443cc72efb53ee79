"""Knative Serving's admission webhook for a ``serving.knative.dev/v1`` Service: the rules it applies
beyond the CRD's structural schema (which ``tests/support/helm.py`` checks separately), at a default
install's configuration (config-features untouched) or with the limits a cluster sets in
config-defaults and config-autoscaler (``Config.from_config_maps``).

Read in knative/serving at commit 98e5ef9 (2026-08); each rule names its function:

- pkg/apis/serving/v1/service_validation.go ``Service.Validate``: no ``autoscaling.knative.dev/*``
  annotation on the Service's own metadata (metadata_validation.go ``ValidateHasNoAutoscalingAnnotation``).
- pkg/apis/serving/v1/revision_validation.go ``RevisionTemplateSpec.Validate`` / ``RevisionSpec.Validate``:
  the template's autoscaling annotations (pkg/apis/autoscaling/annotation_validation.go
  ``validateMinMaxScale``, ``validateFloats``: int32s >= 0, a bad one read as 0; max-scale >= min-scale
  unless max-scale is 0, which means unlimited; target >= 0.01; with config-autoscaler
  ``max-scale-limit`` > 0, a max-scale annotation must be 1..limit, 0 refused,
  ``validateMaxScaleWithinLimit``); ``timeoutSeconds`` <= ``max-revision-timeout-seconds`` (default
  600, pkg/apis/config/defaults.go ``DefaultMaxRevisionTimeoutSeconds``); ``containerConcurrency`` <=
  ``container-concurrency-max-limit`` (default 1000, ``DefaultMaxRevisionContainerConcurrency``;
  metadata_validation.go ``ValidateContainerConcurrency``).
- pkg/apis/serving/k8s_validation.go ``ValidatePodSpec`` and what it calls, with the field masks of
  pkg/apis/serving/fieldmask.go (``PodSpecMask``, ``ContainerMask``, ``SecurityContextMask``,
  ``CapabilitiesMask``, ``VolumeSourceMask``, ``VolumeMountMask``, ``EnvVarMask``, ``EnvVarSourceMask``,
  ``ResourceRequirementsMask``, ``ProbeMask``, ``HandlerMask``) at the default feature flags of
  pkg/apis/config/features.go ``defaultFeaturesConfig`` (emptyDir on; PVC, hostPath, CSI, fieldRef,
  pod securityContext, affinity, tolerations, init containers... off; capabilities.add off):
  reserved env vars ``PORT``, ``K_SERVICE``, ``K_CONFIGURATION``, ``K_REVISION`` (``reservedEnvVars``);
  reserved mount paths ``/``, ``/dev``, ``/dev/log`` after ``path.Clean`` (``reservedPaths``, exact
  match only), mount paths absolute and unique; a mount of anything but emptyDir/PVC/ephemeral
  read-only; every volume mounted, every mount a volume (``ValidateVolumes``, ``validateVolumeMounts``);
  one port across the containers, named ``""``/``h2c``/``http1``, not a queue-proxy port
  (``validateContainersPorts``, ``validateContainerPorts``, ``reservedPorts``); a probe has exactly one
  handler and a user container's probe port is unset or the serving port (``validateProbe``);
  container name not ``queue-proxy``; ``privileged`` only false; ``automountServiceAccountToken`` only
  false.

The image reference is parsed as go-containerregistry parses it (``image_problem``).

Not modelled: defaulting (the webhook validates after it; e.g. a readiness probe's successThreshold
0 becomes 1), a registry host's own syntax, init and sidecar containers' own rules, the route and
traffic block, updates (``VerifyNameChange``, creator annotations), ``SecurePodDefaults``, any
non-default config-features, and config-defaults and config-autoscaler settings other than the three
limits ``Config`` reads (e.g. ``allow-container-concurrency-zero: false``, which would refuse
containerConcurrency 0; activation-scale and initial-scale).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RESERVED_ENV_VARS = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
RESERVED_MOUNT_PATHS = frozenset({"/", "/dev", "/dev/log"})
# networking.BackendHTTPPort, BackendHTTP2Port, QueueAdminPort, AutoscalingQueueMetricsPort,
# UserQueueMetricsPort, runtime.ProfilingDefaultPort
RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
AUTOSCALING = "autoscaling.knative.dev/"
MIN_SCALE, MAX_SCALE, TARGET = AUTOSCALING + "min-scale", AUTOSCALING + "max-scale", AUTOSCALING + "target"
TARGET_MIN = 0.01

# Field masks at the default feature flags: the keys a Knative Service may set (fieldmask.go).
POD_SPEC_FIELDS = frozenset({"serviceAccountName", "containers", "volumes", "imagePullSecrets", "enableServiceLinks",
                             "automountServiceAccountToken",  # only false: checked below
                             # RevisionSpec's own fields beside the inlined PodSpec
                             "containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
                             "idleTimeoutSeconds"})
CONTAINER_FIELDS = frozenset({"name", "args", "command", "env", "workingDir", "envFrom", "image", "imagePullPolicy",
                              "livenessProbe", "ports", "readinessProbe", "resources", "securityContext",
                              "startupProbe", "terminationMessagePath", "terminationMessagePolicy", "volumeMounts"})
SECURITY_CONTEXT_FIELDS = frozenset({"capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup",
                                     "runAsNonRoot", "allowPrivilegeEscalation", "seccompProfile",
                                     "privileged"})  # only false: checked below
CAPABILITIES_FIELDS = frozenset({"drop"})  # `add` needs kubernetes.containerspec-addcapabilities
VOLUME_SOURCES = frozenset({"secret", "configMap", "projected", "emptyDir"})
VOLUME_MOUNT_FIELDS = frozenset({"name", "readOnly", "mountPath", "subPath"})
WRITABLE_SOURCES = frozenset({"emptyDir", "persistentVolumeClaim", "ephemeral"})
ENV_FIELDS = frozenset({"name", "value", "valueFrom"})
ENV_SOURCE_FIELDS = frozenset({"configMapKeyRef", "secretKeyRef"})  # fieldRef needs kubernetes.podspec-fieldref
RESOURCES_FIELDS = frozenset({"limits", "requests"})
PROBE_FIELDS = frozenset({"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                          "failureThreshold", "terminationGracePeriodSeconds"})
PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")
PORT_NAMES = frozenset({"", "h2c", "http1"})


@dataclass(frozen=True)
class Config:
    """The cluster settings the rules read, at Knative's defaults: config-defaults
    ``max-revision-timeout-seconds`` and ``container-concurrency-max-limit`` (pkg/apis/config/defaults.go),
    config-autoscaler ``max-scale-limit`` (pkg/autoscaler/config/config.go; 0: no limit)."""

    max_revision_timeout_seconds: int = 600
    container_concurrency_max_limit: int = 1000
    max_scale_limit: int = 0

    @classmethod
    def from_config_maps(cls, defaults: Mapping[str, str] | None = None,
                         autoscaler: Mapping[str, str] | None = None) -> Config:
        """The settings as Knative reads them from the ``data`` of its config-defaults and
        config-autoscaler ConfigMaps (``NewDefaultsConfigFromMap``, ``NewConfigFromMap``); a key
        not set keeps Knative's default."""
        defaults, autoscaler, base = defaults or {}, autoscaler or {}, cls()
        return cls(
            max_revision_timeout_seconds=int(defaults.get("max-revision-timeout-seconds",
                                                          base.max_revision_timeout_seconds)),
            container_concurrency_max_limit=int(defaults.get("container-concurrency-max-limit",
                                                             base.container_concurrency_max_limit)),
            max_scale_limit=int(autoscaler.get("max-scale-limit", base.max_scale_limit)),
        )


def service_problems(service: Mapping[str, Any], config: Config = Config()) -> list[str]:
    """What Knative Serving's webhook would refuse in this Service, as ``message: field.path`` (its
    ``apis.FieldError`` wording); empty when it admits it."""
    problems: list[str] = []
    metadata = service.get("metadata") or {}
    for key in metadata.get("annotations") or {}:
        if key.startswith(AUTOSCALING):
            problems.append(f'invalid key name "{key}": metadata.annotations\nautoscaling annotations must be put '
                            'under "spec.template.metadata.annotations" to work')
    template = (service.get("spec") or {}).get("template") or {}
    where = "spec.template"
    problems += _autoscaling(((template.get("metadata") or {}).get("annotations")) or {},
                             f"{where}.metadata.annotations", config)
    spec = template.get("spec") or {}
    problems += _revision_spec(spec, f"{where}.spec", config)
    return problems


def _disallowed(obj: Mapping[str, Any], allowed: Iterable[str], where: str) -> list[str]:
    extra = sorted(set(obj) - set(allowed))
    return [f"must not set the field(s): {', '.join(f'{where}.{k}' for k in extra)}"] if extra else []


def _out_of_bounds(value: object, low: object, high: object, where: str) -> str:
    return f"expected {low} <= {value} <= {high}: {where}"


def _autoscaling(annotations: Mapping[str, str], where: str, config: Config) -> list[str]:
    problems: list[str] = []
    scales: dict[str, int] = {}
    for key in (MIN_SCALE, MAX_SCALE):
        if key in annotations:  # getIntGE0: a value it refuses counts as 0 in the checks below
            raw = str(annotations[key])
            if not re.fullmatch(r"[+-]?[0-9]+", raw):  # Go's strconv.ParseInt: no spaces, no '_'
                problems.append(f"invalid value: {raw}: {where}.{key}")
            elif not 0 <= int(raw) <= 2**31 - 1:
                problems.append(_out_of_bounds(raw, 0, 2**31 - 1, f"{where}.{key}"))
            else:
                scales[key] = int(raw)
    low, high = scales.get(MIN_SCALE, 0), scales.get(MAX_SCALE, 0)
    if high != 0 and high < low:  # max-scale 0 is unlimited: never below min-scale
        problems.append(f"max-scale={high} is less than min-scale={low}: {where}.{MAX_SCALE}, {where}.{MIN_SCALE}")
    if MAX_SCALE in annotations:
        problems += _max_scale_within_limit(high, config.max_scale_limit, f"{where}.{MAX_SCALE}")
    if TARGET in annotations:
        raw = str(annotations[TARGET])
        try:
            if float(raw) < TARGET_MIN:
                problems.append(f"target {raw} should be at least {TARGET_MIN}: {where}.{TARGET}")
        except ValueError:
            problems.append(f"invalid value: {raw}: {where}.{TARGET}")
    return problems


def _max_scale_within_limit(high: int, limit: int, where: str) -> list[str]:
    """config-autoscaler max-scale-limit (annotation_validation.go validateMaxScaleWithinLimit): only
    when set (> 0); then an unlimited max-scale (0) is refused too."""
    if limit == 0:
        return []
    problems = [_out_of_bounds(high, 1, limit, where)] if high > limit else []
    if high == 0:
        problems.append(f"max-scale=0 (unlimited), must be less than {limit}: {where}")
    return problems


def _revision_spec(spec: Mapping[str, Any], where: str, config: Config) -> list[str]:
    problems = _disallowed(spec, POD_SPEC_FIELDS, where)
    if spec.get("automountServiceAccountToken") is True:
        problems.append(f"must not set the field(s): {where}.automountServiceAccountToken")
    timeout = spec.get("timeoutSeconds")
    if timeout and not 0 <= int(timeout) <= config.max_revision_timeout_seconds:
        problems.append(_out_of_bounds(timeout, 0, config.max_revision_timeout_seconds, f"{where}.timeoutSeconds"))
    concurrency = spec.get("containerConcurrency")
    if concurrency is not None and not 0 <= int(concurrency) <= config.container_concurrency_max_limit:
        problems.append(_out_of_bounds(concurrency, 0, config.container_concurrency_max_limit,
                                       f"{where}.containerConcurrency"))
    containers = list(spec.get("containers") or [])
    volumes: dict[str, Mapping[str, Any]] = {}
    mounted = {m.get("name") for c in containers for m in c.get("volumeMounts") or []}
    for i, volume in enumerate(spec.get("volumes") or []):
        at = f"{where}.volumes[{i}]"
        name = volume.get("name")
        if name in volumes:
            problems.append(f'duplicate volume name "{name}": {at}.name')
        if name not in mounted:
            problems.append(f'volume with name "{name}" not mounted: {at}.name')
        problems += _disallowed(volume, {"name", *VOLUME_SOURCES}, at)
        volumes[str(name)] = volume
    ports = [p for c in containers for p in c.get("ports") or []]
    if len(ports) > 1:
        problems.append(f"more than one container port is set: {where}.containers[*].ports\n"
                        "Only a single port is allowed across all containers")
    if not containers:
        problems.append(f"missing field(s): {where}.containers")
    serving_port = ports[0] if ports else {}
    for i, container in enumerate(containers):
        problems += _container(container, volumes, serving_port, f"{where}.containers[{i}]")
    return problems


def _container(container: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
               serving_port: Mapping[str, Any], where: str) -> list[str]:
    problems = _disallowed(container, CONTAINER_FIELDS, where)
    if container.get("name") == "queue-proxy":
        problems.append(f'"queue-proxy" is a reserved container name: {where}.name')
    if not container.get("image"):
        problems.append(f"missing field(s): {where}.image")
    elif (why := image_problem(str(container["image"]))) is not None:
        problems.append(f"Failed to parse image reference: {where}.image\nimage: {container['image']!r}, error: {why}")
    for i, env in enumerate(container.get("env") or []):
        at = f"{where}.env[{i}]"
        problems += _disallowed(env, ENV_FIELDS, at)
        if not env.get("name"):
            problems.append(f"missing field(s): {at}.name")
        elif env["name"] in RESERVED_ENV_VARS:
            problems.append(f'"{env["name"]}" is a reserved environment variable: {at}.name')
        problems += _disallowed(env.get("valueFrom") or {}, ENV_SOURCE_FIELDS, f"{at}.valueFrom")
    for i, port in enumerate(container.get("ports") or []):
        at = f"{where}.ports[{i}]"
        if int(port.get("containerPort", 0)) in RESERVED_PORTS:
            problems.append(f"invalid value: {port['containerPort']} is a reserved port: {at}.containerPort\n"
                            f"{port['containerPort']} is a reserved port, please use a different value")
        if port.get("name", "") not in PORT_NAMES:
            problems.append(f"Port name {port['name']} is not allowed: {at}\n"
                            "Name must be empty, or one of: 'h2c', 'http1'")
        if port.get("protocol", "TCP") != "TCP":
            problems.append(f"invalid value: {port['protocol']}: {at}.protocol")
    problems += _disallowed(container.get("resources") or {}, RESOURCES_FIELDS, f"{where}.resources")
    context = container.get("securityContext") or {}
    problems += _disallowed(context, SECURITY_CONTEXT_FIELDS, f"{where}.securityContext")
    if context.get("privileged") is True:
        problems.append(f"must not set the field(s): {where}.securityContext.privileged")
    problems += _disallowed(context.get("capabilities") or {}, CAPABILITIES_FIELDS,
                            f"{where}.securityContext.capabilities")
    for key in ("runAsUser", "runAsGroup"):  # validateSecurityContext: minUserID..maxUserID, same for groups
        if key in context and not 0 <= int(context[key]) <= 2**31 - 1:
            problems.append(_out_of_bounds(context[key], 0, 2**31 - 1, f"{where}.securityContext.{key}"))
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(kind) is not None:
            problems += _probe(container[kind], serving_port, f"{where}.{kind}")
    problems += _mounts(container.get("volumeMounts") or [], volumes, f"{where}.volumeMounts")
    return problems


def image_problem(image: str) -> str | None:
    """Why go-containerregistry's ``name.ParseReference(image, name.WeakValidation)`` refuses ``image``
    (None: it parses), which Knative's webhook calls on every container image (k8s_validation.go
    ``validate``). google/go-containerregistry pkg/name: tag.go ``NewTag``/``checkTag`` (the part after the
    last ``:`` unless it holds a ``/``; [A-Za-z0-9_.-], 1..127 characters), digest.go (``@sha256:`` and 64
    hex digits), repository.go ``NewRepository``/``checkRepository`` (the first path element is the
    registry only if it holds ``.`` or ``:``; the rest [a-z0-9_./-], 2..255 characters)."""
    base, at, digest = image.partition("@")
    if at and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return f"a digest must be sha256 and 64 hex digits: {digest!r}"
    head, colon, tag = base.rpartition(":")
    if colon and "/" not in tag:
        base = head
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,127}", tag):
            return f"a tag must be 1..127 of [A-Za-z0-9_.-]: {tag!r}"
    first, slash, rest = base.partition("/")
    registry, repository = (first, rest) if slash and ("." in first or ":" in first) else ("", base)
    if re.search(r"\s", registry):
        return f"registry {registry!r} is not a host"
    # a bare name on Docker Hub is checked as library/<name> (hasImplicitNamespace)
    checked = repository if "/" in repository or registry else f"library/{repository}"
    if not re.fullmatch(r"[a-z0-9_./-]{2,255}", checked):
        return f"a repository must be 2..255 of [a-z0-9_./-]: {repository!r}"
    return None


def _probe(probe: Mapping[str, Any], serving_port: Mapping[str, Any], where: str) -> list[str]:
    problems = _disallowed(probe, {*PROBE_FIELDS, *PROBE_HANDLERS}, where)
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        problems.append(f"expected exactly one, got neither: {', '.join(f'{where}.{h}' for h in PROBE_HANDLERS)}")
    elif len(handlers) > 1:
        problems.append(f"expected exactly one, got both: {', '.join(f'{where}.{h}' for h in handlers)}")
    for handler in ("httpGet", "tcpSocket"):
        port = (probe.get(handler) or {}).get("port")
        # a user container's probe goes to its serving port: a port NAME must be that port's
        # (named "http" when unnamed); a number is not checked (defaulting points it at the port)
        if isinstance(port, str) and port and port != (serving_port.get("name") or "http"):
            problems.append(f"invalid value: {port}: {where}.{handler}.port\nProbe port must match container port")
    return problems


def _mounts(mounts: list[Mapping[str, Any]], volumes: Mapping[str, Mapping[str, Any]], where: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, mount in enumerate(mounts):
        at = f"{where}[{i}]"
        problems += _disallowed(mount, VOLUME_MOUNT_FIELDS, at)
        volume = volumes.get(str(mount.get("name")))
        if volume is None:
            problems.append(f"volumeMount has no matching volume: {at}.name")
        path = str(mount.get("mountPath") or "")
        clean = posixpath.normpath(path) if path else ""
        if clean.startswith("//"):  # Go's path.Clean keeps one leading slash; posixpath keeps two
            clean = "/" + clean.lstrip("/")
        if not path:
            problems.append(f"missing field(s): {at}.mountPath")
        elif clean in RESERVED_MOUNT_PATHS:
            problems.append(f'mountPath "{clean}" is a reserved path: {at}.mountPath')
        elif not path.startswith("/"):
            problems.append(f"invalid value: {path}: {at}.mountPath")
        elif clean in seen:
            problems.append(f'invalid value: "{path}" must be unique: {at}.mountPath')
        seen.add(clean)
        writable = volume is not None and any(volume.get(s) is not None for s in WRITABLE_SOURCES)
        if not writable and not mount.get("readOnly"):
            problems.append(f"volume mount should be readOnly for this type of volume: {at}.readOnly")
    return problems
