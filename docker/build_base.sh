#!/bin/sh
# Build a minimal local Debian base image for the infotrafic service images, without any registry.
#
#   sudo docker/build_base.sh [TAG]          # default TAG: infotrafic-base:local
#   FORCE=1 docker/build_base.sh             # rebuild even if the image exists
#
# debootstrap fetches a minimal Debian (python3, python3-venv, python3-pip, ca-certificates) from
# the Debian mirror this machine already uses (first non-security "URIs:"/"deb" entry under
# /etc/apt/, or $DEBIAN_MIRROR), and `docker import` turns the tree into an image.  The service
# Dockerfiles use it with `--build-arg BASE_IMAGE=infotrafic-base:local`.
set -eu

TAG="${1:-infotrafic-base:local}"
SUITE="${DEBIAN_SUITE:-bookworm}"
PACKAGES="python3,python3-venv,python3-pip,ca-certificates"

if [ "$(id -u)" != 0 ]; then
    echo "build_base.sh: debootstrap needs root" >&2
    exit 1
fi
for tool in debootstrap docker; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "build_base.sh: '$tool' not found (apt-get install -y debootstrap docker.io)" >&2
        exit 1
    }
done

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "build_base.sh: $TAG already exists (FORCE=1 to rebuild)"
    exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    # deb822 files (URIs: ...) first, then one-line sources (deb URL suite ...).
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' \
        | grep -v -e security -e '^$' | grep debian | head -n 1 || true)"
fi
if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' \
        | grep -v security | grep debian | head -n 1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /tmp/infotrafic-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT INT TERM

echo "build_base.sh: debootstrap $SUITE from $mirror into $root"
debootstrap --variant=minbase --components=main --include="$PACKAGES" \
    "$SUITE" "$root" "$mirror"

# Trust the certificate authorities this machine added locally (e.g. the CA of a TLS-inspecting
# proxy in front of PyPI), so that pip inside the images reaches the index as it does here.
# LOCAL_CA=0 leaves them out.
if [ "${LOCAL_CA:-1}" = 1 ] && ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    echo "build_base.sh: adding local CA certificates: $(ls /usr/local/share/ca-certificates/)"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi

# Keep the image small: no package lists, caches, docs or man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/*.log "$root"/tmp/* "$root"/debootstrap 2>/dev/null || true

echo "build_base.sh: importing as $TAG"
tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    --message "infotrafic minimal Debian $SUITE base (python3, venv, pip)" \
    - "$TAG"

docker run --rm --network none "$TAG" python3 -c "import ensurepip, ssl, sys, venv; print(sys.version)"
echo "build_base.sh: $TAG ready"
