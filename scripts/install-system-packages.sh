#!/usr/bin/env bash
# Installs the real system tools mewarden drives or uses as test oracles (Debian packages).
# Run as root (CI is root); elsewhere it uses sudo when present.
# MEWARDEN_PACKAGES_DRY_RUN=1 prints the apt-get commands instead of running them.
set -euo pipefail
PACKAGES=(
  coreboot-utils   # ifdtool: descriptor oracle
  uefitool-cli     # UEFIExtract: ME version oracle
  flashrom         # SPI read/write, dummy programmer for tests
  nftables         # netblock render --check and apply
  iptables         # iptables-restore --test
  amtterm          # independent SOL client against the emulator
  vncsnapshot      # independent VNC client: captures the emulated KVM screen, 5900 and bridge
  gvncviewer       # ships gvnccapture, gtk-vnc capture tool: a second VNC client
  nodejs           # runs MeshCentral's AMT modules against the emulator
  iproute2         # network namespaces for end-to-end netblock tests
  util-linux       # unshare
  procps           # sysctl inside test network namespaces
  postgresql       # org state at scale; tests start a private cluster on loopback
  xorriso          # builds El Torito ISO images for the IDER tests and bench
  genisoimage      # a second ISO builder - mkisofs for the IDER tests
  chromium         # mewarden serve browser tests: Playwright drives it by executable path
  chromium-driver  # chromedriver: the same browser for Selenium users
  fonts-liberation # readable text in the console screenshots
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
UPDATED=""

apt_install() {
  # --no-remove: never let a conflict (e.g. Debian npm vs NodeSource nodejs) remove a package.
  if [ -n "${MEWARDEN_PACKAGES_DRY_RUN:-}" ]; then
    echo "would run: apt-get install $*"
    return 0
  fi
  if [ -z "$UPDATED" ]; then
    $SUDO apt-get update -qq
    UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    --no-remove "$@"
}

# npm fills the MeshCentral cache (~/.cache/mewarden/npm) once. Debian bookworm's nodejs 18
# ships without npm (separate package `npm`); NodeSource's nodejs bundles npm and conflicts
# with Debian's package, so Debian's npm is installed only when the command is missing and
# nodejs is not NodeSource's.
npm_wanted() {
  if command -v npm >/dev/null 2>&1; then return 1; fi
  case "$(dpkg-query -W -f='${Version}' nodejs 2>/dev/null || true)" in
    *nodesource*)
      echo "system packages: NodeSource nodejs without npm; reinstall nodejs from NodeSource" >&2
      return 1
      ;;
  esac
  return 0
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "system packages: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
# After nodejs is in place: which nodejs apt chose decides whether npm is a separate package.
if npm_wanted; then
  echo "system packages: installing npm (nodejs has none)"
  apt_install npm
elif [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
fi
