"""Every Knative Service the chart renders (both modes, every scenario) and every one in knative/ is
admitted by Knative Serving's webhook (``tekton_dag.testing.knative_serving``: the rules beyond the
CRD's schema, at a default install's configuration). Each rule of the double refuses what Knative
refuses, with its message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from support.helm import REPO, Scenario, problems, render, render_error, scenarios
from tekton_dag.testing.knative_serving import Config, service_problems

SCENARIOS = scenarios()
IDS = [s.name for s in SCENARIOS]


def ksvcs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev/")]


# The chart's knativeServing values and the Knative ConfigMap settings they declare (the double reads
# the settings as Knative does, from config-defaults and config-autoscaler).
CLUSTER_SETTINGS = {"knativeServing.maxRevisionTimeoutSeconds": ("defaults", "max-revision-timeout-seconds"),
                    "knativeServing.containerConcurrencyMaxLimit": ("defaults", "container-concurrency-max-limit"),
                    "knativeServing.maxScaleLimit": ("autoscaler", "max-scale-limit")}


def cluster_config(sets: list[str]) -> Config:
    """The Knative configuration a cluster has when the chart's knativeServing values describe it."""
    maps: dict[str, dict[str, str]] = {"defaults": {}, "autoscaler": {}}
    for assignment in sets:
        name, _, value = assignment.partition("=")
        if name in CLUSTER_SETTINGS:
            config_map, key = CLUSTER_SETTINGS[name]
            maps[config_map][key] = value
    return Config.from_config_maps(defaults=maps["defaults"], autoscaler=maps["autoscaler"])


def webhook_problems(sets: list[str] = (), scenario: Scenario | None = None) -> dict[str, list[str]]:
    """What Knative's webhook refuses in the rendered Services, on a cluster configured as the
    knativeServing values among ``sets`` say."""
    docs = render(scenario.values_files if scenario else (), sets)
    config = cluster_config(list(sets))
    found = {d["metadata"]["name"]: service_problems(d, config) for d in ksvcs(docs)}
    assert found, f"no Knative Service rendered for {sets}"
    return {name: found_ for name, found_ in found.items() if found_}


@pytest.mark.parametrize("mode", ["distributed", "all-in-one"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_every_rendered_knative_service_is_admitted(scenario: Scenario, mode: str) -> None:
    assert webhook_problems([f"mode={mode}"], scenario) == {}


def test_the_knative_manifests_are_admitted() -> None:
    docs = [d for d in yaml.safe_load_all((REPO / "knative" / "services.yaml").read_text()) if d]
    assert ksvcs(docs)
    assert {d["metadata"]["name"]: service_problems(d) for d in ksvcs(docs)} == {
        d["metadata"]["name"]: [] for d in ksvcs(docs)}


# The double itself: a rendered Service, changed as a value (or a hand edit) could change it, is
# refused with Knative's message (knative/serving pkg/apis/serving/k8s_validation.go and friends).
def container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def add_env(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: container(doc)["env"].append({"name": name, "value": "1"})


def set_spec(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["spec"]["template"]["spec"].__setitem__(key, value)


def set_security(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda doc: container(doc)["securityContext"].__setitem__(key, value)


def mount_at(path: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: container(doc)["volumeMounts"].__setitem__(0, {**container(doc)["volumeMounts"][0],
                                                                      "mountPath": path})


def annotate(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["spec"]["template"]["metadata"]["annotations"].__setitem__(key, value)


REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    **{f"env {name}": (add_env(name), f'"{name}" is a reserved environment variable: '
                                      "spec.template.spec.containers[0].env[")
       for name in ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")},
    "timeout above max-revision-timeout-seconds": (set_spec("timeoutSeconds", 601),
                                                   "expected 0 <= 601 <= 600: spec.template.spec.timeoutSeconds"),
    "containerConcurrency above its limit": (set_spec("containerConcurrency", 1001),
                                             "expected 0 <= 1001 <= 1000: spec.template.spec.containerConcurrency"),
    "pod securityContext (feature off)": (set_spec("securityContext", {"fsGroup": 1}),
                                          "must not set the field(s): spec.template.spec.securityContext"),
    "privileged": (set_security("privileged", True),
                   "must not set the field(s): spec.template.spec.containers[0].securityContext.privileged"),
    "seLinuxOptions": (set_security("seLinuxOptions", {"level": "s0"}),
                       "must not set the field(s): spec.template.spec.containers[0].securityContext.seLinuxOptions"),
    "runAsUser above int32": (set_security("runAsUser", 2**31),
                              "expected 0 <= 2147483648 <= 2147483647: "
                              "spec.template.spec.containers[0].securityContext.runAsUser"),
    "capabilities.add (feature off)": (set_security("capabilities", {"add": ["NET_ADMIN"]}),
                                       "securityContext.capabilities.add"),
    "mount at /dev": (mount_at("/dev/"), 'mountPath "/dev" is a reserved path'),
    "mount at /": (mount_at("//"), 'mountPath "/" is a reserved path'),
    "a mount path twice": (mount_at("/var/run/secrets/tekton-dag/events"), "must be unique"),
    "a relative mount path": (mount_at("etc/teams"), "invalid value: etc/teams"),
    "a writable secret mount": (lambda doc: container(doc)["volumeMounts"][1].pop("readOnly"),
                                "volume mount should be readOnly for this type of volume"),
    "a volume nobody mounts": (lambda doc: container(doc)["volumeMounts"].pop(),
                               'volume with name "event-key" not mounted'),
    "two ports": (lambda doc: container(doc).__setitem__("ports", [{"containerPort": 8080}, {"containerPort": 8081}]),
                  "more than one container port is set"),
    "a queue-proxy port": (lambda doc: container(doc).__setitem__("ports", [{"containerPort": 8012}]),
                           "8012 is a reserved port"),
    "max-scale below min-scale": (lambda doc: (annotate("autoscaling.knative.dev/min-scale", "3")(doc),
                                               annotate("autoscaling.knative.dev/max-scale", "2")(doc)),
                                  "max-scale=2 is less than min-scale=3"),
    "a scale that is no integer": (annotate("autoscaling.knative.dev/max-scale", "0.5"), "invalid value: 0.5"),
    "target below 0.01": (annotate("autoscaling.knative.dev/target", "0"), "target 0 should be at least 0.01"),
    "autoscaling on the Service": (lambda doc: doc["metadata"].setdefault("annotations", {}).__setitem__(
        "autoscaling.knative.dev/min-scale", "1"), 'invalid key name "autoscaling.knative.dev/min-scale"'),
    "a probe on another port name": (lambda doc: container(doc)["livenessProbe"]["httpGet"].__setitem__(
        "port", "metrics"), "Probe port must match container port"),
}


@pytest.mark.parametrize("change,message", REFUSED.values(), ids=REFUSED.keys())
def test_the_double_refuses_what_knative_refuses(change: Callable[[dict[str, Any]], None], message: str) -> None:
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    assert service_problems(resolver) == []
    changed = copy.deepcopy(resolver)
    change(changed)
    found = service_problems(changed)
    assert any(message in problem for problem in found), found


def test_the_double_admits_what_knative_allows() -> None:
    """Not stricter than Knative: the fields a default install allows pass."""
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    allowed = copy.deepcopy(resolver)
    spec = allowed["spec"]["template"]["spec"]
    spec["timeoutSeconds"], spec["containerConcurrency"] = 600, 1000
    spec["automountServiceAccountToken"] = False
    container(allowed)["securityContext"].update(readOnlyRootFilesystem=True, runAsUser=1000, runAsGroup=1000,
                                                 privileged=False)
    container(allowed)["ports"] = [{"containerPort": 8081, "name": "http1"}]
    container(allowed)["volumeMounts"].append({"name": "scratch", "mountPath": "/tmp"})  # no longer reserved
    spec["volumes"].append({"name": "scratch", "emptyDir": {}})
    allowed["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] = "0"  # unlimited
    assert service_problems(allowed) == []


# Each function's values and the mode that renders them.
FUNCTION_VALUES = {**{f"functions.{name}": "distributed" for name in
                      ("webhookIngest", "resolver", "runCreator", "bootstrapBatcher", "statusReporter")},
                   "allInOne": "all-in-one"}


BOUNDED = [(values, field) for values in FUNCTION_VALUES for field in ("timeoutSeconds", "containerConcurrency")
           if (values, field) != ("allInOne", "containerConcurrency")]  # the all-in-one's is the chart's: 0


# The cluster's limits as the chart's values declare them: Knative's defaults, and a cluster that raised both.
LIMITS = {"Knative's defaults": ([], {"timeoutSeconds": 600, "containerConcurrency": 1000}),
          "raised limits": (["knativeServing.maxRevisionTimeoutSeconds=3600",
                             "knativeServing.containerConcurrencyMaxLimit=5000"],
                            {"timeoutSeconds": 3600, "containerConcurrency": 5000})}
LIMIT_VALUES = {"timeoutSeconds": "knativeServing.maxRevisionTimeoutSeconds",
                "containerConcurrency": "knativeServing.containerConcurrencyMaxLimit"}


@pytest.mark.parametrize("limits", LIMITS)
@pytest.mark.parametrize("values,field", BOUNDED, ids=[f"{v}.{f}" for v, f in BOUNDED])
def test_the_clusters_largest_value_is_admitted_and_one_more_is_refused(values: str, field: str,
                                                                       limits: str) -> None:
    """The largest value the declared limit allows renders to a Service Knative's webhook admits on a
    cluster with that limit (timeoutSeconds <= max-revision-timeout-seconds, containerConcurrency <=
    container-concurrency-max-limit), and one more is refused by helm, naming the value and the limit."""
    sets, bounds = LIMITS[limits]
    mode = f"mode={FUNCTION_VALUES[values]}"
    assert webhook_problems([mode, *sets, f"{values}.{field}={bounds[field]}"]) == {}
    error = render_error(sets=[mode, *sets, f"{values}.{field}={bounds[field] + 1}"])
    assert f"{values}.{field} ({bounds[field] + 1}) is above {LIMIT_VALUES[field]} ({bounds[field]})" in error, error


@pytest.mark.parametrize("setting", ["maxRevisionTimeoutSeconds=0", "containerConcurrencyMaxLimit=0",
                                     "maxScaleLimit=-1", "maxScaleLimit=2147483648"])
def test_a_limit_knative_itself_refuses_is_refused_by_the_schema(setting: str) -> None:
    """Knative refuses these settings in its own ConfigMaps (pkg/apis/config/defaults.go
    NewDefaultsConfigFromMap: container-concurrency-max-limit >= 1; pkg/autoscaler/config/config.go
    validate: max-scale-limit >= 0, an int32), so no cluster has them."""
    error = render_error(sets=[f"knativeServing.{setting}"])
    named = f"knativeServing.{setting.partition('=')[0]}"
    assert "values don't meet the specifications of the schema" in error and named in error, error


# status-reporter serialises a run's events only within its process (docs/functions.md "Concurrency"):
# its maxScale is never Knative's unlimited.
UNLIMITED_ALLOWED = [values for values, mode in FUNCTION_VALUES.items()
                     if mode == "distributed" and values != "functions.statusReporter"]


@pytest.mark.parametrize("values", UNLIMITED_ALLOWED)
def test_max_scale_zero_is_unlimited_and_admitted(values: str) -> None:
    """Knative reads max-scale "0" as no upper bound, and its min <= max check skips it
    (knative/serving pkg/apis/autoscaling/annotation_validation.go validateMinMaxScale)."""
    name = {"functions.webhookIngest": "webhook-ingest", "functions.resolver": "resolver",
            "functions.runCreator": "run-creator", "functions.bootstrapBatcher": "bootstrap-batcher",
            "functions.statusReporter": "status-reporter"}[values]
    sets = [f"{values}.minScale=2", f"{values}.maxScale=0"]
    (service,) = [d for d in ksvcs(render(sets=sets)) if d["metadata"]["name"] == name]
    assert service["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] == "0"
    assert webhook_problems(sets) == {}


def test_status_reporter_is_never_unlimited() -> None:
    error = render_error(sets=["functions.statusReporter.maxScale=0"])
    assert "values don't meet the specifications of the schema" in error, error
    assert "functions.statusReporter.maxScale" in error, error


def test_a_cluster_max_scale_limit_refuses_unlimited_and_larger_max_scales() -> None:
    """With config-autoscaler max-scale-limit set, Knative refuses max-scale 0 and any max-scale above
    the limit (annotation_validation.go validateMaxScaleWithinLimit); the chart says so first."""
    limit = ["knativeServing.maxScaleLimit=5"]  # the largest default maxScale
    assert webhook_problems(limit) == {}
    error = render_error(sets=[*limit, "functions.resolver.maxScale=0"])
    assert "functions.resolver.maxScale is 0 (unlimited) but knativeServing.maxScaleLimit is 5" in error, error
    error = render_error(sets=[*limit, "functions.resolver.maxScale=6"])
    assert "functions.resolver.maxScale (6) is above knativeServing.maxScaleLimit (5)" in error, error
    for mode in ("distributed", "all-in-one"):  # the chart's own max-scales (dead letters, all-in-one: 1)
        assert webhook_problems([f"mode={mode}", "knativeServing.maxScaleLimit=1", "functions.webhookIngest.maxScale=1",
                                 "functions.resolver.maxScale=1", "functions.runCreator.maxScale=1",
                                 "functions.bootstrapBatcher.maxScale=1"]) == {}


def test_the_double_reads_the_clusters_limits_from_knatives_config_maps() -> None:
    """config-defaults and config-autoscaler, by Knative's own keys (pkg/apis/config/defaults.go
    NewDefaultsConfigFromMap, pkg/autoscaler/config/config.go NewConfigFromMap)."""
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    raised = Config.from_config_maps(defaults={"max-revision-timeout-seconds": "3600",
                                               "container-concurrency-max-limit": "5000"},
                                     autoscaler={"max-scale-limit": "10"})
    changed = copy.deepcopy(resolver)
    set_spec("timeoutSeconds", 3600)(changed)
    set_spec("containerConcurrency", 5000)(changed)
    annotate("autoscaling.knative.dev/max-scale", "10")(changed)
    assert service_problems(changed, raised) == []
    assert service_problems(changed) != []  # at Knative's defaults both are too large
    set_spec("timeoutSeconds", 3601)(changed)
    set_spec("containerConcurrency", 5001)(changed)
    assert service_problems(changed, raised) == [
        "expected 0 <= 3601 <= 3600: spec.template.spec.timeoutSeconds",
        "expected 0 <= 5001 <= 5000: spec.template.spec.containerConcurrency"]


@pytest.mark.parametrize("max_scale,message", [
    ("0", "max-scale=0 (unlimited), must be less than 10: "
          "spec.template.metadata.annotations.autoscaling.knative.dev/max-scale"),
    ("11", "expected 1 <= 11 <= 10: spec.template.metadata.annotations.autoscaling.knative.dev/max-scale"),
])
def test_the_double_refuses_max_scale_beyond_the_clusters_limit(max_scale: str, message: str) -> None:
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    changed = copy.deepcopy(resolver)
    annotate("autoscaling.knative.dev/max-scale", max_scale)(changed)
    assert service_problems(changed) == []  # no limit by default: 0 is unlimited, 11 is fine
    assert service_problems(changed, Config.from_config_maps(autoscaler={"max-scale-limit": "10"})) == [message]


# `securityContext` goes into every function container: only what Knative's SecurityContextMask and
# CapabilitiesMask keep at the default feature flags (knative/serving pkg/apis/serving/fieldmask.go).
SECURITY_REFUSED = {
    "privileged": "securityContext.privileged=true",
    "capabilities.add": "securityContext.capabilities.add[0]=NET_ADMIN",
    "seLinuxOptions": "securityContext.seLinuxOptions.level=s0",
    "procMount": "securityContext.procMount=Unmasked",
    "appArmorProfile": "securityContext.appArmorProfile.type=RuntimeDefault",
    "runAsUser above int32": "securityContext.runAsUser=2147483648",
}


@pytest.mark.parametrize("assignment", SECURITY_REFUSED.values(), ids=SECURITY_REFUSED.keys())
def test_security_context_knative_refuses_is_refused_by_the_schema(assignment: str) -> None:
    error = render_error(sets=[assignment])
    assert "values don't meet the specifications of the schema" in error
    assert "securityContext" in error, error


def test_security_context_knative_allows_renders_and_is_admitted() -> None:
    assert webhook_problems(["securityContext.readOnlyRootFilesystem=true", "securityContext.runAsUser=65532",
                             "securityContext.runAsGroup=65532", "securityContext.privileged=false",
                             "securityContext.seccompProfile.type=Localhost",
                             "securityContext.seccompProfile.localhostProfile=profiles/fn.json"]) == {}


# teamConfig.mountPath is a volume mount of every function: Knative refuses a reserved path (exact
# match after path.Clean: /, /dev, /dev/log) and a path another mount of the container already uses
# (knative/serving pkg/apis/serving/k8s_validation.go reservedPaths, validateVolumeMounts).
@pytest.mark.parametrize("path", ["/", "/dev", "/dev/", "/dev/log", "//dev", "/etc/../dev/log"])
def test_a_reserved_mount_path_is_refused_by_the_schema(path: str) -> None:
    error = render_error(sets=[f"teamConfig.mountPath={path}"])
    assert "teamConfig.mountPath" in error, error


@pytest.mark.parametrize("mode,path", [("distributed", "/var/run/secrets/tekton-dag/events"),
                                       ("distributed", "/var/run/secrets/tekton-dag/api"),
                                       ("all-in-one", "/tmp/tekton-dag")])
def test_a_mount_path_the_chart_uses_is_refused(mode: str, path: str) -> None:
    error = render_error(sets=[f"mode={mode}", f"teamConfig.mountPath={path}"])
    assert f'two volumes mount at "{path}"' in error and "teamConfig.mountPath" in error, error


def test_another_team_config_path_renders_and_is_admitted() -> None:
    assert webhook_problems(["teamConfig.mountPath=/srv/tekton-dag/teams"]) == {}
    assert webhook_problems(["mode=all-in-one", "teamConfig.mountPath=/tmp/teams"]) == {}


# The function images are `<image.registry>/<repository>:<tag>`; Knative's webhook parses each with
# go-containerregistry (knative/serving k8s_validation.go: name.ParseReference(image, name.WeakValidation))
# and refuses the Service when it cannot: a tag of [A-Za-z0-9_.-], 1..127 characters
# (google/go-containerregistry pkg/name/tag.go checkTag), a repository path of [a-z0-9_./-]
# (pkg/name/repository.go checkRepository).
IMAGE_REFUSED = {
    "semver build metadata in the tag": ("image.tag=0.10.0+build.7", "image.tag"),
    "a tag over 127 characters": ("image.tag=" + "1" * 128, "image.tag"),
    "upper case in the registry path": ("image.registry=ghcr.io/JMJava/tekton-dag", "image.registry"),
    "upper case in a repository": ("functions.resolver.repository=Resolver", "functions.resolver.repository"),
    "a space in the dead-letter repository": ("eventing.deadLetter.repository=dead letters",
                                              "eventing.deadLetter.repository"),
}


@pytest.mark.parametrize("assignment,named", IMAGE_REFUSED.values(), ids=IMAGE_REFUSED.keys())
def test_an_image_knative_cannot_parse_is_refused_by_the_schema(assignment: str, named: str) -> None:
    error = render_error(sets=[assignment])
    assert "values don't meet the specifications of the schema" in error and named in error, error


def test_images_knative_parses_render_and_are_admitted() -> None:
    assert webhook_problems(["image.registry=registry.example:5000/team_a/tekton-dag", "image.tag=v0.10.0-rc.1_B7",
                             "functions.resolver.repository=fn/resolver"]) == {}


@pytest.mark.parametrize("image,message", [
    ("ghcr.io/x/resolver:0.10.0+b7", "Failed to parse image reference: spec.template.spec.containers[0].image"),
    ("ghcr.io/X/resolver:0.10.0", "Failed to parse image reference"),
    ("localhost:5000/resolver", None),
    ("ghcr.io/x/resolver@sha256:" + "a" * 64, None),
])
def test_the_double_parses_images_as_knative_does(image: str, message: str | None) -> None:
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    changed = copy.deepcopy(resolver)
    container(changed)["image"] = image
    found = service_problems(changed)
    assert (found == []) if message is None else any(message in p for p in found), found


# A function's `env` values beside the variables the chart sets itself: a Knative Service's env is a
# list-type map keyed by name in its CRD (knative/serving config/core/300-resources/service.yaml), so
# the API server refuses the Service with a name twice ("Duplicate value", kubernetes
# staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype/validation.go validateListMap).
CHART_SET_ENV = {
    "metrics port": ["functions.resolver.env.METRICS_PORT=9100"],
    "event key file": ["functions.runCreator.env.TEKTON_DAG_EVENT_KEY_FILE=/k"],
    "webhook secret file": ["functions.webhookIngest.env.GITHUB_WEBHOOK_SECRET_FILE=/s"],
    "GitHub token file": ["github.tokenSecret.name=tok", "functions.statusReporter.env.GITHUB_TOKEN_FILE=/t"],
    "GitHub App id": ["github.appId=1", "functions.statusReporter.env.GITHUB_APP_ID=2"],
    "all-in-one registry auth": ["mode=all-in-one", "secrets.registry.name=reg",
                                 "allInOne.env.REGISTRY_AUTH_FILE=/r"],
}


@pytest.mark.parametrize("sets", CHART_SET_ENV.values(), ids=CHART_SET_ENV.keys())
def test_an_env_value_the_chart_sets_itself_is_refused(sets: list[str]) -> None:
    name = sets[-1].partition("=")[0].rpartition(".")[2]
    error = render_error(sets=sets)
    assert f"env {name} is set by the chart" in error, error


def test_the_crd_check_refuses_a_duplicate_env_name() -> None:
    """tests/support/helm.py checks x-kubernetes-list-type map/set uniqueness as the API server does."""
    (resolver,) = [d for d in ksvcs(render()) if d["metadata"]["name"] == "resolver"]
    assert problems(resolver) == []
    changed = copy.deepcopy(resolver)
    container(changed)["env"].append(dict(container(changed)["env"][0]))
    index = len(container(changed)["env"]) - 1
    assert problems(changed) == [
        f"Service/resolver: spec.template.spec.containers[0].env[{index}]: Duplicate value: "
        f'map[string]interface {{}}{{"name":"TEKTON_DAG_TEAMS_DIR"}}']
