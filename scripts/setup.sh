#!/usr/bin/env bash
# Installs everything glyphgen needs into ./.venv, idempotently:
#   Debian fonts (CJK and handwriting fonts for the font datasets), a virtual environment, torch, glyphgen itself.
#   scripts/setup.sh          the package
#   scripts/setup.sh --dev    the package and the test tools (and Debian's chromium for the browser test)
# torch: a machine that carries a local CPU wheel (pip's find-links, as on the project's CPU machines) gets that
# exact wheel, so pip never pulls a multi-GB CUDA build there; everywhere else pip resolves torch as usual, so GPU
# users get their normal build. Set GLYPHGEN_TORCH (e.g. "torch==2.5.1") to choose yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="[app,digits]"  # the web app (gradio) and the 8x8 digits come with a plain install too; pip install glyphgen alone leaves them out
[ "${1:-}" = "--dev" ] && extras="[app,digits,dev]"

# --- Debian packages (skipped where apt is absent or they are already there) ---
debs=(fonts-noto-cjk fonts-ipafont-gothic fonts-ipafont-mincho fonts-wqy-microhei fontconfig)
# handwriting-style fonts: Latin letters and digits for the handwriting model (Klee One also writes kanji by pen)
debs+=(fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver fonts-humor-sans fonts-comic-neue fonts-klee
  fonts-dancingscript fonts-kaushanscript fonts-kristi)
# the style family's faces (src/glyphgen/data/lists/style-split.json names each face's package; a test checks this list)
debs+=(fonts-aoyagi-kouzan-t fonts-aoyagi-soseki fonts-arphic-bkai00mp fonts-arphic-gkai00mp fonts-arphic-ukai
  fonts-arphic-uming fonts-cwtex-fs fonts-cwtex-heib fonts-cwtex-kai fonts-cwtex-ming fonts-cwtex-yen fonts-dejavu-core
  fonts-dejima-mincho fonts-hanazono fonts-kiloji fonts-kouzan-mouhitsu fonts-leckerli-one fonts-lxgw-wenkai
  fonts-motoya-l-cedar fonts-motoya-l-maruberi fonts-mplus fonts-rufscript fonts-sawarabi-gothic fonts-sawarabi-mincho
  fonts-seto fonts-sjfonts fonts-smiley-sans fonts-umeplus fonts-vlgothic fonts-wqy-zenhei
  fonts-yozvox-yozfont-standard-kana fonts-yusei-magic)
[ "${1:-}" = "--dev" ] && debs+=(chromium)  # the web app's browser test drives Debian's chromium (never a downloaded one)
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${debs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python environment ---
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
torch_spec=${GLYPHGEN_TORCH:-}
if [ -z "$torch_spec" ]; then
  for dir in $(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true); do
    whl=$(ls "${dir#file://}"/torch-*+cpu-cp3*.whl 2>/dev/null | head -n 1 || true)
    [ -n "$whl" ] && torch_spec="torch==$(basename "$whl" | cut -d- -f2 | cut -d+ -f1)" && break
  done
fi
# torch is named in the same command as glyphgen so that the pin above is the one pip resolves.
"${pip[@]}" install ${torch_spec:+"$torch_spec"} -e ".${extras}" 2> >(grep -v "^WARNING: Location" >&2)
.venv/bin/python -c "import glyphgen, torch; print(f'setup: glyphgen {glyphgen.__version__}, torch {torch.__version__}')"
