#!/usr/bin/env bash
# Builds the local image `yard/busybox:test` (or the name given as $1) from Debian's
# busybox-static with `docker import`: no registry is needed. The rootfs holds /bin/busybox
# and a symlink for every applet the tests and benchmarks use, /tmp, and a minimal /etc.
# Uses the engine at DOCKER_HOST.
set -euo pipefail
image=${1:-yard/busybox:test}
# Debian's busybox-static installs a static /bin/busybox: it runs in an empty rootfs.
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "a static /bin/busybox is needed: apt-get install -y busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh ash sleep echo cat ls httpd head tail dd wc env id ps kill true false \
  mkdir rm cp mv touch printf grep sed awk seq yes date hostname nc wget tr sort uniq \
  test expr stat du df free top timeout; do
  ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$root/etc/passwd"
echo 'nogroup:x:65534:' >>"$root/etc/group"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["/bin/sh"]' \
  - "$image" >/dev/null
echo "built $image"
