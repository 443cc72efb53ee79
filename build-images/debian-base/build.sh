#!/usr/bin/env bash
# Make a base image from Debian packages only (debootstrap + buildah, no registry, no daemon):
# Debian bookworm minbase with python3 and python3-venv, tagged localhost/tekton-dag-debian-base.
# For machines that cannot reach docker.io (like the one the tests run on); build the images over
# it with `scripts/build-images --build-arg BASE=localhost/tekton-dag-debian-base` (docs/images.md).
# Needs root, debootstrap and buildah (scripts/install-tools --container).
# Usage: build-images/debian-base/build.sh WORKDIR [BUILDAH_GLOBAL_OPTIONS...]
#   e.g. build.sh /tmp/base --storage-driver vfs --root /tmp/storage --runroot /tmp/run
set -euo pipefail
work="${1:?usage: build.sh WORKDIR [buildah global options]}"; shift
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$work"
if [ ! -x "$work/rootfs/usr/bin/python3" ]; then
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
fi
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' >"$work/Dockerfile"
buildah "$@" bud --isolation chroot --quiet -t localhost/tekton-dag-debian-base -f "$work/Dockerfile" "$work"
