#!/usr/bin/env bash
# Installs the real system tools mewarden drives or uses as test oracles (Debian packages).
# Run as root (CI is root); elsewhere it uses sudo when present.
set -euo pipefail
PACKAGES=(
  coreboot-utils   # ifdtool: descriptor oracle
  uefitool-cli     # UEFIExtract: ME version oracle
  flashrom         # SPI read/write, dummy programmer for tests
  nftables         # netblock render --check and apply
  iptables         # iptables-restore --test
  amtterm          # independent SOL client against the emulator
  nodejs           # runs MeshCentral's AMT modules (with its npm) against the emulator
  iproute2         # network namespaces for end-to-end netblock tests
  util-linux       # unshare
  procps           # sysctl inside test network namespaces
  postgresql       # org state at scale; tests start a private cluster on loopback
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
