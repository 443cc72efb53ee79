"""The object limits a real Kubernetes API server enforces on every write.

Product code (the dry-run store ``tekton_dag.kube.stores.DirectoryStore``, which deployed
run-creators use with ``TEKTON_DAG_DRY_RUN_DIR`` and ``tekton-dag dev`` uses) and the tests' fake
API (``tekton_dag.testing.kube_api``) both refuse what kube-apiserver refuses, with its answer; it
lives in ``kube`` because the product needs it and no deployed code may import
``tekton_dag.testing`` (``.importlinter``):

- ``metadata.name``: a DNS-1123 subdomain (≤ 253 characters, ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``
  joined by dots) for ConfigMaps, Leases and custom resources (``NameIsDNSSubdomain``), or a
  DNS-1123 label (≤ 63, no dots) for kinds that require one. Source: kubernetes/kubernetes
  staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go ``IsDNS1123Subdomain``,
  ``IsDNS1123Label``, ``MaxLenError``, ``RegexError`` (the messages below are theirs).
- ``metadata.labels``: keys are qualified names (an optional DNS-subdomain prefix and ``/``, then
  a name ≤ 63 characters of ``[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?``); values ≤ 63 characters,
  empty or the same pattern. Source: apimachinery pkg/api/validate/content/kube.go
  ``IsLabelKey``, ``IsLabelValue``; pkg/apis/meta/v1/validation ``ValidateLabels``.
- ``metadata.annotations``: keys are qualified names (case-insensitive); keys and values together
  at most 262,144 bytes. Source: apimachinery pkg/api/validation/objectmeta.go
  ``ValidateAnnotations``, ``TotalAnnotationSizeLimitB``.
- these answer 422 ``Invalid`` with ``details.causes`` (one per problem: ``reason``, ``field``,
  ``message``) and the message ``<Kind>.<group> "<name>" is invalid: <errors>``
  (apimachinery pkg/api/errors ``NewInvalid``; field/errors.go ``ErrorBody``; one error alone, or
  several as ``[a, b]``).
- a ConfigMap whose ``data`` and ``binaryData`` (decoded) hold more than 1 MiB together: 422
  "[]: Too long: must have at most 1048576 bytes" (pkg/apis/core/validation/validation.go
  ``ValidateConfigMap``, ``core.MaxSecretSize``; the field is the whole object).
- a ConfigMap key of ``data`` or ``binaryData`` that is not ``IsConfigMapKey``: at most 253
  characters of ``[-._a-zA-Z0-9]``, not ``.`` or ``..`` and not starting with ``..`` (422, field
  ``data[<key>]``; apimachinery pkg/util/validation/validation.go ``IsConfigMapKey``).
- a request body over 3 MiB: 413 ``RequestEntityTooLarge`` "Request entity too large: limit is
  3145728" (apiserver pkg/server/config.go ``MaxRequestBodyBytes``, kubernetes#105863).
- an object over etcd's request limit (``--max-request-bytes`` 1.5 MiB, etcd docs "System limits";
  kubernetes PR #72053): etcd refuses the write and kube-apiserver passes its error on as a 500
  Status "etcdserver: request is too large" (kubernetes#74600, still so in kubernetes#112152). The
  size is measured here as the object's JSON (custom resources are stored as JSON; built-in kinds
  as protobuf, which is smaller: for them this is conservative).

Not modelled: ownerReferences, finalizers, managedFields and generateName checks; per-kind field
validation beyond the metadata (the fake uses the CRD schemas for that); a key in both a
ConfigMap's ``data`` and ``binaryData``.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

DNS1123_LABEL_MAX, DNS1123_SUBDOMAIN_MAX, LABEL_VALUE_MAX, LABEL_KEY_NAME_MAX = 63, 253, 63, 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
ETCD_MAX_REQUEST_BYTES = 1536 * 1024
MAX_CONFIG_MAP_BYTES = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_VALUE_FMT = "(" + _KEY_FMT + ")?"
_LABEL, _SUBDOMAIN = re.compile(_LABEL_FMT), re.compile(_SUBDOMAIN_FMT)
_KEY, _VALUE = re.compile(_KEY_FMT), re.compile(_VALUE_FMT)
_LABEL_ERR = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character")
_SUBDOMAIN_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character")
_KEY_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = re.compile(_CONFIG_KEY_FMT)
_CONFIG_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_VALUE_ERR = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")

NameRule = Literal["subdomain", "label"]


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex(message: str, fmt: str, *examples: str) -> str:
    """RegexError's text: each example is followed by "', " and joined by " or ", so two read
    "'a',  or 'b', regex used..." (two spaces: kube-apiserver's own wording)."""
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def dns1123_subdomain(value: str) -> list[str]:
    errors = [_max_len(DNS1123_SUBDOMAIN_MAX)] if len(value) > DNS1123_SUBDOMAIN_MAX else []
    if not _SUBDOMAIN.fullmatch(value):
        errors.append(_regex(_SUBDOMAIN_ERR, _SUBDOMAIN_FMT, "example.com"))
    return errors


def dns1123_label(value: str) -> list[str]:
    errors = [_max_len(DNS1123_LABEL_MAX)] if len(value) > DNS1123_LABEL_MAX else []
    if not _LABEL.fullmatch(value):
        errors.append("must not contain dots" if _SUBDOMAIN.fullmatch(value)
                      else _regex(_LABEL_ERR, _LABEL_FMT, "my-name", "123-abc"))
    return errors


def label_key(value: str) -> list[str]:
    """IsLabelKey (= IsQualifiedName)."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return ["a valid label key " + _regex(_KEY_ERR, _KEY_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        errors += (
            ["prefix part must be non-empty"] if not prefix else [f"prefix part {e}" for e in dns1123_subdomain(prefix)]
        )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > LABEL_KEY_NAME_MAX:
        errors.append("name part " + _max_len(LABEL_KEY_NAME_MAX))
    if not _KEY.fullmatch(name):
        errors.append("name part " + _regex(_KEY_ERR, _KEY_FMT, "MyName", "my.name", "123-abc"))
    return errors


def label_value(value: str) -> list[str]:
    errors = [_max_len(LABEL_VALUE_MAX)] if len(value) > LABEL_VALUE_MAX else []
    if not _VALUE.fullmatch(value):
        errors.append(_regex(_VALUE_ERR, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def config_map_key(value: str) -> list[str]:
    """IsConfigMapKey (also the rule for a Secret's keys)."""
    errors = [_max_len(DNS1123_SUBDOMAIN_MAX)] if len(value) > DNS1123_SUBDOMAIN_MAX else []
    if not _CONFIG_KEY.fullmatch(value):
        errors.append(_regex(_CONFIG_KEY_ERR, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value in (".", ".."):
        errors.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


@dataclass(frozen=True)
class Cause:
    """One field error (field.Error): its type, path and body (without the path)."""

    reason: str
    field: str
    message: str

    def as_status(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _invalid(field: str, value: str, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f"Invalid value: {json.dumps(value)}: {detail}")


def metadata_causes(metadata: dict[str, Any], name_rule: NameRule = "subdomain") -> list[Cause]:
    """What ValidateObjectMetaAccessor finds wrong with ``metadata`` (after name generation)."""
    causes: list[Cause] = []
    name = metadata.get("name") or ""
    if not name:
        causes.append(Cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    else:
        check = dns1123_label if name_rule == "label" else dns1123_subdomain
        causes += [_invalid("metadata.name", name, e) for e in check(name)]
    generation = metadata.get("generation")
    if isinstance(generation, int) and generation < 0:  # ValidateNonnegativeField (apimachinery)
        causes.append(Cause("FieldValueInvalid", "metadata.generation",
                            f"Invalid value: {generation}: must be greater than or equal to 0"))
    for key, value in (metadata.get("labels") or {}).items():
        causes += [_invalid("metadata.labels", key, e) for e in label_key(key)]
        causes += [_invalid("metadata.labels", value, e) for e in label_value(str(value))]
    annotations = metadata.get("annotations") or {}
    for key in annotations:
        causes += [_invalid("metadata.annotations", key, e) for e in label_key(key.lower())]
    if annotations_size(annotations) > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(Cause("FieldValueTooLong", "metadata.annotations",
                            f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"))
    return causes


def annotations_size(annotations: dict[str, str]) -> int:
    """Bytes of every key and value, as ValidateAnnotationsSize counts them (Go len: UTF-8 bytes)."""
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())


class Refused(Exception):
    """What the API server answers instead: HTTP code, Status reason, message and details."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def check_metadata(kind: str, group: str, obj: dict[str, Any], name_rule: NameRule = "subdomain") -> None:
    """Raise ``Refused`` (422 Invalid, kube-apiserver's message and causes) when the metadata breaks a
    limit, or a ConfigMap's keys do (ValidateConfigMap puts both in one error list)."""
    metadata = obj.get("metadata") or {}
    causes = metadata_causes(metadata, name_rule)
    if (group, kind) == ("", "ConfigMap"):
        for field in ("data", "binaryData"):
            causes += [_invalid(f"{field}[{key}]", key, e) for key in obj.get(field) or {} for e in config_map_key(key)]
    if not causes:
        return
    name = metadata.get("name") or ""
    errors, seen = [], set()
    for cause in causes:  # ErrorList.ToAggregate drops repeated messages
        text = f"{cause.field}: {cause.message}"
        if text not in seen:
            seen.add(text)
            errors.append(text)
    qualified = f"{kind}.{group}" if group else kind
    message = f'{qualified} "{name}" is invalid: ' + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    raise Refused(422, "Invalid", message, {"name": name, "group": group, "kind": kind,
                                             "causes": [c.as_status() for c in causes]})


def check_body_size(size: int) -> None:
    """413 for a request body kube-apiserver will not read."""
    if size > MAX_REQUEST_BODY_BYTES:
        raise Refused(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}")


def check_stored_size(obj: dict[str, Any]) -> None:
    """The 500 kube-apiserver passes on when etcd refuses an object over its request limit."""
    if len(json.dumps(obj, separators=(",", ":")).encode()) > ETCD_MAX_REQUEST_BYTES:
        raise Refused(500, "", "etcdserver: request is too large")


def check_config_map_size(kind: str, group: str, obj: dict[str, Any]) -> None:
    """422 for a ConfigMap holding more than 1 MiB of data (``ValidateConfigMap``)."""
    if (group, kind) != ("", "ConfigMap"):
        return
    total = sum(len(str(v).encode()) for v in (obj.get("data") or {}).values())
    total += sum(len(base64.b64decode(str(v))) for v in (obj.get("binaryData") or {}).values())
    if total > MAX_CONFIG_MAP_BYTES:
        name = (obj.get("metadata") or {}).get("name") or ""
        detail = f"must have at most {MAX_CONFIG_MAP_BYTES} bytes"
        raise Refused(422, "Invalid", f'ConfigMap "{name}" is invalid: []: Too long: {detail}',
                      {"name": name, "group": "", "kind": kind,
                       "causes": [{"reason": "FieldValueTooLong", "message": f"Too long: {detail}", "field": "[]"}]})


def check_object(kind: str, group: str, obj: dict[str, Any], name_rule: NameRule = "subdomain") -> None:
    """Every limit on one object about to be stored: metadata and ConfigMap size (422), then size (500)."""
    check_metadata(kind, group, obj, name_rule)
    check_config_map_size(kind, group, obj)
    check_stored_size(obj)


__all__ = ["ETCD_MAX_REQUEST_BYTES", "MAX_CONFIG_MAP_BYTES", "MAX_REQUEST_BODY_BYTES", "TOTAL_ANNOTATION_SIZE_LIMIT",
           "Cause", "Refused", "annotations_size", "check_body_size", "check_config_map_size", "check_metadata",
           "check_object", "check_stored_size", "config_map_key", "dns1123_label", "dns1123_subdomain", "label_key",
           "label_value", "metadata_causes"]
