{{/*
tekton-dag.networkPolicy.peers.check: fail on a networkPolicy peer list entry that would open the
internal functions beyond what the chart promises ("closed by default"), naming it; renders nothing.
The schema gives each peer its shape (definitions networkPolicyPeer, labelSelector, ipBlock); this
checks what JSON schema cannot:
- an ipBlock beside a selector in one peer: the API server refuses it ("may not specify both
  ipBlock and another peer", kubernetes pkg/apis/networking/validation/validation.go
  ValidateNetworkPolicyPeer);
- a namespaceSelector that names no namespace: an empty selector selects every namespace
  (kubernetes.io/docs/concepts/services-networking/network-policies, "Behavior of to and from
  selectors"), NotIn/DoesNotExist alone select every namespace but some (and every one created
  later), and Exists on kubernetes.io/metadata.name holds for every namespace (the API server sets
  that label, 1.22+). A podSelector beside it does not make it safe: pod labels are chosen by
  whoever creates the pod, so only the namespace bounds who is admitted. So a namespaceSelector
  needs a matchLabels pair, an In expression, or an Exists on another key (a label only those who
  may label namespaces set). A podSelector alone means the release's own namespace, and stays allowed;
- an ipBlock whose cidr is not a CIDR kube-apiserver takes, or is a /0 (every address: "from
  anywhere"), or whose `except` entries are not CIDRs strictly inside it (ValidateIPBlock: "must be
  a strict subset of `cidr`").
Call with (dict "at" "networkPolicy.dataPlane" "peers" .Values.networkPolicy.dataPlane).
*/}}
{{- define "tekton-dag.networkPolicy.peers.check" -}}
{{- range $i, $peer := .peers -}}
{{- $where := printf "%s[%d]" $.at $i -}}
{{- if and (hasKey $peer "ipBlock") (gt (len $peer) 1) -}}
{{- fail (printf "%s: ipBlock may not be combined with another selector in one peer (Kubernetes refuses such a peer): give the ipBlock its own list entry" $where) -}}
{{- end -}}
{{- if hasKey $peer "namespaceSelector" -}}
{{- $selector := $peer.namespaceSelector | default dict -}}
{{- $naming := len ($selector.matchLabels | default dict) -}}
{{- range $selector.matchExpressions | default list -}}
{{- if or (eq .operator "In") (and (eq .operator "Exists") (ne .key "kubernetes.io/metadata.name")) -}}
{{- $naming = add1 $naming -}}
{{- end -}}
{{- end -}}
{{- if eq (int $naming) 0 -}}
{{- fail (printf "%s.namespaceSelector selects every namespace (it has no matchLabels pair, no In expression and no Exists on a label other than kubernetes.io/metadata.name), and pod labels are anyone's to set: name the namespaces, e.g. matchLabels {kubernetes.io/metadata.name: knative-serving}" $where) -}}
{{- end -}}
{{- end -}}
{{- with $peer.ipBlock -}}
{{- $cidr := include "tekton-dag.cidr" .cidr | fromJson -}}
{{- if $cidr.error -}}
{{- fail (printf "%s: ipBlock.cidr %q %s" $where .cidr $cidr.error) -}}
{{- end -}}
{{- $prefix := int $cidr.prefix -}}
{{- if eq $prefix 0 -}}
{{- fail (printf "%s: ipBlock.cidr %q admits every address (from anywhere): name the networks that may connect" $where .cidr) -}}
{{- end -}}
{{- range $j, $text := .except | default list -}}
{{- $except := include "tekton-dag.cidr" $text | fromJson -}}
{{- if $except.error -}}
{{- fail (printf "%s: ipBlock.except[%d] %q %s" $where $j $text $except.error) -}}
{{- end -}}
{{- $inside := and (eq (len $except.bits) (len $cidr.bits)) (gt (int $except.prefix) $prefix)
      (eq (substr 0 $prefix $except.bits) (substr 0 $prefix $cidr.bits)) -}}
{{- if not $inside -}}
{{- fail (printf "%s: ipBlock.except[%d] %q must be a strict subset of cidr %q" $where $j $text $peer.ipBlock.cidr) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
tekton-dag.cidr: a CIDR parsed as kube-apiserver parses an ipBlock's, strictly (kubernetes
pkg/apis/core/validation/ips.go parseCIDR: netip.ParsePrefix, so no leading 0s in an IPv4 octet or
the prefix length, no IPv4-mapped IPv6 address, no bits set beyond the prefix length), as JSON:
`bits` (the address as 32 or 128 '0'/'1'), `prefix`, and `error` (why it is refused, empty when it
is not). Stricter than Kubernetes in one respect: an IPv6 address written with a dotted IPv4 tail
(`::1.2.3.4`) is refused; write it in hex.
*/}}
{{- define "tekton-dag.cidr" -}}
{{- $parts := splitList "/" . -}}
{{- $bits := "" -}}
{{- $prefix := 0 -}}
{{- $error := "" -}}
{{- $octet := "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])" -}}
{{- if or (ne (len $parts) 2) (not (regexMatch "^(0|[1-9][0-9]{0,2})$" (last $parts))) -}}
{{- $error = "is not a valid CIDR" -}}
{{- else if regexMatch (printf "^(%s\\.){3}%s$" $octet $octet) (first $parts) -}}
{{- range splitList "." (first $parts) }}{{ $bits = print $bits (printf "%08b" (atoi .)) }}{{ end -}}
{{- else if regexMatch "^[0-9A-Fa-f:]*:[0-9A-Fa-f:]*$" (first $parts) -}}
{{- $bits = include "tekton-dag.cidr.ipv6Bits" (first $parts) -}}
{{- end -}}
{{- if and (not $error) (not $bits) -}}
{{- $error = "is not a valid CIDR" -}}
{{- end -}}
{{- if not $error -}}
{{- $prefix = atoi (last $parts) -}}
{{- if gt $prefix (len $bits) -}}
{{- $error = "is not a valid CIDR" -}}
{{- else if and (eq (len $bits) 128) (eq (substr 0 96 $bits) (print (repeat 80 "0") (repeat 16 "1"))) -}}
{{- $error = "must not have an IPv4-mapped IPv6 address" -}}
{{- else if contains "1" (substr $prefix (len $bits) $bits) -}}
{{- $error = "has bits set beyond the prefix length" -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "bits" $bits "prefix" $prefix "error" $error) -}}
{{- end -}}

{{/*
tekton-dag.cidr.ipv6Bits: the 128 bits of an IPv6 address in hex groups, with at most one "::"
standing for one or more zero groups (RFC 4291 section 2.2); empty when it is not one.
*/}}
{{- define "tekton-dag.cidr.ipv6Bits" -}}
{{- $halves := splitList "::" . -}}
{{- $head := list -}}
{{- $tail := list -}}
{{- with first $halves }}{{ $head = splitList ":" . }}{{ end -}}
{{- if eq (len $halves) 2 }}{{ with last $halves }}{{ $tail = splitList ":" . }}{{ end }}{{ end -}}
{{- $missing := sub 8 (add (len $head) (len $tail)) -}}
{{- $valid := or (and (eq (len $halves) 1) (eq $missing 0)) (and (eq (len $halves) 2) (ge $missing 1)) -}}
{{- $groups := $head -}}
{{- if $valid -}}
{{- range until (int (ternary $missing 0 (eq (len $halves) 2))) }}{{ $groups = append $groups "0" }}{{ end -}}
{{- $groups = concat $groups $tail -}}
{{- end -}}
{{- range $groups -}}
{{- if not (regexMatch "^[0-9A-Fa-f]{1,4}$" .) }}{{ $valid = false }}{{ end -}}
{{- end -}}
{{- if $valid -}}
{{- range $groups }}{{ printf "%016b" (int64 (printf "0x%s" .)) }}{{ end -}}
{{- end -}}
{{- end -}}
