#!/bin/sh
# clone-app-repos: shallow-clone every app to build into $WORKSPACE_PATH/apps/<app>.
# Protocol: ssh when the git-credentials workspace holds an ssh key (ssh-privatekey or id_*),
# https otherwise (with .git-credentials from that workspace when present). Host keys come from
# the workspace's known_hosts: no trust-on-first-use. Any failed clone fails the task.
set -eu
TAB=$(printf '\t')
: "${PLAN_DIR:?}" "${WORKSPACE_PATH:?}"
GIT_HOST=${GIT_HOST:-github.com}
CREDENTIALS_PATH=${CREDENTIALS_PATH:-}
CREDENTIALS_BOUND=${CREDENTIALS_BOUND:-false}
DEFAULT_REVISION=${DEFAULT_REVISION:-}
export HOME="${HOME_DIR:-/tmp/clone-home}"
mkdir -p "$HOME"

protocol=https
if [ "$CREDENTIALS_BOUND" = true ] && [ -n "$CREDENTIALS_PATH" ]; then
  for key in ssh-privatekey id_ed25519 id_rsa id_ecdsa; do
    if [ -f "$CREDENTIALS_PATH/$key" ]; then
      protocol=ssh
      mkdir -p "$HOME/.ssh"
      install -m 600 "$CREDENTIALS_PATH/$key" "$HOME/.ssh/id_key"
      [ -f "$CREDENTIALS_PATH/known_hosts" ] || { echo "clone: an ssh key needs a known_hosts entry in the git-credentials workspace" >&2; exit 1; }
      install -m 644 "$CREDENTIALS_PATH/known_hosts" "$HOME/.ssh/known_hosts"
      export GIT_SSH_COMMAND="ssh -i $HOME/.ssh/id_key -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$HOME/.ssh/known_hosts"
      break
    fi
  done
  if [ "$protocol" = https ] && [ -f "$CREDENTIALS_PATH/.git-credentials" ]; then
    install -m 600 "$CREDENTIALS_PATH/.git-credentials" "$HOME/.git-credentials"
    git config --global credential.helper store
  fi
fi

url_of() {
  if [ "$protocol" = ssh ]; then printf 'git@%s:%s.git' "$GIT_HOST" "$1"; else printf 'https://%s/%s.git' "$GIT_HOST" "$1"; fi
}

failed=""
count=0
while IFS="$TAB" read -r app repo revision; do
  [ -n "$app" ] || continue
  count=$((count + 1))
  revision=${revision:-$DEFAULT_REVISION}
  dest="$WORKSPACE_PATH/apps/$app"
  rm -rf "$dest"
  mkdir -p "$dest"
  url=$(url_of "$repo")
  echo "clone: $app <- $url ${revision:-(default branch)}"
  if ! {
    git -C "$dest" init -q &&
      git -C "$dest" remote add origin "$url" &&
      git -C "$dest" fetch -q --depth 1 origin "${revision:-HEAD}" &&
      git -C "$dest" checkout -q FETCH_HEAD
  }; then
    echo "clone: FAILED $app from $url at ${revision:-HEAD}" >&2
    failed="$failed $app"
  fi
done <"$PLAN_DIR/clone.tsv"
[ -z "$failed" ] || { echo "clone: could not clone:$failed" >&2; exit 1; }
echo "clone: $count repositories over $protocol"
