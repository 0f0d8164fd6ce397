#!/usr/bin/env bash
# Debian packages the `reports` extra needs at run time and its tests use: WeasyPrint's
# pango, a font for the PDF, and poppler-utils (pdftoppm, pdftotext). Idempotent: it
# installs only what is missing. Without root (or apt-get) it names what to install;
# in CI (CI=true) that is an error, elsewhere only PDF rendering is then unavailable.
set -euo pipefail
PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "PDF evidence packs need: apt-get install ${missing[*]}" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "installing ${missing[*]} (Debian packages for PDF evidence packs)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
