#!/usr/bin/env sh
# Installs the fleet telemetry agent bundle on a robot (run from the unpacked bundle, as root).
#
#   sudo ./install.sh                    install to /, enable and start the service
#   ./install.sh --root DIR --no-systemd  stage into DIR (packaging, tests); no users, no systemctl
#
# Needs Node.js 20 or newer on the robot. Keeps an existing /etc/fleet-agent/agent.json.
set -eu

root=""
systemd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    *) echo "install.sh: unknown argument $1 (use --root DIR, --no-systemd)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)

if [ "$systemd" = 1 ]; then
  command -v node >/dev/null 2>&1 || { echo "install.sh: node is not installed (Node.js 20 or newer is needed)" >&2; exit 1; }
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { echo "install.sh: Node.js $(node --version) is too old; 20 or newer is needed" >&2; exit 1; }
fi

install -d "$root/opt/fleet-agent" "$root/etc/fleet-agent" "$root/var/lib/fleet-agent/spool" "$root/etc/systemd/system"
rm -f "$root/opt/fleet-agent/fleet-agent.mjs" # the bundle of earlier versions
cp "$here/fleet-agent.cjs" "$here/zod.cjs" "$root/opt/fleet-agent/"
install -m 0755 "$here/fleet-agent" "$root/opt/fleet-agent/fleet-agent"
rm -rf "$root/opt/fleet-agent/node_modules"
cp -R "$here/node_modules" "$root/opt/fleet-agent/"
install -m 0644 "$here/fleet-agent.service" "$root/etc/systemd/system/fleet-agent.service"
if [ ! -f "$root/etc/fleet-agent/agent.json" ]; then
  install -m 0640 "$here/agent.example.json" "$root/etc/fleet-agent/agent.json"
  echo "install.sh: wrote $root/etc/fleet-agent/agent.json from the example; set robotId, siteId, serial and mqtt"
fi

if [ "$systemd" = 1 ]; then
  id fleet-agent >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/fleet-agent --shell /usr/sbin/nologin fleet-agent
  chown -R fleet-agent:fleet-agent /var/lib/fleet-agent
  chgrp fleet-agent /etc/fleet-agent/agent.json
  systemctl daemon-reload
  systemctl enable fleet-agent.service
  echo "install.sh: check the setup with: /opt/fleet-agent/fleet-agent doctor --config /etc/fleet-agent/agent.json"
  echo "install.sh: then start it with:   systemctl start fleet-agent"
fi
echo "install.sh: installed into ${root:-/}"
